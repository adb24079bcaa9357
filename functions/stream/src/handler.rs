//! The stream handler: route → authenticate → resume point → task → budget → respond, then
//! the [`Session`](crate::session::Session) writes frames while the runtime streams them.

use crate::body::SseBody;
use crate::client::{Credential, client_key};
use crate::config::StreamSettings;
use crate::frame;
use crate::resume::{ResumePoint, last_event_id, resume_point};
use crate::session::Session;
use crate::task_wait::{Found, find_head};
use burstline::api_error::ApiError;
use burstline::apikey::{KeyHash, Scope};
use burstline::auth::Authenticator;
use burstline::clock::Clock;
use burstline::ids::{Seq, TaskId, TaskKey, TenantId};
use burstline::leases::{Claim, LeaseStore};
use burstline::route::{Match, Route, allow, find, method_not_allowed};
use burstline::store::EventStore;
use burstline::stream_token::{TokenSecret, verify};
use burstline::tenant::DEFAULT_MAX_STREAMS;
use burstline::tenants::TenantStore;
use bytes::Bytes;
use lambda_http::http::{HeaderMap, HeaderValue, StatusCode, header};
use lambda_http::{Request, Response};
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::{info, instrument, warn};

/// The routes stream serves; [`handle`] dispatches through this table only.
pub const ROUTES: &[Route<()>] = &[Route::new("GET", "/v1/tasks/{task_id}/events", ())];

/// Frames buffered between the session and the runtime; a slow reader applies backpressure.
const CHANNEL_FRAMES: usize = 16;

/// stream's dependencies, built once per cold start. Cloning is shallow.
#[derive(Clone)]
pub struct Streamer {
    /// Events and task heads.
    pub store: Arc<dyn EventStore>,
    /// Tenants' `max_streams`.
    pub tenants: Arc<dyn TenantStore>,
    /// Stream slots.
    pub leases: Arc<dyn LeaseStore>,
    /// API keys (cached).
    pub auth: Authenticator,
    /// Verifies `?token=`.
    pub tokens: TokenSecret,
    /// Wall time for token expiry, leases and retention.
    pub clock: Arc<dyn Clock>,
    /// Timings and sizes.
    pub settings: StreamSettings,
}

impl std::fmt::Debug for Streamer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streamer")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Who is asking, which decides how "over budget" is answered and who "the same client" is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Caller {
    /// An API key (by its hash): a program that can read a 429.
    Key(TenantId, KeyHash),
    /// A stream token (as presented): a browser EventSource, which gives up for good on any
    /// non-200.
    Token(TenantId, String),
}

impl Caller {
    fn tenant(&self) -> &TenantId {
        match self {
            Caller::Key(t, _) | Caller::Token(t, _) => t,
        }
    }

    fn credential(&self) -> Credential<'_> {
        match self {
            Caller::Key(_, hash) => Credential::Key(hash),
            Caller::Token(_, token) => Credential::Token(token),
        }
    }
}

/// What opening a stream decided.
enum Opened {
    /// 200: a session will write the frames.
    Stream(Box<Session>),
    /// 204: the task is finished and the client has read all of it.
    Finished,
    /// Over budget, for a token client: 200 with `retry:` and the cursor as `id:` (so the
    /// retry resumes from the same point), then one `event: throttled`.
    Throttled(Seq),
}

/// Serves `GET /v1/tasks/{task_id}/events` (SPEC §3, §6).
///
/// - A task with no committed event yet is waited for, up to `task_wait`, before anything is
///   sent ([`crate::task_wait`]); still absent, it is a 404.
/// - `200 text/event-stream`: `retry:` with the resume point as `id:`, then the events after
///   it in seq order (never skipping one), `: ping` when quiet, `event: gap` for seqs past
///   retention; the response ends after the terminal event, or (with `retry:` of
///   `reconnect` and `id:` of the last seq sent, so the client resumes at once) at the end
///   of a segment or after the idle cutoff; the slot is released before the response ends.
/// - `204`: the task is finished and nothing is left after the resume point.
/// - A slot already held under the request's client key ([`crate::client`]) is taken over, not
///   doubled: a client that reconnects while its old response runs on keeps one slot.
/// - JSON errors: 400 bad resume point or `client_id`, 401 bad credentials, 403 scope or token for another
///   task, 404 unknown task (including another tenant's), 429 + `Retry-After` over budget for
///   API-key clients, 503 store unavailable.
#[instrument(skip_all, fields(tenant_id, task_id))]
pub async fn handle(deps: &Streamer, request: Request) -> Response<SseBody> {
    let task_id = match route(&request) {
        Ok(task_id) => task_id,
        Err(response) => return *response,
    };
    match open(deps, &request, task_id).await {
        Ok(Opened::Stream(session)) => {
            let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
            tokio::spawn(session.run(tx));
            sse_response(SseBody::channel(rx))
        }
        Ok(Opened::Finished) => {
            let mut response = Response::new(SseBody::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        Ok(Opened::Throttled(cursor)) => {
            let retry = deps.settings.throttle_retry;
            let mut body = frame::opening(retry, cursor).to_vec();
            body.extend_from_slice(&frame::throttled(retry));
            sse_response(SseBody::full(body))
        }
        Err(e) => {
            crate::metrics::rejected(e.code);
            let mut response = error_response(&e);
            if e.status == 429 {
                let secs = deps.settings.throttle_retry.as_secs().max(1);
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            response
        }
    }
}

async fn open(deps: &Streamer, request: &Request, task_id: TaskId) -> Result<Opened, ApiError> {
    let query: Vec<(String, String)> =
        form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let caller = authenticate(deps, request.headers(), &query, &task_id).await?;
    let span = tracing::Span::current();
    span.record("tenant_id", caller.tenant().as_str());
    span.record("task_id", task_id.as_str());
    let last_event_id = last_event_id(
        request
            .headers()
            .get("last-event-id")
            .map(HeaderValue::as_bytes),
    )?;
    let resume = resume_point(last_event_id, &query)?;
    let client = client_key(caller.credential(), &task_id, &query)?;
    let key = TaskKey::new(caller.tenant().clone(), task_id);
    // The tenant's stream budget does not depend on the task: it is read while the head is,
    // so a stream whose task appears costs one round trip less before its first frame. A
    // request answered 404 or 204 pays that one `GetItem` for nothing.
    let (found, tenant) = tokio::join!(
        find_head(deps.store.as_ref(), &key, deps.settings.task_wait),
        deps.tenants.tenant(caller.tenant()),
    );
    let found = found.map_err(|e| unavailable("head", &e))?;
    let (head, appeared) = match found {
        Found::Present(head) => (head, false),
        Found::Appeared(head) => (head, true),
        Found::Absent => return Err(ApiError::not_found("no such task")),
    };
    let cursor = match resume {
        ResumePoint::Start => Seq(0),
        ResumePoint::After(seq) => seq,
        // Every event of a task that appeared while we waited was committed after the
        // request arrived: all of them are new.
        ResumePoint::Now if appeared => Seq(0),
        ResumePoint::Now => head.last_seq,
    };
    if head.status.is_terminal() && cursor >= head.last_seq {
        info!(cursor = cursor.0, "task finished and fully read");
        return Ok(Opened::Finished);
    }
    let max = tenant
        .map_err(|e| unavailable("tenant", &e))?
        .map_or(DEFAULT_MAX_STREAMS, |t| t.max_streams);
    // The first page is read while the slot is claimed: no frame goes out before the slot is
    // ours, and a refused claim wastes that one `Query`. A failed read is left to the session,
    // which reads again.
    let (claim, first_page) = tokio::join!(
        deps.leases.acquire(
            caller.tenant(),
            client.as_ref(),
            max,
            deps.clock.now(),
            deps.settings.lease_ttl,
        ),
        deps.store.events(&key, cursor, deps.settings.page_size),
    );
    let claim = claim.map_err(|e| unavailable("lease", &e))?;
    let lease = match (claim, caller) {
        (Claim::Granted(lease), _) => lease,
        (Claim::Full, Caller::Token(..)) => {
            crate::metrics::throttled("token");
            warn!(max_streams = max, "over stream budget (token client)");
            return Ok(Opened::Throttled(cursor));
        }
        (Claim::Full, Caller::Key(..)) => {
            crate::metrics::throttled("key");
            warn!(max_streams = max, "over stream budget (API client)");
            return Err(ApiError::new(
                429,
                "too_many_streams",
                format!("this tenant already has {max} open streams; retry later"),
            ));
        }
    };
    info!(
        cursor = cursor.0,
        slot = lease.slot,
        client = lease.client.is_some(),
        "stream opened"
    );
    crate::metrics::opened(&key.tenant_id);
    Ok(Opened::Stream(Box::new(Session::new(
        deps.clone(),
        &head,
        cursor,
        lease,
        first_page.ok(),
    ))))
}

/// The task id of `GET /v1/tasks/{task_id}/events`, else the 404 or 405 (with `Allow`).
fn route(request: &Request) -> Result<TaskId, Box<Response<SseBody>>> {
    let not_found = || {
        Box::new(error_response(&ApiError::not_found(
            "no such route; streams are at /v1/tasks/{task_id}/events",
        )))
    };
    match find(ROUTES, request.method().as_str(), request.uri().path()) {
        Match::Found { params, .. } => params
            .first()
            .and_then(|id| TaskId::parse(id).ok())
            .ok_or_else(not_found),
        Match::MethodNotAllowed { allowed } => {
            let mut response = error_response(&method_not_allowed(&allowed));
            if let Ok(v) = HeaderValue::from_str(&allow(&allowed)) {
                response.headers_mut().insert(header::ALLOW, v);
            }
            Err(Box::new(response))
        }
        Match::NotFound => Err(not_found()),
    }
}

/// `?token=` (a stream token for exactly this task), else a Bearer key with `stream` scope.
async fn authenticate(
    deps: &Streamer,
    headers: &HeaderMap,
    query: &[(String, String)],
    task_id: &TaskId,
) -> Result<Caller, ApiError> {
    let token = query.iter().find(|(k, _)| k == "token").map(|(_, v)| v);
    let Some(token) = token else {
        let key = deps
            .auth
            .authenticate(header_str(headers, "authorization"), Scope::Stream)
            .await?;
        return Ok(Caller::Key(key.tenant_id, key.hash));
    };
    let grant = verify(&deps.tokens, token, deps.clock.now()).map_err(|e| {
        info!(reason = %e, "stream token refused");
        ApiError::new(
            401,
            "invalid_token",
            "the stream token is invalid or expired",
        )
    })?;
    if grant.task_id != *task_id {
        return Err(ApiError::forbidden(
            "token_not_for_this_task",
            "this stream token opens another task",
        ));
    }
    Ok(Caller::Token(grant.tenant_id, token.clone()))
}

fn unavailable(what: &'static str, e: &burstline::Error) -> ApiError {
    tracing::error!(error = %e, what, "store unavailable");
    ApiError::new(503, "unavailable", "cannot read the task right now; retry")
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A 200 event-stream response with the SPEC's headers (and never `content-length`).
fn sse_response(body: SseBody) -> Response<SseBody> {
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-transform"),
    );
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The SPEC's JSON error response.
pub fn error_response(e: &ApiError) -> Response<SseBody> {
    let mut response = Response::new(SseBody::full(Bytes::from(e.to_json().to_string())));
    *response.status_mut() =
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
