//! Kinesis's per-shard write limit, as the model enforces it: each shard takes at most 1,000
//! records and 1 MiB (data plus partition key) a second; `PutRecords` rejects what is over,
//! record by record, with `ProvisionedThroughputExceededException`, and accepts the rest.
//! Pure: the caller passes the time.
//!
//! Source: Kinesis Data Streams developer guide, "Quotas and limits"
//! (https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html): "Each shard
//! can support … up to 1,000 records per second for writes, up to a maximum total data write
//! rate of 1 MB per second". An on-demand stream starts with 4 MB/s and 4,000 records/s of
//! write capacity, which is the 4 shards the model keeps.
//!
//! Each shard is a token bucket holding one second of its rate: a shard that was quiet can take
//! a second's worth at once, and a steady writer gets exactly the rate. AWS does not publish
//! how it measures the second, so this is the simplest reading of "per second".

use tokio::time::Instant;

/// The error code Kinesis gives each record it did not take for throughput.
pub const THROTTLED: &str = "ProvisionedThroughputExceededException";

/// One shard's write rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShardWriteLimit {
    /// Records a second.
    pub records_per_second: f64,
    /// Bytes (data plus partition key) a second.
    pub bytes_per_second: f64,
}

impl Default for ShardWriteLimit {
    /// Kinesis's: 1,000 records and 1 MiB a second.
    fn default() -> Self {
        Self {
            records_per_second: 1000.0,
            bytes_per_second: 1024.0 * 1024.0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    records: f64,
    bytes: f64,
    at: Instant,
}

/// Every shard's bucket.
#[derive(Debug, Clone)]
pub struct ShardBuckets {
    limit: ShardWriteLimit,
    buckets: Vec<Bucket>,
}

impl ShardBuckets {
    /// `shards` full buckets of `limit` at `now`.
    pub fn new(limit: ShardWriteLimit, shards: usize, now: Instant) -> Self {
        let full = Bucket {
            records: limit.records_per_second,
            bytes: limit.bytes_per_second,
            at: now,
        };
        Self {
            limit,
            buckets: vec![full; shards.max(1)],
        }
    }

    /// Whether shard `shard` takes one record of `bytes` at `now`; if so, it is counted. A
    /// shard out of range is the last shard.
    pub fn admit(&mut self, shard: usize, bytes: usize, now: Instant) -> bool {
        let limit = self.limit;
        let last = self.buckets.len() - 1;
        let Some(b) = self.buckets.get_mut(shard.min(last)) else {
            return true;
        };
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.records = (b.records + elapsed * limit.records_per_second).min(limit.records_per_second);
        b.bytes = (b.bytes + elapsed * limit.bytes_per_second).min(limit.bytes_per_second);
        b.at = now;
        let bytes = bytes as f64;
        if b.records >= 1.0 && b.bytes >= bytes {
            b.records -= 1.0;
            b.bytes -= bytes;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_quiet_shard_takes_a_seconds_worth_then_its_rate() {
        let t0 = Instant::now();
        let mut b = ShardBuckets::new(ShardWriteLimit::default(), 2, t0);
        let taken = (0..1500).filter(|_| b.admit(0, 100, t0)).count();
        assert_eq!(taken, 1000, "a second's worth of records at once");
        assert!(b.admit(1, 100, t0), "the other shard has its own bucket");
        assert!(!b.admit(0, 100, t0 + Duration::from_micros(500)));
        let later = t0 + Duration::from_millis(100);
        let taken = (0..500).filter(|_| b.admit(0, 100, later)).count();
        assert_eq!(taken, 100, "100 ms refills 100 records");
    }

    #[test]
    fn bytes_limit_too() {
        let t0 = Instant::now();
        let mut b = ShardBuckets::new(ShardWriteLimit::default(), 1, t0);
        // 4 records of 300 KB: the fourth would pass 1 MiB in the second.
        let taken = (0..4).filter(|_| b.admit(0, 300 * 1024, t0)).count();
        assert_eq!(taken, 3);
        // The missing 176 KB come back at 1 MiB/s: not after 150 ms, after 180 ms.
        assert!(!b.admit(0, 300 * 1024, t0 + Duration::from_millis(150)));
        assert!(b.admit(0, 300 * 1024, t0 + Duration::from_millis(180)));
    }
}
