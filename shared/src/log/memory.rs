//! In-memory [`EventLog`] and [`ShardReader`]: one shard by default, for unit tests and
//! `burstline dev`; [`MemoryLog::with_shards`] spreads records over `n` shards by the MD5 of
//! their partition key, as Kinesis does (`burstline dev --aws-model`).
//! It refuses the requests Kinesis refuses ([`put_refusal`]) and reads at most what one
//! `GetRecords` returns, so code that works here does not break on Kinesis for those reasons.

use super::limits::{MAX_RECORDS_PER_READ, put_refusal};
use super::{EventLog, LogRecord, PutResult, ShardReader, StoredRecord, put_units, read_units};
use crate::error::{Error, Result};
use crate::head::{StreamPosition, compare_sequence_numbers};
use crate::requests::RequestCounter;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};

/// Decides, per put call (0-based) and record, whether to reject it: fault injection.
pub type RejectFn = dyn Fn(usize, &LogRecord) -> bool + Send + Sync;

/// The shard id the in-memory log uses.
pub const SHARD_ID: &str = "shardId-000000000000";

#[derive(Default)]
struct Inner {
    records: Vec<StoredRecord>,
    /// The shard of each record, by index.
    shard_of: Vec<usize>,
    puts: usize,
    reject: Option<Arc<RejectFn>>,
}

/// A single-shard log held in memory. Cloning shares the log.
#[derive(Clone)]
pub struct MemoryLog {
    inner: Arc<Mutex<Inner>>,
    requests: RequestCounter,
    shards: usize,
}

impl Default for MemoryLog {
    fn default() -> Self {
        Self::new(RequestCounter::default())
    }
}

/// The id of shard `i`, as Kinesis names them.
pub fn shard_id(i: usize) -> String {
    format!("shardId-{i:012}")
}

/// The shard of `n` (hash ranges of equal size, as a new stream's) that Kinesis puts a record
/// with `partition_key` on: its MD5, read as a 128-bit big-endian number, picks the range.
pub fn shard_for(partition_key: &str, n: usize) -> usize {
    use md5::{Digest, Md5};
    let digest: [u8; 16] = Md5::digest(partition_key.as_bytes()).into();
    let hash = u128::from_be_bytes(digest);
    // ⌊hash × n / 2¹²⁸⌋, from the top 64 bits (exact for equal ranges of 2ᵏ shards).
    (((hash >> 64) * n as u128) >> 64) as usize
}

impl std::fmt::Debug for MemoryLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLog")
            .field("records", &self.len())
            .finish()
    }
}

impl MemoryLog {
    /// An empty log counting requests in `requests`.
    pub fn new(requests: RequestCounter) -> Self {
        Self::with_shards(requests, 1)
    }

    /// An empty log of `shards` shards (at least one), records placed as Kinesis places them
    /// ([`shard_for`]).
    pub fn with_shards(requests: RequestCounter, shards: usize) -> Self {
        Self {
            inner: Arc::default(),
            requests,
            shards: shards.max(1),
        }
    }

    /// Rejects records for which `f(put_call_index, record)` is true, as Kinesis does when a
    /// shard is throttled.
    pub fn reject_when(&self, f: impl Fn(usize, &LogRecord) -> bool + Send + Sync + 'static) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.reject = Some(Arc::new(f));
        }
    }

    /// Records appended so far.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.records.len()).unwrap_or(0)
    }

    /// Whether nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every record appended so far.
    pub fn records(&self) -> Vec<StoredRecord> {
        self.inner
            .lock()
            .map(|i| i.records.clone())
            .unwrap_or_default()
    }
}

fn poisoned() -> Error {
    Error::Internal("memory log lock poisoned".into())
}

#[async_trait]
impl EventLog for MemoryLog {
    async fn put(&self, records: &[LogRecord]) -> Result<Vec<PutResult>> {
        self.requests
            .record_billed("kinesis:PutRecords", &put_units(records));
        if let Some(reason) = put_refusal(records) {
            return Err(Error::Refused {
                operation: "PutRecords",
                reason,
            });
        }
        let mut inner = self.inner.lock().map_err(|_| poisoned())?;
        let call = inner.puts;
        inner.puts += 1;
        let reject = inner.reject.clone();
        let mut results = Vec::with_capacity(records.len());
        for r in records {
            if reject.as_ref().is_some_and(|f| f(call, r)) {
                results.push(PutResult::Rejected {
                    code: "ProvisionedThroughputExceededException".into(),
                });
                continue;
            }
            // Zero-padded so that string order equals numeric order, like real sequence numbers.
            let seq = format!("{:056}", inner.records.len() + 1);
            let shard = shard_for(&r.partition_key, self.shards);
            inner.shard_of.push(shard);
            inner.records.push(StoredRecord {
                sequence_number: seq.clone(),
                partition_key: r.partition_key.clone(),
                data: r.data.clone(),
                arrival: Utc::now(),
            });
            results.push(PutResult::Accepted(StreamPosition::new(
                shard_id(shard),
                seq,
            )));
        }
        Ok(results)
    }
}

#[async_trait]
impl ShardReader for MemoryLog {
    async fn shards(&self) -> Result<Vec<String>> {
        Ok((0..self.shards).map(shard_id).collect())
    }

    async fn read(
        &self,
        shard: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        let records = self.records_after(shard, after, limit)?;
        // Reads are not counted as requests here (Kinesis on demand bills them by the GB),
        // but their bytes are, as the Kinesis adapter books them.
        self.requests
            .record_units("kinesis:GetRecords", &[read_units(&records)]);
        Ok(records)
    }

    async fn next_arrival(
        &self,
        shard: &str,
        after: Option<&str>,
    ) -> Result<Option<DateTime<Utc>>> {
        Ok(self
            .records_after(shard, after, 1)?
            .first()
            .map(|r| r.arrival))
    }
}

impl MemoryLog {
    /// Up to `limit` records of `shard` after `after`, uncounted.
    fn records_after(
        &self,
        shard: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        let index = (0..self.shards)
            .find(|i| shard_id(*i) == shard)
            .ok_or_else(|| Error::InvalidData(format!("no shard {shard}")))?;
        let inner = self.inner.lock().map_err(|_| poisoned())?;
        // Records are appended in sequence-number order: skip to the first after `after`
        // instead of scanning the whole log on every poll.
        let start = inner.records.partition_point(|r| {
            after.is_some_and(|a| !compare_sequence_numbers(&r.sequence_number, a).is_gt())
        });
        Ok(inner.records[start..]
            .iter()
            .zip(&inner.shard_of[start..])
            .filter(|(_, s)| **s == index)
            .map(|(r, _)| r)
            .take(limit.clamp(1, MAX_RECORDS_PER_READ))
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shard_ids_match_the_constant() {
        assert_eq!(shard_id(0), SHARD_ID);
        assert_eq!(shard_for("anything", 1), 0);
    }

    #[test]
    fn records_land_on_the_shard_of_their_keys_md5() {
        // MD5("") = d41d8cd9…: top bits 1101 → the last quarter of the hash range (shard 3 of
        // 4); MD5("a") = 0cc175b9…: the first quarter.
        assert_eq!(shard_for("", 4), 3);
        assert_eq!(shard_for("a", 4), 0);
        // Many keys spread over every shard, each key always to the same one.
        let mut counts = [0; 4];
        for i in 0..400 {
            let k = format!("acme/task-{i}");
            assert_eq!(shard_for(&k, 4), shard_for(&k, 4));
            counts[shard_for(&k, 4)] += 1;
        }
        assert!(counts.iter().all(|c| *c > 60), "{counts:?}");
    }

    #[tokio::test]
    async fn a_sharded_log_reads_each_shard_in_order() {
        let log = MemoryLog::with_shards(RequestCounter::default(), 4);
        let recs: Vec<LogRecord> = (0..40)
            .map(|i| LogRecord {
                partition_key: format!("k{}", i % 7),
                data: i.to_string().into_bytes(),
            })
            .collect();
        let put = log.put(&recs).await.unwrap();
        let shards = log.shards().await.unwrap();
        assert_eq!(shards.len(), 4);
        let mut seen = 0;
        for shard in &shards {
            let read = log.read(shard, None, 10_000).await.unwrap();
            assert!(
                read.iter()
                    .all(|r| shard_id(shard_for(&r.partition_key, 4)) == *shard)
            );
            seen += read.len();
        }
        assert_eq!(seen, 40);
        let PutResult::Accepted(pos) = &put[0] else {
            panic!("accepted")
        };
        assert_eq!(pos.shard_id, shard_id(shard_for("k0", 4)));
    }
}
