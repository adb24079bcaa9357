//! What a job leaves behind ([`Aftermath`]) and how each kind of follow-up is built: a retry on
//! the schedule, a deferral that spends no attempt (a paused or busy endpoint), a hand-back at
//! the deadline, a commit wait, a dead letter.

use crate::commit_wait::next_commit_wait;
use crate::policy::Policy;
use burstline::attempts::AttemptRecord;
use burstline::endpoint::Endpoint;
use burstline::job::{DeadLetter, DeliveryJob};
use burstline::schedule::{next_delay, sqs_delay};
use chrono::{DateTime, Utc};
use std::time::Duration;
use tracing::{debug, info, warn};

/// What a job leaves behind once attempted.
#[derive(Debug, Default)]
pub(crate) struct Aftermath {
    /// Follow-up jobs and their delays.
    pub(crate) requeue: Vec<(DeliveryJob, Duration)>,
    /// Dead letters.
    pub(crate) dead: Vec<DeadLetter>,
    /// Attempts made.
    pub(crate) attempts: Vec<AttemptRecord>,
    /// A chained job had refs of an assignment that lost its commit: nothing more was sent.
    pub(crate) stale: bool,
}

/// The job's refs from seq `from` on, as a job with everything else unchanged.
pub(crate) fn rest(job: &DeliveryJob, from: u64) -> DeliveryJob {
    let mut rest = job.clone();
    rest.events.retain(|r| r.seq.0 >= from);
    rest
}

/// Hands what a job did not attempt back to the queue, visible at once, so the next
/// invocation takes it up where this one stopped. It spends no attempt: the attempt count,
/// history and commit waits go back unchanged, and nothing in it was POSTed.
pub(crate) fn hand_back(out: &mut Aftermath, job: DeliveryJob) {
    info!(
        events = job.events.len(),
        "deadline near: handing back what was not attempted"
    );
    out.requeue.push((job, Duration::ZERO));
}

/// Re-enqueues what a job did not attempt, due at `until` (the endpoint is paused, or over its
/// limits). Like [`hand_back`] it spends no attempt: the job's own schedule is untouched. Its
/// `not_before` makes a chained job's cursor record when it is due, so the task's later jobs
/// wait for it rather than overtake it.
pub(crate) fn defer(
    out: &mut Aftermath,
    mut job: DeliveryJob,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) {
    let wait = (until - now).to_std().unwrap_or_default();
    debug!(
        events = job.events.len(),
        wait_ms = wait.as_millis() as u64,
        "deferred: endpoint paused or at its limits"
    );
    job.not_before = Some(until);
    out.requeue.push((job, sqs_delay(wait)));
}

/// Schedules `next` (the rest of a job after its retryable attempt `next.attempt` at `at`, its
/// history updated) for the next attempt, or dead-letters it once the schedule is exhausted;
/// true when it was dead-lettered.
pub(crate) fn retry(
    policy: &Policy,
    mut next: DeliveryJob,
    retry_after: Option<Duration>,
    endpoint: &Endpoint,
    at: DateTime<Utc>,
    out: &mut Aftermath,
) -> bool {
    match next_delay(&policy.schedule, next.attempt, jitter(), retry_after) {
        Some(delay) => {
            next.not_before = Some(at + chrono::Duration::from_std(delay).unwrap_or_default());
            out.requeue.push((next, sqs_delay(delay)));
            false
        }
        None => {
            out.dead.push(dead(next, "retries exhausted", endpoint, at));
            true
        }
    }
}

/// Re-enqueues a job whose events are not committed yet, to look again after the next commit
/// wait, or dead-letters it once the waits have used up the policy's patience.
pub(crate) fn wait_for_commit(
    policy: &Policy,
    job: DeliveryJob,
    now: DateTime<Utc>,
    out: &mut Aftermath,
) {
    match next_commit_wait(job.commit_waits, policy.commit_wait, policy.commit_patience) {
        Some(wait) => {
            let mut again = job;
            again.commit_waits += 1;
            out.requeue.push((again, wait));
        }
        None => {
            warn!(
                events = job.events.len(),
                "events were never committed; dead-lettering"
            );
            out.dead.push(DeadLetter {
                job,
                reason: "events were never committed".into(),
                url: None,
                dead_at: now,
            });
        }
    }
}

/// A dead letter for `job`, sent to `endpoint`, for `reason`.
pub(crate) fn dead(
    job: DeliveryJob,
    reason: &str,
    endpoint: &Endpoint,
    at: DateTime<Utc>,
) -> DeadLetter {
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
