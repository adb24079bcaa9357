//! `POST /v1/endpoints/{id}/replay`: sends a task's events to an endpoint again, in order.
//!
//! A replay enters the endpoint × task order ([`burstline::delivery_order::plan_replay`]):
//! behind the cursor, its jobs are enqueued chained from `from_seq − 1` up to the cursor, then
//! the cursor is rewound to `from_seq − 1` (conditionally, with a new epoch), so the replay
//! goes out in seq order, a run in flight cannot advance over it, and live traffic resumes
//! after it. Enqueue first, rewind second: a crash in between leaves jobs that wait for a
//! rewind that never comes and are dropped, never a rewound cursor with nothing to move it.

use crate::endpoints::load;
use crate::http::{invalid, json, object_body};
use crate::router::Api;
use burstline::api_error::ApiError;
use burstline::cursor::CursorKey;
use burstline::delivery_order::{ReplayPlan, chain_runs, plan_replay};
use burstline::endpoint::Endpoint;
use burstline::head::StreamPosition;
use burstline::ids::{Seq, TaskId, TaskKey, TenantId};
use burstline::job::{DeliveryJob, EventRef, MAX_EVENTS_PER_JOB};
use lambda_http::Request;
use lambda_http::http::StatusCode;
use serde_json::{Map, Value, json};

/// Most events one replay request re-enqueues.
pub const MAX_REPLAY_EVENTS: u64 = 10_000;
/// Plans tried when live deliveries keep moving the cursor between the read and the rewind.
const TRIES: usize = 5;

type Reply = Result<lambda_http::Response<lambda_http::Body>, ApiError>;

/// Re-enqueues a task's events `[from_seq, to_seq]` (default: all) for the endpoint `id`.
pub async fn replay(api: &Api, tenant: &TenantId, id: &str, request: &Request) -> Reply {
    let ep = load(api, tenant, id).await?;
    let mut body = object_body(request)?;
    let task = body
        .remove("task_id")
        .ok_or_else(|| invalid("task_id", "is required"))?;
    let task = task
        .as_str()
        .ok_or_else(|| invalid("task_id", "must be a string"))
        .and_then(|t| TaskId::parse(t).map_err(|e| invalid("task_id", e.0)))?;
    let from = seq_field(&mut body, "from_seq")?.unwrap_or(1);
    let to = seq_field(&mut body, "to_seq")?;
    if let Some(k) = body.keys().next() {
        return Err(invalid(
            k,
            "unknown field; allowed: task_id, from_seq, to_seq",
        ));
    }
    let key = TaskKey::new(tenant.clone(), task);
    let head = api
        .store
        .head(&key)
        .await
        .map_err(crate::ApiFnError::from)?
        // 422, not 404: the endpoint (the URL's resource) exists; the body names a task that
        // does not, and a client must be able to tell the two apart.
        .ok_or_else(|| invalid("task_id", format!("no task {} with events", key.task_id)))?;
    let to = to.unwrap_or(head.last_seq.0).min(head.last_seq.0);
    if to < from {
        return Err(invalid("to_seq", "must not be below from_seq"));
    }
    if to - from + 1 > MAX_REPLAY_EVENTS {
        return Err(too_many());
    }
    let Some(through) = head.position.clone() else {
        return Err(invalid("task_id", "the task has no events yet"));
    };
    let cursor_key = CursorKey {
        tenant_id: tenant.clone(),
        endpoint_id: ep.id.clone(),
        task_id: key.task_id.clone(),
    };
    let chained = head.chain_ends.contains_key(&ep.id);
    for _ in 0..TRIES {
        let cursor = api
            .cursors
            .cursor(&cursor_key)
            .await
            .map_err(crate::ApiFnError::from)?;
        let plan = plan_replay(Seq(from), Seq(to), cursor.as_ref(), chained);
        if to - plan.start.0 > MAX_REPLAY_EVENTS {
            return Err(too_many());
        }
        let jobs = jobs(api, &ep, &key, &through, &plan, Seq(to)).await?;
        let enqueued: usize = jobs.iter().map(|j| j.events.len()).sum();
        if jobs.is_empty() {
            // Nothing the endpoint wants: no rewind, or nothing would move the cursor back.
            return Ok(accepted(0, from, to));
        }
        api.queue
            .enqueue(&jobs, std::time::Duration::ZERO)
            .await
            .map_err(crate::ApiFnError::from)?;
        let rewound = match plan.rewind {
            None => true,
            Some(expected) => api
                .cursors
                .rewind(&cursor_key, expected, plan.start, api.clock.now())
                .await
                .map_err(crate::ApiFnError::from)?,
        };
        if rewound {
            tracing::info!(endpoint_id = %ep.id, task_id = %key.task_id, events = enqueued, start = %plan.start, upto = %plan.upto, "replay enqueued");
            return Ok(accepted(enqueued, from, to));
        }
        // A live run advanced the cursor between the read and the rewind: plan again. The
        // jobs just enqueued need the rewind's epoch; they chain consistently if a later
        // rewind reaches it, and are dropped otherwise.
    }
    Err(ApiError::new(
        503,
        "unavailable",
        "deliveries to this endpoint for this task kept moving; retry",
    ))
}

fn seq_field(body: &mut Map<String, Value>, name: &str) -> Result<Option<u64>, ApiError> {
    match body.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|n| *n >= 1)
            .map(Some)
            .ok_or_else(|| invalid(name, "must be a seq (1 or more)")),
    }
}

fn too_many() -> ApiError {
    invalid(
        "to_seq",
        format!(
            "at most {MAX_REPLAY_EVENTS} events per replay (counting events not yet sent to \
             the endpoint before from_seq, which go first)"
        ),
    )
}

fn accepted(enqueued: usize, from: u64, to: u64) -> lambda_http::Response<lambda_http::Body> {
    json(
        StatusCode::ACCEPTED,
        &json!({"enqueued": enqueued, "from_seq": from, "to_seq": to}),
    )
}

/// The replay's jobs: the endpoint's wanted events in `(plan.start, to]`, chained per the plan.
async fn jobs(
    api: &Api,
    ep: &Endpoint,
    key: &TaskKey,
    through: &StreamPosition,
    plan: &ReplayPlan,
    to: Seq,
) -> Result<Vec<DeliveryJob>, ApiError> {
    let events = api
        .store
        .events(
            key,
            plan.start,
            usize::try_from(to.0 - plan.start.0).unwrap_or(usize::MAX),
        )
        .await
        .map_err(crate::ApiFnError::from)?;
    let sub = ep.subscription();
    let refs: Vec<EventRef> = events
        .iter()
        .filter(|e| e.seq <= to && sub.filters.iter().any(|f| f.matches(&e.event_type)))
        .map(|e| EventRef {
            seq: e.seq,
            id: e.id.clone(),
            event_type: e.event_type.clone(),
        })
        .collect();
    let seqs: Vec<Seq> = refs.iter().map(|r| r.seq).collect();
    Ok(
        chain_runs(plan.start, &seqs, plan.upto, plan.epoch, MAX_EVENTS_PER_JOB)
            .into_iter()
            .map(|(run, chain)| DeliveryJob {
                tenant_id: key.tenant_id.clone(),
                task_id: key.task_id.clone(),
                endpoint_id: ep.id.clone(),
                events: refs[run].to_vec(),
                through: through.clone(),
                attempt: 0,
                not_before: None,
                commit_waits: 0,
                history: Vec::new(),
                chain: Some(chain),
            })
            .collect(),
    )
}
