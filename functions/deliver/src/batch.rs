//! One SQS batch: the jobs of all its messages grouped by endpoint × task, each group run one
//! job at a time in chain order (so a task's later job never waits on a cursor that an earlier
//! job of the same batch is about to move), groups concurrently, until the invocation's
//! deadline (a job starting after the cutoff is handed back untouched); follow-ups settled per
//! message. Each endpoint that sets no `max_in_flight` gets its [`fair_share`] of the job
//! slots, from the number of endpoints with jobs in the batch.

use crate::deadline::Cutoff;
use crate::followup::Aftermath;
use crate::handler::Deliver;
use crate::ordered::run_in_turn;
use burstline::endpoint_limits::fair_share;
use burstline::ids::{EndpointId, TenantId};
use burstline::job::DeliveryJob;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

/// A job and the index of the message it came in.
type Tagged = (usize, DeliveryJob);

/// Runs every job of `messages` (id, jobs) and settles their follow-ups; returns the ids of the
/// messages to report failed (a job hit an infrastructure error, or a follow-up could not be
/// written). No job starts a POST past `cutoff`.
pub(crate) async fn run(
    deps: &Deliver,
    messages: Vec<(String, Vec<DeliveryJob>)>,
    cutoff: Cutoff,
) -> Vec<String> {
    let limit = Arc::new(tokio::sync::Semaphore::new(deps.policy.concurrency.max(1)));
    let mut ids = Vec::with_capacity(messages.len());
    let mut tagged = Vec::new();
    for (i, (id, jobs)) in messages.into_iter().enumerate() {
        ids.push(id);
        tagged.extend(jobs.into_iter().map(|j| (i, j)));
    }
    let slots = u32::try_from(deps.policy.concurrency).unwrap_or(u32::MAX);
    let mut deps = deps.clone();
    deps.throttle = Arc::new(deps.throttle.for_batch(shares(&tagged, slots)));
    let deps = &deps;
    let mut set = tokio::task::JoinSet::new();
    for group in groups(tagged) {
        let deps = deps.clone();
        let limit = limit.clone();
        set.spawn(async move {
            let mut done = Vec::with_capacity(group.len());
            for (i, job) in group {
                let _permit = limit.acquire().await;
                done.push((i, run_in_turn(&deps, job, cutoff).await));
            }
            done
        });
    }
    let mut per_message: Vec<(bool, Aftermath)> =
        ids.iter().map(|_| (true, Aftermath::default())).collect();
    while let Some(joined) = set.join_next().await {
        // A panicking job is a bug; Lambda would fail the whole batch, so do the same.
        let done = joined.unwrap_or_else(|e| panic!("delivery job failed: {e}"));
        for (i, result) in done {
            let (ok, all) = &mut per_message[i];
            match result {
                Ok(a) => {
                    all.requeue.extend(a.requeue);
                    all.dead.extend(a.dead);
                    all.attempts.extend(a.attempts);
                }
                Err(e) => {
                    warn!(error = %e, "job could not be processed; the message will be redelivered");
                    *ok = false;
                }
            }
        }
    }
    let attempts: Vec<_> = per_message
        .iter_mut()
        .flat_map(|(_, a)| std::mem::take(&mut a.attempts))
        .collect();
    crate::metrics::attempts(&attempts);
    deps.throttle.release_idle(deps.clock.as_ref()).await;
    if let Err(e) = deps.attempts.record(&attempts).await {
        // The attempt log is for insight; a gap there must not cause duplicate deliveries.
        warn!(error = %e, attempts = attempts.len(), "attempt log write failed");
    }
    let mut failed = Vec::new();
    for (id, (ok, aftermath)) in ids.into_iter().zip(per_message) {
        if !(ok && settle(deps, aftermath).await) {
            failed.push(id);
        }
    }
    failed
}

/// Groups jobs by endpoint × task, in order of first appearance; within a group, chained jobs
/// in chain order (by `after`, then `upto`), jobs outside the order last.
/// Each endpoint's in-flight cap in this batch, when it sets no `max_in_flight` of its own:
/// its [`fair_share`] of the `slots`, shared with every other endpoint that has jobs here.
fn shares(jobs: &[Tagged], slots: u32) -> HashMap<(TenantId, EndpointId), u32> {
    let endpoints: HashSet<(TenantId, EndpointId)> = jobs
        .iter()
        .map(|(_, j)| (j.tenant_id.clone(), j.endpoint_id.clone()))
        .collect();
    let share = fair_share(slots, endpoints.len());
    endpoints.into_iter().map(|k| (k, share)).collect()
}

fn groups(jobs: Vec<Tagged>) -> Vec<Vec<Tagged>> {
    let mut index: HashMap<(String, String, String), usize> = HashMap::new();
    let mut out: Vec<Vec<Tagged>> = Vec::new();
    for (i, job) in jobs {
        let key = (
            job.tenant_id.to_string(),
            job.endpoint_id.to_string(),
            job.task_id.to_string(),
        );
        let slot = *index.entry(key).or_insert_with(|| {
            out.push(Vec::new());
            out.len() - 1
        });
        out[slot].push((i, job));
    }
    for group in &mut out {
        group.sort_by_key(|(_, j)| match &j.chain {
            Some(c) => (0, c.after, c.upto),
            None => (1, Default::default(), Default::default()),
        });
    }
    out
}

/// Writes re-enqueues and dead letters; false if any could not be written.
async fn settle(deps: &Deliver, aftermath: Aftermath) -> bool {
    let mut by_delay: HashMap<Duration, Vec<DeliveryJob>> = HashMap::new();
    for (job, delay) in aftermath.requeue {
        by_delay.entry(delay).or_default().push(job);
    }
    let mut ok = true;
    for (delay, jobs) in by_delay {
        if let Err(e) = deps.queue.enqueue(&jobs, delay).await {
            warn!(error = %e, "re-enqueueing failed");
            ok = false;
        }
    }
    if !aftermath.dead.is_empty()
        && let Err(e) = deps.dead_letters.dead_letter(&aftermath.dead).await
    {
        warn!(error = %e, "dead-lettering failed");
        ok = false;
    } else {
        crate::metrics::dead_letters(&aftermath.dead);
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use burstline::delivery_order::Chain;
    use burstline::ids::Seq;

    fn job(task: &str, ep: &str, chain: Option<(u64, u64)>) -> DeliveryJob {
        let mut j: DeliveryJob = serde_json::from_value(serde_json::json!({
            "tenant_id": "acme", "task_id": task, "endpoint_id": ep,
            "events": [], "through": {"shard_id": "s", "sequence_number": "1"}
        }))
        .unwrap();
        j.chain = chain.map(|(a, u)| Chain::new(Seq(a), Seq(u), 0));
        j
    }

    #[test]
    fn endpoints_share_the_slots_of_the_batch_they_have_jobs_in() {
        let alone = vec![(0, job("t1", "ep_a", None)), (1, job("t2", "ep_a", None))];
        let shares_of = |jobs: &[Tagged]| {
            let mut v: Vec<(String, u32)> = shares(jobs, 32)
                .into_iter()
                .map(|((_, ep), n)| (ep.to_string(), n))
                .collect();
            v.sort();
            v
        };
        assert_eq!(shares_of(&alone), [("ep_a".to_owned(), 32)]);
        let mut two = alone.clone();
        two.push((2, job("t1", "ep_b", None)));
        assert_eq!(
            shares_of(&two),
            [("ep_a".to_owned(), 16), ("ep_b".to_owned(), 16)]
        );
    }

    #[test]
    fn groups_are_per_endpoint_and_task_in_chain_order() {
        let jobs = vec![
            (0, job("t1", "ep_a", Some((200, 300)))),
            (0, job("t2", "ep_a", Some((0, 100)))),
            (1, job("t1", "ep_a", None)),
            (1, job("t1", "ep_a", Some((0, 100)))),
            (2, job("t1", "ep_b", Some((100, 200)))),
            (2, job("t1", "ep_a", Some((100, 200)))),
        ];
        let groups = groups(jobs);
        let shape: Vec<Vec<(usize, Option<u64>)>> = groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|(i, j)| (*i, j.chain.as_ref().map(|c| c.after.0)))
                    .collect()
            })
            .collect();
        assert_eq!(
            shape,
            [
                vec![(1, Some(0)), (2, Some(100)), (0, Some(200)), (1, None)],
                vec![(0, Some(0))],
                vec![(2, Some(100))],
            ]
        );
    }
}
