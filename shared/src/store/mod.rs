//! The event store port: the replayable log of stored events, task heads and id markers.
//! See `docs/architecture.md` for the DynamoDB data model.

pub mod dynamodb;
pub mod memory;

use crate::error::Result;
use crate::event::Envelope;
use crate::head::TaskHead;
use crate::ids::{EventId, Seq, TaskId, TaskKey, TenantId};
use crate::sequence::CommitChunk;
use async_trait::async_trait;
use std::collections::HashMap;

/// `BatchGetItem` reads at most 100 keys per request.
pub const MAX_KEYS_PER_BATCH_GET: usize = 100;

/// Reading and committing a tenant's tasks and events.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Current heads of `keys` (strongly consistent); tasks without a head are absent.
    async fn heads(&self, keys: &[TaskKey]) -> Result<HashMap<TaskKey, TaskHead>>;

    /// Commits `chunks` atomically, in one transaction: every chunk's events and id markers and
    /// its new head. Fails with [`crate::Error::CommitConflict`] when a head is not the chunk's
    /// `base` or an event id is already stored in its tenant; then nothing is written.
    async fn commit(&self, chunks: &[CommitChunk]) -> Result<()>;

    /// One task's head.
    async fn head(&self, key: &TaskKey) -> Result<Option<TaskHead>>;

    /// Up to `limit` events of a task with seq greater than `after`, ascending.
    async fn events(&self, key: &TaskKey, after: Seq, limit: usize) -> Result<Vec<Envelope>>;

    /// The events of a task stored at `seqs`, ascending; a seq holding no event is absent.
    /// Strongly consistent, like [`EventStore::events`], and reads only those items (any number
    /// of seqs, [`MAX_KEYS_PER_BATCH_GET`] per request): what deliver uses to load exactly the
    /// events a sparse job sends.
    async fn events_at(&self, key: &TaskKey, seqs: &[Seq]) -> Result<Vec<Envelope>>;

    /// Where an event id of `tenant` is stored, if it is.
    async fn find_event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<(TaskId, Seq)>>;
}
