//! Routing api requests: match the route table, authenticate, then dispatch.

use crate::endpoints::EndpointOp;
use crate::http::{error, header_str};
use crate::tasks::TaskOp;
use burstline::api_error::ApiError;
use burstline::apikey::Scope;
use burstline::attempts::AttemptLog;
use burstline::auth::Authenticator;
use burstline::clock::Clock;
use burstline::cursor::DeliveryCursors;
use burstline::queue::DeliveryQueue;
use burstline::route::{Match, Route, allow, find, method_not_allowed};
use burstline::store::EventStore;
use burstline::tenants::EndpointStore;
use lambda_http::http::{HeaderValue, header};
use lambda_http::{Body, Request, Response};
use std::sync::Arc;
use tracing::instrument;

/// api's dependencies, built once per cold start.
#[derive(Clone)]
pub struct Api {
    /// API keys.
    pub auth: Authenticator,
    /// Endpoints.
    pub endpoints: Arc<dyn EndpointStore>,
    /// Attempt log.
    pub attempts: Arc<dyn AttemptLog>,
    /// Events and heads (replay).
    pub store: Arc<dyn EventStore>,
    /// Delivery queue (replay).
    pub queue: Arc<dyn DeliveryQueue>,
    /// Endpoint × task delivery cursors (replay rewinds them).
    pub cursors: Arc<dyn DeliveryCursors>,
    /// Now.
    pub clock: Arc<dyn Clock>,
    /// How long a rotated-out secret keeps signing.
    pub rotation_overlap: chrono::Duration,
    /// Accept `http` and private endpoint URLs (local development only; unsafe).
    pub allow_private_networks: bool,
    /// The task routes.
    pub tasks: crate::tasks::TaskRoutes,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").finish_non_exhaustive()
    }
}

/// What api does for a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A task route ([`tasks`](crate::tasks)).
    Task(TaskOp),
    /// An endpoint route ([`endpoints`](crate::endpoints)).
    Endpoint(EndpointOp),
}

/// The routes api serves; [`handle`] dispatches through this table only.
pub const ROUTES: &[Route<Op>] = &[
    Route::new("GET", "/v1/tasks/{task_id}", Op::Task(TaskOp::Status)),
    Route::new(
        "GET",
        "/v1/tasks/{task_id}/result",
        Op::Task(TaskOp::Result),
    ),
    Route::new(
        "POST",
        "/v1/tasks/{task_id}/stream-tokens",
        Op::Task(TaskOp::StreamTokens),
    ),
    Route::new("POST", "/v1/endpoints", Op::Endpoint(EndpointOp::Create)),
    Route::new("GET", "/v1/endpoints", Op::Endpoint(EndpointOp::List)),
    Route::new(
        "GET",
        "/v1/endpoints/{endpoint_id}",
        Op::Endpoint(EndpointOp::Get),
    ),
    Route::new(
        "PATCH",
        "/v1/endpoints/{endpoint_id}",
        Op::Endpoint(EndpointOp::Patch),
    ),
    Route::new(
        "DELETE",
        "/v1/endpoints/{endpoint_id}",
        Op::Endpoint(EndpointOp::Delete),
    ),
    Route::new(
        "POST",
        "/v1/endpoints/{endpoint_id}/rotate-secret",
        Op::Endpoint(EndpointOp::RotateSecret),
    ),
    Route::new(
        "POST",
        "/v1/endpoints/{endpoint_id}/enable",
        Op::Endpoint(EndpointOp::Enable),
    ),
    Route::new(
        "GET",
        "/v1/endpoints/{endpoint_id}/deliveries",
        Op::Endpoint(EndpointOp::Deliveries),
    ),
    Route::new(
        "POST",
        "/v1/endpoints/{endpoint_id}/replay",
        Op::Endpoint(EndpointOp::Replay),
    ),
];

/// Handles one Function URL request. Errors are JSON (SPEC §3); an unknown path is 404 and a
/// known path with another method 405 with `Allow`, both before authentication.
#[instrument(skip_all, fields(method = %request.method(), tenant_id))]
pub async fn handle(api: &Api, request: Request) -> Response<Body> {
    let (op, params) = match find(ROUTES, request.method().as_str(), request.uri().path()) {
        Match::Found { op, params } => (op, params),
        Match::MethodNotAllowed { allowed } => {
            let mut response = refuse(&method_not_allowed(&allowed));
            if let Ok(v) = HeaderValue::from_str(&allow(&allowed)) {
                response.headers_mut().insert(header::ALLOW, v);
            }
            return response;
        }
        Match::NotFound => return refuse(&ApiError::not_found("no such route")),
    };
    // Every route has at most one parameter: the task or endpoint id.
    let id = params.first().copied().unwrap_or_default();
    match op {
        Op::Task(op) => crate::tasks::serve(&api.tasks, &request, id, op).await,
        Op::Endpoint(op) => endpoint(api, &request, op, id)
            .await
            .unwrap_or_else(|e| refuse(&e)),
    }
}

/// The error response, counted in `RequestsRejected` by its code.
fn refuse(e: &ApiError) -> Response<Body> {
    crate::metrics::rejected(e.code);
    error(e)
}

async fn endpoint(
    api: &Api,
    request: &Request,
    op: EndpointOp,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let key = api
        .auth
        .authenticate(
            header_str(request.headers(), "authorization"),
            Scope::Manage,
        )
        .await?;
    tracing::Span::current().record("tenant_id", key.tenant_id.as_str());
    crate::endpoints::serve(api, &key.tenant_id, request, op, id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: &str, path: &str) -> Option<Op> {
        match find(ROUTES, method, path) {
            Match::Found { op, .. } => Some(op),
            _ => None,
        }
    }

    #[test]
    fn task_and_endpoint_routes_are_recognised() {
        assert_eq!(op("GET", "/v1/tasks/run-1"), Some(Op::Task(TaskOp::Status)));
        assert_eq!(
            op("GET", "/v1/tasks/run-1/"),
            Some(Op::Task(TaskOp::Status))
        );
        assert_eq!(
            op("GET", "/v1/tasks/run-1/result"),
            Some(Op::Task(TaskOp::Result))
        );
        assert_eq!(
            op("POST", "/v1/tasks/run-1/stream-tokens"),
            Some(Op::Task(TaskOp::StreamTokens))
        );
        assert_eq!(
            op("POST", "/v1/endpoints/ep_1/replay"),
            Some(Op::Endpoint(EndpointOp::Replay))
        );
        // The stream function's route, and ingest's, are not api's.
        assert_eq!(op("GET", "/v1/tasks/run-1/events"), None);
        assert_eq!(op("POST", "/v1/events"), None);
    }

    #[test]
    fn every_route_has_at_most_one_parameter() {
        for r in ROUTES {
            assert!(r.path.matches('{').count() <= 1, "{}", r.path);
        }
    }
}
