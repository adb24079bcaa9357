//! In-memory [`EventStore`] with the same conditional semantics as the DynamoDB adapter.

use super::{EventStore, MAX_KEYS_PER_BATCH_GET};
use crate::error::{Error, Result};
use crate::event::Envelope;
use crate::head::TaskHead;
use crate::ids::{EventId, Seq, TaskId, TaskKey, TenantId};
use crate::requests::RequestCounter;
use crate::sequence::CommitChunk;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
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

    async fn events_at(&self, key: &TaskKey, seqs: &[Seq]) -> Result<Vec<Envelope>> {
        for _ in seqs.chunks(MAX_KEYS_PER_BATCH_GET) {
            self.requests.record("dynamodb:BatchGetItem");
        }
        let inner = self.lock()?;
        let Some(stored) = inner.events.get(key) else {
            return Ok(Vec::new());
        };
        let mut events: Vec<Envelope> = seqs
            .iter()
            .filter_map(|seq| stored.get(seq).cloned())
            .collect();
        events.sort_by_key(|e| e.seq);
        events.dedup_by_key(|e| e.seq);
        Ok(events)
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
