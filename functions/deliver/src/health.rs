//! Endpoint health: an endpoint failing for longer than [`crate::Policy::disable_after`] (the
//! failure run's `failing_since`, kept by [`crate::circuit`]) or answering 410 Gone is disabled,
//! with `burstline.endpoint.disabled` filed in the tenant's log.

use crate::handler::Deliver;
use burstline::endpoint::{DisabledReason, Endpoint, EndpointState};
use burstline::event::NewEvent;
use burstline::ids::{EventId, TaskId};
use burstline::log::LogRecord;
use chrono::{DateTime, Utc};
use tracing::warn;

/// The task `burstline.endpoint.disabled` events are filed under in the tenant's log.
pub const SYSTEM_TASK: &str = "burstline.endpoints";

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
pub(crate) async fn disable(
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
    crate::metrics::endpoint_disabled(reason);
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
        traceparent: None,
    };
    let record = LogRecord {
        partition_key: event.task_key().partition_key(),
        data: serde_json::to_vec(&event).unwrap_or_default(),
    };
    if let Err(e) = deps.log.put(&[record]).await {
        warn!(error = %e, "could not file burstline.endpoint.disabled");
    }
}
