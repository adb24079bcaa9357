//! The built-in webhook inspector: a receiver the demo endpoint points at. It checks each
//! delivery's Standard Webhooks signature against the endpoint's current secrets, as a
//! tenant's receiver would, and keeps the latest deliveries for the demo page.

use burstline::endpoint::Endpoint;
use burstline::ids::{EndpointId, TenantId};
use burstline::signing::verify;
use burstline::tenants::EndpointStore;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

/// Deliveries kept for the page.
const KEEP: usize = 1000;
/// How far a `webhook-timestamp` may be from now (the Standard Webhooks default).
const TOLERANCE_SECS: i64 = 300;

/// One webhook as received.
#[derive(Debug, Clone, Serialize)]
pub struct Received {
    /// Position in arrival order, from 1.
    pub n: u64,
    /// Arrival time.
    pub received_at: DateTime<Utc>,
    /// `webhook-id`.
    pub webhook_id: String,
    /// Whether a `v1` signature matched a current secret within the timestamp tolerance.
    pub signature_valid: bool,
    /// Why not, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The events carried (one, or a batch), as `{id, task_id, seq, type}`.
    pub events: Vec<Value>,
}

/// The inspector's state. Cloning shares it.
#[derive(Clone)]
pub struct Inspector {
    endpoints: Arc<dyn EndpointStore>,
    target: Arc<OnceLock<(TenantId, EndpointId)>>,
    log: Arc<Mutex<Log>>,
}

#[derive(Debug, Default)]
struct Log {
    next: u64,
    kept: VecDeque<Received>,
}

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspector")
            .field("target", &self.target.get())
            .finish_non_exhaustive()
    }
}

impl Inspector {
    /// An inspector that reads secrets from `endpoints`.
    pub fn new(endpoints: Arc<dyn EndpointStore>) -> Self {
        Self {
            endpoints,
            target: Arc::default(),
            log: Arc::default(),
        }
    }

    /// Sets the endpoint whose secrets verify deliveries (once, at seeding).
    pub fn watch(&self, endpoint: &Endpoint) {
        let _ = self
            .target
            .set((endpoint.tenant_id.clone(), endpoint.id.clone()));
    }

    /// Records one delivery; returns whether its signature was valid.
    pub async fn receive(&self, headers: &axum::http::HeaderMap, body: &[u8]) -> bool {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let webhook_id = header("webhook-id").unwrap_or_default();
        let problem = match (
            header("webhook-timestamp").and_then(|t| t.parse::<i64>().ok()),
            header("webhook-signature"),
        ) {
            (Some(ts), Some(sig)) => self.check(&webhook_id, ts, &sig, body).await.err(),
            _ => Some("missing webhook-timestamp or webhook-signature".to_owned()),
        };
        let events = summarize(body);
        let valid = problem.is_none();
        tracing::info!(
            webhook_id,
            events = events.len(),
            valid,
            "inspector received a webhook"
        );
        if let Ok(mut log) = self.log.lock() {
            log.next += 1;
            let n = log.next;
            log.kept.push_back(Received {
                n,
                received_at: Utc::now(),
                webhook_id,
                signature_valid: valid,
                problem,
                events,
            });
            while log.kept.len() > KEEP {
                log.kept.pop_front();
            }
        }
        valid
    }

    async fn check(&self, id: &str, ts: i64, signature: &str, body: &[u8]) -> Result<(), String> {
        let (tenant, endpoint) = self
            .target
            .get()
            .ok_or_else(|| "the inspector has no endpoint yet".to_owned())?;
        let ep = self
            .endpoints
            .endpoint(tenant, endpoint)
            .await
            .map_err(|e| format!("reading the endpoint's secrets: {e}"))?
            .ok_or_else(|| format!("endpoint {endpoint} no longer exists"))?;
        let now = Utc::now();
        let ok = ep.signing_secrets(now).iter().any(|secret| {
            verify(
                secret,
                id,
                ts,
                now.timestamp(),
                TOLERANCE_SECS,
                body,
                signature,
            )
        });
        if ok {
            Ok(())
        } else {
            Err("no v1 signature matches a current secret within 5 minutes".into())
        }
    }

    /// Deliveries received after the `after`-th, oldest first.
    pub fn since(&self, after: u64) -> Vec<Received> {
        self.log
            .lock()
            .map(|log| log.kept.iter().filter(|r| r.n > after).cloned().collect())
            .unwrap_or_default()
    }
}

/// `{id, task_id, seq, type}` of each event in a webhook body (an envelope or a batch).
fn summarize(body: &[u8]) -> Vec<Value> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let pick = |e: &Value| {
        serde_json::json!({
            "id": e["id"], "task_id": e["task_id"], "seq": e["seq"], "type": e["type"]
        })
    };
    match v.get("events").and_then(Value::as_array) {
        Some(batch) => batch.iter().map(pick).collect(),
        None => vec![pick(&v)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_cover_single_events_and_batches() {
        let one = br#"{"id":"e1","task_id":"t","seq":1,"type":"a","data":{"big":"x"}}"#;
        assert_eq!(
            summarize(one),
            vec![serde_json::json!({"id":"e1","task_id":"t","seq":1,"type":"a"})]
        );
        let batch = br#"{"events":[{"id":"e1","seq":1},{"id":"e2","seq":2}]}"#;
        assert_eq!(summarize(batch).len(), 2);
        assert!(summarize(b"not json").is_empty());
    }
}
