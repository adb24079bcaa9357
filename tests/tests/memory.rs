//! The pipeline scenarios on in-memory adapters, plus what only memory can inject.

use burstline::apikey::Scope;
use burstline::log::memory::{MemoryLog, SHARD_ID};
use burstline::mapping::kinesis::lambda_event;
use burstline_tests::fixtures::{drain, post_events, stored, task, tenant_with_key};
use burstline_tests::scenarios;
use burstline_tests::stack::Stack;
use serde_json::{Value, json};
use std::sync::Arc;

#[tokio::test]
async fn end_to_end() {
    scenarios::end_to_end(Stack::memory()).await;
}

/// Three pollers, a 503 mid-way and a racing replay: every task's webhooks in seq order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_in_order_under_concurrency() {
    burstline_tests::ordering::webhooks_in_order_under_concurrency(
        Stack::memory(),
        burstline_tests::ordering::Shape::MEMORY,
    )
    .await;
}

#[tokio::test]
async fn delivery_cursor_contract() {
    burstline_tests::ordering::cursor_contract(Arc::new(
        burstline::cursor::memory::MemoryCursors::default(),
    ))
    .await;
}

#[tokio::test]
async fn redelivery_is_idempotent() {
    scenarios::redelivery_is_idempotent(Stack::memory()).await;
}

#[tokio::test]
async fn a_large_resubmission_is_recognised_in_one_invocation() {
    scenarios::a_large_resubmission_is_recognised_in_one_invocation(Stack::memory()).await;
}

#[tokio::test]
async fn resubmission_is_idempotent() {
    scenarios::resubmission_is_idempotent(Stack::memory()).await;
}

#[tokio::test]
async fn idempotency_key_retries_are_stored_once() {
    scenarios::idempotency_key_retries_are_stored_once(Stack::memory()).await;
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
async fn reused_id_is_set_aside_without_blocking_the_shard() {
    scenarios::reused_id_is_set_aside_without_blocking_the_shard(Stack::memory()).await;
}

#[tokio::test]
async fn unchanged_plans_are_not_enqueued_again() {
    scenarios::unchanged_plans_are_not_enqueued_again(Stack::memory()).await;
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

/// A stack whose log (stream) is `log`, so tests can make Kinesis refuse some records.
fn with_log(log: &MemoryLog) -> Stack {
    let mut stack = Stack::memory();
    stack.log = Arc::new(log.clone());
    stack.shards = Arc::new(log.clone());
    stack
}

fn ids_of(events: &[burstline::event::Envelope]) -> Vec<String> {
    events.iter().map(|e| e.id.to_string()).collect()
}

/// Kinesis refuses the rejection event: the task that needs it is reported for Lambda's retry
/// (nothing of it is committed past the record), the other tasks are stored, and the retry
/// files the rejection once.
#[tokio::test]
async fn a_rejection_that_cannot_be_filed_is_retried() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let log = MemoryLog::default();
    let throttled = Arc::new(AtomicBool::new(true));
    let flag = throttled.clone();
    log.reject_when(move |_, r| {
        flag.load(Ordering::SeqCst) && r.partition_key.ends_with("/burstline.rejections")
    });
    let stack = with_log(&log);
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    for body in [
        json!({"id":"step-1","type":"x","task_id":"a"}),
        json!({"events":[{"id":"step-1","type":"x","task_id":"b"},{"id":"b-2","type":"x","task_id":"b"}]}),
    ] {
        let resp = ingest::handle(&stack.ingest(), post_events(&key, &body)).await;
        assert_eq!(resp.status(), 202);
    }
    let records = log.records();
    let event = lambda_event(SHARD_ID, &records, "arn");
    let out = fanout::handler::process(&stack.fanout(), event.clone()).await;
    let failures: Vec<_> = out
        .response
        .batch_item_failures
        .iter()
        .filter_map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(
        failures,
        [records[1].sequence_number.clone()],
        "b is retried"
    );
    assert_eq!((out.stored, out.rejected), (1, 0));
    assert!(stored(&stack, &task("acme", "b")).await.is_empty());

    throttled.store(false, Ordering::SeqCst);
    let retry = lambda_event(SHARD_ID, &records[1..], "arn");
    let out = fanout::handler::process(&stack.fanout(), retry.clone()).await;
    assert!(out.response.batch_item_failures.is_empty());
    assert_eq!((out.stored, out.rejected), (1, 1));
    // Another retry (say the response was lost) finds b applied and files nothing more.
    fanout::handler::process(&stack.fanout(), retry).await;
    drain(&stack, &stack.fanout(), 100).await;
    assert_eq!(ids_of(&stored(&stack, &task("acme", "b")).await), ["b-2"]);
    let told = stored(&stack, &task("acme", "burstline.rejections")).await;
    assert_eq!(told.len(), 1, "one rejection: {told:?}");
    assert_eq!(told[0].data["event_id"], "step-1");
}

/// A record of `burstline.rejections` itself that must be set aside is logged and counted,
/// never answered with another rejection.
#[tokio::test]
async fn the_rejections_task_is_never_answered_with_a_rejection() {
    let log = MemoryLog::default();
    let stack = with_log(&log);
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    for body in [
        json!({"id":"step-1","type":"x","task_id":"a"}),
        json!({"id":"step-1","type":"x","task_id":"burstline.rejections"}),
    ] {
        let resp = ingest::handle(&stack.ingest(), post_events(&key, &body)).await;
        assert_eq!(resp.status(), 202);
    }
    let out = fanout::handler::process(
        &stack.fanout(),
        lambda_event(SHARD_ID, &log.records(), "arn"),
    )
    .await;
    assert!(out.response.batch_item_failures.is_empty());
    assert_eq!((out.stored, out.rejected), (1, 1));
    assert_eq!(log.len(), 2, "nothing filed");
    assert!(
        stored(&stack, &task("acme", "burstline.rejections"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn events_at_reads_exactly_the_asked_seqs() {
    scenarios::events_at_reads_exactly_the_asked_seqs(Stack::memory()).await;
}

/// Independent tasks' transactions commit concurrently; a long task's chunks stay in order.
#[tokio::test(start_paused = true)]
async fn independent_tasks_commit_concurrently() {
    scenarios::independent_tasks_commit_concurrently(Stack::memory()).await;
}
