//! The invocation's deadline, as pure decisions: when deliver stops starting POSTs.
//!
//! Lambda stops an invocation at its deadline, and every message of the batch then comes back
//! after the queue's visibility timeout to be POSTed again — other tenants' messages too. So
//! deliver starts no POST (nor the store read for one) once less than a margin is left: one
//! request timeout, so a POST that starts still ends in time, plus [`SETTLE_TIME`] to write
//! what it leaves behind. What it did not attempt is handed back to the queue (see
//! `handler`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Kept in hand beyond one request timeout: the attempt log, re-enqueues and dead letters of a
/// whole batch, and returning.
pub const SETTLE_TIME: Duration = Duration::from_secs(10);

/// Whether work may still start: the invocation's deadline, if it has one, less a margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cutoff {
    deadline: Option<Instant>,
    margin: Duration,
}

impl Cutoff {
    /// No deadline (tools and tests): everything may start.
    pub const NONE: Cutoff = Cutoff {
        deadline: None,
        margin: Duration::ZERO,
    };

    /// Work may start while more than `margin` is left before `deadline`.
    pub fn new(deadline: Option<Instant>, margin: Duration) -> Self {
        Self { deadline, margin }
    }

    /// May a POST start at `now`?
    pub fn allows(&self, now: Instant) -> bool {
        self.deadline
            .is_none_or(|d| d.saturating_duration_since(now) > self.margin)
    }
}

/// Time left until a Lambda deadline given in milliseconds since the Unix epoch
/// (`Context::deadline`), zero once it has passed.
pub fn remaining(deadline_ms: u64, now: SystemTime) -> Duration {
    (UNIX_EPOCH + Duration::from_millis(deadline_ms))
        .duration_since(now)
        .unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_nothing_within_the_margin() {
        let start = Instant::now();
        let cutoff = Cutoff::new(
            Some(start + Duration::from_secs(120)),
            Duration::from_secs(20),
        );
        assert!(cutoff.allows(start));
        assert!(cutoff.allows(start + Duration::from_millis(99_999)));
        assert!(!cutoff.allows(start + Duration::from_secs(100)));
        assert!(!cutoff.allows(start + Duration::from_secs(130)), "past it");
    }

    #[test]
    fn no_deadline_allows_everything() {
        let start = Instant::now();
        assert!(Cutoff::NONE.allows(start + Duration::from_secs(86_400)));
        assert!(Cutoff::new(None, Duration::from_secs(20)).allows(start));
    }

    #[test]
    fn remaining_time_from_the_lambda_deadline() {
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
        assert_eq!(remaining(1_700_000_120_000, now), Duration::from_secs(120));
        assert_eq!(remaining(1_699_999_000_000, now), Duration::ZERO);
    }
}
