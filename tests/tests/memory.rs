//! The pipeline scenarios on in-memory adapters, plus what only memory can inject.

use burstline::apikey::Scope;
use burstline::log::memory::MemoryLog;
use burstline_tests::fixtures::{post_events, tenant_with_key};
use burstline_tests::scenarios;
use burstline_tests::stack::Stack;
use serde_json::{Value, json};
use std::sync::Arc;

#[tokio::test]
async fn end_to_end() {
    scenarios::end_to_end(Stack::memory()).await;
}

#[tokio::test]
async fn redelivery_is_idempotent() {
    scenarios::redelivery_is_idempotent(Stack::memory()).await;
}

#[tokio::test]
async fn resubmission_is_idempotent() {
    scenarios::resubmission_is_idempotent(Stack::memory()).await;
}

#[tokio::test]
async fn crash_at_every_step() {
    let points = scenarios::crash_at_every_step(async || Stack::memory()).await;
    assert!(points >= 16);
}

#[tokio::test]
async fn poison_records_are_skipped() {
    scenarios::poison_records_are_skipped(Stack::memory()).await;
}

#[tokio::test]
async fn bad_input_matrix() {
    scenarios::bad_input_matrix(Stack::memory()).await;
}

#[tokio::test]
async fn cross_tenant_is_refused() {
    scenarios::cross_tenant_is_refused(Stack::memory()).await;
}

#[tokio::test]
async fn burst_request_budget() {
    scenarios::burst_request_budget(Stack::memory()).await;
}

/// Kinesis keeps rejecting one record: ingest answers 503 naming what was and was not accepted.
#[tokio::test]
async fn partial_stream_failure_is_503_with_the_rejected_events() {
    let mut stack = Stack::memory();
    let log = MemoryLog::default();
    log.reject_when(|_, r| String::from_utf8_lossy(&r.data).contains("\"id\":\"e-2\""));
    stack.log = Arc::new(log.clone());
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    let body = json!({"events": (1..=3).map(|i| json!({"id": format!("e-{i}"), "type":"x","task_id":"t"})).collect::<Vec<_>>()});
    let resp = ingest::handle(&stack.ingest(), post_events(&key, &body)).await;
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let v: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
    assert_eq!(v["error"]["code"], "stream_unavailable");
    assert_eq!(
        v["accepted"],
        json!([{"index":0,"id":"e-1","task_id":"t"},{"index":2,"id":"e-3","task_id":"t"}])
    );
    assert_eq!(v["rejected"], json!([{"index":1,"id":"e-2","task_id":"t"}]));
    assert_eq!(log.len(), 2);
}

#[tokio::test]
async fn events_at_reads_exactly_the_asked_seqs() {
    scenarios::events_at_reads_exactly_the_asked_seqs(Stack::memory()).await;
}
