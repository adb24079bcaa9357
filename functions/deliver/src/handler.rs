//! The deliver handler: decode → decide → act, per job.

use crate::circuit::{self, Pass, signal_of};
use crate::deadline::Cutoff;
use crate::followup::{Aftermath, dead, defer, hand_back, rest, retry, wait_for_commit};
use crate::health::disable;
use crate::http::WebhookSender;
use crate::load::{Page, load_page};
use crate::outcome::{Verdict, classify};
use crate::paging::Pager;
use crate::policy::Policy;
use crate::record::{attempt_record, summary};
use crate::request::{deliveries, headers};
use crate::throttle::{Throttle, Throttled};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use burstline::Error;
use burstline::attempts::{AttemptLog, AttemptStatus};
use burstline::clock::Clock;
use burstline::cursor::DeliveryCursors;
use burstline::endpoint::{DisabledReason, EndpointState};
use burstline::job::{DeliveryJob, unpack_message};
use burstline::log::EventLog;
use burstline::queue::{DeadLetterSink, DeliveryQueue};
use burstline::schedule::sqs_delay;
use burstline::store::EventStore;
use burstline::tenants::EndpointStore;
use std::sync::Arc;
use tokio::time::Instant;
use tracing::{info, instrument, warn};

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
    /// Per-endpoint limits (one per warm process).
    pub throttle: Arc<Throttle>,
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

/// Handles one SQS batch with no deadline: [`handle_until`] for tools and tests.
pub async fn handle(deps: &Deliver, event: SqsEvent) -> SqsBatchResponse {
    handle_until(deps, event, None).await
}

/// Handles one SQS batch in an invocation that ends at `deadline`.
///
/// # Batch contract
/// - Every job of every message ends delivered, re-enqueued (with its delay and history), or
///   in the DLQ with its reason; a message is acknowledged only once all of its follow-ups are
///   durably written. If writing them fails, or the message cannot be decoded, the message is
///   reported failed: SQS redelivers it (deliveries may repeat: deliver does not dedupe,
///   receivers dedupe by `webhook-id`) and, after the queue's `maxReceiveCount`, moves it to
///   the DLQ as it is.
/// - Events of one task reach one endpoint in seq order, across jobs, messages, invocations,
///   retries and replays: a chained job runs only in its turn on the endpoint × task cursor
///   ([`crate::ordered`]); one whose turn has not come is re-enqueued without spending an
///   attempt. A job stops at the first event that must be retried and re-enqueues the rest,
///   which holds back that endpoint × task's later jobs until it is delivered or dead-lettered.
/// - The batch's jobs are grouped by endpoint × task; a group runs one job at a time in chain
///   order, groups run concurrently ([`crate::batch`]).
/// - No POST starts once less than `Policy::deadline_margin` is left before `deadline`: what
///   was not attempted (whole jobs, the rest of a job) is re-enqueued visible at once, with its
///   attempt count and history unchanged, and the message is acknowledged — so nothing waits
///   for the visibility timeout and nothing is POSTed twice. A chained job stopped this way
///   moves the cursor to its last delivered seq and frees the lease; the handed-back rest keeps
///   its chain, so it is next in its turn.
/// - A job's events are loaded a page at a time (`Policy::pages`), only those it sends.
/// - A job whose events are not committed yet is looked at again in-process a few times
///   (fanout commits right after it enqueues), then after commit waits that double from
///   `Policy::commit_wait` up to 15 minutes, until `Policy::commit_patience` is used up (then
///   the DLQ); refs whose stored event has another id once committed are stale and dropped (a
///   chained job with any stale ref stops there, without moving the cursor).
#[instrument(skip_all, fields(messages = event.records.len()))]
pub async fn handle_until(
    deps: &Deliver,
    event: SqsEvent,
    deadline: Option<Instant>,
) -> SqsBatchResponse {
    let cutoff = Cutoff::new(deadline, deps.policy.deadline_margin);
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
    failed.extend(crate::batch::run(deps, messages, cutoff).await);
    let mut response = SqsBatchResponse::default();
    for id in failed {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}

/// Attempts one job, a page of events at a time, until `cutoff`. `Err` only for
/// infrastructure failures worth a redelivery.
#[instrument(skip_all, fields(tenant_id = %job.tenant_id, task_id = %job.task_id, endpoint_id = %job.endpoint_id, attempt = job.attempt + 1))]
pub(crate) async fn deliver_job(
    deps: &Deliver,
    mut job: DeliveryJob,
    cutoff: Cutoff,
) -> Result<Aftermath, Error> {
    let now = deps.clock.now();
    let mut out = Aftermath::default();
    if let Some(due) = job.not_before.filter(|due| *due > now) {
        let wait = (due - now).to_std().unwrap_or_default();
        out.requeue.push((job, sqs_delay(wait)));
        return Ok(out);
    }
    if !cutoff.allows(Instant::now()) {
        hand_back(&mut out, job);
        return Ok(out);
    }
    let Some(mut endpoint) = deps
        .endpoints
        .endpoint(&job.tenant_id, &job.endpoint_id)
        .await?
    else {
        info!("endpoint deleted; dropping its job");
        return Ok(out);
    };
    if let EndpointState::Disabled { reason, .. } = endpoint.state {
        let why = format!("endpoint disabled ({reason:?})");
        out.dead.push(dead(job, &why, &endpoint, now));
        return Ok(out);
    }
    let per_post = endpoint
        .batching
        .map_or(1, |b| usize::try_from(b.max_events).unwrap_or(1));
    let mut pager = Pager::new(deps.policy.pages, per_post);
    let attempt = job.attempt + 1;
    // `job.events[loaded..]` are the refs not read yet; stale refs are removed as found.
    let mut loaded = 0;
    while loaded < job.events.len() {
        let Some(first) = job.events.get(loaded).map(|r| r.seq.0) else {
            break;
        };
        if !cutoff.allows(Instant::now()) {
            hand_back(&mut out, rest(&job, first));
            return Ok(out);
        }
        let end = (loaded + pager.next_len()).min(job.events.len());
        let events = match load_page(deps.store.as_ref(), &job, &job.events[loaded..end]).await? {
            Page::Loaded { events, stale } => {
                if job.chain.is_some() && !stale.is_empty() {
                    // Refs of a plan that lost its commit: its chain is not the committed one,
                    // so it must neither send more nor move the cursor. The winning plan's
                    // jobs carry the stored events.
                    out.stale = true;
                    return Ok(out);
                }
                job.events.retain(|r| !stale.contains(&r.seq));
                loaded = end - stale.len();
                events
            }
            Page::Uncommitted => {
                wait_for_commit(&deps.policy, rest(&job, first), deps.clock.now(), &mut out);
                return Ok(out);
            }
        };
        for post in deliveries(&endpoint, &events) {
            let first = post.seqs[0];
            if !cutoff.allows(Instant::now()) {
                hand_back(&mut out, rest(&job, first));
                return Ok(out);
            }
            let at = deps.clock.now();
            let pass = circuit::admit(deps, &mut endpoint, at).await;
            if let Pass::Defer(until) = pass {
                defer(&mut out, rest(&job, first), until, at);
                return Ok(out);
            }
            let _permit = match deps
                .throttle
                .acquire(&endpoint, deps.clock.as_ref())
                .await?
            {
                Throttled::Go(permit) => permit,
                Throttled::Defer(until) => {
                    defer(&mut out, rest(&job, first), until, at);
                    return Ok(out);
                }
            };
            pager.saw(post.body.len() / post.seqs.len().max(1));
            let sent = deps
                .sender
                .post(
                    &endpoint.url,
                    &headers(&endpoint, &post, at),
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
            let mut record = attempt_record(&job, &post, attempt, &summary, status);
            if let Some(signal) = signal_of(&verdict) {
                let delivered = verdict == Verdict::Delivered;
                record.paused_until =
                    circuit::report(deps, &mut endpoint, signal, delivered, at).await;
            }
            match verdict {
                Verdict::Delivered => {}
                Verdict::Retry { .. } if pass == Pass::Probe && endpoint.breaker.is_paused() => {
                    let mut next = rest(&job, first);
                    next.history.push(summary);
                    let until = endpoint.breaker.paused_until.unwrap_or(at);
                    defer(&mut out, next, until, at);
                    out.attempts.push(record);
                    return Ok(out);
                }
                Verdict::Retry { retry_after } => {
                    let mut next = rest(&job, first);
                    next.attempt = attempt;
                    next.history.push(summary);
                    if retry(&deps.policy, next, retry_after, &endpoint, at, &mut out) {
                        record.status = AttemptStatus::Failed;
                    }
                    out.attempts.push(record);
                    return Ok(out);
                }
                Verdict::Gone => {
                    let mut gone = rest(&job, first);
                    gone.attempt = attempt;
                    gone.history.push(summary);
                    out.dead
                        .push(dead(gone, "410 Gone: endpoint disabled", &endpoint, at));
                    out.attempts.push(record);
                    disable(deps, endpoint, DisabledReason::Gone, at).await;
                    return Ok(out);
                }
                Verdict::Reject => {
                    let mut rejected = job.clone();
                    rejected.events.retain(|r| post.seqs.contains(&r.seq.0));
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
        }
    }
    Ok(out)
}
