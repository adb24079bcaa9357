//! The event store port: the replayable log of stored events, task heads and id markers.
//! See `docs/architecture.md` for the DynamoDB data model.

pub mod dynamodb;
pub mod expiry;
pub mod limits;
pub mod memory;

use crate::error::Result;
use crate::event::Envelope;
use crate::head::TaskHead;
use crate::ids::{EventId, Seq, TaskId, TaskKey, TenantId};
use crate::sequence::CommitChunk;
use async_trait::async_trait;
use std::collections::HashMap;

pub use limits::MAX_KEYS_PER_BATCH_GET;

/// Reading and committing a tenant's tasks and events.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Current heads of `keys` (strongly consistent); tasks without a head are absent. Heads
    /// past `expires_at` that TTL has not deleted yet are included: commits are conditional on
    /// them ([`expiry`]).
    async fn heads(&self, keys: &[TaskKey]) -> Result<HashMap<TaskKey, TaskHead>>;

    /// Commits `chunks` atomically, in one transaction: every chunk's events and id markers and
    /// its new head. Fails with [`crate::Error::CommitConflict`] when a head is not the chunk's
    /// `base` or an event id is already stored in its tenant; then nothing is written.
    ///
    /// Fails with [`crate::Error::Refused`], writing nothing, on every adapter, when DynamoDB
    /// would refuse the transaction ([`limits::transaction_refusal`]): more than 100 actions
    /// (each chunk takes its head plus two per event), the same item twice (one task twice, or
    /// one event id twice in a tenant), an item over 400 KB, or over 4 MB in all.
    async fn commit(&self, chunks: &[CommitChunk]) -> Result<()>;

    /// One task's head; `None` once it is past `expires_at`, deleted by TTL or not ([`expiry`]).
    async fn head(&self, key: &TaskKey) -> Result<Option<TaskHead>>;

    /// Up to `limit` events of a task with seq greater than `after`, ascending, skipping events
    /// past `expires_at` ([`expiry`]).
    async fn events(&self, key: &TaskKey, after: Seq, limit: usize) -> Result<Vec<Envelope>>;

    /// The events of a task stored at `seqs`, ascending; a seq holding no event, or one past
    /// `expires_at` ([`expiry`]), is absent. Strongly consistent, like [`EventStore::events`],
    /// and reads only those items (any number of seqs, [`MAX_KEYS_PER_BATCH_GET`] per request):
    /// what deliver uses to load exactly the events a sparse job sends.
    async fn events_at(&self, key: &TaskKey, seqs: &[Seq]) -> Result<Vec<Envelope>>;

    /// Where an event id of `tenant` is stored, if it is and its marker is not past
    /// `expires_at` ([`expiry`]).
    async fn find_event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<(TaskId, Seq)>>;
}
