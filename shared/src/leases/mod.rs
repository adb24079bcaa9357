//! The per-tenant stream budget (SPEC §6): at most `max_streams` open streams per tenant,
//! strict under simultaneous connects, and self-healing when a stream dies without saying so.
//!
//! A tenant has `max_streams` numbered slots. Opening a stream claims one free slot with a
//! conditional write ("absent, or its lease has expired"), so two connects can never hold the
//! same slot and no more than `max_streams` can be held at once. A held slot carries a lease
//! that the stream renews while it runs; a crashed stream stops renewing and its slot is free
//! again once the lease expires ([`MAX_LEASE_TTL`] at most). See `docs/architecture.md` for the
//! DynamoDB items.
//!
//! A claim may name its [`ClientKey`]: who is asking, as far as "the same client
//! reconnecting" goes. A slot held under the same key is taken over (written again under a new
//! holder) instead of a second slot being claimed, so a reload or a blip — after which the old
//! response may run on, unaware, until its segment ends — never costs a second slot. The old
//! holder loses the slot at its next renewal.

pub mod dynamodb;
pub mod memory;

use crate::error::Result;
use crate::ids::TenantId;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Longest lease: a crashed stream's slot is free again within this.
pub const MAX_LEASE_TTL: Duration = Duration::from_secs(120);

/// Who holds a slot, as far as "the same client reconnecting" goes: an opaque digest (SHA-256,
/// hex) of what identifies the client, so the stored value reveals nothing (no key, no token).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey(String);

impl ClientKey {
    /// The key of a client identified by `parts` (e.g. credential, task, client id). Parts are
    /// length-prefixed, so no two different lists give the same key.
    pub fn derive(parts: &[&str]) -> Self {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in parts {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        Self(hex::encode(h.finalize()))
    }

    /// A key as stored.
    pub fn from_stored(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A slot as read before a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSlot {
    /// Which slot.
    pub slot: u32,
    /// When its lease expires (it is free from then on).
    pub expires_at: DateTime<Utc>,
    /// Whose it is, if its holder named a client.
    pub client: Option<ClientKey>,
}

/// One held slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Whose budget.
    pub tenant_id: TenantId,
    /// Which slot, `0..max_streams`.
    pub slot: u32,
    /// The client it is held for, if named: the same client reconnecting takes it over.
    pub client: Option<ClientKey>,
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
    /// Claims a slot among `0..max` for `ttl` from `now`: the one `client` holds already, if
    /// any (taken over from its previous holder), else a free one; or reports the budget full.
    async fn acquire(
        &self,
        tenant: &TenantId,
        client: Option<&ClientKey>,
        max: u32,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Claim>;

    /// Extends a lease we hold to `now + ttl`.
    async fn renew(&self, lease: &Lease, now: DateTime<Utc>, ttl: Duration) -> Result<Renewal>;

    /// Frees a slot we hold; a no-op when it is no longer ours.
    async fn release(&self, lease: &Lease) -> Result<()>;
}

/// Most free slots one claim tries. Simultaneous connects start at random slots, so losing
/// this many races in a row while other slots are free is vanishingly rare; the cap keeps a
/// claim cheap when `max_streams` is large.
pub const MAX_CANDIDATES: usize = 64;

/// The slots a claim tries, in order: the slot below `max` that `client` holds (expired or
/// not: taking it over keeps the client at one slot), then up to [`MAX_CANDIDATES`] slots that
/// no unexpired lease holds, starting at `start` and wrapping, so simultaneous connects spread
/// over different slots instead of all racing for slot 0.
pub fn candidates(
    held: &[HeldSlot],
    client: Option<&ClientKey>,
    max: u32,
    now: DateTime<Utc>,
    start: u32,
) -> Vec<u32> {
    if max == 0 {
        return Vec::new();
    }
    let own = client.and_then(|c| {
        held.iter()
            .find(|h| h.slot < max && h.client.as_ref() == Some(c))
            .map(|h| h.slot)
    });
    let taken: std::collections::HashSet<u32> = held
        .iter()
        .filter(|h| h.expires_at > now)
        .map(|h| h.slot)
        .collect();
    let first = start % max;
    own.into_iter()
        .chain(
            (first..max)
                .chain(0..first)
                .filter(|slot| !taken.contains(slot) && Some(*slot) != own)
                .take(MAX_CANDIDATES),
        )
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

    fn held(slot: u32, expires_at: DateTime<Utc>, client: Option<&ClientKey>) -> HeldSlot {
        HeldSlot {
            slot,
            expires_at,
            client: client.cloned(),
        }
    }

    #[test]
    fn free_slots_skip_unexpired_leases_and_wrap_from_start() {
        let now = Utc::now();
        let later = now + chrono::Duration::seconds(30);
        let earlier = now - chrono::Duration::seconds(1);
        let h = [
            held(1, later, None),
            held(2, earlier, None),
            held(3, now, None),
            held(7, later, None),
        ];
        // Slot 2 and 3 have expired (expiry at or before now); slot 7 is beyond max.
        assert_eq!(candidates(&h, None, 5, now, 3), vec![3, 4, 0, 2]);
        assert_eq!(candidates(&h, None, 0, now, 0), Vec::<u32>::new());
        let all: Vec<HeldSlot> = (0..5).map(|s| held(s, later, None)).collect();
        assert!(candidates(&all, None, 5, now, 0).is_empty());
        assert_eq!(
            candidates(&[], None, 100_000, now, 99_990).len(),
            MAX_CANDIDATES
        );
        assert_eq!(candidates(&[], None, 100_000, now, 99_999)[1], 0);
    }

    #[test]
    fn the_same_client_takes_over_its_own_slot_first() {
        let now = Utc::now();
        let later = now + chrono::Duration::seconds(30);
        let me = ClientKey::derive(&["token", "run-42", "tab-1"]);
        let other = ClientKey::derive(&["token", "run-42", "tab-2"]);
        let full: Vec<HeldSlot> = (0..3)
            .map(|s| held(s, later, (s == 1).then_some(&me)))
            .collect();
        // Every slot is held, one of them by me: I get that one back, and only that one.
        assert_eq!(candidates(&full, Some(&me), 3, now, 0), vec![1]);
        assert!(candidates(&full, Some(&other), 3, now, 0).is_empty());
        assert!(candidates(&full, None, 3, now, 0).is_empty());
        // With free slots, my own still comes first and is not offered twice.
        assert_eq!(candidates(&full, Some(&me), 5, now, 1), vec![1, 3, 4]);
        // A slot beyond a lowered budget is not mine to keep.
        assert_eq!(candidates(&full, Some(&me), 1, now, 0), Vec::<u32>::new());
    }

    #[test]
    fn client_keys_separate_their_parts() {
        assert_ne!(
            ClientKey::derive(&["ab", "c"]),
            ClientKey::derive(&["a", "bc"])
        );
        assert_eq!(ClientKey::derive(&["a"]).as_str().len(), 64);
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
