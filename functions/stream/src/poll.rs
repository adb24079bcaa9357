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
            min: Duration::from_millis(25),
            max: Duration::from_secs(1),
        }
    }
}

impl PollPolicy {
    /// The wait before the next read, given how long ago the last event arrived: an eighth of
    /// the quiet time, within `[min, max]`.
    pub fn interval(&self, quiet_for: Duration) -> Duration {
        (quiet_for / 8).clamp(self.min, self.max.max(self.min))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_after_activity_and_about_a_second_when_idle() {
        let p = PollPolicy::default();
        let ms = Duration::from_millis;
        assert_eq!(p.interval(ms(0)), ms(25));
        assert_eq!(p.interval(ms(150)), ms(25));
        assert_eq!(p.interval(ms(800)), ms(100));
        assert_eq!(p.interval(ms(4000)), ms(500));
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
    fn idle_reads_per_minute_stay_within_budget() {
        let p = PollPolicy::default();
        // Simulate an idle minute that starts 10 s after the last event.
        let (mut t, mut reads) = (Duration::from_secs(10), 0);
        while t < Duration::from_secs(70) {
            t += p.interval(t);
            reads += 1;
        }
        assert!(reads <= 60, "{reads}");
    }
}
