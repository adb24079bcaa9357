//! The webhook side: a receiver on 127.0.0.1 that checks each delivery's Standard Webhooks
//! signature (SPEC §5) and notes when each event first arrived, and the endpoint registered
//! for it through the api (created before the run, deleted after).

use crate::send::{ApiFailure, json_body};
use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use burstline::signing::{WebhookSecret, verify};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// Accepted clock difference for `webhook-timestamp`, as receivers commonly allow.
const TOLERANCE_SECS: i64 = 300;

/// What the receiver saw.
#[derive(Debug, Default)]
pub struct HookLog {
    /// Event id → first delivery.
    pub arrivals: HashMap<String, Instant>,
    /// `webhook-id`s seen (event ids, or batch ids).
    webhook_ids: HashSet<String>,
    /// Deliveries repeating a `webhook-id` (at-least-once: allowed, counted).
    pub redeliveries: usize,
    /// Requests without a valid signature (answered 401).
    pub bad_signatures: usize,
}

/// Shared between the server and the runner.
#[derive(Debug, Clone, Default)]
struct Shared {
    log: Arc<Mutex<HookLog>>,
    /// Set once the endpoint is registered; until then deliveries get 503 (and are retried).
    secret: Arc<OnceLock<WebhookSecret>>,
}

/// A running receiver. Dropping it stops the server.
#[derive(Debug)]
pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`.
    pub local_url: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// Listens on 127.0.0.1:`port` (0: any free port), answering POSTs on every path.
    pub async fn start(port: u16) -> anyhow::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("binding the webhook receiver to 127.0.0.1:{port}"))?;
        let addr = listener.local_addr()?;
        let shared = Shared::default();
        let app = axum::Router::new()
            .fallback(axum::routing::post(receive))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver {
            local_url: format!("http://{addr}/hook"),
            shared,
            task,
        })
    }

    /// Starts verifying with `secret` (the endpoint's, shown once at creation).
    pub fn set_secret(&self, secret: WebhookSecret) {
        let _ = self.shared.secret.set(secret);
    }

    /// The log so far.
    pub fn log(&self) -> Arc<Mutex<HookLog>> {
        self.shared.log.clone()
    }
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let Some(secret) = shared.secret.get() else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(ts), Some(sig)) = (
        header("webhook-id"),
        header("webhook-timestamp").and_then(|t| t.parse::<i64>().ok()),
        header("webhook-signature"),
    ) else {
        return bad(&shared);
    };
    let now = chrono::Utc::now().timestamp();
    if !verify(secret, id, ts, now, TOLERANCE_SECS, &body, sig) {
        return bad(&shared);
    }
    let parsed: Value = serde_json::from_slice(&body).unwrap_or_default();
    let envelopes: Vec<&Value> = match parsed.get("events").and_then(Value::as_array) {
        Some(batch) => batch.iter().collect(),
        None => vec![&parsed],
    };
    if let Ok(mut log) = shared.log.lock() {
        if !log.webhook_ids.insert(id.to_owned()) {
            log.redeliveries += 1;
        }
        for e in envelopes {
            if let Some(event_id) = e["id"].as_str() {
                log.arrivals.entry(event_id.to_owned()).or_insert(at);
            }
        }
    }
    StatusCode::NO_CONTENT
}

fn bad(shared: &Shared) -> StatusCode {
    if let Ok(mut log) = shared.log.lock() {
        log.bad_signatures += 1;
    }
    StatusCode::UNAUTHORIZED
}

/// A webhook endpoint registered for the run.
#[derive(Debug)]
pub struct Registered {
    /// `ep_…`.
    pub id: String,
    /// Its signing secret.
    pub secret: WebhookSecret,
}

/// `POST {api}/v1/endpoints` for `url`, every event type; `batch` opts in to batching.
pub async fn register(
    client: &reqwest::Client,
    api: &str,
    api_key: &str,
    url: &str,
    batch: Option<u32>,
) -> anyhow::Result<Registered> {
    let mut body = json!({"url": url, "description": "burstline simulate (deleted when it ends)"});
    if let Some(n) = batch {
        body["batching"] = json!({"max_events": n, "max_wait_ms": 100});
    }
    let response = client
        .post(format!("{}/v1/endpoints", api.trim_end_matches('/')))
        .bearer_auth(api_key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .with_context(|| format!("registering the webhook endpoint at {api}"))?;
    let status = response.status().as_u16();
    let value: Value = json_body(response).await;
    if status != 201 {
        bail!(
            "registering the webhook endpoint {url}: {} (a key with the manage scope, and a \
             target that allows this URL, are needed; or pass --no-webhooks)",
            failure(status, &value)
        );
    }
    let id = value["id"]
        .as_str()
        .context("no endpoint id in the answer")?;
    let secret = value["secret"]
        .as_str()
        .context("no secret in the answer")
        .and_then(|s| WebhookSecret::parse(s).map_err(anyhow::Error::msg))?;
    Ok(Registered {
        id: id.to_owned(),
        secret,
    })
}

/// `DELETE {api}/v1/endpoints/{id}`.
pub async fn unregister(
    client: &reqwest::Client,
    api: &str,
    api_key: &str,
    id: &str,
) -> anyhow::Result<()> {
    let response = client
        .delete(format!("{}/v1/endpoints/{id}", api.trim_end_matches('/')))
        .bearer_auth(api_key)
        .send()
        .await?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        let value: Value = json_body(response).await;
        bail!("deleting endpoint {id}: {}", failure(status, &value));
    }
    Ok(())
}

fn failure(status: u16, value: &Value) -> ApiFailure {
    let s = |k: &str| value["error"][k].as_str().map(str::to_owned);
    ApiFailure {
        status,
        code: s("code").unwrap_or_else(|| "unexpected_response".into()),
        message: s("message").unwrap_or_default(),
        field: s("field"),
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deliveries_are_verified_deduped_and_unbatched() {
        let rx = Receiver::start(0).await.unwrap();
        let secret = WebhookSecret::generate().unwrap();
        let client = reqwest::Client::new();
        let post = |id: &str, body: &str, sign_with: &WebhookSecret| {
            let ts = chrono::Utc::now().timestamp();
            client
                .post(&rx.local_url)
                .header("webhook-id", id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", sign_with.sign(id, ts, body.as_bytes()))
                .body(body.to_owned())
                .send()
        };
        let one = r#"{"id":"e1","seq":1}"#;
        assert_eq!(post("e1", one, &secret).await.unwrap().status(), 503);
        rx.set_secret(secret.clone());
        assert_eq!(post("e1", one, &secret).await.unwrap().status(), 204);
        assert_eq!(post("e1", one, &secret).await.unwrap().status(), 204);
        let batch = r#"{"events":[{"id":"e2"},{"id":"e3"}]}"#;
        assert_eq!(post("b1", batch, &secret).await.unwrap().status(), 204);
        let other = WebhookSecret::generate().unwrap();
        assert_eq!(
            post("e4", r#"{"id":"e4"}"#, &other).await.unwrap().status(),
            401
        );
        let log = rx.log();
        let log = log.lock().unwrap();
        let mut ids: Vec<&String> = log.arrivals.keys().collect();
        ids.sort();
        assert_eq!(ids, ["e1", "e2", "e3"]);
        assert_eq!((log.redeliveries, log.bad_signatures), (1, 1));
    }
}
