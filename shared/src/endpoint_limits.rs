//! Per-endpoint limits as pure decisions: `rate_limit` (requests per second) and
//! `max_in_flight` (concurrent requests).
//!
//! A limit the endpoint **sets** is enforced across every deliver invocation through one small
//! shared item per endpoint ([`Permits`], the `permits` port), amortised: an invocation does
//! not write per request. It **leases** a share of the current one-second window's requests
//! (`tokens`, a quarter of the rate at a time) and in-flight slots (one more at a time, held
//! for [`LEASE`] and renewed) with one conditional write, then spends them locally. The sums
//! of what all holders were granted never exceed the limits: at most `rate_limit` requests
//! start in one whole second of the clock, at most `max_in_flight` are in flight. Unspent
//! tokens lapse with their window (a lease errs on the side of sending less).
//!
//! An endpoint that sets **no** limit costs no shared state at all: no rate limit, and each
//! deliver invocation sends it at most its [`fair_share`] of the invocation's job slots at
//! once, kept locally: all of them when it is the only endpoint with jobs in the batch, an
//! equal part (never below [`DEFAULT_MAX_IN_FLIGHT`]) when others have jobs too. So an
//! endpoint alone uses every slot, and one that hangs holds at most its part while other
//! endpoints' jobs are waiting beside it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The smallest [`fair_share`] of an endpoint that sets no `max_in_flight`: a quarter of one
/// invocation's 32 job slots, so however many endpoints share a batch, each keeps requests
/// going, and with four or more an endpoint that hangs until the timeout holds at most this
/// many of the invocation's slots.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 8;
/// Highest `rate_limit` accepted.
pub const MAX_RATE_LIMIT: u32 = 10_000;
/// Highest `max_in_flight` accepted: one invocation's job slots.
pub const MAX_IN_FLIGHT: u32 = 32;
/// How long in-flight slots are held without renewal: longer than a request can last (the
/// 10 s webhook timeout) plus settling, so a holder that dies frees them by itself.
pub const LEASE: Duration = Duration::from_secs(30);

/// Requests in flight in one invocation for an endpoint that sets no `max_in_flight`, when
/// `endpoints` endpoints have jobs in the invocation's batch: an equal part of its `slots` job
/// slots, but never below [`DEFAULT_MAX_IN_FLIGHT`] (nor above `slots`). Work-conserving: an
/// endpoint alone in a batch may use every slot, because no one else's job waits for them.
pub fn fair_share(slots: u32, endpoints: usize) -> u32 {
    let endpoints = u32::try_from(endpoints.max(1)).unwrap_or(u32::MAX);
    (slots / endpoints)
        .max(DEFAULT_MAX_IN_FLIGHT)
        .min(slots.max(1))
}

/// How an endpoint's concurrent requests are bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InFlight {
    /// None set: at most this many per deliver invocation, kept locally (no shared state);
    /// [`Limits::of`] gives the least share, the invocation its [`fair_share`].
    PerProcess(u32),
    /// Set by the endpoint: at most this many across all invocations (shared leases).
    Shared(u32),
}

/// An endpoint's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests started per whole second, across all invocations; `None`: no limit.
    pub rate: Option<u32>,
    /// Requests in flight at once.
    pub in_flight: InFlight,
}

impl Limits {
    /// The limits an endpoint set; for what it did not, no rate limit and the per-process
    /// in-flight default.
    pub fn of(rate_limit: Option<u32>, max_in_flight: Option<u32>) -> Self {
        Self {
            rate: rate_limit.map(|r| r.max(1)),
            in_flight: max_in_flight.map_or(InFlight::PerProcess(DEFAULT_MAX_IN_FLIGHT), |n| {
                InFlight::Shared(n.max(1))
            }),
        }
    }

    /// Whether any limit needs the shared permits item (false: nothing is read or written).
    pub fn shared(&self) -> bool {
        self.rate.is_some() || matches!(self.in_flight, InFlight::Shared(_))
    }

    /// The in-flight cap shared across invocations, if the endpoint set one.
    pub fn shared_in_flight(&self) -> Option<u32> {
        match self.in_flight {
            InFlight::Shared(n) => Some(n),
            InFlight::PerProcess(_) => None,
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
    let tokens = want_tokens.min(limits.rate.unwrap_or(0).saturating_sub(granted));
    let mut leases: Vec<SlotLease> = permits
        .leases
        .iter()
        .filter(|l| l.until > now && l.holder != holder)
        .cloned()
        .collect();
    let others: u32 = leases.iter().map(|l| l.slots).sum();
    let cap = limits.shared_in_flight().unwrap_or(0);
    let slots = want_slots.min(cap.saturating_sub(others));
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
/// endpoint both get some, at one write per quarter second at most (none without a rate).
pub fn token_chunk(limits: Limits) -> u32 {
    limits.rate.map_or(0, |r| (r / 4).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000 + ms).unwrap()
    }

    #[test]
    fn an_endpoint_alone_gets_every_slot_and_shares_them_with_others_down_to_the_least() {
        assert_eq!(fair_share(32, 1), 32);
        assert_eq!(fair_share(32, 0), 32, "no endpoint counted: as if alone");
        assert_eq!(fair_share(32, 2), 16);
        assert_eq!(fair_share(32, 3), 10);
        assert_eq!(fair_share(32, 4), 8);
        assert_eq!(
            fair_share(32, 9),
            DEFAULT_MAX_IN_FLIGHT,
            "never below the least share"
        );
        assert_eq!(fair_share(4, 3), 4, "never above the invocation's slots");
        assert_eq!(fair_share(0, 1), 1, "a request can always start");
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
    fn only_the_limits_set_are_granted() {
        let in_flight_only = Limits::of(None, Some(4));
        let (_, g) = grant(&Permits::default(), in_flight_only, "a", 0, 3, at(0));
        assert_eq!((g.tokens, g.slots), (0, 3));
        let rate_only = Limits::of(Some(50), None);
        let (p, g) = grant(&Permits::default(), rate_only, "a", 12, 3, at(0));
        assert_eq!(
            (g.tokens, g.slots),
            (12, 0),
            "in flight is per process, never leased"
        );
        assert!(p.leases.is_empty());
    }

    #[test]
    fn limits_validate_and_default() {
        let none = Limits::of(None, None);
        assert_eq!(
            none,
            Limits {
                rate: None,
                in_flight: InFlight::PerProcess(8)
            }
        );
        assert!(!none.shared(), "no limit set: no shared state");
        assert!(Limits::of(Some(20), None).shared());
        assert!(Limits::of(None, Some(4)).shared());
        assert_eq!(token_chunk(none), 0);
        assert!(validate_rate_limit(0).is_err());
        assert!(validate_rate_limit(10_001).is_err());
        assert_eq!(validate_rate_limit(20), Ok(20));
        assert!(validate_max_in_flight(33).is_err());
        assert_eq!(validate_max_in_flight(4), Ok(4));
        assert_eq!(token_chunk(Limits::of(Some(50), None)), 12);
        assert_eq!(token_chunk(Limits::of(Some(2), None)), 1);
    }
}
