//! [`EventLog`] and [`ShardReader`] under the model. A put is one `PutRecords`, which takes
//! only what each record's shard can take ([`super::shard_writes`]). A read is one
//! `GetRecords`: the reader is Lambda's poller, which keeps its shard iterators, so the
//! `GetShardIterator` that `KinesisLog::read` makes per call is not charged. How often reads
//! happen is the mapping's business (`mapping::kinesis`, `burstline dev`).

use super::Modeled;
use super::latency::pause;
use super::shard_writes::THROTTLED;
use crate::error::Result;
use crate::log::{EventLog, LogRecord, PutResult, ShardReader, StoredRecord};
use async_trait::async_trait;

#[async_trait]
impl<T: EventLog + ?Sized> EventLog for Modeled<T> {
    /// Records over their shard's write limit are rejected as Kinesis rejects them
    /// ([`THROTTLED`]); the rest are put, in order, in one request.
    async fn put(&self, records: &[LogRecord]) -> Result<Vec<PutResult>> {
        let admitted = self.model.admit_writes(records);
        let taken: Vec<LogRecord> = records
            .iter()
            .zip(&admitted)
            .filter(|(_, ok)| **ok)
            .map(|(r, _)| r.clone())
            .collect();
        let out = if taken.is_empty() {
            Ok(Vec::new())
        } else {
            self.inner.put(&taken).await
        };
        pause(self.model.request("kinesis:PutRecords", records.len())).await;
        let mut results = out?.into_iter();
        Ok(admitted
            .into_iter()
            .map(|ok| match ok {
                true => results.next().unwrap_or_else(throttled),
                false => throttled(),
            })
            .collect())
    }
}

fn throttled() -> PutResult {
    PutResult::Rejected {
        code: THROTTLED.to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::memory::MemoryLog;
    use crate::model::{DEFAULT_SEED, LatencyModel, LatencyTable};
    use crate::requests::RequestCounter;
    use std::sync::Arc;
    use std::time::Duration;

    fn records(key: &str, from: usize, n: usize) -> Vec<LogRecord> {
        (from..from + n)
            .map(|i| LogRecord {
                partition_key: key.into(),
                data: i.to_string().into_bytes(),
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_shard_takes_its_write_limit_and_rejects_the_rest_record_by_record() {
        let inner = Arc::new(MemoryLog::with_shards(RequestCounter::default(), 4));
        let model = LatencyModel::new(LatencyTable::default_table(), DEFAULT_SEED);
        let log = Modeled::new(Arc::clone(&inner), model);
        // One task's key, so one shard: 1,000 records a second.
        for from in [0, 500] {
            let out = log.put(&records("acme/t", from, 500)).await.unwrap();
            assert!(out.iter().all(|r| matches!(r, PutResult::Accepted(_))));
        }
        // A different task on another shard is not held back by the full one.
        let other = (0..64)
            .map(|i| format!("acme/other-{i}"))
            .find(|k| {
                crate::log::memory::shard_for(k, 4) != crate::log::memory::shard_for("acme/t", 4)
            })
            .unwrap();
        // The puts' own modeled time (tens of ms) refilled a few dozen records' worth, no more.
        let mixed: Vec<LogRecord> = records("acme/t", 1000, 200)
            .into_iter()
            .chain(records(&other, 0, 1))
            .collect();
        let out = log.put(&mixed).await.unwrap();
        let taken = out[..200]
            .iter()
            .take_while(|r| matches!(r, PutResult::Accepted(_)))
            .count();
        assert!(taken < 100, "{taken} taken past the limit");
        assert!(
            out[taken..200]
                .iter()
                .all(|r| matches!(r, PutResult::Rejected { code } if code == THROTTLED)),
            "{out:?}"
        );
        assert!(matches!(out[200], PutResult::Accepted(_)), "{out:?}");
        assert_eq!(
            inner.len(),
            1000 + taken + 1,
            "a rejected record is not written"
        );
        // A second later the shard takes records again.
        tokio::time::advance(Duration::from_secs(1)).await;
        let out = log.put(&records("acme/t", 1000, 1)).await.unwrap();
        assert!(matches!(out[0], PutResult::Accepted(_)), "{out:?}");
    }
}
