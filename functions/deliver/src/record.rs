//! What one POST leaves behind: its summary in the job's history and its attempt-log record
//! (pure).

use crate::outcome::Observed;
use crate::request::Delivery;
use burstline::attempts::{AttemptRecord, AttemptStatus};
use burstline::job::{AttemptSummary, DeliveryJob};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// The summary of a POST started `at` that observed `observed` after `latency`.
pub fn summary(at: DateTime<Utc>, observed: &Observed, latency: Duration) -> AttemptSummary {
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

/// The attempt-log record of `post`, attempt number `attempt` of `job`.
pub fn attempt_record(
    job: &DeliveryJob,
    post: &Delivery,
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
        paused_until: None,
    }
}
