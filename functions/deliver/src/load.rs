//! Loading one page of a job's events from the store, and telling a commit that has not
//! landed yet from refs that lost theirs.

use crate::paging::{Read, read_for};
use burstline::Error;
use burstline::event::Envelope;
use burstline::ids::Seq;
use burstline::job::{DeliveryJob, EventRef};
use burstline::store::EventStore;
use std::collections::HashMap;
use std::time::Duration;
use tracing::info;

/// Pauses between in-process looks for a fresh job's commit (0.75 s in all).
const COMMIT_RECHECKS: [Duration; 4] = [
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
];

/// What reading a page found.
#[derive(Debug, PartialEq)]
pub enum Page {
    /// The page's events as stored, ascending; `stale` lists the refs whose seq holds another
    /// event once committed: their assignment lost to a duplicate, so they are dropped.
    Loaded {
        /// Events to send.
        events: Vec<Envelope>,
        /// Seqs of the refs dropped.
        stale: Vec<Seq>,
    },
    /// Some of the page's events are not committed yet: look again later.
    Uncommitted,
}

/// Reads exactly the events of `refs` (a page of `job`'s refs, ascending): never more than
/// `refs.len()` events are held, whatever seqs lie between them.
///
/// Fanout enqueues a job just before it commits, so a fresh job's commit is usually
/// milliseconds away: when events are missing, a fresh job (no commit waits yet) looks again
/// in-process a few times before the caller pays a queue round trip. An event still missing
/// once the task head has reached `job.through` is stale, not late.
pub async fn load_page(
    store: &dyn EventStore,
    job: &DeliveryJob,
    refs: &[EventRef],
) -> Result<Page, Error> {
    let Some(read) = read_for(refs) else {
        return Ok(Page::Loaded {
            events: Vec::new(),
            stale: Vec::new(),
        });
    };
    let key = job.task_key();
    let mut rechecks = if job.commit_waits == 0 {
        &COMMIT_RECHECKS[..]
    } else {
        &[]
    };
    let mut head_committed = false;
    let mut stored = loop {
        let found = match &read {
            Read::Range { after, limit } => store.events(&key, *after, *limit).await?,
            Read::Seqs(seqs) => store.events_at(&key, seqs).await?,
        };
        let stored: HashMap<Seq, Envelope> = found.into_iter().map(|e| (e.seq, e)).collect();
        if head_committed || refs.iter().all(|r| stored.contains_key(&r.seq)) {
            break stored;
        }
        let head = store.head(&key).await?;
        head_committed = head
            .and_then(|h| h.position)
            .and_then(|p| p.at_or_after(&job.through))
            .unwrap_or(false);
        if head_committed {
            // The commit may have landed between the read and the head read (a Query is only
            // read-committed per item): read the events again, after the head, before calling
            // any missing ref stale.
            continue;
        }
        if let Some((pause, rest)) = rechecks.split_first() {
            tokio::time::sleep(*pause).await;
            rechecks = rest;
            continue;
        }
        return Ok(Page::Uncommitted);
    };
    let mut events = Vec::with_capacity(refs.len());
    let mut stale = Vec::new();
    for r in refs {
        match stored.remove(&r.seq) {
            Some(e) if e.id == r.id => events.push(e),
            _ => stale.push(r.seq),
        }
    }
    if !stale.is_empty() {
        info!(
            stale = stale.len(),
            "dropping refs to an assignment that lost its commit"
        );
    }
    Ok(Page::Loaded { events, stale })
}
