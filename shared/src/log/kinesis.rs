//! [`EventLog`] and [`ShardReader`] on Amazon Kinesis Data Streams. A request Kinesis refuses
//! (see [`super::limits`]) comes back as [`Error::Refused`], as from the in-memory log.

use super::limits::MAX_RECORDS_PER_READ;
use super::{EventLog, LogRecord, PutResult, ShardReader, StoredRecord, put_units, read_units};
use crate::aws::sdk_error;
use crate::error::{Error, Result};
use crate::head::StreamPosition;
use crate::iam::Actions;
use crate::requests::RequestCounter;
use async_trait::async_trait;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType};
use chrono::{DateTime, Utc};

/// A Kinesis stream.
#[derive(Debug, Clone)]
pub struct KinesisLog {
    client: Client,
    stream: String,
    requests: RequestCounter,
}

impl KinesisLog {
    /// IAM actions of [`EventLog::put`] (`PutRecords`).
    pub const PUT: Actions = &["kinesis:PutRecords"];
    /// IAM actions of [`ShardReader::shards`].
    pub const SHARDS: Actions = &["kinesis:ListShards"];
    /// IAM actions of [`ShardReader::read`].
    pub const READ: Actions = &["kinesis:GetShardIterator", "kinesis:GetRecords"];

    /// Uses `stream` (a name) through `client`, counting requests in `requests`.
    pub fn new(client: Client, stream: impl Into<String>, requests: RequestCounter) -> Self {
        Self {
            client,
            stream: stream.into(),
            requests,
        }
    }
}

#[async_trait]
impl EventLog for KinesisLog {
    async fn put(&self, records: &[LogRecord]) -> Result<Vec<PutResult>> {
        let entries = records
            .iter()
            .map(|r| {
                PutRecordsRequestEntry::builder()
                    .partition_key(&r.partition_key)
                    .data(Blob::new(r.data.clone()))
                    .build()
                    .map_err(|e| Error::Internal(e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        self.requests
            .record_billed("kinesis:PutRecords", &put_units(records));
        let out = self
            .client
            .put_records()
            .stream_name(&self.stream)
            .set_records(Some(entries))
            .send()
            .await
            .map_err(|e| sdk_error("PutRecords", e))?;
        if out.records().len() != records.len() {
            return Err(Error::Internal(
                "PutRecords answered a different record count".into(),
            ));
        }
        Ok(out
            .records()
            .iter()
            .map(
                |r| match (r.shard_id(), r.sequence_number(), r.error_code()) {
                    (Some(shard), Some(seq), None) => {
                        PutResult::Accepted(StreamPosition::new(shard, seq))
                    }
                    (_, _, code) => PutResult::Rejected {
                        code: code.unwrap_or("Unknown").to_owned(),
                    },
                },
            )
            .collect())
    }
}

#[async_trait]
impl ShardReader for KinesisLog {
    async fn shards(&self) -> Result<Vec<String>> {
        self.requests.record("kinesis:ListShards");
        let out = self
            .client
            .list_shards()
            .stream_name(&self.stream)
            .send()
            .await
            .map_err(|e| sdk_error("ListShards", e))?;
        Ok(out
            .shards()
            .iter()
            .map(|s| s.shard_id().to_owned())
            .collect())
    }

    async fn read(
        &self,
        shard: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        let request = self
            .client
            .get_shard_iterator()
            .stream_name(&self.stream)
            .shard_id(shard);
        let request = match after {
            Some(seq) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(seq),
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        self.requests.record("kinesis:GetShardIterator");
        let iterator = request
            .send()
            .await
            .map_err(|e| sdk_error("GetShardIterator", e))?
            .shard_iterator()
            .map(str::to_owned)
            .ok_or_else(|| Error::Internal("GetShardIterator returned no iterator".into()))?;
        self.requests.record("kinesis:GetRecords");
        let out = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(i32::try_from(limit.clamp(1, MAX_RECORDS_PER_READ)).unwrap_or(1))
            .send()
            .await
            .map_err(|e| sdk_error("GetRecords", e))?;
        let records: Vec<StoredRecord> = out
            .records()
            .iter()
            .map(|r| StoredRecord {
                sequence_number: r.sequence_number().to_owned(),
                partition_key: r.partition_key().unwrap_or_default().to_owned(),
                data: r.data().as_ref().to_vec(),
                arrival: r
                    .approximate_arrival_timestamp()
                    .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()))
                    .unwrap_or_else(Utc::now),
            })
            .collect();
        self.requests
            .record_units("kinesis:GetRecords", &[read_units(&records)]);
        Ok(records)
    }
}
