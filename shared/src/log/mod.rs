//! The event log port: Kinesis, written by ingest and read by the event-source mapping.

pub mod kinesis;
pub mod limits;
pub mod memory;

use crate::error::Result;
use crate::head::StreamPosition;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use limits::{MAX_BYTES_PER_PUT, MAX_RECORD_BYTES, MAX_RECORDS_PER_PUT};

/// A record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Records with the same key land on one shard, in order.
    pub partition_key: String,
    /// Payload.
    pub data: Vec<u8>,
}

impl LogRecord {
    /// Bytes Kinesis counts against its limits: data plus partition key.
    pub fn size(&self) -> usize {
        self.partition_key.len() + self.data.len()
    }
}

/// What happened to one record of a put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutResult {
    /// Durably in the stream at this position.
    Accepted(StreamPosition),
    /// Not written (e.g. throttled); safe to retry.
    Rejected {
        /// Service error code, e.g. `ProvisionedThroughputExceededException`.
        code: String,
    },
}

/// Appending to the stream.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Appends `records` (at most [`MAX_RECORDS_PER_PUT`] and [`MAX_BYTES_PER_PUT`]) with one
    /// request. Returns one result per record, in order. An `Err` means the request as a whole
    /// failed and nothing is known to be written; a request Kinesis would refuse
    /// ([`limits::put_refusal`]: too many records or bytes, a record over 1 MiB, a partition key
    /// over 256 characters) fails with [`crate::Error::Refused`] on every adapter.
    async fn put(&self, records: &[LogRecord]) -> Result<Vec<PutResult>>;
}

/// A record read back from a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Kinesis sequence number.
    pub sequence_number: String,
    /// Partition key.
    pub partition_key: String,
    /// Payload.
    pub data: Vec<u8>,
    /// When Kinesis received it.
    pub arrival: DateTime<Utc>,
}

/// Reading shards in order: what an event-source mapping does.
#[async_trait]
pub trait ShardReader: Send + Sync {
    /// The stream's shard ids.
    async fn shards(&self) -> Result<Vec<String>>;
    /// Up to `limit` records of `shard` after `after` (from the start when `None`).
    async fn read(
        &self,
        shard: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>>;

    /// When the first record of `shard` after `after` arrived, if there is one: what an
    /// enhanced fan-out subscription is told for free (records are pushed to it), so the
    /// in-memory log does not book it as a read. By default, a one-record read.
    async fn next_arrival(
        &self,
        shard: &str,
        after: Option<&str>,
    ) -> Result<Option<DateTime<Utc>>> {
        Ok(self.read(shard, after, 1).await?.first().map(|r| r.arrival))
    }
}

#[async_trait]
impl<T: ShardReader + ?Sized> ShardReader for std::sync::Arc<T> {
    async fn next_arrival(
        &self,
        shard: &str,
        after: Option<&str>,
    ) -> Result<Option<DateTime<Utc>>> {
        (**self).next_arrival(shard, after).await
    }
    async fn shards(&self) -> Result<Vec<String>> {
        (**self).shards().await
    }
    async fn read(
        &self,
        shard: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        (**self).read(shard, after, limit).await
    }
}

/// Splits records into index ranges that each fit one `PutRecords` request.
pub fn put_batches(records: &[LogRecord]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, r) in records.iter().enumerate() {
        let full = i - start == MAX_RECORDS_PER_PUT || bytes + r.size() > MAX_BYTES_PER_PUT;
        if i > start && full {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += r.size();
    }
    if start < records.len() {
        out.push(start..records.len());
    }
    out
}

/// The billing units of one `PutRecords` of `records`, booked alike by both adapters: bytes
/// as on-demand bills them (each record's data and partition key rounded up to 1 KB) and the
/// record count.
pub(crate) fn put_units(records: &[LogRecord]) -> [(crate::requests::Unit, u64); 2] {
    let bytes = records
        .iter()
        .map(|r| crate::meter::units::kinesis_billed_bytes_in(r.size()))
        .sum();
    [
        (crate::requests::Unit::KinesisBilledBytesIn, bytes),
        (
            crate::requests::Unit::KinesisRecordsIn,
            records.len() as u64,
        ),
    ]
}

/// The billing units of one read that returned `records`: their data and partition keys.
pub(crate) fn read_units(records: &[StoredRecord]) -> (crate::requests::Unit, u64) {
    let bytes = records
        .iter()
        .map(|r| (r.data.len() + r.partition_key.len()) as u64)
        .sum();
    (crate::requests::Unit::KinesisBytesOut, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(bytes: usize) -> LogRecord {
        LogRecord {
            partition_key: "k".into(),
            data: vec![0; bytes - 1],
        }
    }

    #[test]
    fn batches_respect_count_and_bytes() {
        let many: Vec<_> = (0..1001).map(|_| rec(10)).collect();
        assert_eq!(put_batches(&many), vec![0..500, 500..1000, 1000..1001]);
        let big: Vec<_> = (0..12).map(|_| rec(1024 * 1024)).collect();
        let b = put_batches(&big);
        assert_eq!(b, vec![0..5, 5..10, 10..12]);
        assert!(put_batches(&[]).is_empty());
    }
}
