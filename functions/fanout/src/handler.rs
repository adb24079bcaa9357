//! The fanout handler: decode → decide → act.

use crate::claims;
use crate::decode::decode;
use crate::directory::Directory;
use crate::round::{Learned, commit_round};
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use burstline::ids::{TaskKey, TenantId};
use burstline::log::EventLog;
use burstline::queue::DeliveryQueue;
use burstline::sequence::Incoming;
use burstline::store::EventStore;
use burstline::subscription::Subscription;
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
    /// The tenants' event log, for `burstline.event.rejected`.
    pub log: Arc<dyn EventLog>,
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
    /// Records set aside (an id of another task, or refused by the store), each with its
    /// `burstline.event.rejected` filed in the tenant's log.
    pub rejected: usize,
    /// Tasks left for Lambda to retry.
    pub failed_tasks: usize,
}

/// One task's records in this batch, in stream order, with their indices in the batch.
#[derive(Debug)]
pub struct TaskWork {
    /// The task.
    pub key: TaskKey,
    /// Index of its first record in the batch: where Lambda retries it from.
    pub first_index: usize,
    /// Its records.
    pub records: Vec<Incoming>,
    /// Each record's index in the batch.
    pub indices: Vec<usize>,
    /// Its tenant's endpoints.
    pub subscriptions: Arc<Vec<Subscription>>,
}

/// Handles one Kinesis batch.
///
/// # Batch contract
/// - Every decodable record of a known tenant is stored exactly once with the next dense `seq`
///   of its task, in stream order, and a webhook job is enqueued for every matching enabled
///   endpoint **before** the commit that stores the event, so no crash can lose a job (a crash
///   after enqueueing may duplicate one; receivers dedupe by `webhook-id`). Within an
///   invocation a task's jobs are enqueued again only when a re-plan changed them.
/// - Records already applied (at or before the task head's Kinesis position) are skipped, and
///   so is an id already used by the same task (stored, or earlier in the batch): redeliveries,
///   retries from a failed record, bisected batches and producer resubmissions leave no
///   duplicate and no gap.
/// - Ids are decided per tenant across the whole batch ([`claims`]): an id stored for another
///   task, or first sent in this batch for another task, makes the record an **id conflict**.
///   Such records, and records DynamoDB refuses for a reason no retry cures (found by
///   committing a refused transaction's tasks, then events, one by one), are **set aside**:
///   not stored, never retried forever, and reported to the tenant as a
///   `burstline.event.rejected` event in task `burstline.rejections` (its id derived from the
///   record's shard and sequence number, filed before the commit that moves past the record).
///   A record of `burstline.rejections` itself is only logged and counted. If filing fails,
///   the task is reported as failed, so Lambda retries it.
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
    route_tenants(deps, &mut tasks, &mut failed, &mut outcome).await;

    let mut batch: Vec<(usize, &Incoming)> = tasks
        .iter()
        .flat_map(|t| t.indices.iter().copied().zip(&t.records))
        .collect();
    batch.sort_by_key(|(i, _)| *i);
    let batch: Vec<&Incoming> = batch.into_iter().map(|(_, r)| r).collect();

    // Ids sent for several tasks: who holds them may depend on what is stored already. Their
    // tasks wait for Lambda's retry if that cannot be learned, rather than guess.
    let mut learned = Learned::default();
    let unknown: HashSet<_> = learned
        .learn_holders(deps, claims::contested(&batch))
        .await
        .into_iter()
        .collect();
    let mut pending: Vec<&TaskWork> = tasks.iter().collect();
    pending.retain(|t| {
        let blocked = t
            .records
            .iter()
            .any(|r| unknown.contains(&(r.event.tenant_id.clone(), r.event.id.clone())));
        if blocked {
            failed.insert(t.first_index);
        }
        !blocked
    });
    for round in 0..MAX_COMMIT_ROUNDS {
        if pending.is_empty() {
            break;
        }
        let retry = commit_round(deps, &pending, &batch, &mut learned, &mut failed).await;
        pending.retain(|t| retry.contains(&t.key));
        if round + 1 == MAX_COMMIT_ROUNDS {
            failed.extend(pending.iter().map(|t| t.first_index));
        }
    }

    outcome.stored = learned.stored.values().sum();
    outcome.rejected = learned.rejected.len();
    // Whatever a finished task did not store or set aside was a replay or a duplicate id.
    for t in tasks.iter().filter(|t| !failed.contains(&t.first_index)) {
        let stored = learned.stored.get(&t.key).copied().unwrap_or(0);
        let rejected = t
            .records
            .iter()
            .filter(|r| learned.rejected.contains(&r.position))
            .count();
        outcome.duplicates += t.records.len().saturating_sub(stored + rejected);
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
        rejected = outcome.rejected,
        failed_tasks = outcome.failed_tasks,
        "batch processed"
    );
    crate::metrics::batch(&event, &outcome);
    outcome
}

/// Attaches each tenant's subscriptions to its tasks. Tasks of unknown tenants are poison and
/// dropped; a failed lookup drops its tenant's tasks into `failed`, for Lambda to retry.
async fn route_tenants(
    deps: &Fanout,
    tasks: &mut Vec<TaskWork>,
    failed: &mut BTreeSet<usize>,
    outcome: &mut Outcome,
) {
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
                indices: Vec::new(),
                subscriptions: Arc::default(),
            });
            tasks.len() - 1
        });
        tasks[slot].records.push(incoming);
        tasks[slot].indices.push(i);
    }
    tasks
}
