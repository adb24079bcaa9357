//! The pipeline scenarios against a moto server, through the real AWS SDK adapters.
//! The harness starts moto itself (from `.venv`, see `make venv`) on a free loopback port.

use burstline_tests::scenarios;
use burstline_tests::stack::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end() {
    scenarios::end_to_end(Stack::moto("e2e").await).await;
}

/// Webhook order through SQS and DynamoDB on moto: three concurrent pollers, several jobs and
/// fanout batches per task, a 503 mid-way and a replay racing live traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_in_order_under_concurrency() {
    burstline_tests::ordering::webhooks_in_order_under_concurrency(
        Stack::moto("order").await,
        burstline_tests::ordering::Shape::MOTO,
    )
    .await;
}

/// The cursor's conditions as DynamoDB (moto) enforces them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_cursor_contract() {
    burstline_tests::ordering::cursor_contract(Stack::moto("cursor").await.cursors).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivery_is_idempotent() {
    scenarios::redelivery_is_idempotent(Stack::moto("redeliver").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_resubmission_is_recognised_in_one_invocation() {
    scenarios::a_large_resubmission_is_recognised_in_one_invocation(Stack::moto("bigresend").await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubmission_is_idempotent() {
    scenarios::resubmission_is_idempotent(Stack::moto("resubmit").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_retries_are_stored_once() {
    scenarios::idempotency_key_retries_are_stored_once(Stack::moto("idem-key").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_at_every_step() {
    let points = scenarios::crash_at_every_step(async || Stack::moto("crash").await).await;
    assert!(points >= 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_are_skipped() {
    scenarios::poison_records_are_skipped(Stack::moto("poison").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_matrix() {
    scenarios::bad_input_matrix(Stack::moto("badinput").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_tenant_is_refused() {
    scenarios::cross_tenant_is_refused(Stack::moto("tenants").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_id_is_set_aside_without_blocking_the_shard() {
    scenarios::reused_id_is_set_aside_without_blocking_the_shard(Stack::moto("reuse").await).await;
}

/// DynamoDB (moto) refuses an item over 400 KB: only that record is set aside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_record_is_set_aside() {
    scenarios::refused_record_is_set_aside(Stack::moto("refused").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_plans_are_not_enqueued_again() {
    scenarios::unchanged_plans_are_not_enqueued_again(Stack::moto("replan").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_request_budget() {
    scenarios::burst_request_budget(Stack::moto("budget").await).await;
}

/// Full-size transactions (100 actions) and 500-record batches, as the template configures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_sized_batches() {
    scenarios::template_sized_batches(Stack::moto("bigbatch").await).await;
}

/// `BatchGetItem` of specific seqs, consistent, chunked at 100 keys, in DynamoDB's order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_at_reads_exactly_the_asked_seqs() {
    scenarios::events_at_reads_exactly_the_asked_seqs(Stack::moto("eventsat").await).await;
}

/// Webhooks through SQS and DynamoDB on moto: fanout's jobs → SQS → deliver → a real
/// receiver; a rejected delivery lands in the SQS DLQ, the attempt log in DynamoDB, and a
/// redrive delivers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_through_sqs_with_dead_letters_and_redrive() {
    use burstline::apikey::Scope;
    use burstline::redrive::redrive;
    use burstline_tests::fixtures::*;
    use burstline_tests::receiver::{Receiver, Reply};
    use std::sync::Arc;

    let stack = Stack::moto("webhooks").await;
    let rx = Receiver::start().await;
    rx.script([Reply::Status(400)]);
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    let ep = endpoint("acme", &rx.url, &["*"]);
    stack.endpoints.create_endpoint(&ep).await.unwrap();
    let resp = ingest::handle(&stack.ingest(), post_events(&key, &burst("run-1", 5))).await;
    assert_eq!(resp.status(), 202);
    drain(&stack, &stack.fanout(), 100).await;
    let sender =
        Arc::new(deliver::http::HttpSender::new(std::time::Duration::from_secs(2), true).unwrap());
    let deps = stack.deliver(sender, deliver::Policy::default());
    drain_deliveries(&stack, &deps).await;
    let got = rx.received();
    assert_eq!(got.len(), 5);
    let seqs: Vec<u64> = got
        .iter()
        .map(|r| r.json()["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    let dead = dead_letters(&stack).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].job.events[0].seq.0, 1);
    let page = stack
        .attempts
        .list(&ep.tenant_id, &ep.id, 10, None)
        .await
        .unwrap();
    assert_eq!(page.attempts.len(), 5);
    assert_eq!(
        page.attempts
            .iter()
            .filter(|a| a.http_status == Some(400))
            .count(),
        1
    );

    let report = redrive(
        stack.dlq_reader.as_ref(),
        stack.queue.as_ref(),
        Some(&ep.id),
        false,
    )
    .await
    .unwrap();
    assert_eq!(report.removed, 1);
    drain_deliveries(&stack, &deps).await;
    let got = rx.received();
    assert_eq!(got.len(), 6);
    assert_eq!(got[5].json()["seq"], 1, "the redriven event is delivered");
    assert!(dead_letters(&stack).await.is_empty());
}

/// Independent tasks' transactions commit concurrently; a long task's chunks stay in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_tasks_commit_concurrently() {
    scenarios::independent_tasks_commit_concurrently(Stack::moto("lanes").await).await;
}
