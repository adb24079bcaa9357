//! W3C trace propagation: a `traceparent` sent to ingest (request header, or an event's own
//! field) is stored with the event and reaches the tenant's webhook receiver (a real one on
//! 127.0.0.1) as a `traceparent` header and in the envelope, and the SSE envelope too —
//! unchanged. An invalid header is ignored, as the W3C spec asks; on memory and on moto.

use burstline::apikey::Scope;
use burstline_tests::fixtures::*;
use burstline_tests::receiver::Receiver;
use burstline_tests::stack::Stack;
use burstline_tests::streams::{SseClient, bearer, get_events, streamer};
use deliver::Policy;
use deliver::http::HttpSender;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use stream::StreamSettings;

/// The request's trace (header) and one event's own (field).
const HEADER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const OWN: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";

fn post(key: &burstline::apikey::ApiKey, traceparent: &str, body: &Value) -> lambda_http::Request {
    let auth = bearer(key);
    request(
        "POST",
        "/v1/events",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
            ("traceparent", traceparent),
        ],
        body.to_string().as_bytes(),
    )
}

async fn traceparent_reaches_the_receiver_and_the_stream(stack: Stack) {
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest, Scope::Stream]).await;
    let rx = Receiver::start().await;
    let ep = endpoint("acme", &rx.url, &["*"]);
    stack.endpoints.create_endpoint(&ep).await.unwrap();
    let ingest = stack.ingest();
    let traced = json!({"events": [
        {"id": "e1", "type": "tool_call.started", "task_id": "run"},
        {"id": "e2", "type": "tool_call.completed", "task_id": "run", "traceparent": OWN},
    ]});
    assert_eq!(
        ingest::handle(&ingest, post(&key, HEADER, &traced))
            .await
            .status(),
        202
    );
    // An invalid header is ignored, not refused: the event simply carries no trace.
    let untraced = json!({"id": "e3", "type": "task.completed", "task_id": "run"});
    assert_eq!(
        ingest::handle(&ingest, post(&key, "00-not-a-trace", &untraced))
            .await
            .status(),
        202
    );
    drain(&stack, &stack.fanout(), 100).await;
    let sender = Arc::new(HttpSender::new(Duration::from_secs(5), true).unwrap());
    drain_deliveries(&stack, &stack.deliver(sender, Policy::default())).await;

    let want = BTreeMap::from([("e1", Some(HEADER)), ("e2", Some(OWN)), ("e3", None)]);
    let received = rx.received();
    assert_eq!(received.len(), 3);
    for r in &received {
        let body = r.json();
        let id = body["id"].as_str().unwrap();
        assert_eq!(r.header("traceparent"), want[id], "{id}: header");
        assert_eq!(body["traceparent"].as_str(), want[id], "{id}: envelope");
        if want[id].is_none() {
            assert!(
                body.get("traceparent").is_none(),
                "absent, not null: {body}"
            );
        }
    }

    let deps = streamer(&stack, stack.store.clone(), StreamSettings::default()).await;
    let auth = bearer(&key);
    let response = stream::handle(&deps, get_events("run", "", &[("authorization", &auth)])).await;
    let mut client = SseClient::new(response);
    assert_eq!(client.status, 200);
    let frames = client.rest().await;
    assert_eq!(frames.len(), 3);
    for f in frames {
        let envelope: Value = serde_json::from_str(&f.data).unwrap();
        let id = envelope["id"].as_str().unwrap();
        assert_eq!(envelope["traceparent"].as_str(), want[id], "{id}: SSE");
    }
}

#[tokio::test]
async fn traceparent_travels_on_memory() {
    traceparent_reaches_the_receiver_and_the_stream(Stack::memory()).await;
}

#[tokio::test]
async fn traceparent_travels_on_moto() {
    traceparent_reaches_the_receiver_and_the_stream(Stack::moto("trace").await).await;
}

#[tokio::test]
async fn an_invalid_traceparent_field_is_refused_and_nothing_is_written() {
    let stack = Stack::memory();
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    let body = json!({"events": [
        {"type": "tool_call.started", "task_id": "run", "traceparent": OWN},
        {"type": "tool_call.started", "task_id": "run", "traceparent": "00-XYZ"},
    ]});
    let response = ingest::handle(&stack.ingest(), post(&key, HEADER, &body)).await;
    assert_eq!(response.status(), 422);
    let error: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(error["error"]["field"], "events[1].traceparent");
    assert_eq!(
        drain(&stack, &stack.fanout(), 100).await.records,
        0,
        "nothing written"
    );
}
