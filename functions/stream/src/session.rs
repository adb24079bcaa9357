//! One open stream (one *segment* of a viewer's stream): replay, then live tail, with
//! heartbeats, lease renewal, a maximum length and an idle cutoff. Reads through the ports;
//! every decision is in [`order`](crate::order), [`poll`](crate::poll) and
//! [`frame`](crate::frame).
//!
//! The function cannot see a client disconnect on Lambda (the runtime keeps accepting bytes),
//! so what protects the tenant's budget from abandoned streams is the segment bound and the
//! lease: a response ends after `segment` at the latest, or `idle` after the last event, with
//! a short `retry:` that brings a client still there back at once ([`frame::reconnect`]); a
//! crashed one's slot expires with its lease.
//!
//! The slot is released **before** the response ends: on Lambda the sandbox may be frozen as
//! soon as the body is complete, and a release that has not run by then would hold the slot
//! until its lease expires.

use crate::error::StreamError;
use crate::frame;
use crate::handler::Streamer;
use crate::order::{is_gone, plan};
use crate::poll::ReadCap;
use burstline::event::Envelope;
use burstline::head::TaskHead;
use burstline::ids::{Seq, TaskKey};
use burstline::leases::{Lease, Renewal};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tracing::{info, warn};

/// Consecutive failed reads after which the stream ends (the client resumes).
const MAX_READ_FAILURES: u32 = 5;
/// How soon a failed lease renewal is tried again.
const RENEW_RETRY: Duration = Duration::from_secs(5);

/// Why a stream ended.
#[derive(Debug)]
pub enum Ending {
    /// The terminal event was sent.
    Terminal,
    /// The segment length (at most the lifetime) ran out; the client resumes with
    /// `Last-Event-ID`.
    Segment,
    /// No event for the idle cutoff; the client resumes with `Last-Event-ID`.
    Idle,
    /// The reader went away (seen in-process only, e.g. in tests; not on Lambda).
    ClientGone,
    /// Reads or the lease failed; the client resumes with `Last-Event-ID`.
    Failed(StreamError),
}

/// The client stopped reading.
struct Gone;

/// The state of one open stream.
pub struct Session {
    deps: Streamer,
    key: TaskKey,
    cursor: Seq,
    known_last: Seq,
    terminal_seq: Option<Seq>,
    created_at: DateTime<Utc>,
    /// When the task last committed, as of the open: how quiet it already is.
    updated_at: DateTime<Utc>,
    lease: Lease,
    /// The page after `cursor` read while the slot was claimed: the first read's result.
    first_page: Option<Vec<Envelope>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("key", &self.key)
            .field("cursor", &self.cursor)
            .field("slot", &self.lease.slot)
            .finish_non_exhaustive()
    }
}

/// When the next things are due.
struct Timers {
    deadline: Instant,
    last_write: Instant,
    /// The last event sent, or the open: the idle cutoff counts from here.
    last_activity: Instant,
    /// The last event seen, or the task's last commit before the open: the poll interval
    /// grows with the time since. A segment that resumes a quiet task keeps polling slowly
    /// instead of starting fast again.
    last_event: Instant,
    next_renew: Instant,
}

impl Session {
    /// A session for `head`'s task from `cursor`, holding `lease`; `first_page`, when given, is
    /// the page after `cursor` already read, served as the session's first read.
    pub(crate) fn new(
        deps: Streamer,
        head: &TaskHead,
        cursor: Seq,
        lease: Lease,
        first_page: Option<Vec<Envelope>>,
    ) -> Self {
        Self {
            deps,
            key: head.key.clone(),
            cursor,
            known_last: head.last_seq,
            terminal_seq: head.terminal_seq,
            created_at: head.created_at,
            updated_at: head.updated_at,
            lease,
            first_page,
        }
    }

    /// Serves the stream into `tx` until it ends, frees the slot, then ends the response
    /// (with [`frame::reconnect`] when the task goes on).
    pub async fn run(mut self, tx: mpsc::Sender<Bytes>) {
        let started = Instant::now();
        let ending = self.serve(&tx).await;
        if let Err(e) = self.deps.leases.release(&self.lease).await {
            // The lease expires on its own; this only delays the slot.
            warn!(error = %e, "releasing the stream slot failed");
        }
        if matches!(ending, Ending::Segment | Ending::Idle) {
            // Ignored if the reader is gone: there is nobody left to tell.
            let _ = send(
                &tx,
                frame::reconnect(self.deps.settings.reconnect, self.cursor),
            )
            .await;
        }
        drop(tx);
        match &ending {
            Ending::Failed(e) => warn!(
                tenant_id = %self.key.tenant_id, task_id = %self.key.task_id,
                cursor = self.cursor.0, error = %e, retryable = e.is_retryable(),
                "stream ended early"
            ),
            other => info!(
                tenant_id = %self.key.tenant_id, task_id = %self.key.task_id,
                cursor = self.cursor.0, ending = ?other, "stream ended"
            ),
        }
        crate::metrics::ended(&ending, started.elapsed());
    }

    async fn serve(&mut self, tx: &mpsc::Sender<Bytes>) -> Ending {
        let s = self.deps.settings.clone();
        let start = Instant::now();
        let mut t = Timers {
            deadline: start + s.segment.min(s.lifetime),
            last_write: start,
            last_activity: start,
            last_event: start
                .checked_sub(
                    (self.deps.clock.now() - self.updated_at)
                        .to_std()
                        .unwrap_or_default(),
                )
                .unwrap_or(start),
            next_renew: start + s.lease_ttl / 3,
        };
        if send(tx, frame::opening(s.retry, self.cursor))
            .await
            .is_err()
        {
            return Ending::ClientGone;
        }
        let mut missing_since: Option<(Seq, Instant)> = None;
        let mut failures = 0;
        let mut reads = ReadCap::new(s.max_reads_per_second);
        loop {
            let now = Instant::now();
            if now >= t.deadline {
                return Ending::Segment;
            }
            if now >= t.last_activity + s.idle {
                return Ending::Idle;
            }
            // A long replay sends full pages without ever waiting: renew on the way too.
            if now >= t.next_renew {
                match self.renew().await {
                    Ok(next) => t.next_renew = now + next,
                    Err(ending) => return ending,
                }
            }
            let allowed = reads.earliest(now);
            if allowed > now {
                if let Err(ending) = self.wait(tx, &mut t, allowed).await {
                    return ending;
                }
                continue;
            }
            reads.record(now);
            let read_at = now;
            let read = match self.first_page.take() {
                Some(page) => Ok(page),
                None => {
                    self.deps
                        .store
                        .events(&self.key, self.cursor, s.page_size)
                        .await
                }
            };
            let page = match read {
                Ok(page) => {
                    failures = 0;
                    page
                }
                Err(e) if e.is_retryable() && failures + 1 < MAX_READ_FAILURES => {
                    failures += 1;
                    warn!(error = %e, failures, "reading events failed; retrying");
                    // A failed read shows nothing: it is not an empty page, so it neither
                    // sends nor counts toward a gap. A hole must be seen by successful reads
                    // for the whole grace period, so its window starts over.
                    missing_since = None;
                    let retry_at = Instant::now() + s.poll.after_failure(failures);
                    if let Err(ending) = self.wait(tx, &mut t, retry_at).await {
                        return ending;
                    }
                    continue;
                }
                Err(e) => return Ending::Failed(e.into()),
            };
            let p = plan(self.cursor, &page, self.known_last);
            for e in &page[..p.deliver] {
                if send(tx, frame::event(e)).await.is_err() {
                    return Ending::ClientGone;
                }
                self.cursor = e.seq;
                t.last_write = Instant::now();
                t.last_activity = t.last_write;
                t.last_event = t.last_write;
                if e.event_type.terminal_status().is_some() {
                    return Ending::Terminal;
                }
            }
            self.known_last = self.known_last.max(self.cursor);
            let now = Instant::now();
            if let Some((from, to)) = p.missing {
                let since = match missing_since {
                    Some((f, at)) if f == from => at,
                    _ => now,
                };
                missing_since = Some((from, since));
                if is_gone(
                    self.created_at,
                    self.deps.clock.now(),
                    s.retention,
                    now - since,
                ) {
                    warn!(from = from.0, to = to.0, "events past retention");
                    if send(tx, frame::gap(from, to)).await.is_err() {
                        return Ending::ClientGone;
                    }
                    self.cursor = to;
                    t.last_write = Instant::now();
                    missing_since = None;
                    if self.terminal_seq.is_some_and(|ts| ts <= to) {
                        return Ending::Terminal;
                    }
                    continue;
                }
            } else {
                missing_since = None;
                if p.deliver == s.page_size {
                    // A full page: replay on without waiting.
                    continue;
                }
            }
            // Waiting for a missing seq polls fast: it is normally a moment away.
            let interval = match p.missing {
                Some(_) => s.poll.min,
                None => s.poll.interval(now - t.last_event),
            };
            // Reads are spaced from their starts, as the cap counts them: the read's own time
            // (a Query is ~6 ms on AWS) and sending the frames are not added to every wait.
            if let Err(ending) = self.wait(tx, &mut t, read_at + interval).await {
                return ending;
            }
        }
    }

    /// Sleeps until `next_poll`, sending heartbeats and renewing the lease on the way.
    async fn wait(
        &mut self,
        tx: &mpsc::Sender<Bytes>,
        t: &mut Timers,
        next_poll: Instant,
    ) -> Result<(), Ending> {
        let heartbeat = self.deps.settings.heartbeat;
        let idle = self.deps.settings.idle;
        loop {
            let heartbeat_at = t.last_write + heartbeat;
            let idle_at = t.last_activity + idle;
            let wake = next_poll
                .min(heartbeat_at)
                .min(t.next_renew)
                .min(t.deadline)
                .min(idle_at);
            sleep_until(wake).await;
            let now = Instant::now();
            if now >= t.deadline {
                return Err(Ending::Segment);
            }
            if now >= idle_at {
                return Err(Ending::Idle);
            }
            if now >= heartbeat_at {
                send(tx, frame::ping())
                    .await
                    .map_err(|Gone| Ending::ClientGone)?;
                t.last_write = now;
            }
            if now >= t.next_renew {
                t.next_renew = now + self.renew().await?;
            }
            if now >= next_poll {
                return Ok(());
            }
        }
    }

    /// Renews the lease; returns when to renew next.
    async fn renew(&mut self) -> Result<Duration, Ending> {
        let ttl = self.deps.settings.lease_ttl;
        match self
            .deps
            .leases
            .renew(&self.lease, self.deps.clock.now(), ttl)
            .await
        {
            Ok(Renewal::Renewed(lease)) => {
                self.lease = lease;
                Ok(ttl / 3)
            }
            Ok(Renewal::Lost) => Err(Ending::Failed(StreamError::LeaseLost)),
            Err(e) => {
                warn!(error = %e, "renewing the stream slot failed; retrying");
                Ok(RENEW_RETRY.min(ttl / 6))
            }
        }
    }
}

async fn send(tx: &mpsc::Sender<Bytes>, frame: Bytes) -> Result<(), Gone> {
    tx.send(frame).await.map_err(|_| Gone)
}
