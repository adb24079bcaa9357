//! The fanout handler: decode → decide → act.

use crate::decode::decode;
use crate::directory::Directory;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use burstline::Error;
use burstline::ids::{EventId, TaskKey, TenantId};
use burstline::job::jobs_for;
use burstline::queue::DeliveryQueue;
use burstline::sequence::{Incoming, TaskPlan, pack_transactions, plan_task};
use burstline::store::EventStore;
use burstline::subscription::Subscription;
use chrono::Utc;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use tracing::{info, instrument, warn};

/// Commit attempts per invocation before leaving a contended task to Lambda's retry.
const MAX_COMMIT_ROUNDS: usize = 4;

/// fanout's dependencies, built once per cold start.
#[derive(Clone)]
pub struct Fanout {
    /// Events, heads and id markers.
    pub store: Arc<dyn EventStore>,
    /// Webhook jobs.
    pub queue: Arc<dyn DeliveryQueue>,
    /// Tenants' subscriptions.
    pub directory: Directory,
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout").finish_non_exhaustive()
    }
}

/// What an invocation did, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The response for Lambda.
    pub response: KinesisEventResponse,
    /// Events newly stored.
    pub stored: usize,
    /// Records skipped as already stored (replays) or duplicate ids.
    pub duplicates: usize,
    /// Poison records skipped.
    pub poison: usize,
    /// Tasks left for Lambda to retry.
    pub failed_tasks: usize,
}

/// One task's records in this batch, with the index of its first record in the batch.
struct TaskWork {
    key: TaskKey,
    first_index: usize,
    records: Vec<Incoming>,
    subscriptions: Arc<Vec<Subscription>>,
}

/// Handles one Kinesis batch.
///
/// # Batch contract
/// - Every decodable record of a known tenant is stored exactly once with the next dense `seq`
///   of its task, in stream order, and a webhook job is enqueued for every matching enabled
///   endpoint **before** the commit that stores the event, so no crash can lose a job (a crash
///   after enqueueing may duplicate one; deliver dedupes by `webhook-id`).
/// - Records already applied (at or before the task head's Kinesis position) are skipped, and
///   ids already stored in the tenant are skipped: redeliveries, retries from a failed record,
///   bisected batches and producer resubmissions leave no duplicate and no gap.
/// - Poison records (undecodable, or of an unknown tenant) are logged with their sequence
///   number, counted, and skipped: they never block the shard.
/// - If a task cannot be committed (throttling, outage, persistent contention), the response
///   reports the lowest sequence number among such tasks' records; Lambda checkpoints before it
///   and retries from there, and the replay skips whatever was already committed.
///
/// Failures are reported per record, so the handler itself never fails: a crash or timeout
/// is the only whole-batch error Lambda sees, and the replay is idempotent.
pub async fn handle(deps: &Fanout, event: KinesisEvent) -> KinesisEventResponse {
    process(deps, event).await.response
}

/// [`handle`], also returning counts.
#[instrument(skip_all, fields(records = event.records.len()))]
pub async fn process(deps: &Fanout, event: KinesisEvent) -> Outcome {
    let mut outcome = Outcome::default();
    let sequence_numbers: Vec<String> = event
        .records
        .iter()
        .map(|r| r.kinesis.sequence_number.clone())
        .collect();
    let mut tasks = group_by_task(&event, &mut outcome);
    let mut failed: BTreeSet<usize> = BTreeSet::new();

    // Tenants: unknown ones are poison; a lookup failure is retryable.
    let tenants: BTreeSet<TenantId> = tasks.iter().map(|t| t.key.tenant_id.clone()).collect();
    for tenant in tenants {
        match deps.directory.route(&tenant).await {
            Ok(Some(subs)) => tasks
                .iter_mut()
                .filter(|t| t.key.tenant_id == tenant)
                .for_each(|t| t.subscriptions = subs.clone()),
            Ok(None) => {
                for t in tasks.iter().filter(|t| t.key.tenant_id == tenant) {
                    for r in &t.records {
                        warn!(sequence_number = %r.position.sequence_number, tenant_id = %tenant, "poison record: unknown tenant");
                    }
                    outcome.poison += t.records.len();
                }
                tasks.retain(|t| t.key.tenant_id != tenant);
            }
            Err(e) => {
                warn!(tenant_id = %tenant, error = %e, "subscription lookup failed");
                failed.extend(
                    tasks
                        .iter()
                        .filter(|t| t.key.tenant_id == tenant)
                        .map(|t| t.first_index),
                );
                tasks.retain(|t| t.key.tenant_id != tenant);
            }
        }
    }

    let mut known_duplicates: HashMap<TenantId, HashSet<EventId>> = HashMap::new();
    for round in 0..MAX_COMMIT_ROUNDS {
        if tasks.is_empty() {
            break;
        }
        let retry = commit_round(
            deps,
            &tasks,
            &mut known_duplicates,
            &mut failed,
            &mut outcome,
        )
        .await;
        tasks.retain(|t| retry.contains(&t.key));
        if round + 1 == MAX_COMMIT_ROUNDS {
            failed.extend(tasks.iter().map(|t| t.first_index));
        }
    }

    outcome.failed_tasks = failed.len();
    if let Some(&lowest) = failed.first() {
        outcome
            .response
            .add_failure(sequence_numbers[lowest].clone());
    }
    info!(
        stored = outcome.stored,
        duplicates = outcome.duplicates,
        poison = outcome.poison,
        failed_tasks = outcome.failed_tasks,
        "batch processed"
    );
    outcome
}

/// Decodes the batch and groups records by task, keeping stream order within each task.
fn group_by_task(event: &KinesisEvent, outcome: &mut Outcome) -> Vec<TaskWork> {
    let mut tasks: Vec<TaskWork> = Vec::new();
    let mut index: HashMap<TaskKey, usize> = HashMap::new();
    for (i, record) in event.records.iter().enumerate() {
        let incoming = match decode(record) {
            Ok(inc) => inc,
            Err(e) => {
                warn!(sequence_number = %record.kinesis.sequence_number, error = %e, "poison record skipped");
                outcome.poison += 1;
                continue;
            }
        };
        let key = incoming.event.task_key();
        let slot = *index.entry(key.clone()).or_insert_with(|| {
            tasks.push(TaskWork {
                key,
                first_index: i,
                records: Vec::new(),
                subscriptions: Arc::default(),
            });
            tasks.len() - 1
        });
        tasks[slot].records.push(incoming);
    }
    tasks
}

/// Plans every task from fresh heads, enqueues the jobs, then commits. Returns the tasks that
/// lost a conditional commit and should be re-planned; tasks that failed outright go to `failed`.
async fn commit_round(
    deps: &Fanout,
    tasks: &[TaskWork],
    known_duplicates: &mut HashMap<TenantId, HashSet<EventId>>,
    failed: &mut BTreeSet<usize>,
    outcome: &mut Outcome,
) -> HashSet<TaskKey> {
    let first_index: HashMap<&TaskKey, usize> =
        tasks.iter().map(|t| (&t.key, t.first_index)).collect();
    let fail_all =
        |failed: &mut BTreeSet<usize>| failed.extend(tasks.iter().map(|t| t.first_index));
    let keys: Vec<TaskKey> = tasks.iter().map(|t| t.key.clone()).collect();
    let heads = match deps.store.heads(&keys).await {
        Ok(h) => h,
        Err(e) => {
            warn!(error = %e, "reading task heads failed");
            fail_all(failed);
            return HashSet::new();
        }
    };
    let empty = HashSet::new();
    let now = Utc::now();
    let mut planned: Vec<(TaskPlan, &TaskWork)> = tasks
        .iter()
        .filter_map(|t| {
            let dups = known_duplicates.get(&t.key.tenant_id).unwrap_or(&empty);
            plan_task(&t.key, heads.get(&t.key), &t.records, dups, now).map(|p| (p, t))
        })
        .collect();
    // Also records in each plan's head where every endpoint's webhook chain now ends.
    let jobs: Vec<_> = planned
        .iter_mut()
        .flat_map(|(p, t)| jobs_for(p, &t.subscriptions))
        .collect();
    if let Err(e) = deps.queue.enqueue(&jobs, std::time::Duration::ZERO).await {
        warn!(error = %e, jobs = jobs.len(), "enqueueing webhook jobs failed");
        fail_all(failed);
        return HashSet::new();
    }
    let new_events: HashMap<TaskKey, usize> = planned
        .iter()
        .map(|(p, _)| (p.key.clone(), p.events.len()))
        .collect();
    let plans: Vec<TaskPlan> = planned.into_iter().map(|(p, _)| p).collect();
    let mut stopped: HashSet<TaskKey> = HashSet::new();
    let mut retry: HashSet<TaskKey> = HashSet::new();
    for tx in pack_transactions(plans) {
        // A task whose earlier chunk did not land must not commit later ones.
        let chunks: Vec<_> = tx
            .into_iter()
            .filter(|c| !stopped.contains(&c.key))
            .collect();
        if chunks.is_empty() {
            continue;
        }
        match deps.store.commit(&chunks).await {
            Ok(()) => {
                for c in &chunks {
                    outcome.stored += c.events.len();
                }
            }
            Err(Error::CommitConflict {
                duplicates,
                moved_heads,
            }) => {
                warn!(
                    duplicates = duplicates.len(),
                    moved_heads = moved_heads.len(),
                    "commit conflict; re-planning"
                );
                for (tenant, id) in duplicates {
                    known_duplicates.entry(tenant).or_default().insert(id);
                }
                for c in &chunks {
                    stopped.insert(c.key.clone());
                    retry.insert(c.key.clone());
                }
            }
            Err(e) => {
                warn!(error = %e, tasks = chunks.len(), "commit failed");
                for c in &chunks {
                    stopped.insert(c.key.clone());
                    if let Some(&i) = first_index.get(&c.key) {
                        failed.insert(i);
                    }
                }
            }
        }
    }
    // Whatever a committed task did not newly store was a replay or a duplicate id.
    for t in tasks.iter().filter(|t| !stopped.contains(&t.key)) {
        let stored = new_events.get(&t.key).copied().unwrap_or(0);
        outcome.duplicates += t.records.len() - stored;
    }
    retry
}
