//! `/v1/endpoints…`: create, list, get, patch, delete, rotate-secret, enable, deliveries and
//! replay (SPEC §3; replay itself is [`crate::replay`]). Bearer key with the `manage` scope;
//! another tenant's endpoint is 404.

use crate::http::{empty, invalid, json, object_body, query, whole_number};
use crate::router::Api;
use burstline::api_error::ApiError;
use burstline::endpoint::{
    Batching, Endpoint, EndpointState, MAX_BATCH_EVENTS, MAX_BATCH_WAIT_MS, validate_url,
};
use burstline::endpoint_limits::{validate_max_in_flight, validate_rate_limit};
use burstline::ids::{EndpointId, TenantId};
use burstline::receiver_headers::{HeaderError, StaticHeaders};
use burstline::signing::WebhookSecret;
use burstline::subscription::EventFilter;
use chrono::{DateTime, Utc};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value, json};

type Reply = Result<Response<Body>, ApiError>;

/// Which endpoint route a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointOp {
    /// `POST /v1/endpoints`.
    Create,
    /// `GET /v1/endpoints`.
    List,
    /// `GET /v1/endpoints/{endpoint_id}`.
    Get,
    /// `PATCH /v1/endpoints/{endpoint_id}`.
    Patch,
    /// `DELETE /v1/endpoints/{endpoint_id}`.
    Delete,
    /// `POST /v1/endpoints/{endpoint_id}/rotate-secret`.
    RotateSecret,
    /// `POST /v1/endpoints/{endpoint_id}/enable`.
    Enable,
    /// `GET /v1/endpoints/{endpoint_id}/deliveries`.
    Deliveries,
    /// `POST /v1/endpoints/{endpoint_id}/replay`.
    Replay,
}

/// Serves the endpoint route `op` for `tenant`; `id` is the `{endpoint_id}` path segment
/// (empty for the collection routes). The router has matched the method and path and checked
/// the key's `manage` scope.
pub async fn serve(
    api: &Api,
    tenant: &TenantId,
    request: &Request,
    op: EndpointOp,
    id: &str,
) -> Reply {
    match op {
        EndpointOp::Create => create(api, tenant, request).await,
        EndpointOp::List => list(api, tenant).await,
        EndpointOp::Get => Ok(json(StatusCode::OK, &view(&load(api, tenant, id).await?))),
        EndpointOp::Patch => patch(api, tenant, id, request).await,
        EndpointOp::Delete => delete(api, tenant, id).await,
        EndpointOp::RotateSecret => rotate(api, tenant, id).await,
        EndpointOp::Enable => enable(api, tenant, id).await,
        EndpointOp::Deliveries => deliveries(api, tenant, id, request).await,
        EndpointOp::Replay => crate::replay::replay(api, tenant, id, request).await,
    }
}

/// The endpoint as the API shows it: never its secrets, and of its static headers only the
/// names (`header_names`).
pub fn view(ep: &Endpoint) -> Value {
    let (enabled, disabled) = match ep.state {
        EndpointState::Enabled => (true, Value::Null),
        EndpointState::Disabled { reason, at } => (false, json!({"reason": reason, "at": at})),
    };
    json!({
        "id": ep.id,
        "url": ep.url,
        "description": ep.description,
        "filters": ep.filters,
        "enabled": enabled,
        "disabled": disabled,
        "batching": ep.batching.map(|b| json!({"max_events": b.max_events, "max_wait_ms": b.max_wait_ms})),
        "header_names": ep.headers.names(),
        "failing_since": ep.failing_since,
        "rate_limit": ep.rate_limit,
        "max_in_flight": ep.max_in_flight,
        "paused": ep.breaker.paused_until.map(|until| json!({
            "until": until,
            "reason": ep.breaker.reason,
            "failures": ep.breaker.failures,
            "probing": ep.breaker.probe.is_some(),
        })),
        "created_at": ep.created_at,
        "updated_at": ep.updated_at,
    })
}

/// The tenant's endpoint `id`, or 404.
pub(crate) async fn load(api: &Api, tenant: &TenantId, id: &str) -> Result<Endpoint, ApiError> {
    let not_found = || ApiError::not_found(format!("no endpoint {id}"));
    let id = EndpointId::parse(id).map_err(|_| not_found())?;
    api.endpoints
        .endpoint(tenant, &id)
        .await
        .map_err(crate::ApiFnError::from)?
        .ok_or_else(not_found)
}

/// The fields a create or patch may set, validated.
#[derive(Debug, Default)]
struct Changes {
    url: Option<String>,
    description: Option<String>,
    filters: Option<Vec<EventFilter>>,
    batching: Option<Option<Batching>>,
    enabled: Option<bool>,
    /// `Some(None)`: back to the default.
    rate_limit: Option<Option<u32>>,
    max_in_flight: Option<Option<u32>>,
    headers: Option<HeadersChange>,
}

/// What a body's `headers` asks for. `Debug` shows names only.
enum HeadersChange {
    /// `null`: no static headers.
    Clear,
    /// An object: a string sets or replaces that header, `null` removes it, others stay.
    Patch(Vec<(String, Option<String>)>),
}

impl std::fmt::Debug for HeadersChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeadersChange::Clear => f.write_str("Clear"),
            HeadersChange::Patch(c) => f.debug_set().entries(c.iter().map(|(k, _)| k)).finish(),
        }
    }
}

impl HeadersChange {
    /// The headers after this change to `current`, checked as a whole.
    fn apply(&self, current: &StaticHeaders) -> Result<StaticHeaders, ApiError> {
        match self {
            HeadersChange::Clear => Ok(StaticHeaders::default()),
            HeadersChange::Patch(changes) => current
                .patched(changes.iter().map(|(k, v)| (k.as_str(), v.as_deref())))
                .map_err(header_error),
        }
    }
}

fn header_error(e: HeaderError) -> ApiError {
    invalid(&e.field, e.message)
}

/// Reads `headers`: `null` or an object of name → string (or `null` to remove, on PATCH).
/// Each name and value is checked here, before anything is loaded.
fn parse_headers(v: Value) -> Result<HeadersChange, ApiError> {
    let map = match v {
        Value::Null => return Ok(HeadersChange::Clear),
        Value::Object(m) => m,
        _ => {
            return Err(invalid(
                "headers",
                "must be an object of header name to string value, or null",
            ));
        }
    };
    let mut changes = Vec::with_capacity(map.len());
    for (name, value) in map {
        let value = match value {
            Value::Null => None,
            Value::String(s) => Some(s),
            _ => {
                return Err(invalid(
                    &format!("headers.{name}"),
                    "must be a string, or null to remove it",
                ));
            }
        };
        changes.push((name, value));
    }
    let change = HeadersChange::Patch(changes);
    change.apply(&StaticHeaders::default())?;
    Ok(change)
}

fn parse_changes(mut body: Map<String, Value>, allow_private: bool) -> Result<Changes, ApiError> {
    let mut c = Changes::default();
    if let Some(v) = body.remove("url") {
        let url = v
            .as_str()
            .ok_or_else(|| invalid("url", "must be a string"))?;
        let parsed = validate_url(url, allow_private).map_err(|why| invalid("url", why))?;
        c.url = Some(parsed.to_string());
    }
    if let Some(v) = body.remove("description") {
        let d = v
            .as_str()
            .ok_or_else(|| invalid("description", "must be a string"))?;
        if d.len() > 500 {
            return Err(invalid("description", "at most 500 characters"));
        }
        c.description = Some(d.to_owned());
    }
    if let Some(v) = body.remove("filters") {
        let list = v
            .as_array()
            .ok_or_else(|| invalid("filters", "must be an array of event types or globs"))?;
        if list.is_empty() || list.len() > 50 {
            return Err(invalid("filters", "must hold 1 to 50 filters"));
        }
        let filters = list
            .iter()
            .enumerate()
            .map(|(i, f)| {
                f.as_str()
                    .ok_or_else(|| "must be a string".to_owned())
                    .and_then(EventFilter::parse)
                    .map_err(|why| invalid(&format!("filters[{i}]"), why))
            })
            .collect::<Result<Vec<_>, _>>()?;
        c.filters = Some(filters);
    }
    if let Some(v) = body.remove("batching") {
        c.batching = Some(parse_batching(&v)?);
    }
    if let Some(v) = body.remove("enabled") {
        c.enabled = Some(
            v.as_bool()
                .ok_or_else(|| invalid("enabled", "must be true or false"))?,
        );
    }
    if let Some(v) = body.remove("headers") {
        c.headers = Some(parse_headers(v)?);
    }
    c.rate_limit = body
        .remove("rate_limit")
        .map(|v| limit(&v, "rate_limit", validate_rate_limit))
        .transpose()?;
    c.max_in_flight = body
        .remove("max_in_flight")
        .map(|v| limit(&v, "max_in_flight", validate_max_in_flight))
        .transpose()?;
    if let Some(k) = body.keys().next() {
        return Err(invalid(
            k,
            "unknown field; allowed: url, description, filters, batching, enabled, headers, rate_limit, max_in_flight",
        ));
    }
    Ok(c)
}

/// A per-endpoint limit: a whole number `check` accepts, or null for the default.
fn limit(
    v: &Value,
    field: &str,
    check: fn(u64) -> Result<u32, String>,
) -> Result<Option<u32>, ApiError> {
    if v.is_null() {
        return Ok(None);
    }
    let n = v
        .as_u64()
        .ok_or_else(|| invalid(field, "must be a whole number, or null for the default"))?;
    check(n).map(Some).map_err(|why| invalid(field, why))
}

fn parse_batching(v: &Value) -> Result<Option<Batching>, ApiError> {
    if v.is_null() {
        return Ok(None);
    }
    let o = v
        .as_object()
        .ok_or_else(|| invalid("batching", "must be an object or null"))?;
    let num = |name: &str, max: u32, default: Option<u32>| -> Result<u32, ApiError> {
        let field = format!("batching.{name}");
        match o.get(name) {
            None => default.ok_or_else(|| invalid(&field, "is required")),
            Some(n) => whole_number(n)
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n <= max)
                .ok_or_else(|| invalid(&field, format!("must be a whole number up to {max}"))),
        }
    };
    let max_events = num("max_events", MAX_BATCH_EVENTS, None)?;
    if max_events == 0 {
        return Err(invalid("batching.max_events", "must be at least 1"));
    }
    let max_wait_ms = num("max_wait_ms", MAX_BATCH_WAIT_MS, Some(0))?;
    if let Some(k) = o.keys().find(|k| *k != "max_events" && *k != "max_wait_ms") {
        return Err(invalid(&format!("batching.{k}"), "unknown field"));
    }
    Ok(Some(Batching {
        max_events,
        max_wait_ms,
    }))
}

async fn create(api: &Api, tenant: &TenantId, request: &Request) -> Reply {
    let body = object_body(request)?;
    if !body.contains_key("url") {
        return Err(invalid("url", "is required"));
    }
    let c = parse_changes(body, api.allow_private_networks)?;
    let now = api.clock.now();
    let secret = WebhookSecret::generate().map_err(crate::ApiFnError::from)?;
    let mut ep = Endpoint::new(
        tenant.clone(),
        c.url.unwrap_or_default(),
        secret.clone(),
        now,
    );
    ep.description = c.description.unwrap_or_default();
    if let Some(filters) = c.filters {
        ep.filters = filters;
    }
    if c.enabled == Some(false) {
        ep.state = EndpointState::Disabled {
            reason: burstline::endpoint::DisabledReason::Manual,
            at: now,
        };
    }
    ep.batching = c.batching.flatten();
    if let Some(h) = &c.headers {
        ep.headers = h.apply(&StaticHeaders::default())?;
    }
    ep.rate_limit = c.rate_limit.flatten();
    ep.max_in_flight = c.max_in_flight.flatten();
    api.endpoints
        .create_endpoint(&ep)
        .await
        .map_err(crate::ApiFnError::from)?;
    tracing::info!(endpoint_id = %ep.id, "endpoint created");
    let mut body = view(&ep);
    // The secret is shown this once; it is never returned again.
    body["secret"] = json!(secret.expose());
    Ok(json(StatusCode::CREATED, &body))
}

async fn list(api: &Api, tenant: &TenantId) -> Reply {
    let eps = api
        .endpoints
        .endpoints(tenant)
        .await
        .map_err(crate::ApiFnError::from)?;
    Ok(json(
        StatusCode::OK,
        &json!({"endpoints": eps.iter().map(view).collect::<Vec<_>>()}),
    ))
}

/// Applies `change` to the stored endpoint with a conditional write, re-reading on conflict.
async fn update(
    api: &Api,
    tenant: &TenantId,
    id: &str,
    change: impl Fn(&mut Endpoint, DateTime<Utc>) -> Result<(), ApiError>,
) -> Result<Endpoint, ApiError> {
    for _ in 0..5 {
        let mut ep = load(api, tenant, id).await?;
        let was_enabled = ep.is_enabled();
        let now = api.clock.now();
        change(&mut ep, now)?;
        ep.version += 1;
        ep.updated_at = now;
        if api
            .endpoints
            .update_endpoint(&ep)
            .await
            .map_err(crate::ApiFnError::from)?
        {
            crate::metrics::endpoint_updated(was_enabled, &ep);
            return Ok(ep);
        }
    }
    Err(ApiError::new(
        409,
        "conflict",
        "the endpoint is changing concurrently; retry",
    ))
}

async fn patch(api: &Api, tenant: &TenantId, id: &str, request: &Request) -> Reply {
    let c = parse_changes(object_body(request)?, api.allow_private_networks)?;
    let ep = update(api, tenant, id, |ep, now| {
        if let Some(url) = &c.url {
            ep.url.clone_from(url);
        }
        if let Some(d) = &c.description {
            ep.description.clone_from(d);
        }
        if let Some(f) = &c.filters {
            ep.filters.clone_from(f);
        }
        if let Some(b) = c.batching {
            ep.batching = b;
        }
        if let Some(h) = &c.headers {
            ep.headers = h.apply(&ep.headers)?;
        }
        if let Some(r) = c.rate_limit {
            ep.rate_limit = r;
        }
        if let Some(m) = c.max_in_flight {
            ep.max_in_flight = m;
        }
        match c.enabled {
            Some(true) => {
                ep.state = EndpointState::Enabled;
                ep.failing_since = None;
                ep.breaker = Default::default();
            }
            Some(false) if ep.is_enabled() => {
                ep.state = EndpointState::Disabled {
                    reason: burstline::endpoint::DisabledReason::Manual,
                    at: now,
                };
            }
            _ => {}
        }
        Ok(())
    })
    .await?;
    Ok(json(StatusCode::OK, &view(&ep)))
}

async fn delete(api: &Api, tenant: &TenantId, id: &str) -> Reply {
    let ep = load(api, tenant, id).await?;
    api.endpoints
        .delete_endpoint(tenant, &ep.id)
        .await
        .map_err(crate::ApiFnError::from)?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn rotate(api: &Api, tenant: &TenantId, id: &str) -> Reply {
    let fresh = std::sync::Mutex::new(None);
    let overlap = api.rotation_overlap;
    let ep = update(api, tenant, id, |ep, now| {
        let s = ep
            .rotate(now, overlap)
            .map_err(|e| ApiError::from(crate::ApiFnError::from(e)))?;
        if let Ok(mut f) = fresh.lock() {
            *f = Some(s);
        }
        Ok(())
    })
    .await?;
    let secret = fresh.lock().ok().and_then(|mut f| f.take());
    let previous_expires_at = ep.secrets.get(1).and_then(|s| s.expires_at);
    Ok(json(
        StatusCode::OK,
        &json!({"id": ep.id, "secret": secret.map(|s| s.expose().to_owned()), "previous_expires_at": previous_expires_at}),
    ))
}

async fn enable(api: &Api, tenant: &TenantId, id: &str) -> Reply {
    let ep = update(api, tenant, id, |ep, _| {
        ep.state = EndpointState::Enabled;
        ep.failing_since = None;
        ep.breaker = Default::default();
        Ok(())
    })
    .await?;
    Ok(json(StatusCode::OK, &view(&ep)))
}

async fn deliveries(api: &Api, tenant: &TenantId, id: &str, request: &Request) -> Reply {
    let ep = load(api, tenant, id).await?;
    let limit = match query(request, "limit") {
        None => 50,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=200).contains(n))
            .ok_or_else(|| invalid("limit", "must be 1 to 200"))?,
    };
    // An empty cursor is no cursor: DynamoDB rejects an empty key value in a query.
    let cursor = query(request, "cursor").filter(|c| !c.is_empty());
    let page = api
        .attempts
        .list(tenant, &ep.id, limit, cursor.as_deref())
        .await
        .map_err(crate::ApiFnError::from)?;
    let items: Vec<Value> = page
        .attempts
        .iter()
        .map(|a| {
            json!({"webhook_id": a.webhook_id, "task_id": a.task_id, "seqs": a.seqs, "attempt": a.attempt,
                   "at": a.at, "status": a.status, "http_status": a.http_status, "latency_ms": a.latency_ms,
                   "error": a.error, "paused_until": a.paused_until})
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({"deliveries": items, "next_cursor": page.cursor}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(body: Value) -> Result<Changes, ApiError> {
        parse_changes(body.as_object().unwrap().clone(), false)
    }

    #[test]
    fn limits_are_validated_naming_the_field() {
        let c = changes(json!({"rate_limit": 20, "max_in_flight": 4})).unwrap();
        assert_eq!(
            (c.rate_limit, c.max_in_flight),
            (Some(Some(20)), Some(Some(4)))
        );
        let reset = changes(json!({"rate_limit": null})).unwrap();
        assert_eq!(reset.rate_limit, Some(None), "null: back to the default");
        for (body, field) in [
            (json!({"rate_limit": 0}), "rate_limit"),
            (json!({"rate_limit": 10_001}), "rate_limit"),
            (json!({"rate_limit": "fast"}), "rate_limit"),
            (json!({"rate_limit": 2.5}), "rate_limit"),
            (json!({"max_in_flight": 0}), "max_in_flight"),
            (json!({"max_in_flight": 33}), "max_in_flight"),
        ] {
            let err = changes(body.clone()).unwrap_err();
            assert_eq!(err.status, 422, "{body}: SPEC §3, an invalid field");
            assert_eq!(err.field.as_deref(), Some(field), "{body}");
        }
    }

    #[test]
    fn the_view_shows_limits_and_pause() {
        let now = Utc::now();
        let mut ep = Endpoint::new(
            "acme".parse().unwrap(),
            "https://x.example".into(),
            WebhookSecret::generate().unwrap(),
            now,
        );
        let v = view(&ep);
        assert_eq!(
            (v["rate_limit"].clone(), v["max_in_flight"].clone()),
            (json!(null), json!(null)),
            "none set: the defaults (no rate limit, 8 per invocation)"
        );
        assert!(v["paused"].is_null());
        ep.max_in_flight = Some(2);
        ep.breaker.paused_until = Some(now);
        ep.breaker.reason = Some(burstline::breaker::PauseReason::Failing);
        let v = view(&ep);
        assert_eq!(v["max_in_flight"], 2);
        assert_eq!(v["paused"]["reason"], "failing");
    }
}
