//! How long a job waits before looking again for its events' commit, as a pure function.
//!
//! Fanout enqueues a job just before the commit that stores its events, so the commit is
//! usually milliseconds away and deliver looks again in-process first. When it is not (a
//! DynamoDB outage, a hot task whose commits keep conflicting), each look is one more SQS
//! message and deliver invocation: the waits double, from [`crate::Policy::commit_wait`] up to
//! SQS's 15-minute delay, so an outage costs a dozen looks per job rather than hundreds, with
//! the same patience ([`crate::Policy::commit_patience`]) before the dead letter.

use burstline::schedule::MAX_SQS_DELAY;
use std::time::Duration;

/// The wait before the next look, after `waits` earlier waits, or `None` once they add up to
/// `patience` (the job is dead-lettered: its events were never committed).
///
/// Wait `i` (from 0) is `first × 2^i`, capped at [`MAX_SQS_DELAY`]; the last one is cut so the
/// waits add up to exactly `patience`.
pub fn next_commit_wait(waits: u32, first: Duration, patience: Duration) -> Option<Duration> {
    let mut wait = first.max(Duration::from_millis(1)).min(MAX_SQS_DELAY);
    let mut waited = Duration::ZERO;
    let mut doubling = waits;
    while doubling > 0 && wait < MAX_SQS_DELAY {
        waited = waited.saturating_add(wait);
        wait = (wait * 2).min(MAX_SQS_DELAY);
        doubling -= 1;
    }
    // The rest were all capped: no need to walk them one by one.
    waited = waited.saturating_add(MAX_SQS_DELAY.saturating_mul(doubling));
    let left = patience.checked_sub(waited).filter(|d| !d.is_zero())?;
    Some(wait.min(left))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: Duration = Duration::from_secs(5);
    const HOUR: Duration = Duration::from_secs(3600);

    fn all_waits() -> Vec<u64> {
        (0..)
            .map_while(|n| next_commit_wait(n, FIRST, HOUR))
            .map(|d| d.as_secs())
            .collect()
    }

    #[test]
    fn doubles_from_the_first_wait_up_to_the_sqs_limit() {
        assert_eq!(
            all_waits(),
            [5, 10, 20, 40, 80, 160, 320, 640, 900, 900, 525]
        );
    }

    #[test]
    fn the_same_patience_in_a_dozen_looks() {
        let waits = all_waits();
        assert_eq!(waits.iter().sum::<u64>(), 3600, "an hour in all");
        assert!(waits.len() < 12, "rather than 720 looks every 5 s");
        assert_eq!(next_commit_wait(11, FIRST, HOUR), None);
        assert_eq!(next_commit_wait(720, FIRST, HOUR), None);
        assert_eq!(next_commit_wait(u32::MAX, FIRST, HOUR), None);
    }

    #[test]
    fn never_longer_than_sqs_can_delay() {
        let patience = Duration::from_secs(86_400);
        for n in 0..100 {
            if let Some(d) = next_commit_wait(n, FIRST, patience) {
                assert!(d <= MAX_SQS_DELAY);
            }
        }
    }

    #[test]
    fn no_patience_means_no_wait() {
        assert_eq!(next_commit_wait(0, FIRST, Duration::ZERO), None);
    }
}
