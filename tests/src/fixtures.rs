//! Tenants, keys, requests, and helpers that run the pipeline and read its results.

use crate::stack::Stack;
use aws_lambda_events::event::kinesis::KinesisEvent;
use burstline::apikey::{ApiKey, KeyRecord, Scope};
use burstline::endpoint::Endpoint;
use burstline::event::Envelope;
use burstline::ids::{EndpointId, Seq, TaskKey, TenantId};
use burstline::job::DeliveryJob;
use burstline::mapping::kinesis::{DriveStats, KinesisDriver, KinesisMapping};
use burstline::signing::WebhookSecret;
use burstline::subscription::EventFilter;
use burstline::tenant::Tenant;
use fanout::Fanout;
use lambda_http::{Body, Request};
use serde_json::Value;
use std::time::Duration;

/// Creates `tenant` with a key holding `scopes`.
pub async fn tenant_with_key(stack: &Stack, tenant: &str, scopes: &[Scope]) -> ApiKey {
    tenant_with(
        stack,
        tenant,
        burstline::tenant::DEFAULT_MAX_STREAMS,
        scopes,
    )
    .await
}

/// Creates `tenant` with `max_streams` and a key with `scopes`.
pub async fn tenant_with(
    stack: &Stack,
    tenant: &str,
    max_streams: u32,
    scopes: &[Scope],
) -> ApiKey {
    let id = TenantId::parse(tenant).unwrap();
    let t = Tenant {
        max_streams,
        ..Tenant::new(id.clone(), chrono::Utc::now())
    };
    stack.tenants.create_tenant(&t).await.unwrap();
    let key = ApiKey::generate().unwrap();
    stack
        .tenants
        .put_key(&KeyRecord {
            hash: key.hash(),
            tenant_id: id,
            scopes: scopes.to_vec(),
            prefix: key.display_prefix().into(),
            created_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    key
}

/// An enabled endpoint of `tenant` for `url`, subscribed to `filters`, with a fresh secret.
pub fn endpoint(tenant: &str, url: &str, filters: &[&str]) -> Endpoint {
    let mut ep = Endpoint::new(
        TenantId::parse(tenant).unwrap(),
        url.to_owned(),
        WebhookSecret::generate().unwrap(),
        chrono::Utc::now(),
    );
    ep.filters = filters
        .iter()
        .map(|f| EventFilter::parse(f).unwrap())
        .collect();
    ep
}

/// Subscribes a new endpoint of `tenant` to `filters`.
pub async fn subscribe(stack: &Stack, tenant: &str, filters: &[&str]) -> EndpointId {
    let ep = endpoint(tenant, "https://hooks.example.com/burstline", filters);
    stack.endpoints.create_endpoint(&ep).await.unwrap();
    ep.id
}

/// A Function URL request as lambda_http hands it to the handler.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://ingest.example{path}"));
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(Body::Binary(body.to_vec())).unwrap()
}

/// `POST /v1/events` with a key and a JSON body.
pub fn post_events(key: &ApiKey, body: &Value) -> Request {
    let auth = format!("Bearer {}", key.expose());
    request(
        "POST",
        "/v1/events",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
}

/// A burst: `n` events of `task`, the last one `task.completed`.
pub fn burst(task: &str, n: usize) -> Value {
    let events: Vec<Value> = (1..=n)
        .map(|i| {
            let ty = if i == n {
                "task.completed"
            } else if i % 3 == 0 {
                "reasoning.step"
            } else {
                "tool_call.completed"
            };
            serde_json::json!({"type": ty, "task_id": task, "data": {"i": i}})
        })
        .collect();
    serde_json::json!({ "events": events })
}

/// A Kinesis driver over the stack's stream.
pub fn driver(
    stack: &Stack,
    batch_size: usize,
) -> KinesisDriver<std::sync::Arc<dyn burstline::log::ShardReader>> {
    KinesisDriver::new(
        stack.shards.clone(),
        KinesisMapping {
            batch_size,
            ..KinesisMapping::default()
        },
    )
}

/// Runs fanout over everything in the stream.
pub async fn drain(stack: &Stack, deps: &Fanout, batch_size: usize) -> DriveStats {
    let mut d = driver(stack, batch_size);
    drain_with(&mut d, deps).await
}

/// Runs fanout through an existing driver until the stream is drained.
pub async fn drain_with(
    d: &mut KinesisDriver<std::sync::Arc<dyn burstline::log::ShardReader>>,
    deps: &Fanout,
) -> DriveStats {
    let handler = |ev: KinesisEvent| {
        let deps = deps.clone();
        async move { Ok(fanout::handle(&deps, ev).await) }
    };
    d.drain(&handler).await.unwrap()
}

/// Every stored event of a task, ascending.
pub async fn stored(stack: &Stack, key: &TaskKey) -> Vec<Envelope> {
    let mut out: Vec<Envelope> = Vec::new();
    loop {
        let after = out.last().map_or(Seq(0), |e| e.seq);
        let page = stack.store.events(key, after, 100).await.unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// Drains the delivery queue and returns its jobs.
pub async fn drain_jobs(stack: &Stack) -> Vec<DeliveryJob> {
    let mut jobs = Vec::new();
    loop {
        let msgs = stack
            .queue_reader
            .receive(10, Duration::ZERO)
            .await
            .unwrap();
        if msgs.is_empty() {
            return jobs;
        }
        for m in &msgs {
            jobs.extend(burstline::job::unpack_message(&m.body).unwrap());
        }
        let handles: Vec<String> = msgs.into_iter().map(|m| m.receipt_handle).collect();
        stack.queue_reader.delete(&handles).await.unwrap();
    }
}

/// Task key helper.
pub fn task(tenant: &str, task: &str) -> TaskKey {
    TaskKey::new(TenantId::parse(tenant).unwrap(), task.parse().unwrap())
}

/// Runs deliver over everything visible in the delivery queue until a poll finds nothing.
pub async fn drain_deliveries(stack: &Stack, deps: &deliver::Deliver) -> usize {
    let driver = burstline::mapping::sqs::SqsDriver::new(
        stack.queue_reader.clone(),
        burstline::mapping::sqs::SqsMapping::default(),
    );
    let handler = |ev, deadline| {
        let deps = deps.clone();
        async move { Ok(deliver::handle_until(&deps, ev, deadline).await) }
    };
    let mut received = 0;
    loop {
        let stats = driver.poll_once(&handler).await.unwrap();
        if stats.received == 0 {
            return received;
        }
        received += stats.received;
    }
}

/// Every dead letter in the DLQ (read without consuming them).
pub async fn dead_letters(stack: &Stack) -> Vec<burstline::job::DeadLetter> {
    let mut out = Vec::new();
    let mut handles = Vec::new();
    loop {
        let msgs = stack.dlq_reader.receive(10, Duration::ZERO).await.unwrap();
        if msgs.is_empty() {
            break;
        }
        for m in msgs {
            if let Ok(burstline::job::DlqMessage::Dead { dead_letter }) =
                serde_json::from_str(&m.body)
            {
                out.push(*dead_letter);
            }
            handles.push(m.receipt_handle);
        }
    }
    stack.dlq_reader.release(&handles).await.unwrap();
    out
}
