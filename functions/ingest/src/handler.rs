//! The ingest handler: route → authenticate → validate → publish → respond.

use crate::error::IngestError;
use crate::publish::{RetryPolicy, publish, records};
use burstline::api_error::ApiError;
use burstline::apikey::Scope;
use burstline::auth::Authenticator;
use burstline::event::NewEvent;
use burstline::idempotency::IdempotencyKey;
use burstline::log::EventLog;
use burstline::route::{Match, Route, allow, find, method_not_allowed};
use burstline::validate::{Limits, check_content_type, parse_events};
use chrono::Utc;
use lambda_http::http::{HeaderMap, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use tracing::{info, instrument, warn};

/// ingest's dependencies, built once per cold start.
#[derive(Clone)]
pub struct Ingest {
    /// The Kinesis stream.
    pub log: Arc<dyn EventLog>,
    /// API-key checks (cached).
    pub auth: Authenticator,
    /// Request limits.
    pub limits: Limits,
    /// Retries of rejected records.
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The routes ingest serves; [`handle`] dispatches through this table only.
pub const ROUTES: &[Route<()>] = &[Route::new("POST", "/v1/events", ())];

/// Handles one Function URL request. Every failure is a JSON error (SPEC §3); nothing is
/// written unless the whole request is valid.
///
/// - `202 {"events":[{"id","task_id"}]}`: every event is durably in the stream.
/// - `503 stream_unavailable` with `accepted` and `rejected` lists: some events could not be
///   written after retries. Resubmitting the request with the same ids is safe.
/// - `Idempotency-Key` header (SPEC §3): ids minted for events without one are derived from
///   the key and the event's index instead of random ([`burstline::idempotency`]), so retrying
///   the same request creates nothing new; a malformed key is 400 before anything is read.
#[instrument(skip_all, fields(tenant_id))]
pub async fn handle(deps: &Ingest, request: Request) -> Response<Body> {
    let result = match find(ROUTES, request.method().as_str(), request.uri().path()) {
        Match::Found { .. } => accept(deps, request).await,
        Match::MethodNotAllowed { allowed } => {
            let mut response = refuse(&method_not_allowed(&allowed));
            if let Ok(v) = header::HeaderValue::from_str(&allow(&allowed)) {
                response.headers_mut().insert(header::ALLOW, v);
            }
            return response;
        }
        Match::NotFound => Err(ApiError::not_found(
            "no such route; events are posted to /v1/events",
        )),
    };
    result.unwrap_or_else(|e| refuse(&e))
}

/// The error response, counted in `RequestsRejected` by its code.
fn refuse(e: &ApiError) -> Response<Body> {
    crate::metrics::rejected(e.code);
    error_response(e)
}

async fn accept(deps: &Ingest, request: Request) -> Result<Response<Body>, ApiError> {
    let headers = request.headers();
    let key = deps
        .auth
        .authenticate(header_str(headers, header::AUTHORIZATION), Scope::Ingest)
        .await?;
    tracing::Span::current().record("tenant_id", key.tenant_id.as_str());
    check_content_type(header_str(headers, header::CONTENT_TYPE))?;
    let idempotency = IdempotencyKey::from_header_values(
        headers
            .get_all("idempotency-key")
            .iter()
            .map(|v| v.as_bytes()),
    )?;
    let mut events = parse_events(
        request.body().as_ref(),
        &key.tenant_id,
        &deps.limits,
        Utc::now(),
        idempotency.as_ref(),
    )?;
    let traceparent = header_str(headers, header::HeaderName::from_static("traceparent"));
    burstline::traceparent::apply_header(&mut events, traceparent);
    let published = publish(deps.log.as_ref(), &records(&events), deps.retry).await;
    let Err(IngestError::NotAccepted { accepted }) = published else {
        info!(
            events = events.len(),
            idempotency_key = idempotency.is_some(),
            "events accepted"
        );
        crate::metrics::accepted(&key.tenant_id, events.len());
        let list: Vec<Value> = events.iter().map(summary).collect();
        return Ok(json_response(
            StatusCode::ACCEPTED,
            &json!({ "events": list }),
        ));
    };
    let (accepted, rejected): (Vec<_>, Vec<_>) =
        events.iter().enumerate().partition(|(i, _)| accepted[*i]);
    warn!(
        accepted = accepted.len(),
        rejected = rejected.len(),
        "stream rejected events"
    );
    crate::metrics::accepted(&key.tenant_id, accepted.len());
    crate::metrics::rejected("stream_unavailable");
    let mut body = ApiError::new(
        503,
        "stream_unavailable",
        format!(
            "{} of {} events were not accepted; resubmit them with the same ids",
            rejected.len(),
            events.len()
        ),
    )
    .to_json();
    body["accepted"] = accepted.iter().map(|(i, e)| indexed(*i, e)).collect();
    body["rejected"] = rejected.iter().map(|(i, e)| indexed(*i, e)).collect();
    let mut response = json_response(StatusCode::SERVICE_UNAVAILABLE, &body);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    Ok(response)
}

fn summary(e: &NewEvent) -> Value {
    json!({"id": e.id, "task_id": e.task_id})
}

fn indexed(i: usize, e: &NewEvent) -> Value {
    json!({"index": i, "id": e.id, "task_id": e.task_id})
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// The SPEC's JSON error response.
pub fn error_response(e: &ApiError) -> Response<Body> {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &e.to_json())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burstline::apikey::{ApiKey, KeyRecord};
    use burstline::ids::TenantId;
    use burstline::log::memory::MemoryLog;
    use burstline::requests::RequestCounter;
    use burstline::tenant::Tenant;
    use burstline::tenants::TenantStore;
    use burstline::tenants::memory::MemoryTenants;
    use std::time::Duration;

    async fn deps() -> (Ingest, MemoryLog, ApiKey) {
        let tenants = MemoryTenants::new(RequestCounter::default());
        let tenant = TenantId::parse("acme").unwrap();
        tenants
            .create_tenant(&Tenant::new(tenant.clone(), Utc::now()))
            .await
            .unwrap();
        let key = ApiKey::generate().unwrap();
        tenants
            .put_key(&KeyRecord {
                hash: key.hash(),
                tenant_id: tenant,
                scopes: vec![Scope::Ingest],
                prefix: key.display_prefix().into(),
                created_at: Utc::now(),
            })
            .await
            .unwrap();
        let log = MemoryLog::default();
        let deps = Ingest {
            log: Arc::new(log.clone()),
            auth: Authenticator::new(Arc::new(tenants), Duration::from_secs(60)),
            limits: Limits::default(),
            retry: RetryPolicy::default(),
        };
        (deps, log, key)
    }

    /// `POST /v1/events` with `body`, and an `Idempotency-Key` when given.
    async fn post(deps: &Ingest, key: &ApiKey, idempotency: Option<&str>, body: &Value) -> Value {
        let mut request = lambda_http::http::Request::builder()
            .method("POST")
            .uri("https://ingest.example/v1/events")
            .header("authorization", format!("Bearer {}", key.expose()))
            .header("content-type", "application/json");
        if let Some(k) = idempotency {
            request = request.header("idempotency-key", k);
        }
        let request = request.body(Body::Text(body.to_string())).unwrap();
        let response = handle(deps, request).await;
        let mut v: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        v["status"] = response.status().as_u16().into();
        v
    }

    fn ids(response: &Value) -> Vec<String> {
        assert_eq!(response["status"], 202, "{response}");
        response["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn an_idempotency_key_makes_a_retry_mint_the_same_ids() {
        let (deps, _, key) = deps().await;
        let body = json!({"events": [
            {"type": "tool_call.started", "task_id": "run-1"},
            {"id": "mine", "type": "tool_call.started", "task_id": "run-1"},
            {"type": "task.completed", "task_id": "run-1"},
        ]});
        let first = ids(&post(&deps, &key, Some("req-1"), &body).await);
        assert!(first[0].starts_with("evt_") && first[0].len() == 30);
        assert_eq!(first[1], "mine");
        assert_eq!(ids(&post(&deps, &key, Some("req-1"), &body).await), first);

        let other = ids(&post(&deps, &key, Some("req-2"), &body).await);
        assert_ne!((&other[0], &other[2]), (&first[0], &first[2]));
        assert_eq!(other[1], "mine", "producer ids do not depend on the key");
        let unkeyed = ids(&post(&deps, &key, None, &body).await);
        assert_ne!(unkeyed[0], first[0]);
        assert_ne!(ids(&post(&deps, &key, None, &body).await)[0], unkeyed[0]);
    }

    #[tokio::test]
    async fn a_malformed_idempotency_key_is_400_and_writes_nothing() {
        let (deps, log, key) = deps().await;
        let body = json!({"type": "a", "task_id": "t"});
        for bad in ["has space", &"k".repeat(256)] {
            let r = post(&deps, &key, Some(bad), &body).await;
            assert_eq!(r["status"], 400, "{r}");
            assert_eq!(r["error"]["code"], "invalid_request");
            assert_eq!(r["error"]["field"], "Idempotency-Key");
        }
        assert!(log.is_empty());
    }
}
