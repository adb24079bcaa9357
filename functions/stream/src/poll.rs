//! How often an open stream looks for new events: fast right after activity, slowing down in
//! proportion to how long the task has been quiet, to `max` when idle. Pure.
//!
//! Agents emit bursts: the next event usually follows within milliseconds of the last. Polling
//! every `min` while a burst is under way keeps the commit-to-frame latency low; a quiet task
//! costs at most one read per `max` (60 reads per minute at 1 s).

use std::time::Duration;

/// The adaptive polling schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollPolicy {
    /// Interval right after activity.
    pub min: Duration,
    /// Interval when idle.
    pub max: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            min: Duration::from_millis(20),
            max: Duration::from_secs(1),
        }
    }
}

impl PollPolicy {
    /// The wait before the next read, given how long ago the last event arrived: a
    /// thirty-second of the quiet time, within `[min, max]`. A task quiet for 1.6 s is read
    /// every 50 ms; one quiet for 32 s or more once a second. The fast phase costs about 120
    /// extra reads after each burst; it is what keeps the first event of the next burst prompt.
    pub fn interval(&self, quiet_for: Duration) -> Duration {
        (quiet_for / 32).clamp(self.min, self.max.max(self.min))
    }

    /// The wait before reading again after `failures` consecutive failed reads: doubling from
    /// [`FIRST_READ_RETRY`] (100 ms, 200 ms, 400 ms, …), at most `max`, so a struggling table
    /// is not hammered at the fast-poll rate.
    pub fn after_failure(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(16);
        FIRST_READ_RETRY
            .saturating_mul(1 << doublings)
            .min(self.max.max(self.min))
    }
}

/// The first wait after a failed read.
pub const FIRST_READ_RETRY: Duration = Duration::from_millis(100);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_after_activity_and_about_a_second_when_idle() {
        let p = PollPolicy::default();
        let ms = Duration::from_millis;
        assert_eq!(p.interval(ms(0)), ms(20));
        assert_eq!(p.interval(ms(600)), ms(20));
        assert_eq!(p.interval(ms(1600)), ms(50));
        assert_eq!(p.interval(ms(16_000)), ms(500));
        assert_eq!(p.interval(ms(32_000)), ms(1000));
        assert_eq!(p.interval(Duration::from_secs(3600)), ms(1000));
        // Monotonic in quiet time.
        let mut last = Duration::ZERO;
        for q in (0..20_000).step_by(37) {
            let i = p.interval(ms(q));
            assert!(i >= last);
            last = i;
        }
    }

    #[test]
    fn failed_reads_back_off_to_max() {
        let p = PollPolicy::default();
        let ms = Duration::from_millis;
        let waits: Vec<Duration> = (1..=6).map(|f| p.after_failure(f)).collect();
        assert_eq!(
            waits,
            [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        assert_eq!(p.after_failure(u32::MAX), ms(1000));
    }

    #[test]
    fn idle_reads_per_minute_stay_within_budget() {
        let p = PollPolicy::default();
        // An idle minute once the backoff has settled (32 s after the last event).
        let (mut t, mut reads) = (Duration::from_secs(32), 0);
        while t < Duration::from_secs(92) {
            t += p.interval(t);
            reads += 1;
        }
        assert!(reads <= 60, "{reads}");
    }
}
