//! Routing api requests: authenticate once, then dispatch by path.

use crate::http::{error, header_str};
use burstline::api_error::ApiError;
use burstline::apikey::Scope;
use burstline::attempts::AttemptLog;
use burstline::auth::Authenticator;
use burstline::clock::Clock;
use burstline::cursor::DeliveryCursors;
use burstline::queue::DeliveryQueue;
use burstline::store::EventStore;
use burstline::tenants::EndpointStore;
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

/// Handles one Function URL request. Errors are JSON (SPEC §3).
#[instrument(skip_all, fields(method = %request.method(), tenant_id))]
pub async fn handle(api: &Api, request: Request) -> Response<Body> {
    match route(api, &request).await {
        Ok(r) => r,
        Err(e) => error(&e),
    }
}

async fn route(api: &Api, request: &Request) -> Result<Response<Body>, ApiError> {
    if let Some(response) = crate::tasks::route(&api.tasks, request).await {
        return Ok(response);
    }
    let path = request.uri().path().trim_end_matches('/').to_owned();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["v1", "endpoints", rest @ ..] => {
            let key = api
                .auth
                .authenticate(
                    header_str(request.headers(), "authorization"),
                    Scope::Manage,
                )
                .await?;
            tracing::Span::current().record("tenant_id", key.tenant_id.as_str());
            crate::endpoints::route(api, &key.tenant_id, request, rest).await
        }
        _ => Err(ApiError::not_found("no such route")),
    }
}
