//! The pipeline scenarios against a moto server, through the real AWS SDK adapters.
//! The harness starts moto itself (from `.venv`, see `make venv`) on a free loopback port.

use burstline_tests::scenarios;
use burstline_tests::stack::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end() {
    scenarios::end_to_end(Stack::moto("e2e").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivery_is_idempotent() {
    scenarios::redelivery_is_idempotent(Stack::moto("redeliver").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubmission_is_idempotent() {
    scenarios::resubmission_is_idempotent(Stack::moto("resubmit").await).await;
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
async fn burst_request_budget() {
    scenarios::burst_request_budget(Stack::moto("budget").await).await;
}

/// Full-size transactions (100 actions) and 500-record batches, as the template configures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_sized_batches() {
    scenarios::template_sized_batches(Stack::moto("bigbatch").await).await;
}
