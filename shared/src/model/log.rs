//! [`EventLog`] and [`ShardReader`] under the model. A put is one `PutRecords`. A read is one
//! `GetRecords`: the reader is Lambda's poller, which keeps its shard iterators, so the
//! `GetShardIterator` that `KinesisLog::read` makes per call is not charged. How often reads
//! happen is the mapping's business (`mapping::kinesis`, `burstline dev`).

use super::Modeled;
use super::latency::pause;
use crate::error::Result;
use crate::log::{EventLog, LogRecord, PutResult, ShardReader, StoredRecord};
use async_trait::async_trait;

#[async_trait]
impl<T: EventLog + ?Sized> EventLog for Modeled<T> {
    async fn put(&self, records: &[LogRecord]) -> Result<Vec<PutResult>> {
        let out = self.inner.put(records).await;
        pause(self.model.request("kinesis:PutRecords", records.len())).await;
        out
    }
}

#[async_trait]
impl<T: ShardReader + ?Sized> ShardReader for Modeled<T> {
    async fn shards(&self) -> Result<Vec<String>> {
        let out = self.inner.shards().await;
        pause(self.model.request("kinesis:ListShards", 0)).await;
        out
    }
    async fn read(
        &self,
        shard: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        let out = self.inner.read(shard, after, limit).await;
        let items = out.as_ref().map_or(0, Vec::len);
        pause(self.model.request("kinesis:GetRecords", items)).await;
        out
    }
    async fn next_arrival(
        &self,
        shard: &str,
        after: Option<&str>,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        // Not an AWS request: what a push subscription learns for free.
        self.inner.next_arrival(shard, after).await
    }
}
