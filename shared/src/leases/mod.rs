//! The per-tenant stream budget (SPEC §6): at most `max_streams` open streams per tenant,
//! strict under simultaneous connects, and self-healing when a stream dies without saying so.
//!
//! A tenant has `max_streams` numbered slots. Opening a stream claims one free slot with a
//! conditional write ("absent, or its lease has expired"), so two connects can never hold the
//! same slot and no more than `max_streams` can be held at once. A held slot carries a lease
//! that the stream renews while it runs; a crashed stream stops renewing and its slot is free
//! again once the lease expires ([`MAX_LEASE_TTL`] at most). See `docs/architecture.md` for the
//! DynamoDB items.

pub mod dynamodb;
pub mod memory;

use crate::error::Result;
use crate::ids::TenantId;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Longest lease: a crashed stream's slot is free again within this.
pub const MAX_LEASE_TTL: Duration = Duration::from_secs(120);

/// One held slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Whose budget.
    pub tenant_id: TenantId,
    /// Which slot, `0..max_streams`.
    pub slot: u32,
    /// Random id of the holder: only it may renew or release the slot.
    pub holder: String,
    /// When the slot frees itself unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// The outcome of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// A slot is ours until the lease expires.
    Granted(Lease),
    /// Every slot is held by an unexpired lease.
    Full,
}

/// The outcome of a renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renewal {
    /// Still ours, until the new expiry.
    Renewed(Lease),
    /// Someone else holds the slot now (our lease expired and was reclaimed).
    Lost,
}

/// Claiming, renewing and releasing stream slots.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Claims a free slot among `0..max` for `ttl` from `now`, or reports the budget full.
    async fn acquire(
        &self,
        tenant: &TenantId,
        max: u32,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Claim>;

    /// Extends a lease we hold to `now + ttl`.
    async fn renew(&self, lease: &Lease, now: DateTime<Utc>, ttl: Duration) -> Result<Renewal>;

    /// Frees a slot we hold; a no-op when it is no longer ours.
    async fn release(&self, lease: &Lease) -> Result<()>;
}

/// Slots below `max` that no unexpired lease holds, starting at `start` and wrapping, so
/// simultaneous connects spread over different slots instead of all racing for slot 0.
pub fn free_slots(
    held: &[(u32, DateTime<Utc>)],
    max: u32,
    now: DateTime<Utc>,
    start: u32,
) -> Vec<u32> {
    if max == 0 {
        return Vec::new();
    }
    let taken = |slot: u32| held.iter().any(|(s, expires)| *s == slot && *expires > now);
    (0..max)
        .map(|i| (start % max + i) % max)
        .filter(|slot| !taken(*slot))
        .collect()
}

/// A fresh holder id and a random starting slot.
pub fn new_holder() -> (String, u32) {
    let id = ulid::Ulid::new();
    // The low bits of a ULID are random.
    let start = u32::try_from(id.0 & u128::from(u32::MAX)).unwrap_or(0);
    (id.to_string(), start)
}

/// The expiry of a lease taken at `now` for `ttl`, capped at [`MAX_LEASE_TTL`].
pub fn lease_expiry(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(ttl.min(MAX_LEASE_TTL)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_slots_skip_unexpired_leases_and_wrap_from_start() {
        let now = Utc::now();
        let later = now + chrono::Duration::seconds(30);
        let earlier = now - chrono::Duration::seconds(1);
        let held = [(1, later), (2, earlier), (3, now), (7, later)];
        // Slot 2 and 3 have expired (expiry at or before now); slot 7 is beyond max.
        assert_eq!(free_slots(&held, 5, now, 3), vec![3, 4, 0, 2]);
        assert_eq!(free_slots(&held, 0, now, 0), Vec::<u32>::new());
        let all: Vec<(u32, DateTime<Utc>)> = (0..5).map(|s| (s, later)).collect();
        assert!(free_slots(&all, 5, now, 0).is_empty());
    }

    #[test]
    fn lease_expiry_is_capped() {
        let now = Utc::now();
        assert_eq!(
            lease_expiry(now, Duration::from_secs(600)) - now,
            chrono::Duration::seconds(120)
        );
        assert_eq!(
            lease_expiry(now, Duration::from_secs(30)) - now,
            chrono::Duration::seconds(30)
        );
    }
}
