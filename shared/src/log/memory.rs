//! In-memory [`EventLog`] and [`ShardReader`]: one shard, for unit tests and `burstline dev`.
//! It refuses the requests Kinesis refuses ([`put_refusal`]) and reads at most what one
//! `GetRecords` returns, so code that works here does not break on Kinesis for those reasons.

use super::limits::{MAX_RECORDS_PER_READ, put_refusal};
use super::{EventLog, LogRecord, PutResult, ShardReader, StoredRecord, put_units, read_units};
use crate::error::{Error, Result};
use crate::head::{StreamPosition, compare_sequence_numbers};
use crate::requests::RequestCounter;
use async_trait::async_trait;
use chrono::Utc;
use std::sync::{Arc, Mutex};

/// Decides, per put call (0-based) and record, whether to reject it: fault injection.
pub type RejectFn = dyn Fn(usize, &LogRecord) -> bool + Send + Sync;

/// The shard id the in-memory log uses.
pub const SHARD_ID: &str = "shardId-000000000000";

#[derive(Default)]
struct Inner {
    records: Vec<StoredRecord>,
    puts: usize,
    reject: Option<Arc<RejectFn>>,
}

/// A single-shard log held in memory. Cloning shares the log.
#[derive(Clone, Default)]
pub struct MemoryLog {
    inner: Arc<Mutex<Inner>>,
    requests: RequestCounter,
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
        Self {
            inner: Arc::default(),
            requests,
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
            inner.records.push(StoredRecord {
                sequence_number: seq.clone(),
                partition_key: r.partition_key.clone(),
                data: r.data.clone(),
                arrival: Utc::now(),
            });
            results.push(PutResult::Accepted(StreamPosition::new(SHARD_ID, seq)));
        }
        Ok(results)
    }
}

#[async_trait]
impl ShardReader for MemoryLog {
    async fn shards(&self) -> Result<Vec<String>> {
        Ok(vec![SHARD_ID.to_owned()])
    }

    async fn read(
        &self,
        shard: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        if shard != SHARD_ID {
            return Err(Error::InvalidData(format!("no shard {shard}")));
        }
        let inner = self.inner.lock().map_err(|_| poisoned())?;
        let records: Vec<StoredRecord> = inner
            .records
            .iter()
            .filter(|r| {
                after.is_none_or(|a| compare_sequence_numbers(&r.sequence_number, a).is_gt())
            })
            .take(limit.clamp(1, MAX_RECORDS_PER_READ))
            .cloned()
            .collect();
        // Reads are not counted as requests here (Kinesis on demand bills them by the GB),
        // but their bytes are, as the Kinesis adapter books them.
        self.requests
            .record_units("kinesis:GetRecords", &[read_units(&records)]);
        Ok(records)
    }
}
