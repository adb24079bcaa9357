//! [`EventStore`] under the model, as `DynamoStore` makes its requests.

use super::Modeled;
use super::latency::{chunk_sizes, pause};
use crate::aws::MAX_CONCURRENT_REQUESTS;
use crate::error::Result;
use crate::event::Envelope;
use crate::head::TaskHead;
use crate::ids::{EventId, Seq, TaskId, TaskKey, TenantId};
use crate::sequence::CommitChunk;
use crate::store::{EventStore, MAX_KEYS_PER_BATCH_GET};
use async_trait::async_trait;
use std::collections::{BTreeSet, HashMap};

impl<T: EventStore + ?Sized> Modeled<T> {
    /// `BatchGetItem`s of `keys` keys, 100 a page, up to 8 pages in flight.
    fn batch_get(&self, keys: usize) -> std::time::Duration {
        self.model.concurrent(
            "dynamodb:BatchGetItem",
            &chunk_sizes(keys, MAX_KEYS_PER_BATCH_GET),
            MAX_CONCURRENT_REQUESTS,
        )
    }
}

#[async_trait]
impl<T: EventStore + ?Sized> EventStore for Modeled<T> {
    async fn heads(&self, keys: &[TaskKey]) -> Result<HashMap<TaskKey, TaskHead>> {
        let out = self.inner.heads(keys).await;
        pause(self.batch_get(keys.len())).await;
        out
    }

    /// One `TransactWriteItems` of every chunk's head and two actions per event.
    async fn commit(&self, chunks: &[CommitChunk]) -> Result<()> {
        let actions = chunks.iter().map(|c| 1 + 2 * c.events.len()).sum();
        let out = self.inner.commit(chunks).await;
        pause(self.model.request("dynamodb:TransactWriteItems", actions)).await;
        out
    }

    async fn head(&self, key: &TaskKey) -> Result<Option<TaskHead>> {
        let out = self.inner.head(key).await;
        pause(self.model.request("dynamodb:GetItem", 1)).await;
        out
    }

    async fn events(&self, key: &TaskKey, after: Seq, limit: usize) -> Result<Vec<Envelope>> {
        let out = self.inner.events(key, after, limit).await;
        let items = out.as_ref().map_or(0, Vec::len);
        pause(self.model.request("dynamodb:Query", items)).await;
        out
    }

    async fn events_at(&self, key: &TaskKey, seqs: &[Seq]) -> Result<Vec<Envelope>> {
        let distinct = seqs.iter().collect::<BTreeSet<_>>().len();
        let out = self.inner.events_at(key, seqs).await;
        pause(self.batch_get(distinct)).await;
        out
    }

    async fn find_event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<(TaskId, Seq)>> {
        let out = self.inner.find_event(tenant, id).await;
        pause(self.model.request("dynamodb:GetItem", 1)).await;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LatencyModel, LatencyTable};
    use crate::requests::RequestCounter;
    use crate::store::memory::MemoryStore;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::time::Instant;

    /// A table whose draws are exactly the median (p99 = median: σ = 0).
    fn fixed_model() -> LatencyModel {
        let mut t = LatencyTable::default_table();
        for d in t.operations.values_mut() {
            d.p99_ms = d.median_ms;
        }
        LatencyModel::new(t, 1)
    }

    fn keys(n: usize) -> Vec<TaskKey> {
        (0..n)
            .map(|i| {
                TaskKey::new(
                    TenantId::parse("acme").unwrap(),
                    TaskId::parse(&format!("t{i}")).unwrap(),
                )
            })
            .collect()
    }

    /// Tokio's timer rounds a deadline up to the next millisecond.
    fn assert_close(took: Duration, modeled: Duration) {
        assert!(
            took >= modeled && took <= modeled + Duration::from_millis(1),
            "took {took:?}, modeled {modeled:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_modeled_call_takes_the_modeled_time() {
        let model = fixed_model();
        let per = |op: &str| model.table().operations[op];
        let store = Modeled::new(
            Arc::new(MemoryStore::new(RequestCounter::default())),
            model.clone(),
        );

        // 250 keys: three BatchGetItem pages (100, 100, 50), all in flight at once: the
        // slowest (a full page) decides.
        let started = Instant::now();
        store.heads(&keys(250)).await.unwrap();
        let bg = per("dynamodb:BatchGetItem");
        let page = Duration::from_secs_f64((bg.median_ms + 100.0 * bg.per_item_ms) / 1000.0);
        assert_close(started.elapsed(), page);

        // One GetItem.
        let started = Instant::now();
        store.head(&keys(1)[0]).await.unwrap();
        let get = per("dynamodb:GetItem");
        let one = Duration::from_secs_f64((get.median_ms + get.per_item_ms) / 1000.0);
        assert_close(started.elapsed(), one);
    }
}
