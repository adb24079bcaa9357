//! How often an open stream looks for new events: fast right after activity, slowing down in
//! proportion to how long the task has been quiet, to `max` when idle; and never more than
//! [`ReadCap`] allows, however busy. Pure.
//!
//! Agents emit bursts: the next event usually follows within milliseconds of the last. Polling
//! every `min` (100 ms) while a burst is under way keeps the commit-to-frame latency low (50 ms
//! on average); a quiet task costs at most one read per `max` (60 reads per minute at 1 s). A
//! busy stream — a burst polled at `min`, a replay reading full pages back to back, retries —
//! makes at most `MAX_READS_PER_SECOND` (10) reads in any second: one viewer costs at most 10
//! DynamoDB `Query` calls a second.

use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

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
            min: Duration::from_millis(100),
            max: Duration::from_secs(1),
        }
    }
}

impl PollPolicy {
    /// The wait before the next read, given how long ago the last event arrived: a
    /// thirty-second of the quiet time, within `[min, max]`. A task quiet for 6.4 s is read
    /// every 200 ms; one quiet for 32 s or more once a second. The fast phase costs about 50
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

/// The window [`ReadCap`] counts reads in.
const WINDOW: Duration = Duration::from_secs(1);

/// At most `per_second` reads in any one-second window: the hard cap on one stream's reads,
/// whatever the schedule asks for. Remembers only the last `per_second` read times.
#[derive(Debug, Clone)]
pub struct ReadCap {
    per_second: usize,
    recent: VecDeque<Instant>,
}

impl ReadCap {
    /// A cap of `per_second` reads a second (at least 1).
    pub fn new(per_second: u32) -> Self {
        let per_second = usize::try_from(per_second.max(1)).unwrap_or(usize::MAX);
        Self {
            per_second,
            recent: VecDeque::with_capacity(per_second),
        }
    }

    /// The earliest moment a read wanted at `wanted` may start: `wanted` itself unless the
    /// last `per_second` reads all fall within the second before it.
    pub fn earliest(&self, wanted: Instant) -> Instant {
        match self.recent.front() {
            Some(&oldest) if self.recent.len() >= self.per_second => wanted.max(oldest + WINDOW),
            _ => wanted,
        }
    }

    /// Records a read started at `at`.
    pub fn record(&mut self, at: Instant) {
        if self.recent.len() >= self.per_second {
            self.recent.pop_front();
        }
        self.recent.push_back(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_after_activity_and_about_a_second_when_idle() {
        let p = PollPolicy::default();
        let ms = Duration::from_millis;
        assert_eq!(p.interval(ms(0)), ms(100));
        assert_eq!(p.interval(ms(3200)), ms(100));
        assert_eq!(p.interval(ms(6400)), ms(200));
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

    /// Reads started in the window `(at - 1 s, at]`.
    fn in_window(reads: &[Instant], at: Instant) -> usize {
        reads
            .iter()
            .filter(|r| **r <= at && at - **r < WINDOW)
            .count()
    }

    #[test]
    fn a_stream_that_wants_to_read_all_the_time_reads_ten_times_a_second() {
        let start = Instant::now();
        let mut cap = ReadCap::new(10);
        let mut reads = Vec::new();
        let mut now = start;
        // Full pages back to back: every read wants the next one at once.
        while now < start + Duration::from_secs(5) {
            now = cap.earliest(now);
            cap.record(now);
            reads.push(now);
        }
        for r in &reads {
            assert!(
                in_window(&reads, *r) <= 10,
                "more than 10 reads in a second"
            );
        }
        // The first ten go at once (a short replay is not slowed), then ten a second.
        assert_eq!(reads[9], start);
        assert_eq!(reads[10], start + WINDOW);
        assert!((50..=51).contains(&reads.len()), "{}", reads.len());
    }

    #[test]
    fn reads_within_the_cap_are_never_delayed() {
        let start = Instant::now();
        let mut cap = ReadCap::new(10);
        let p = PollPolicy::default();
        let mut now = start;
        // A burst polled at the fastest interval is already within the cap.
        for _ in 0..100 {
            assert_eq!(cap.earliest(now), now);
            cap.record(now);
            now += p.interval(Duration::ZERO);
        }
        // A cap of zero still lets one read a second through.
        let mut one = ReadCap::new(0);
        one.record(start);
        assert_eq!(one.earliest(start), start + WINDOW);
    }
}
