//! One commit round of an invocation: plan the pending tasks from fresh heads, file the
//! rejections of records set aside, enqueue the jobs that changed, commit, and learn from what
//! the store answered. [`crate::handler`] runs rounds until every task is done or out of tries.

use crate::claims::{self, Claim, Holders, IdKey};
use crate::enqueued::Enqueued;
use crate::handler::{Fanout, TaskWork};
use crate::rejection::{self, Rejection};
use burstline::Error;
use burstline::head::StreamPosition;
use burstline::ids::{Seq, TaskKey};
use burstline::job::jobs_for;
use burstline::sequence::{
    CommitChunk, Incoming, TaskPlan, lanes, pack_one_event_each, pack_transactions, plan_task,
};
use chrono::Utc;
use futures_util::stream::{self, StreamExt};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use tracing::warn;

/// What an invocation has learned so far, carried from round to round.
#[derive(Debug, Default)]
pub struct Learned {
    /// Tasks holding ids that are already stored (from `find_event`).
    pub holders: Holders,
    /// Records DynamoDB refused to store, with its reason.
    pub refused: HashMap<StreamPosition, String>,
    /// Tasks whose next commit goes one event per transaction, to find a refused record.
    pub isolating: HashSet<TaskKey>,
    /// Records set aside whose rejection is filed (or, for the rejections task, logged).
    pub rejected: HashSet<StreamPosition>,
    /// Jobs enqueued so far, per task.
    pub enqueued: Enqueued,
    /// Events stored so far, per task.
    pub stored: HashMap<TaskKey, usize>,
}

impl Learned {
    /// Looks up which task holds each id (`find_event`), so the next decision can tell a
    /// resubmission from a reuse by another task. Returns the ids whose lookup failed: they
    /// stay unknown.
    pub async fn learn_holders(&mut self, deps: &Fanout, ids: Vec<IdKey>) -> Vec<IdKey> {
        // Independent `GetItem`s: several in flight at once.
        let answers: Vec<_> = stream::iter(ids.into_iter().map(|(tenant, id)| async move {
            let found = deps.store.find_event(&tenant, &id).await;
            ((tenant, id), found)
        }))
        .buffer_unordered(MAX_CONCURRENT_COMMITS)
        .collect()
        .await;
        let mut unknown = Vec::new();
        for ((tenant, id), found) in answers {
            match found {
                Ok(Some((task, _))) => {
                    self.holders.insert((tenant, id), task);
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(tenant_id = %tenant, event_id = %id, error = %e, "looking up an id's task failed");
                    unknown.push((tenant, id));
                }
            }
        }
        unknown
    }
}

/// The records of the batch kept out of the store this round: every non-new claim, and the
/// rejection for those set aside (id conflicts and records the store refused).
fn decide(
    batch: &[&Incoming],
    learned: &Learned,
) -> (HashSet<StreamPosition>, HashMap<StreamPosition, Rejection>) {
    let claims = claims::decide(batch, &learned.holders);
    let mut excluded = claims::excluded(batch, &claims);
    let mut set_aside = HashMap::new();
    for (record, claim) in batch.iter().zip(&claims) {
        if let Claim::Conflict { holder, stored } = claim {
            let r = Rejection::id_conflict(record, holder, *stored);
            set_aside.insert(r.position.clone(), r);
        } else if let Some(reason) = learned.refused.get(&record.position) {
            let r = Rejection::store_refused(record, reason);
            excluded.insert(r.position.clone());
            set_aside.insert(r.position.clone(), r);
        }
    }
    (excluded, set_aside)
}

/// A task's plan for this round, with its work.
type Planned<'a> = (TaskPlan, &'a TaskWork);

/// Runs one round over `tasks` (`batch`: every record of the batch, in stream order). Returns
/// the tasks to try again in another round; tasks that failed outright go to `failed` (their
/// first record's index in the batch).
pub async fn commit_round(
    deps: &Fanout,
    tasks: &[&TaskWork],
    batch: &[&Incoming],
    learned: &mut Learned,
    failed: &mut BTreeSet<usize>,
) -> HashSet<TaskKey> {
    let keys: Vec<TaskKey> = tasks.iter().map(|t| t.key.clone()).collect();
    let heads = match deps.store.heads(&keys).await {
        Ok(h) => h,
        Err(e) => {
            warn!(error = %e, "reading task heads failed");
            failed.extend(tasks.iter().map(|t| t.first_index));
            return HashSet::new();
        }
    };
    let (excluded, set_aside) = decide(batch, learned);
    let now = Utc::now();
    let mut planned: Vec<Planned<'_>> = tasks
        .iter()
        .filter_map(|t| {
            plan_task(&t.key, heads.get(&t.key), &t.records, &excluded, now).map(|p| (p, *t))
        })
        .collect();
    file_rejections(deps, &mut planned, &set_aside, learned, failed).await;
    if !enqueue_changed(deps, &mut planned, learned).await {
        failed.extend(planned.iter().map(|(_, t)| t.first_index));
        return HashSet::new();
    }
    commit(deps, planned, learned, failed).await
}

/// Files the rejections of records set aside that the plans move past, before the commit
/// does (as jobs go out before their events' commit: a crash in between files again under the
/// same id). A task whose rejection could not be filed is dropped from the round and failed.
async fn file_rejections(
    deps: &Fanout,
    planned: &mut Vec<Planned<'_>>,
    set_aside: &HashMap<StreamPosition, Rejection>,
    learned: &mut Learned,
    failed: &mut BTreeSet<usize>,
) {
    let due: Vec<&Rejection> = planned
        .iter()
        .flat_map(|(p, _)| &p.skipped)
        .filter_map(|pos| set_aside.get(pos))
        .filter(|r| !learned.rejected.contains(&r.position))
        .collect();
    if due.is_empty() {
        return;
    }
    let not_filed = rejection::file(deps.log.as_ref(), &due, Utc::now()).await;
    for r in due.iter().filter(|r| !not_filed.contains(&r.position)) {
        warn!(
            tenant_id = %r.tenant_id,
            task_id = %r.task_id,
            event_id = %r.event_id,
            sequence_number = %r.position.sequence_number,
            reason = r.reason.code(),
            filed = !r.is_of_rejections_task(),
            "record set aside"
        );
        learned.rejected.insert(r.position.clone());
    }
    planned.retain(|(p, t)| {
        let blocked = p.skipped.iter().any(|pos| not_filed.contains(pos));
        if blocked {
            failed.insert(t.first_index);
        }
        !blocked
    });
}

/// Enqueues the jobs of every plan whose jobs this invocation has not enqueued already (a
/// re-plan often comes out the same). Returns false if the queue failed.
async fn enqueue_changed(
    deps: &Fanout,
    planned: &mut [Planned<'_>],
    learned: &mut Learned,
) -> bool {
    let mut changed = Vec::new();
    // jobs_for also records in each plan's head where every endpoint's webhook chain now ends.
    for (p, t) in planned.iter_mut() {
        let jobs = jobs_for(p, &t.subscriptions);
        if learned.enqueued.differs(&p.key, &jobs) {
            changed.push((p.key.clone(), jobs));
        }
    }
    let jobs: Vec<_> = changed
        .iter()
        .flat_map(|(_, j)| j.iter().cloned())
        .collect();
    if jobs.is_empty() {
        return true;
    }
    if let Err(e) = deps.queue.enqueue(&jobs, std::time::Duration::ZERO).await {
        warn!(error = %e, jobs = jobs.len(), "enqueueing webhook jobs failed");
        return false;
    }
    for (key, jobs) in changed {
        learned.enqueued.record(key, jobs);
    }
    true
}

/// Transactions of unrelated tasks in flight at once. Each is one `TransactWriteItems` of up
/// to 100 items, on its own task's partition; at AWS latencies (tens of ms each) a 500-record
/// batch of a burst spans a hundred or more tasks, so committing them one after another takes
/// over a second, 32 at a time a small part of that (modeled: BENCHMARKS.md). 32 requests in
/// flight is well within one function's HTTP connection pool.
pub const MAX_CONCURRENT_COMMITS: usize = 32;

/// What the store answered for one transaction of a lane.
enum Answer {
    /// Committed.
    Stored(Vec<CommitChunk>),
    /// A head moved or an id marker exists: re-plan these tasks, learning who holds the ids.
    Conflict {
        keys: Vec<TaskKey>,
        duplicates: Vec<IdKey>,
    },
    /// DynamoDB refused a transaction holding only this chunk.
    Refused {
        chunk: Box<CommitChunk>,
        message: String,
    },
    /// Failed otherwise: leave these tasks to Lambda's retry.
    Failed(Vec<TaskKey>),
}

/// Commits the plans, packed (one event per transaction for tasks being isolated), and
/// learns from each answer. Returns the tasks to re-plan.
///
/// Transactions are split into [`lanes`]: those sharing a task commit one after another, in
/// order; independent lanes commit concurrently, at most [`MAX_CONCURRENT_COMMITS`] at once.
/// What the answers teach is applied once every lane is done; no two lanes share a task, so
/// the order in which they finished does not matter.
async fn commit(
    deps: &Fanout,
    planned: Vec<Planned<'_>>,
    learned: &mut Learned,
    failed: &mut BTreeSet<usize>,
) -> HashSet<TaskKey> {
    let mut commits = Commits {
        first_index: planned
            .iter()
            .map(|(p, t)| (p.key.clone(), t.first_index))
            .collect(),
        positions: planned
            .iter()
            .flat_map(|(p, _)| {
                p.events
                    .iter()
                    .map(|a| ((p.key.clone(), a.envelope.seq), a.position.clone()))
            })
            .collect(),
        retry: HashSet::new(),
    };
    let planned_ids: HashMap<TaskKey, Vec<IdKey>> = planned
        .iter()
        .map(|(p, _)| {
            let ids = p.events.iter().map(|a| {
                let e = &a.envelope;
                (e.tenant_id.clone(), e.id.clone())
            });
            (p.key.clone(), ids.collect())
        })
        .collect();
    let (isolating, packed): (Vec<TaskPlan>, Vec<TaskPlan>) = planned
        .into_iter()
        .map(|(p, _)| p)
        .partition(|p| learned.isolating.contains(&p.key));
    let txs: Vec<Vec<CommitChunk>> = pack_transactions(packed)
        .into_iter()
        .chain(pack_one_event_each(isolating))
        .collect();
    let answers: Vec<Vec<Answer>> = stream::iter(lanes(txs).into_iter().map(|l| run_lane(deps, l)))
        .buffer_unordered(MAX_CONCURRENT_COMMITS)
        .collect()
        .await;
    for answer in answers.into_iter().flatten() {
        match answer {
            Answer::Stored(chunks) => {
                for c in &chunks {
                    *learned.stored.entry(c.key.clone()).or_default() += c.events.len();
                }
            }
            Answer::Conflict { keys, duplicates } => {
                // An id left unknown conflicts again; out of rounds, Lambda retries the task.
                let lookup = ids_to_learn(duplicates, &keys, &planned_ids, &learned.holders);
                learned.learn_holders(deps, lookup).await;
                commits.retry.extend(keys);
            }
            Answer::Refused { chunk, message } => {
                commits.refused(&chunk, message, learned, failed);
            }
            Answer::Failed(keys) => {
                for key in &keys {
                    commits.fail(key, failed);
                }
            }
        }
    }
    commits.retry
}

/// The ids to look up after a conflict that named `duplicates`: those, and when there are any,
/// every id the conflicting `tasks` planned to write whose holder is not known yet. The store
/// names only the markers of the one transaction that failed, and a task's later chunks were
/// never tried; learning one transaction's worth (49 events) per round, a task resubmitting
/// a few hundred stored events ran out of rounds, and Lambda's retry of the batch started the
/// learning over, so the shard never moved past it. With every planned id looked up, the next
/// round excludes them all. Only a conflict pays for this: a `GetItem` per id.
fn ids_to_learn(
    duplicates: Vec<IdKey>,
    tasks: &[TaskKey],
    planned_ids: &HashMap<TaskKey, Vec<IdKey>>,
    holders: &Holders,
) -> Vec<IdKey> {
    if duplicates.is_empty() {
        return duplicates;
    }
    let mut seen: HashSet<IdKey> = duplicates.iter().cloned().collect();
    let mut lookup = duplicates;
    for id in tasks.iter().filter_map(|k| planned_ids.get(k)).flatten() {
        if !holders.contains_key(id) && seen.insert(id.clone()) {
            lookup.push(id.clone());
        }
    }
    lookup
}

/// Commits one lane's transactions in order. A task whose chunk did not land commits no later
/// chunk; a refused transaction of several tasks is retried one task per transaction, so only
/// the culprit's task is set back.
async fn run_lane(deps: &Fanout, lane: Vec<Vec<CommitChunk>>) -> Vec<Answer> {
    let mut txs: VecDeque<Vec<CommitChunk>> = lane.into();
    let mut stopped: HashSet<TaskKey> = HashSet::new();
    let mut answers = Vec::new();
    while let Some(tx) = txs.pop_front() {
        let chunks: Vec<CommitChunk> = tx
            .into_iter()
            .filter(|c| !stopped.contains(&c.key))
            .collect();
        if chunks.is_empty() {
            continue;
        }
        let keys = || chunks.iter().map(|c| c.key.clone()).collect::<Vec<_>>();
        match deps.store.commit(&chunks).await {
            Ok(()) => answers.push(Answer::Stored(chunks)),
            Err(Error::CommitConflict {
                duplicates,
                moved_heads,
            }) => {
                warn!(
                    duplicates = duplicates.len(),
                    moved_heads = moved_heads.len(),
                    "commit conflict; re-planning"
                );
                let keys = keys();
                stopped.extend(keys.iter().cloned());
                answers.push(Answer::Conflict { keys, duplicates });
            }
            Err(Error::Refused {
                reason: message, ..
            }) if chunks.len() > 1 => {
                warn!(error = %message, tasks = chunks.len(), "transaction refused; committing its tasks one by one");
                for c in chunks.into_iter().rev() {
                    txs.push_front(vec![c]);
                }
            }
            Err(Error::Refused {
                reason: message, ..
            }) => {
                // Whatever the verdict, this task commits nothing more this round.
                stopped.extend(keys());
                let chunk = chunks.into_iter().next();
                answers.extend(chunk.map(|chunk| Answer::Refused {
                    chunk: Box::new(chunk),
                    message,
                }));
            }
            Err(e) => {
                warn!(error = %e, tasks = chunks.len(), "commit failed");
                let keys = keys();
                stopped.extend(keys.iter().cloned());
                answers.push(Answer::Failed(keys));
            }
        }
    }
    answers
}

/// The state of one round's commits.
struct Commits {
    first_index: HashMap<TaskKey, usize>,
    /// Where each planned event came from, to name a refused one's record.
    positions: HashMap<(TaskKey, Seq), StreamPosition>,
    /// Tasks to re-plan.
    retry: HashSet<TaskKey>,
}

impl Commits {
    fn fail(&mut self, key: &TaskKey, failed: &mut BTreeSet<usize>) {
        failed.extend(self.first_index.get(key));
    }

    /// DynamoDB refused a transaction holding only `c`: narrow it down to the one event.
    fn refused(
        &mut self,
        c: &CommitChunk,
        message: String,
        learned: &mut Learned,
        failed: &mut BTreeSet<usize>,
    ) {
        let key = &c.key;
        match c.events.as_slice() {
            [one] => match self.positions.get(&(key.clone(), one.seq)) {
                // The one event is the culprit: set it aside, re-plan the rest.
                Some(pos) => {
                    warn!(task_id = %key.task_id, event_id = %one.id, error = %message, "event refused by the store");
                    learned.refused.insert(pos.clone(), message);
                    learned.isolating.remove(key);
                    self.retry.insert(key.clone());
                }
                None => self.fail(key, failed),
            },
            // Some event in it is refused: find which, one event per transaction.
            [_, _, ..] => {
                warn!(task_id = %key.task_id, error = %message, "commit refused; isolating the task's events");
                learned.isolating.insert(key.clone());
                self.retry.insert(key.clone());
            }
            // A head alone is never the tenant's doing: leave it to Lambda's retry.
            [] => {
                warn!(task_id = %key.task_id, error = %message, "head update refused");
                self.fail(key, failed);
            }
        }
    }
}
