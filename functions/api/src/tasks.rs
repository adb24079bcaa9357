//! Task routes (SPEC §3): status, result, and stream tokens. Tenant-scoped: the tenant comes
//! from the API key, so another tenant's task is simply not found (404).
//!
//! - `GET /v1/tasks/{id}` (`stream` scope): `200 {task_id, status, last_seq, created_at,
//!   updated_at, links}` while running; `303 See Other` → `/v1/tasks/{id}/result` once finished.
//! - `GET /v1/tasks/{id}/result` (`stream` scope): `200` the terminal event; `409` while
//!   running.
//! - `POST /v1/tasks/{id}/stream-tokens` (`manage` scope): `201 {token, expires_at, url}`, also
//!   for a task with no committed event yet: the token names the key's tenant and the task, and
//!   the stream waits (bounded) for the task's first commit. "Start a task, then open its
//!   stream" must not race fanout's lag; a token for a task that never appears opens nothing
//!   (the stream answers 404) and never another tenant's task.

use burstline::api_error::ApiError;
use burstline::apikey::Scope;
use burstline::auth::Authenticator;
use burstline::clock::Clock;
use burstline::event::format_time;
use burstline::head::TaskHead;
use burstline::ids::{Seq, TaskId, TaskKey};
use burstline::store::EventStore;
use burstline::stream_token::{StreamGrant, TokenSecret, mint};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, instrument};

/// What the task routes need.
#[derive(Clone)]
pub struct TaskRoutes {
    /// Task heads and events.
    pub store: Arc<dyn EventStore>,
    /// API keys (cached).
    pub auth: Authenticator,
    /// Signs stream tokens.
    pub tokens: TokenSecret,
    /// Wall time for token expiry.
    pub clock: Arc<dyn Clock>,
    /// Lifetime of a minted token.
    pub token_ttl: Duration,
    /// The stream function's URL, without a trailing slash.
    pub stream_url: String,
}

impl std::fmt::Debug for TaskRoutes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskRoutes")
            .field("stream_url", &self.stream_url)
            .field("token_ttl", &self.token_ttl)
            .finish_non_exhaustive()
    }
}

/// Which task route a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskOp {
    /// `GET /v1/tasks/{task_id}`.
    Status,
    /// `GET /v1/tasks/{task_id}/result`.
    Result,
    /// `POST /v1/tasks/{task_id}/stream-tokens`.
    StreamTokens,
}

/// Serves the task route `op` for the (still percent-encoded) `task_id` path segment; the
/// router has matched the method and path.
#[instrument(skip_all, fields(tenant_id, task_id))]
pub async fn serve(
    deps: &TaskRoutes,
    request: &Request,
    task_id: &str,
    op: TaskOp,
) -> Response<Body> {
    match authorized(deps, request, task_id, op).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

async fn authorized(
    deps: &TaskRoutes,
    request: &Request,
    task_id: &str,
    op: TaskOp,
) -> Result<Response<Body>, ApiError> {
    let scope = match op {
        TaskOp::Status | TaskOp::Result => Scope::Stream,
        TaskOp::StreamTokens => Scope::Manage,
    };
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let key = deps.auth.authenticate(authorization, scope).await?;
    let task_id = TaskId::parse(task_id).map_err(|_| ApiError::not_found("no such task"))?;
    let span = tracing::Span::current();
    span.record("tenant_id", key.tenant_id.as_str());
    span.record("task_id", task_id.as_str());
    let task = TaskKey::new(key.tenant_id, task_id);
    match op {
        TaskOp::Status => Ok(status(deps, &head(deps, &task).await?)),
        TaskOp::Result => result(deps, &head(deps, &task).await?).await,
        // No head needed: the task may not be committed yet (see the module doc).
        TaskOp::StreamTokens => Ok(stream_token(deps, &task)),
    }
}

async fn head(deps: &TaskRoutes, task: &TaskKey) -> Result<TaskHead, ApiError> {
    deps.store
        .head(task)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::not_found("no such task"))
}

fn status(deps: &TaskRoutes, head: &TaskHead) -> Response<Body> {
    let task = &head.key.task_id;
    let result_path = format!("/v1/tasks/{task}/result");
    let body = json!({
        "task_id": task,
        "status": head.status.as_str(),
        "last_seq": head.last_seq,
        "created_at": format_time(&head.created_at),
        "updated_at": format_time(&head.updated_at),
        "links": {
            "events": format!("{}/v1/tasks/{task}/events", deps.stream_url),
            "result": result_path,
        },
    });
    if !head.status.is_terminal() {
        return json_response(StatusCode::OK, &body);
    }
    let mut response = json_response(StatusCode::SEE_OTHER, &body);
    if let Ok(location) = HeaderValue::from_str(&result_path) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

async fn result(deps: &TaskRoutes, head: &TaskHead) -> Result<Response<Body>, ApiError> {
    let Some(terminal) = head.terminal_seq.filter(|_| head.status.is_terminal()) else {
        return Err(ApiError::new(
            409,
            "task_running",
            format!(
                "the task is still running (last_seq {}); follow its events stream",
                head.last_seq
            ),
        ));
    };
    let page = deps
        .store
        .events(&head.key, Seq(terminal.0.saturating_sub(1)), 1)
        .await
        .map_err(unavailable)?;
    let event = page
        .into_iter()
        .find(|e| e.seq == terminal)
        .ok_or_else(|| ApiError::not_found("the terminal event is past retention"))?;
    let body = serde_json::to_value(&event).unwrap_or(Value::Null);
    Ok(json_response(StatusCode::OK, &body))
}

fn stream_token(deps: &TaskRoutes, task: &TaskKey) -> Response<Body> {
    let now = deps.clock.now();
    let expires_at = now + chrono::Duration::from_std(deps.token_ttl).unwrap_or_default();
    let grant = StreamGrant {
        tenant_id: task.tenant_id.clone(),
        task_id: task.task_id.clone(),
        // Tokens carry whole seconds; round down so `expires_at` is exactly what is enforced.
        expires_at: chrono::DateTime::from_timestamp(expires_at.timestamp(), 0)
            .unwrap_or(expires_at),
    };
    let token = mint(&deps.tokens, &grant);
    info!(expires_at = %format_time(&grant.expires_at), "stream token minted");
    let url = format!(
        "{}/v1/tasks/{}/events?token={token}",
        deps.stream_url, task.task_id
    );
    json_response(
        StatusCode::CREATED,
        &json!({"token": token, "expires_at": format_time(&grant.expires_at), "url": url}),
    )
}

fn unavailable(e: burstline::Error) -> ApiError {
    tracing::error!(error = %e, "store unavailable");
    ApiError::new(503, "unavailable", "cannot read the task right now; retry")
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn error_response(e: &ApiError) -> Response<Body> {
    crate::metrics::rejected(e.code);
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &e.to_json())
}
