//! In-memory [`EventStore`] with the same conditional semantics as the DynamoDB adapter,
//! including items that are past `expires_at` but not deleted yet (see [`super::expiry`]), and
//! the same refusals: a commit DynamoDB would refuse ([`transaction_refusal`], counted on the
//! items the DynamoDB adapter would write) is refused here too.

use super::dynamodb::{
    batch_read_units, commit_shape, commit_write_units, head_bytes, marker_bytes, read_units,
};
use super::limits::transaction_refusal;

use super::expiry::is_expired;
use super::{EventStore, MAX_KEYS_PER_BATCH_GET};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::event::Envelope;
use crate::head::TaskHead;
use crate::ids::{EventId, Seq, TaskId, TaskKey, TenantId};
use crate::requests::RequestCounter;
use crate::sequence::CommitChunk;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// How long items live when no retention is given: the template's `RetentionDays` default.
const DEFAULT_RETENTION_DAYS: i64 = 7;

/// Which item an `expires_at` belongs to, as in the DynamoDB table (events keep theirs in
/// [`StoredEvent`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ItemKey {
    Head(TaskKey),
    Marker(TenantId, EventId),
}

/// An event item: the envelope, its size as DynamoDB bills it (worked out once, when written:
/// every read is metered, and sizing an item is far dearer than reading it from memory) and
/// its `expires_at` (unix seconds).
#[derive(Debug)]
struct StoredEvent {
    envelope: Envelope,
    bytes: usize,
    expires_at: i64,
}

impl StoredEvent {
    fn live(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        !is_expired(self.expires_at, now)
    }
}

#[derive(Debug, Default)]
struct Inner {
    heads: HashMap<TaskKey, TaskHead>,
    events: HashMap<TaskKey, BTreeMap<Seq, StoredEvent>>,
    markers: HashMap<(TenantId, EventId), (TaskId, Seq)>,
    /// Every head's and marker's `expires_at` (unix seconds), set when it is written.
    expires: HashMap<ItemKey, i64>,
}

impl Inner {
    /// Records when a committed chunk's head and id markers expire.
    fn stamp(&mut self, chunk: &CommitChunk, expires_at: i64) {
        self.expires
            .insert(ItemKey::Head(chunk.key.clone()), expires_at);
        for e in &chunk.events {
            self.expires.insert(
                ItemKey::Marker(e.tenant_id.clone(), e.id.clone()),
                expires_at,
            );
        }
    }

    /// Whether `item` is past its `expires_at` at `now` (TTL has not deleted it yet).
    fn expired(&self, item: &ItemKey, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.expires
            .get(item)
            .is_some_and(|at| is_expired(*at, now))
    }
}

/// A store held in memory. Cloning shares it.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
    requests: RequestCounter,
    retention: chrono::Duration,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(RequestCounter::default())
    }
}

impl MemoryStore {
    /// An empty store counting requests in `requests`; items expire 7 days after they are
    /// written, by the system clock.
    pub fn new(requests: RequestCounter) -> Self {
        Self::with_clock(
            requests,
            chrono::Duration::days(DEFAULT_RETENTION_DAYS),
            Arc::new(SystemClock),
        )
    }

    /// An empty store whose items expire `retention` after they are written, as `clock`
    /// tells time (tests move a [`crate::clock::ManualClock`] past it).
    pub fn with_clock(
        requests: RequestCounter,
        retention: chrono::Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inner: Arc::default(),
            requests,
            retention,
            clock,
        }
    }

    fn expires_at(&self) -> i64 {
        (self.clock.now() + self.retention).timestamp()
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
        let inner = self.lock()?;
        for chunk in keys.chunks(MAX_KEYS_PER_BATCH_GET) {
            let sizes: Vec<usize> = chunk
                .iter()
                .filter_map(|k| inner.heads.get(k).map(head_bytes))
                .collect();
            let missing = chunk.len() - sizes.len();
            self.requests.record_billed(
                "dynamodb:BatchGetItem",
                &[batch_read_units(sizes.into_iter(), missing)],
            );
        }
        // Expired heads included: commits are conditional on them (see `super::expiry`).
        Ok(keys
            .iter()
            .filter_map(|k| inner.heads.get(k).map(|h| (k.clone(), h.clone())))
            .collect())
    }

    async fn commit(&self, chunks: &[CommitChunk]) -> Result<()> {
        let shape = commit_shape(chunks)?;
        self.requests
            .record_billed("dynamodb:TransactWriteItems", &[commit_write_units(&shape)]);
        if let Some(reason) = transaction_refusal(&shape) {
            return Err(Error::Refused {
                operation: "TransactWriteItems",
                reason,
            });
        }
        let now = self.clock.now();
        let expires_at = self.expires_at();
        // The shape is, per chunk, its head then an (event, marker) pair per event: each
        // event's size is already there, so it is not built a second time under the lock.
        let mut sizes = Vec::with_capacity(shape.len() / 2);
        let mut at = 0;
        for c in chunks {
            at += 1;
            for _ in &c.events {
                sizes.push(shape.get(at).map_or(0, |a| a.bytes));
                at += 2;
            }
        }
        let mut sizes = sizes.into_iter();
        let mut inner = self.lock()?;
        let mut duplicates = Vec::new();
        let mut moved_heads = Vec::new();
        for c in chunks {
            if inner.heads.get(&c.key).map(|h| h.version) != c.base.as_ref().map(|b| b.version) {
                moved_heads.push(c.key.clone());
            }
            for e in &c.events {
                let key = (e.tenant_id.clone(), e.id.clone());
                // An expired marker frees its id, as DynamoDB's condition and `find_event` say.
                // Its expiry is looked up only for a marker that exists: the rare case, under
                // the store's lock.
                let expired = || inner.expired(&ItemKey::Marker(key.0.clone(), key.1.clone()), now);
                if inner.markers.contains_key(&key) && !expired() {
                    duplicates.push(key);
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
                let stored = StoredEvent {
                    envelope: e.clone(),
                    bytes: sizes.next().unwrap_or(0),
                    expires_at,
                };
                inner
                    .events
                    .entry(c.key.clone())
                    .or_default()
                    .insert(e.seq, stored);
            }
            inner.stamp(c, expires_at);
        }
        Ok(())
    }

    async fn head(&self, key: &TaskKey) -> Result<Option<TaskHead>> {
        let now = self.clock.now();
        let inner = self.lock()?;
        let bytes = inner.heads.get(key).map_or(0, head_bytes);
        self.requests
            .record_billed("dynamodb:GetItem", &[read_units(bytes)]);
        if inner.expired(&ItemKey::Head(key.clone()), now) {
            return Ok(None);
        }
        Ok(inner.heads.get(key).cloned())
    }

    async fn events(&self, key: &TaskKey, after: Seq, limit: usize) -> Result<Vec<Envelope>> {
        let now = self.clock.now();
        let inner = self.lock()?;
        // The page DynamoDB would read: the next `limit` items, expired ones included.
        let bytes = inner.events.get(key).map_or(0, |evs| {
            evs.range(after.next()..)
                .take(limit)
                .map(|(_, e)| e.bytes)
                .sum()
        });
        self.requests
            .record_billed("dynamodb:Query", &[read_units(bytes)]);
        Ok(inner
            .events
            .get(key)
            .map(|evs| {
                evs.range(after.next()..)
                    .filter(|(_, e)| e.live(now))
                    .take(limit)
                    .map(|(_, e)| e.envelope.clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn events_at(&self, key: &TaskKey, seqs: &[Seq]) -> Result<Vec<Envelope>> {
        let now = self.clock.now();
        let inner = self.lock()?;
        // DynamoDB's adapter asks for each seq once.
        let mut asked = seqs.to_vec();
        asked.sort_unstable();
        asked.dedup();
        for chunk in asked.chunks(MAX_KEYS_PER_BATCH_GET) {
            let sizes: Vec<usize> = chunk
                .iter()
                .filter_map(|seq| inner.events.get(key).and_then(|evs| evs.get(seq)))
                .map(|e| e.bytes)
                .collect();
            let missing = chunk.len() - sizes.len();
            self.requests.record_billed(
                "dynamodb:BatchGetItem",
                &[batch_read_units(sizes.into_iter(), missing)],
            );
        }
        let Some(stored) = inner.events.get(key) else {
            return Ok(Vec::new());
        };
        let mut events: Vec<Envelope> = seqs
            .iter()
            .filter_map(|seq| stored.get(seq))
            .filter(|e| e.live(now))
            .map(|e| e.envelope.clone())
            .collect();
        events.sort_by_key(|e| e.seq);
        events.dedup_by_key(|e| e.seq);
        Ok(events)
    }

    async fn find_event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<(TaskId, Seq)>> {
        let now = self.clock.now();
        let inner = self.lock()?;
        let bytes = inner
            .markers
            .get(&(tenant.clone(), id.clone()))
            .and_then(|(task, seq)| {
                let key = TaskKey::new(tenant.clone(), task.clone());
                inner.events.get(&key).and_then(|evs| evs.get(seq))
            })
            .map_or(0, |e| marker_bytes(&e.envelope));
        self.requests
            .record_billed("dynamodb:GetItem", &[read_units(bytes)]);
        if inner.expired(&ItemKey::Marker(tenant.clone(), id.clone()), now) {
            return Ok(None);
        }
        Ok(inner.markers.get(&(tenant.clone(), id.clone())).cloned())
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
                traceparent: None,
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

    /// Sizes taken from the transaction's shape land on the right events: each is what
    /// DynamoDB counts for that event's item, across several chunks in one commit.
    #[tokio::test]
    async fn each_stored_event_is_sized_as_its_own_item() {
        let store = MemoryStore::default();
        let mut txs = pack_transactions(vec![plan("a", "step-1"), plan("bb", "step-2")]);
        assert_eq!(txs.len(), 1);
        txs[0][0].events[0].data = serde_json::json!({"pad": "x".repeat(3000)});
        assert_eq!(txs[0].len(), 2, "two chunks in one transaction");
        store.commit(&txs[0]).await.unwrap();
        let inner = store.lock().unwrap();
        for c in &txs[0] {
            for e in &c.events {
                let stored = &inner.events[&c.key][&e.seq];
                assert_eq!(stored.bytes, crate::store::dynamodb::event_bytes(e));
            }
        }
    }
}
