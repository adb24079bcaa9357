//! Per-endpoint limits as pure decisions: `rate_limit` (requests per second) and
//! `max_in_flight` (requests at once), enforced across every deliver invocation through one
//! small shared item per endpoint ([`Permits`], the `permits` port).
//!
//! Amortised: an invocation does not write per request. It **leases** a share of the current
//! one-second window's requests (`tokens`, a quarter of the rate at a time) and in-flight slots
//! (one more at a time, held for [`LEASE`] and renewed) with one conditional write, then spends
//! them locally. The sums of what all holders were granted never exceed the limits: at most
//! `rate_limit` requests start in one whole second of the clock, at most `max_in_flight` are in
//! flight. Unspent tokens lapse with their window (a lease errs on the side of sending less).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Requests per second when the endpoint sets none: a bound on bursts, not the fair-share
/// rule (that is [`DEFAULT_MAX_IN_FLIGHT`]: a healthy endpoint answering in 10 ms gets at most
/// 800 requests/s from its 8 slots anyway).
pub const DEFAULT_RATE_LIMIT: u32 = 1000;
/// Requests in flight when the endpoint sets none: a quarter of one invocation's 32 job slots,
/// so an endpoint that hangs until the timeout holds at most that many.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 8;
/// Highest `rate_limit` accepted.
pub const MAX_RATE_LIMIT: u32 = 10_000;
/// Highest `max_in_flight` accepted: one invocation's job slots.
pub const MAX_IN_FLIGHT: u32 = 32;
/// How long in-flight slots are held without renewal: longer than a request can last (the
/// 10 s webhook timeout) plus settling, so a holder that dies frees them by itself.
pub const LEASE: Duration = Duration::from_secs(30);

/// An endpoint's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests started per whole second.
    pub rate: u32,
    /// Requests in flight at once.
    pub in_flight: u32,
}

impl Limits {
    /// The limits an endpoint set, defaults for what it did not.
    pub fn of(rate_limit: Option<u32>, max_in_flight: Option<u32>) -> Self {
        Self {
            rate: rate_limit.unwrap_or(DEFAULT_RATE_LIMIT).max(1),
            in_flight: max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT).max(1),
        }
    }
}

/// Checks a `rate_limit` given through the API.
pub fn validate_rate_limit(v: u64) -> Result<u32, String> {
    u32::try_from(v)
        .ok()
        .filter(|n| (1..=MAX_RATE_LIMIT).contains(n))
        .ok_or_else(|| {
            format!("must be a whole number of requests per second, 1 to {MAX_RATE_LIMIT}")
        })
}

/// Checks a `max_in_flight` given through the API.
pub fn validate_max_in_flight(v: u64) -> Result<u32, String> {
    u32::try_from(v)
        .ok()
        .filter(|n| (1..=MAX_IN_FLIGHT).contains(n))
        .ok_or_else(|| {
            format!("must be a whole number of concurrent requests, 1 to {MAX_IN_FLIGHT}")
        })
}

/// One holder's in-flight slots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotLease {
    /// The invocation holding them.
    pub holder: String,
    /// How many.
    pub slots: u32,
    /// When they lapse unless renewed.
    pub until: DateTime<Utc>,
}

/// The shared item: the current window's granted requests and the in-flight leases.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permits {
    /// The window (unix second) `granted` counts.
    pub window: i64,
    /// Requests granted in that window, to all holders.
    pub granted: u32,
    /// Unexpired in-flight leases.
    pub leases: Vec<SlotLease>,
}

/// What one lease gave a holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The window the tokens are for.
    pub window: i64,
    /// Requests it may start in that window (besides any it got before in it).
    pub tokens: u32,
    /// In-flight slots it now holds in all.
    pub slots: u32,
    /// When they lapse.
    pub until: DateTime<Utc>,
}

/// Leases `want_tokens` more requests of the current window and brings `holder`'s slots to
/// `want_slots`, as far as the limits allow; returns the item to write and the grant.
pub fn grant(
    permits: &Permits,
    limits: Limits,
    holder: &str,
    want_tokens: u32,
    want_slots: u32,
    now: DateTime<Utc>,
) -> (Permits, Grant) {
    let window = now.timestamp();
    let granted = if permits.window == window {
        permits.granted
    } else {
        0
    };
    let tokens = want_tokens.min(limits.rate.saturating_sub(granted));
    let mut leases: Vec<SlotLease> = permits
        .leases
        .iter()
        .filter(|l| l.until > now && l.holder != holder)
        .cloned()
        .collect();
    let others: u32 = leases.iter().map(|l| l.slots).sum();
    let slots = want_slots.min(limits.in_flight.saturating_sub(others));
    let until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
    if slots > 0 {
        leases.push(SlotLease {
            holder: holder.to_owned(),
            slots,
            until,
        });
    }
    let next = Permits {
        window,
        granted: granted + tokens,
        leases,
    };
    (
        next,
        Grant {
            window,
            tokens,
            slots,
            until,
        },
    )
}

/// How many requests to lease at a time: a quarter of the rate, so two invocations sharing an
/// endpoint both get some, at one write per quarter second at most.
pub fn token_chunk(limits: Limits) -> u32 {
    (limits.rate / 4).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000 + ms).unwrap()
    }

    #[test]
    fn grants_never_sum_past_the_limits() {
        let limits = Limits::of(Some(50), Some(4));
        let (p, a) = grant(&Permits::default(), limits, "a", 30, 3, at(0));
        assert_eq!((a.tokens, a.slots), (30, 3));
        let (p, b) = grant(&p, limits, "b", 30, 3, at(100));
        assert_eq!(
            (b.tokens, b.slots),
            (20, 1),
            "what is left of the window and the slots"
        );
        let (p, b2) = grant(&p, limits, "b", 5, 2, at(900));
        assert_eq!((b2.tokens, b2.slots), (0, 1), "the window is spent");
        // A new second: a new window; "a" renews its slots (its own lease is replaced).
        let (p, a2) = grant(&p, limits, "a", 30, 3, at(1000));
        assert_eq!((a2.tokens, a2.slots), (30, 3));
        assert_eq!(p.leases.iter().map(|l| l.slots).sum::<u32>(), 4);
        // Giving slots back: ask for none.
        let (p, a3) = grant(&p, limits, "a", 0, 0, at(1100));
        assert_eq!(a3.slots, 0);
        assert_eq!(p.leases.len(), 1);
        // A holder that died: its slots lapse.
        let (_, c) = grant(&p, limits, "c", 0, 4, at(1000 + 31_000));
        assert_eq!(c.slots, 4);
    }

    #[test]
    fn limits_validate_and_default() {
        assert_eq!(
            Limits::of(None, None),
            Limits {
                rate: 1000,
                in_flight: 8
            }
        );
        assert!(validate_rate_limit(0).is_err());
        assert!(validate_rate_limit(10_001).is_err());
        assert_eq!(validate_rate_limit(20), Ok(20));
        assert!(validate_max_in_flight(33).is_err());
        assert_eq!(validate_max_in_flight(4), Ok(4));
        assert_eq!(token_chunk(Limits::of(Some(50), None)), 12);
        assert_eq!(token_chunk(Limits::of(Some(2), None)), 1);
    }
}
