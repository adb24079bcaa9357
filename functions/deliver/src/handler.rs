//! The deliver handler: decode → decide → act, per job.

use crate::http::WebhookSender;
use crate::outcome::{Observed, Verdict, classify};
use crate::request::{deliveries, headers};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use burstline::Error;
use burstline::attempts::{AttemptLog, AttemptRecord, AttemptStatus};
use burstline::clock::Clock;
use burstline::cursor::DeliveryCursors;
use burstline::delivery_order::WaitLimits;
use burstline::endpoint::{DisabledReason, Endpoint, EndpointState};
use burstline::event::{Envelope, NewEvent};
use burstline::ids::{EventId, Seq, TaskId};
use burstline::job::{AttemptSummary, DeadLetter, DeliveryJob, EventRef, unpack_message};
use burstline::log::{EventLog, LogRecord};
use burstline::queue::{DeadLetterSink, DeliveryQueue};
use burstline::schedule::{next_delay, sqs_delay};
use burstline::store::EventStore;
use burstline::tenants::EndpointStore;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, instrument, warn};

/// The task `burstline.endpoint.disabled` events are filed under in the tenant's log.
pub const SYSTEM_TASK: &str = "burstline.endpoints";

/// Retry and health policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Delays after the first attempt; exhausted → DLQ.
    pub schedule: Vec<Duration>,
    /// An endpoint failing continuously this long is disabled.
    pub disable_after: chrono::Duration,
    /// Pause before looking again for events not yet committed.
    pub commit_wait: Duration,
    /// Looks before giving up on events that never get committed.
    pub max_commit_waits: u32,
    /// Jobs attempted concurrently per invocation.
    pub concurrency: usize,
    /// How long a run's claim on an endpoint × task cursor lasts if the run dies: longer than
    /// an invocation can last (deliver's timeout is 120 s).
    pub lease: Duration,
    /// How long jobs wait for their turn in the endpoint × task order.
    pub order: WaitLimits,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            schedule: burstline::schedule::default_schedule(),
            disable_after: chrono::Duration::days(3),
            commit_wait: Duration::from_secs(5),
            max_commit_waits: 720,
            concurrency: 32,
            lease: Duration::from_secs(180),
            order: WaitLimits::default(),
        }
    }
}

/// deliver's dependencies, built once per cold start.
#[derive(Clone)]
pub struct Deliver {
    /// Stored events and task heads.
    pub store: Arc<dyn EventStore>,
    /// Endpoints.
    pub endpoints: Arc<dyn EndpointStore>,
    /// Where retries are re-enqueued.
    pub queue: Arc<dyn DeliveryQueue>,
    /// Where undeliverable jobs go.
    pub dead_letters: Arc<dyn DeadLetterSink>,
    /// Attempt log.
    pub attempts: Arc<dyn AttemptLog>,
    /// Endpoint × task delivery cursors: the order.
    pub cursors: Arc<dyn DeliveryCursors>,
    /// The tenant event log, for `burstline.endpoint.disabled`.
    pub log: Arc<dyn EventLog>,
    /// HTTP.
    pub sender: Arc<dyn WebhookSender>,
    /// Now.
    pub clock: Arc<dyn Clock>,
    /// Retry and health policy.
    pub policy: Policy,
}

impl std::fmt::Debug for Deliver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliver")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// What a job leaves behind once attempted.
#[derive(Debug, Default)]
pub(crate) struct Aftermath {
    /// Follow-up jobs and their delays.
    pub(crate) requeue: Vec<(DeliveryJob, Duration)>,
    /// Dead letters.
    pub(crate) dead: Vec<DeadLetter>,
    /// Attempts made.
    pub(crate) attempts: Vec<AttemptRecord>,
    /// A chained job had refs of an assignment that lost its commit: nothing was sent.
    pub(crate) stale: bool,
}

/// Handles one SQS batch.
///
/// # Batch contract
/// - Every job of every message ends delivered, re-enqueued (with its delay and history), or
///   in the DLQ with its reason; a message is acknowledged only once all of its follow-ups are
///   durably written. If writing them fails, or the message cannot be decoded, the message is
///   reported failed: SQS redelivers it (deliveries may repeat; receivers dedupe by
///   `webhook-id`) and, after the queue's `maxReceiveCount`, moves it to the DLQ as it is.
/// - Events of one task reach one endpoint in seq order, across jobs, messages, invocations,
///   retries and replays: a chained job runs only in its turn on the endpoint × task cursor
///   ([`crate::ordered`]); one whose turn has not come is re-enqueued without spending an
///   attempt. A job stops at the first event that must be retried and re-enqueues the rest,
///   which holds back that endpoint × task's later jobs until it is delivered or dead-lettered.
/// - The batch's jobs are grouped by endpoint × task; a group runs one job at a time in chain
///   order, groups run concurrently ([`crate::batch`]).
/// - A job whose events are not committed yet is looked at again in-process a few times
///   (fanout commits right after it enqueues), then after `commit_wait`; refs
///   whose stored event has another id once committed are stale and dropped (a chained job
///   with any stale ref is dropped whole, without moving the cursor).
#[instrument(skip_all, fields(messages = event.records.len()))]
pub async fn handle(deps: &Deliver, event: SqsEvent) -> SqsBatchResponse {
    let mut failed = Vec::new();
    let mut messages = Vec::new();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        match message.body.as_deref().map(unpack_message) {
            Some(Ok(jobs)) => messages.push((id, jobs)),
            _ => {
                warn!(message_id = %id, "undecodable message; leaving it for the DLQ redrive policy");
                failed.push(id);
            }
        }
    }
    failed.extend(crate::batch::run(deps, messages).await);
    let mut response = SqsBatchResponse::default();
    for id in failed {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}

/// Attempts one job. `Err` only for infrastructure failures worth a redelivery.
#[instrument(skip_all, fields(tenant_id = %job.tenant_id, task_id = %job.task_id, endpoint_id = %job.endpoint_id, attempt = job.attempt + 1))]
pub(crate) async fn deliver_job(deps: &Deliver, mut job: DeliveryJob) -> Result<Aftermath, Error> {
    let now = deps.clock.now();
    let mut out = Aftermath::default();
    if let Some(due) = job.not_before.filter(|due| *due > now) {
        let wait = (due - now).to_std().unwrap_or_default();
        out.requeue.push((job, sqs_delay(wait)));
        return Ok(out);
    }
    let Some(endpoint) = deps
        .endpoints
        .endpoint(&job.tenant_id, &job.endpoint_id)
        .await?
    else {
        info!("endpoint deleted; dropping its job");
        return Ok(out);
    };
    if let EndpointState::Disabled { reason, .. } = endpoint.state {
        out.dead.push(dead(
            job,
            &format!("endpoint disabled ({reason:?})"),
            &endpoint,
            now,
        ));
        return Ok(out);
    }
    let refs = job.events.len();
    let Some(events) = load_events(deps, &mut job, &mut out).await? else {
        return Ok(out);
    };
    if job.chain.is_some() && job.events.len() < refs {
        // Refs of a plan that lost its commit: its chain is not the committed one, so it must
        // neither send nor move the cursor. The winning plan's jobs carry the stored events.
        out.stale = true;
        return Ok(out);
    }
    let posts = deliveries(&endpoint, &events);
    let attempt = job.attempt + 1;
    let mut delivered_any = false;
    for (i, post) in posts.iter().enumerate() {
        let at = deps.clock.now();
        let sent = deps
            .sender
            .post(
                &endpoint.url,
                &headers(&endpoint, post, at),
                post.body.clone(),
            )
            .await;
        let verdict = classify(&sent.observed);
        let summary = summary(at, &sent.observed, sent.latency);
        let status = match verdict {
            Verdict::Delivered => AttemptStatus::Delivered,
            Verdict::Retry { .. } => AttemptStatus::Retrying,
            Verdict::Gone | Verdict::Reject => AttemptStatus::Failed,
        };
        // Built only on the failure paths: the success path is the hot one.
        let remaining = || refs_from(&events, post.seqs[0]);
        let mut record = attempt_record(&job, post, attempt, &summary, status);
        match verdict {
            Verdict::Delivered => delivered_any = true,
            Verdict::Retry { retry_after } => {
                let mut next = job.clone();
                next.events = remaining();
                next.attempt = attempt;
                next.history.push(summary);
                match next_delay(&deps.policy.schedule, attempt, jitter(), retry_after) {
                    Some(delay) => {
                        next.not_before =
                            Some(at + chrono::Duration::from_std(delay).unwrap_or_default());
                        out.requeue.push((next, sqs_delay(delay)));
                    }
                    None => {
                        record.status = AttemptStatus::Failed;
                        out.dead
                            .push(dead(next, "retries exhausted", &endpoint, at));
                    }
                }
                out.attempts.push(record);
                mark_failing(deps, &endpoint, at).await;
                return Ok(out);
            }
            Verdict::Gone => {
                let mut rest = job.clone();
                rest.events = remaining();
                rest.attempt = attempt;
                rest.history.push(summary);
                out.dead
                    .push(dead(rest, "410 Gone: endpoint disabled", &endpoint, at));
                out.attempts.push(record);
                disable(deps, endpoint, DisabledReason::Gone, at).await;
                return Ok(out);
            }
            Verdict::Reject => {
                let mut rejected = job.clone();
                rejected.events = refs_in(&events, &post.seqs);
                rejected.attempt = attempt;
                rejected.history.push(summary.clone());
                let reason = match (&summary.status, &summary.error) {
                    (Some(s), _) => format!("HTTP {s}: not retried"),
                    (None, Some(e)) => format!("{e}: not retried"),
                    (None, None) => "rejected".to_owned(),
                };
                out.dead.push(dead(rejected, &reason, &endpoint, at));
            }
        }
        out.attempts.push(record);
        if i + 1 == posts.len() && delivered_any && endpoint.failing_since.is_some() {
            clear_failing(deps, &endpoint).await;
        }
    }
    Ok(out)
}

/// Pauses between in-process looks for a fresh job's commit (0.75 s in all).
const COMMIT_RECHECKS: [Duration; 4] = [
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
];

/// Loads the job's events; `None` when the job was re-enqueued (or dead-lettered) to wait for
/// its commit. Drops stale refs.
async fn load_events(
    deps: &Deliver,
    job: &mut DeliveryJob,
    out: &mut Aftermath,
) -> Result<Option<Vec<Envelope>>, Error> {
    let key = job.task_key();
    let (Some(first), Some(last)) = (
        job.events.first().map(|r| r.seq),
        job.events.last().map(|r| r.seq),
    ) else {
        return Ok(None);
    };
    let limit = usize::try_from(last.0 - first.0 + 1).unwrap_or(usize::MAX);
    // Fanout enqueues a job just before it commits, so a fresh job's commit is usually
    // milliseconds away: look again in-process a few times before paying a queue round trip.
    let mut rechecks = if job.commit_waits == 0 {
        &COMMIT_RECHECKS[..]
    } else {
        &[]
    };
    let mut head_committed = false;
    let stored = loop {
        let stored: HashMap<Seq, Envelope> = deps
            .store
            .events(&key, Seq(first.0 - 1), limit)
            .await?
            .into_iter()
            .map(|e| (e.seq, e))
            .collect();
        if head_committed || job.events.iter().all(|r| stored.contains_key(&r.seq)) {
            break stored;
        }
        let head = deps.store.head(&key).await?;
        head_committed = head
            .and_then(|h| h.position)
            .and_then(|p| p.at_or_after(&job.through))
            .unwrap_or(false);
        if head_committed {
            // The commit may have landed between the query and the head read (a Query is
            // only read-committed per item): read the events again, after the head, before
            // calling any missing ref stale.
            continue;
        }
        if let Some((pause, rest)) = rechecks.split_first() {
            tokio::time::sleep(*pause).await;
            rechecks = rest;
            continue;
        }
        if job.commit_waits >= deps.policy.max_commit_waits {
            let now = deps.clock.now();
            let reason = "events were never committed";
            out.dead.push(DeadLetter {
                job: job.clone(),
                reason: reason.into(),
                url: None,
                dead_at: now,
            });
        } else {
            let mut again = job.clone();
            again.commit_waits += 1;
            out.requeue.push((again, deps.policy.commit_wait));
        }
        return Ok(None);
    };
    let before = job.events.len();
    job.events
        .retain(|r| stored.get(&r.seq).is_some_and(|e| e.id == r.id));
    if job.events.len() < before {
        info!(
            stale = before - job.events.len(),
            "dropping refs to an assignment that lost its commit"
        );
    }
    Ok(Some(
        job.events
            .iter()
            .filter_map(|r| stored.get(&r.seq).cloned())
            .collect(),
    ))
}

fn refs_in(events: &[Envelope], seqs: &[u64]) -> Vec<EventRef> {
    events
        .iter()
        .filter(|e| seqs.contains(&e.seq.0))
        .map(event_ref)
        .collect()
}

fn refs_from(events: &[Envelope], first: u64) -> Vec<EventRef> {
    events
        .iter()
        .filter(|e| e.seq.0 >= first)
        .map(event_ref)
        .collect()
}

fn event_ref(e: &Envelope) -> EventRef {
    EventRef {
        seq: e.seq,
        id: e.id.clone(),
        event_type: e.event_type.clone(),
    }
}

fn summary(at: DateTime<Utc>, observed: &Observed, latency: Duration) -> AttemptSummary {
    let (status, error) = match observed {
        Observed::Response { status, .. } => (Some(*status), None),
        Observed::Failed(f) => (None, Some(f.as_str().to_owned())),
    };
    AttemptSummary {
        at,
        status,
        latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
        error,
    }
}

fn attempt_record(
    job: &DeliveryJob,
    post: &crate::request::Delivery,
    attempt: u32,
    summary: &AttemptSummary,
    status: AttemptStatus,
) -> AttemptRecord {
    AttemptRecord {
        tenant_id: job.tenant_id.clone(),
        endpoint_id: job.endpoint_id.clone(),
        webhook_id: post.webhook_id.clone(),
        task_id: job.task_id.clone(),
        seqs: post.seqs.clone(),
        attempt,
        at: summary.at,
        status,
        http_status: summary.status,
        latency_ms: summary.latency_ms,
        error: summary.error.clone(),
    }
}

fn dead(job: DeliveryJob, reason: &str, endpoint: &Endpoint, at: DateTime<Utc>) -> DeadLetter {
    warn!(reason, events = job.events.len(), "dead-lettering");
    DeadLetter {
        job,
        reason: reason.to_owned(),
        url: Some(endpoint.url.clone()),
        dead_at: at,
    }
}

/// A sample in [-1, 1] for the ±20 % jitter.
fn jitter() -> f64 {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        return 0.0;
    }
    f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX) * 2.0 - 1.0
}

/// Notes a failure; disables the endpoint once it has failed continuously for too long.
async fn mark_failing(deps: &Deliver, endpoint: &Endpoint, now: DateTime<Utc>) {
    match endpoint.failing_since {
        Some(since) if now - since >= deps.policy.disable_after => {
            disable(deps, endpoint.clone(), DisabledReason::Failing, now).await;
        }
        Some(_) => {}
        None => {
            let mut updated = endpoint.clone();
            updated.failing_since = Some(now);
            write(deps, updated, now).await;
        }
    }
}

async fn clear_failing(deps: &Deliver, endpoint: &Endpoint) {
    let mut updated = endpoint.clone();
    updated.failing_since = None;
    write(deps, updated, deps.clock.now()).await;
}

/// A conditional update; losing to a concurrent writer is fine, the next attempt sees theirs.
async fn write(deps: &Deliver, mut endpoint: Endpoint, now: DateTime<Utc>) -> bool {
    endpoint.version += 1;
    endpoint.updated_at = now;
    match deps.endpoints.update_endpoint(&endpoint).await {
        Ok(written) => written,
        Err(e) => {
            warn!(error = %e, endpoint_id = %endpoint.id, "endpoint update failed");
            false
        }
    }
}

/// Disables the endpoint and files `burstline.endpoint.disabled` in the tenant's log.
async fn disable(
    deps: &Deliver,
    mut endpoint: Endpoint,
    reason: DisabledReason,
    now: DateTime<Utc>,
) {
    endpoint.state = EndpointState::Disabled { reason, at: now };
    if !write(deps, endpoint.clone(), now).await {
        return;
    }
    warn!(endpoint_id = %endpoint.id, ?reason, "endpoint disabled");
    let event = NewEvent {
        // Derived from the endpoint and version, so a retried write never files it twice.
        id: EventId::parse(&format!(
            "ep-disabled:{}:{}",
            endpoint.id,
            endpoint.version + 1
        ))
        .unwrap_or_else(|_| EventId::generate()),
        event_type: "burstline.endpoint.disabled"
            .parse()
            .expect("a valid constant type"),
        tenant_id: endpoint.tenant_id.clone(),
        task_id: TaskId::parse(SYSTEM_TASK).expect("a valid constant task id"),
        time: now,
        data: serde_json::json!({"endpoint_id": endpoint.id, "url": endpoint.url, "reason": reason}),
    };
    let record = LogRecord {
        partition_key: event.task_key().partition_key(),
        data: serde_json::to_vec(&event).unwrap_or_default(),
    };
    if let Err(e) = deps.log.put(&[record]).await {
        warn!(error = %e, "could not file burstline.endpoint.disabled");
    }
}
