//! The delivery cursor of one endpoint × task (SPEC §4.5): how far that task's events have gone
//! out to that endpoint, and who may send the next run.
//!
//! A job carries its place in the order ([`Chain`](crate::delivery_order::Chain): the cursor
//! value it needs, `after`, and the one it leaves, `upto`). deliver **claims** the cursor
//! before it sends anything: a conditional write that succeeds only when the cursor lets the
//! job run (`after ≤ seq < upto`, epoch reached) and no unexpired lease is held, so two
//! invocations never POST one endpoint × task at the same time. The run ends with an
//! **advance** (conditional on still holding the lease at the claimed epoch), which moves the
//! cursor and frees the lease in one write; an aborted run **releases** the lease. A replay
//! **rewinds** the cursor (conditional on it being unchanged) and bumps its epoch, so a run in
//! flight cannot advance over the rewind. See [`crate::delivery_order`] for the decisions and
//! `docs/architecture.md` for the items.

pub mod dynamodb;
pub mod memory;

pub use crate::delivery_order::{Cursor, CursorLease, Span};
use crate::error::Result;
use crate::ids::{EndpointId, Seq, TaskId, TenantId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Which cursor: one per endpoint and task.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CursorKey {
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The endpoint the events go to.
    pub endpoint_id: EndpointId,
    /// The task whose events they are.
    pub task_id: TaskId,
}

/// The outcome of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The lease is ours; the cursor as it stood (its `seq` is where the run starts).
    Granted(Cursor),
    /// Not now: the cursor as it stands (`None`: absent), for [`crate::delivery_order::turn`].
    Refused(Option<Cursor>),
}

/// Reading and moving delivery cursors.
#[async_trait]
pub trait DeliveryCursors: Send + Sync {
    /// The cursor, `None` if absent.
    async fn cursor(&self, key: &CursorKey) -> Result<Option<Cursor>>;

    /// Takes the lease for `lease` when [`crate::delivery_order::may_claim`] allows `span` to
    /// run at `now`; otherwise reports the cursor as it is.
    async fn claim(
        &self,
        key: &CursorKey,
        span: &Span,
        lease: &CursorLease,
        now: DateTime<Utc>,
    ) -> Result<Claim>;

    /// Moves the cursor to `to` and frees the lease, if `holder` still holds it at `epoch`;
    /// records `resume_at` (when the run now holding the order back is due). False when the
    /// lease was lost (expired and taken, or the cursor was rewound).
    async fn advance(
        &self,
        key: &CursorKey,
        holder: &str,
        epoch: u64,
        to: Seq,
        resume_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool>;

    /// Frees the lease if `holder` holds it; the cursor does not move.
    async fn release(&self, key: &CursorKey, holder: &str) -> Result<()>;

    /// Sets the cursor to `to` at epoch `expected.epoch + 1` (1 when absent) if it is still at
    /// `expected` (`None`: absent). A held lease stays held, but its run can no longer advance.
    /// False when the cursor moved.
    async fn rewind(
        &self,
        key: &CursorKey,
        expected: Option<(Seq, u64)>,
        to: Seq,
        now: DateTime<Utc>,
    ) -> Result<bool>;
}

/// A fresh, random lease holder id.
pub fn new_holder() -> String {
    ulid::Ulid::new().to_string()
}
