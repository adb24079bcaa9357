//! In-memory [`EventStore`] with the same conditional semantics as the DynamoDB adapter.

use super::{EventStore, MAX_KEYS_PER_BATCH_GET};
use crate::error::{Error, Result};
use crate::event::Envelope;
use crate::head::TaskHead;
use crate::ids::{EventId, Seq, TaskId, TaskKey, TenantId};
use crate::requests::RequestCounter;
use crate::sequence::CommitChunk;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Inner {
    heads: HashMap<TaskKey, TaskHead>,
    events: HashMap<TaskKey, BTreeMap<Seq, Envelope>>,
    markers: HashMap<(TenantId, EventId), (TaskId, Seq)>,
}

/// A store held in memory. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
    requests: RequestCounter,
}

impl MemoryStore {
    /// An empty store counting requests in `requests`.
    pub fn new(requests: RequestCounter) -> Self {
        Self {
            inner: Arc::default(),
            requests,
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>> {
        self.inner
            .lock()
            .map_err(|_| Error::Internal("memory store lock poisoned".into()))
    }
}

/// An item of the events table, as the DynamoDB adapter keys it.
#[derive(PartialEq, Eq, Hash)]
enum ItemKey<'a> {
    Head(&'a TaskKey),
    Event(&'a TaskKey, Seq),
    Marker(&'a TenantId, &'a EventId),
}

/// Whether a transaction writes some item twice, which DynamoDB refuses outright
/// (`ValidationException`), before checking any condition.
fn touches_an_item_twice(chunks: &[CommitChunk]) -> bool {
    let mut seen = HashSet::new();
    chunks.iter().any(|c| {
        !seen.insert(ItemKey::Head(&c.key))
            || c.events.iter().any(|e| {
                !seen.insert(ItemKey::Event(&c.key, e.seq))
                    || !seen.insert(ItemKey::Marker(&e.tenant_id, &e.id))
            })
    })
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn heads(&self, keys: &[TaskKey]) -> Result<HashMap<TaskKey, TaskHead>> {
        for _ in keys.chunks(MAX_KEYS_PER_BATCH_GET) {
            self.requests.record("dynamodb:BatchGetItem");
        }
        let inner = self.lock()?;
        Ok(keys
            .iter()
            .filter_map(|k| inner.heads.get(k).map(|h| (k.clone(), h.clone())))
            .collect())
    }

    async fn commit(&self, chunks: &[CommitChunk]) -> Result<()> {
        self.requests.record("dynamodb:TransactWriteItems");
        if touches_an_item_twice(chunks) {
            return Err(Error::Refused {
                operation: "TransactWriteItems",
                message: "ValidationException: Transaction request cannot include multiple \
                          operations on one item"
                    .into(),
            });
        }
        let mut inner = self.lock()?;
        let mut duplicates = Vec::new();
        let mut moved_heads = Vec::new();
        for c in chunks {
            if inner.heads.get(&c.key).map(|h| h.version) != c.base.as_ref().map(|b| b.version) {
                moved_heads.push(c.key.clone());
            }
            for e in &c.events {
                if inner
                    .markers
                    .contains_key(&(e.tenant_id.clone(), e.id.clone()))
                {
                    duplicates.push((e.tenant_id.clone(), e.id.clone()));
                }
            }
        }
        if !duplicates.is_empty() || !moved_heads.is_empty() {
            return Err(Error::CommitConflict {
                duplicates,
                moved_heads,
            });
        }
        for c in chunks {
            inner.heads.insert(c.key.clone(), c.head.clone());
            for e in &c.events {
                inner.markers.insert(
                    (e.tenant_id.clone(), e.id.clone()),
                    (e.task_id.clone(), e.seq),
                );
                inner
                    .events
                    .entry(c.key.clone())
                    .or_default()
                    .insert(e.seq, e.clone());
            }
        }
        Ok(())
    }

    async fn head(&self, key: &TaskKey) -> Result<Option<TaskHead>> {
        self.requests.record("dynamodb:GetItem");
        Ok(self.lock()?.heads.get(key).cloned())
    }

    async fn events(&self, key: &TaskKey, after: Seq, limit: usize) -> Result<Vec<Envelope>> {
        self.requests.record("dynamodb:Query");
        let inner = self.lock()?;
        Ok(inner
            .events
            .get(key)
            .map(|evs| {
                evs.range(after.next()..)
                    .take(limit)
                    .map(|(_, e)| e.clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn find_event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<(TaskId, Seq)>> {
        self.requests.record("dynamodb:GetItem");
        Ok(self
            .lock()?
            .markers
            .get(&(tenant.clone(), id.clone()))
            .cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::NewEvent;
    use crate::head::StreamPosition;
    use crate::sequence::{Incoming, pack_transactions, plan_task};

    fn plan(task: &str, id: &str) -> crate::sequence::TaskPlan {
        let key = TaskKey::new("acme".parse().unwrap(), task.parse().unwrap());
        let rec = Incoming {
            position: StreamPosition::new("s0", "1"),
            event: NewEvent {
                id: id.parse().unwrap(),
                event_type: "x".parse().unwrap(),
                tenant_id: key.tenant_id.clone(),
                task_id: key.task_id.clone(),
                time: chrono::Utc::now(),
                data: serde_json::Value::Null,
            },
        };
        plan_task(&key, None, &[rec], &Default::default(), chrono::Utc::now()).unwrap()
    }

    #[tokio::test]
    async fn a_transaction_writing_one_item_twice_is_refused_like_dynamodb() {
        let store = MemoryStore::default();
        // Two tasks claiming one new id: two Puts on the same id marker.
        let txs = pack_transactions(vec![plan("a", "step-1"), plan("b", "step-1")]);
        assert_eq!(txs.len(), 1);
        let err = store.commit(&txs[0]).await.unwrap_err();
        assert!(matches!(err, Error::Refused { .. }), "{err}");
        assert!(!err.is_retryable());
        assert!(
            store.head(&txs[0][0].key).await.unwrap().is_none(),
            "nothing written"
        );
        // Each alone is fine.
        store.commit(&txs[0][..1]).await.unwrap();
    }
}
