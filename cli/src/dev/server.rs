//! Function URL emulation: one local HTTP server in front of the three URL functions, routed
//! as the deployed URLs are, plus the demo page and its helpers under `/dev/`.
//!
//! - `POST /v1/events` → ingest (buffered);
//! - `GET /v1/tasks/{id}/events` → stream, written frame by frame as the session produces
//!   them (`RESPONSE_STREAM`);
//! - any other `/v1/…` → api (buffered);
//! - `/` the demo page, `/dev/config`, `/dev/simulate`, `/dev/inspector/…`, and
//!   `/dev/metrics`: the functions' metrics (the names, units and dimensions their Lambdas
//!   emit as EMF) as running totals since start; `/dev/meter`: AWS requests and units, Lambda
//!   GB-seconds and their modeled bill ([`meter`](super::meter));
//! - `/openapi.json` and `/docs`, the API reference ([`reference`](super::reference)).
//!
//! Handlers get `lambda_http` requests exactly as their Lambda entry points do, so what runs
//! here is the deployed code path from the request onwards.

use super::inspector::Inspector;
use super::meter::DevMeter;
use super::reference;
use super::simulator::Simulator;
use api::Api;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use burstline::metrics::memory::MemoryRecorder;
use burstline::requests::attributed;
use ingest::Ingest;
use serde_json::{Value, json};
use std::sync::Arc;
use stream::Streamer;

/// Largest request body accepted: ingest's 5 MiB request limit plus room, so ingest itself
/// answers an oversized batch with its own 413.
const MAX_BODY: usize = 6 * 1024 * 1024;
/// The demo page: static, no build step.
const PAGE: &str = include_str!("page.html");

/// Everything the server routes to.
#[derive(Clone)]
pub struct App {
    /// ingest's dependencies.
    pub ingest: Ingest,
    /// api's dependencies.
    pub api: Api,
    /// stream's dependencies.
    pub streamer: Streamer,
    /// The built-in webhook receiver.
    pub inspector: Inspector,
    /// `--aws-model`: streams run to their own end when the client leaves, as on Lambda
    /// ([`lambda_stream`](super::lambda_stream)).
    pub lambda_streams: bool,
    /// Everything the functions recorded, for `/dev/metrics`.
    pub metrics: MemoryRecorder,
    /// Requests, units, GB-seconds and their bill, for `/dev/meter`.
    pub meter: DevMeter,
    /// "Simulate agent task".
    pub simulator: Simulator,
    /// What the demo page needs to know (tenant, key, URLs), served at `/dev/config`.
    pub page_config: Value,
}

/// The router: one fallback that dispatches on the path, as a Function URL has no routes.
pub fn router(app: App) -> axum::Router {
    let app = Arc::new(app);
    axum::Router::new().fallback(move |req: Request<Body>| {
        let app = app.clone();
        async move { dispatch(&app, req).await }
    })
}

async fn dispatch(app: &App, req: Request<Body>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    if method == Method::OPTIONS {
        return with_cors(preflight());
    }
    let response = match (method, path.as_str()) {
        (Method::GET, "/" | "/index.html") => page(),
        (Method::GET, "/openapi.json") => reference::openapi(),
        (Method::GET, "/docs" | "/docs/") => reference::page(),
        (_, p) if p.starts_with("/dev/") => dev_route(app, req).await,
        (_, "/v1/events") => match to_lambda(req).await {
            Ok(r) => buffered(
                app.meter
                    .invoke("ingest", ingest::handle(&app.ingest, r))
                    .await,
            ),
            Err(e) => e,
        },
        (_, p) if is_stream_path(p) => {
            let (parts, _) = req.into_parts();
            let request = lambda_http::http::Request::from_parts(parts, lambda_http::Body::Empty);
            let start = std::time::Instant::now();
            let response = attributed("stream", stream::handle(&app.streamer, request)).await;
            let (parts, body) = response.into_parts();
            // The meter wraps the handler's own body (innermost), so a stream whose client
            // left is billed until it ends by itself under the model.
            let body = app.meter.stream_body(start, body);
            let body = if app.lambda_streams {
                super::lambda_stream::run_to_completion(body)
            } else {
                Body::new(body)
            };
            Response::from_parts(parts, body)
        }
        (_, p) if p.starts_with("/v1/") => match to_lambda(req).await {
            Ok(r) => buffered(app.meter.invoke("api", api::handle(&app.api, r)).await),
            Err(e) => e,
        },
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such route"),
    };
    with_cors(response)
}

/// `/v1/tasks/{id}/events`: the stream function's route.
fn is_stream_path(path: &str) -> bool {
    path.strip_prefix("/v1/tasks/")
        .and_then(|rest| rest.strip_suffix("/events"))
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

async fn dev_route(app: &App, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    match (parts.method.clone(), parts.uri.path()) {
        (Method::GET, "/dev/config") => json_response(StatusCode::OK, &app.page_config),
        (Method::GET, "/dev/metrics") => json_response(StatusCode::OK, &app.metrics.snapshot()),
        (Method::GET, "/dev/meter") => {
            let since = query_f64(parts.uri.query(), "lag_since");
            json_response(StatusCode::OK, &app.meter.snapshot(since))
        }
        (Method::POST, "/dev/inspector/webhook") => {
            let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
                return error(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "body too large");
            };
            // Always 2xx, like a receiver that logs and moves on: the page shows the
            // signature status rather than making deliver retry.
            let valid = app.inspector.receive(&parts.headers, &bytes).await;
            json_response(StatusCode::OK, &json!({ "signature_valid": valid }))
        }
        (Method::GET, "/dev/inspector/deliveries") => {
            let after = query_u64(parts.uri.query(), "after").unwrap_or(0);
            let list = app.inspector.since(after);
            json_response(StatusCode::OK, &json!({ "deliveries": list }))
        }
        (Method::POST, "/dev/simulate") => {
            let Ok(bytes) = to_bytes(body, 64 * 1024).await else {
                return error(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "body too large");
            };
            match app.simulator.start(&bytes) {
                Ok(started) => json_response(StatusCode::ACCEPTED, &started),
                Err((field, message)) => json_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &json!({"error": {"code": "invalid_request", "message": message, "field": field}}),
                ),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such route"),
    }
}

fn query_f64(query: Option<&str>, name: &str) -> Option<f64> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse().ok())
        .filter(|v: &f64| v.is_finite())
}

fn query_u64(query: Option<&str>, name: &str) -> Option<u64> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse().ok())
}

/// The request as the Lambda runtime hands it to a buffered function.
async fn to_lambda(req: Request<Body>) -> Result<lambda_http::Request, Response<Body>> {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, MAX_BODY).await.map_err(|_| {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body over 6 MiB",
        )
    })?;
    let body = if bytes.is_empty() {
        lambda_http::Body::Empty
    } else {
        lambda_http::Body::Binary(bytes.to_vec())
    };
    Ok(lambda_http::http::Request::from_parts(parts, body))
}

fn buffered(response: lambda_http::Response<lambda_http::Body>) -> Response<Body> {
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, Body::from(body.as_ref().to_vec()))
}

fn page() -> Response<Body> {
    let mut r = Response::new(Body::from(PAGE));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    json_response(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

/// The answer to a CORS preflight, as the Function URLs' `Cors` settings give it.
fn preflight() -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PATCH, DELETE"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, last-event-id"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    r
}

/// Any origin may call the dev stack: it listens on loopback for pages of the developer's own.
fn with_cors(mut r: Response<Body>) -> Response<Body> {
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("retry-after, location"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_task_event_paths_go_to_the_stream_function() {
        assert!(is_stream_path("/v1/tasks/run-42/events"));
        assert!(!is_stream_path("/v1/tasks/run-42"));
        assert!(!is_stream_path("/v1/tasks//events"));
        assert!(!is_stream_path("/v1/tasks/a/b/events"));
        assert!(!is_stream_path("/v1/events"));
    }
}
