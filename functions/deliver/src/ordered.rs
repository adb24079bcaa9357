//! Running a job in its turn (SPEC §4.5): claim the endpoint × task cursor, deliver the events
//! above it, move it on. The decisions are [`burstline::delivery_order`]'s; this is the act.
//!
//! Costs per chained job: one claim and one advance (two conditional `UpdateItem`s) whatever
//! its size (≤ 100 events); a job whose turn has not come costs a refused claim per look: up
//! to five in-process looks over 1.55 s when fresh, then one per re-enqueue.

use crate::deadline::Cutoff;
use crate::followup::{Aftermath, hand_back};
use crate::handler::{Deliver, deliver_job};
use burstline::Error;
use burstline::cursor::{Claim, Cursor, CursorKey, CursorLease, Span, new_holder};
use burstline::delivery_order::{Chain, Turn, progress, turn};
use burstline::ids::Seq;
use burstline::job::DeliveryJob;
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio::time::Instant;
use tracing::{debug, info, instrument, warn};

/// Pauses between in-process looks for a fresh job's turn (1.55 s in all): in a live task the
/// job ahead is usually running right now, here or in another invocation, and a queue round
/// trip costs a second or more of webhook latency each time.
const TURN_RECHECKS: [Duration; 5] = [
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
];

/// Attempts `job` in its turn. Jobs outside the order (no chain) and jobs not due yet go
/// straight to [`deliver_job`]. Past `cutoff` the job is handed back as it is, without
/// claiming; a run the cutoff stops midway advances the cursor to its last delivered seq (which
/// frees the lease) and hands back the rest chained from there, so it is next in its turn.
/// `Err` only for infrastructure failures worth a redelivery; the lease is released first, so
/// the redelivered job can claim again.
#[instrument(skip_all, fields(tenant_id = %job.tenant_id, task_id = %job.task_id, endpoint_id = %job.endpoint_id))]
pub(crate) async fn run_in_turn(
    deps: &Deliver,
    job: DeliveryJob,
    cutoff: Cutoff,
) -> Result<Aftermath, Error> {
    if !cutoff.allows(Instant::now()) {
        let mut out = Aftermath::default();
        hand_back(&mut out, job);
        return Ok(out);
    }
    let now = deps.clock.now();
    let Some(chain) = job.chain.clone() else {
        return deliver_job(deps, job, cutoff).await;
    };
    if job.not_before.is_some_and(|due| due > now) {
        return deliver_job(deps, job, cutoff).await;
    }
    let key = CursorKey {
        tenant_id: job.tenant_id.clone(),
        endpoint_id: job.endpoint_id.clone(),
        task_id: job.task_id.clone(),
    };
    let mut rechecks = if chain.waits == 0 {
        &TURN_RECHECKS[..]
    } else {
        &[]
    };
    let (lease, claimed) = loop {
        let now = deps.clock.now();
        let lease = CursorLease {
            holder: new_holder(),
            until: now + chrono::Duration::from_std(deps.policy.lease).unwrap_or_default(),
        };
        let current = match deps.cursors.claim(&key, &chain.span(), &lease, now).await? {
            Claim::Granted(at) => break (lease, at),
            Claim::Refused(current) => current,
        };
        match turn(&chain, current.as_ref(), now, &deps.policy.order) {
            Turn::Done => {
                info!(upto = %chain.upto, "already delivered: behind the cursor");
                return Ok(Aftermath::default());
            }
            Turn::Abandon => {
                warn!(
                    epoch = chain.epoch,
                    "replay job dropped: its rewind never landed"
                );
                return Ok(Aftermath::default());
            }
            Turn::Wait { why, delay } => {
                // Not while a retry ahead is due later (it will not be done in moments), nor
                // past the invocation's cutoff.
                let retry_due = current
                    .as_ref()
                    .and_then(|c| c.resume_at)
                    .is_some_and(|at| at > now);
                if let (false, Some((pause, rest))) = (retry_due, rechecks.split_first())
                    && cutoff.allows(Instant::now() + *pause)
                {
                    tokio::time::sleep(*pause).await;
                    rechecks = rest;
                    continue;
                }
                debug!(?why, after = %chain.after, delay_s = delay.as_secs(), "not its turn yet");
                return Ok(waiting(job, &chain, now, delay));
            }
            Turn::Jump { from } => {
                let span = Span {
                    after: from,
                    ..chain.span()
                };
                match deps.cursors.claim(&key, &span, &lease, now).await? {
                    Claim::Granted(at) => {
                        warn!(from = %from, after = %chain.after, "predecessor presumed lost (the DLQ holds it): skipping to this job");
                        break (lease, at);
                    }
                    Claim::Refused(_) => {
                        return Ok(waiting(job, &chain, now, Duration::from_secs(1)));
                    }
                }
            }
        }
    };
    run_claimed(deps, &key, &lease, claimed, job, chain, cutoff).await
}

/// Runs a job whose claim was granted at `claimed`, then advances or releases the cursor.
async fn run_claimed(
    deps: &Deliver,
    key: &CursorKey,
    lease: &CursorLease,
    claimed: Cursor,
    job: DeliveryJob,
    chain: Chain,
    cutoff: Cutoff,
) -> Result<Aftermath, Error> {
    let mut run = job.clone();
    run.events.retain(|r| r.seq > claimed.seq);
    let mut out = match deliver_job(deps, run.clone(), cutoff).await {
        Ok(out) => out,
        Err(e) => {
            release(deps, key, lease).await;
            return Err(e);
        }
    };
    let Some((to, resume_at)) = reach(&run, &chain, &out) else {
        release(deps, key, lease).await;
        return Ok(out);
    };
    let now = deps.clock.now();
    let advanced = deps
        .cursors
        .advance(key, &lease.holder, claimed.epoch, to, resume_at, now)
        .await;
    match advanced {
        Ok(true) => {
            for (next, _) in &mut out.requeue {
                next.chain = Some(Chain::new(to, chain.upto, chain.epoch));
            }
            Ok(out)
        }
        Ok(false) | Err(_) => {
            // Rewound by a replay (or the lease expired): the cursor did not move, so the job
            // runs again in its turn. What it sent goes out again then; dead letters stay.
            warn!(to = %to, "cursor moved under the run; re-enqueueing the job");
            release(deps, key, lease).await;
            out.requeue = Vec::new();
            let again = waiting(job, &chain, now, Duration::from_secs(1));
            out.requeue.extend(again.requeue);
            Ok(out)
        }
    }
}

/// Where the cursor goes after a run, and when the job holding the order back is due; `None`
/// when the run settled nothing (its refs were stale, or it waits for its commit).
fn reach(
    run: &DeliveryJob,
    chain: &Chain,
    out: &Aftermath,
) -> Option<(Seq, Option<DateTime<Utc>>)> {
    if out.stale
        || out
            .requeue
            .iter()
            .any(|(j, _)| j.commit_waits > run.commit_waits)
    {
        return None;
    }
    let first = out
        .requeue
        .iter()
        .filter_map(|(j, _)| j.events.first().map(|r| r.seq))
        .min();
    let resume_at = out.requeue.iter().filter_map(|(j, _)| j.not_before).min();
    Some((progress(chain, first), resume_at))
}

/// The job re-enqueued after `delay` to look again, no attempt spent.
fn waiting(mut job: DeliveryJob, chain: &Chain, now: DateTime<Utc>, delay: Duration) -> Aftermath {
    job.chain = Some(chain.waited(now));
    Aftermath {
        requeue: vec![(job, delay)],
        ..Aftermath::default()
    }
}

/// Frees the lease; if that fails it expires by itself.
async fn release(deps: &Deliver, key: &CursorKey, lease: &CursorLease) {
    if let Err(e) = deps.cursors.release(key, &lease.holder).await {
        warn!(error = %e, "releasing the cursor failed; the lease expires by itself");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burstline::job::EventRef;

    fn job(seqs: &[u64]) -> DeliveryJob {
        let mut j: DeliveryJob = serde_json::from_value(serde_json::json!({
            "tenant_id": "acme", "task_id": "t", "endpoint_id": "ep_a",
            "events": [], "through": {"shard_id": "s", "sequence_number": "1"}
        }))
        .unwrap();
        j.events = seqs
            .iter()
            .map(|s| EventRef {
                seq: Seq(*s),
                id: format!("e{s}").parse().unwrap(),
                event_type: "x".parse().unwrap(),
            })
            .collect();
        j
    }

    #[test]
    fn the_cursor_follows_what_the_run_settled() {
        let chain = Chain::new(Seq(100), Seq(200), 0);
        let run = job(&[101, 150, 199]);
        let done = Aftermath::default();
        assert_eq!(reach(&run, &chain, &done), Some((Seq(200), None)));
        let due = Utc::now();
        let mut retry = job(&[150, 199]);
        retry.attempt = 1;
        retry.not_before = Some(due);
        let retrying = Aftermath {
            requeue: vec![(retry, Duration::from_secs(60))],
            ..Aftermath::default()
        };
        assert_eq!(
            reach(&run, &chain, &retrying),
            Some((Seq(149), Some(due))),
            "up to the event being retried"
        );
        let mut wait = run.clone();
        wait.commit_waits = 1;
        let uncommitted = Aftermath {
            requeue: vec![(wait, Duration::from_secs(5))],
            ..Aftermath::default()
        };
        assert_eq!(reach(&run, &chain, &uncommitted), None);
        let stale = Aftermath {
            stale: true,
            ..Aftermath::default()
        };
        assert_eq!(reach(&run, &chain, &stale), None);
    }
}
