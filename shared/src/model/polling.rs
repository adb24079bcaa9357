//! How a standard (shared-throughput) Kinesis consumer paces its reads of one shard, as Lambda
//! does: idle shards are read about once a second, busy ones again at once, and never more
//! than the shard's `GetRecords` limit allows. Pure.

use super::table::StandardPolling;
use std::time::Duration;

/// How long to wait before the next `GetRecords` on a shard, given whether the last poll
/// found records and how long ago it started.
pub fn next_read_in(found: bool, since_last_read: Duration, polling: &StandardPolling) -> Duration {
    if !found {
        return polling.idle_poll;
    }
    let spacing = Duration::from_secs(1) / polling.max_reads_per_second.max(1);
    spacing.saturating_sub(since_last_read)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLLING: StandardPolling = StandardPolling {
        idle_poll: Duration::from_secs(1),
        max_reads_per_second: 5,
        batching_window: Duration::ZERO,
    };

    #[test]
    fn idle_shards_wait_a_second_busy_ones_no_more_than_five_reads_a_second() {
        let ms = Duration::from_millis;
        assert_eq!(next_read_in(false, ms(10), &POLLING), ms(1000));
        assert_eq!(next_read_in(true, ms(50), &POLLING), ms(150));
        assert_eq!(next_read_in(true, ms(1200), &POLLING), Duration::ZERO);
    }
}
