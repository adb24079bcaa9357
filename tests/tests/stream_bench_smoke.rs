//! The SSE benchmark's measurements on small numbers, so `make test` keeps them working.

use burstline_tests::stack::Stack;
use burstline_tests::stream_bench::{idle_cost, latency, memory_per_stream};
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn idle_cost_is_measured() {
    let (reads, writes) = idle_cost(5, 2).await;
    // About one poll a second, plus two reconnects a minute (the 30 s idle cutoff): head,
    // tenant and slot reads, and a slot claim and release each.
    assert!((55.0..=70.0).contains(&reads), "{reads}");
    assert!(writes > 0.0 && writes <= 6.0, "{writes}");
}

#[tokio::test]
async fn memory_is_measured() {
    let per = memory_per_stream(200).await;
    assert!(per < 64.0 * 1024.0, "{per} bytes per stream");
}

#[tokio::test]
async fn latency_is_measured() {
    let l = latency(
        Stack::memory(),
        "memory",
        3,
        2,
        5,
        Duration::from_millis(100),
    )
    .await;
    assert_eq!(l.events, 3 * 2 * 5, "every event reached its stream");
    assert!(l.p50_ms <= l.p99_ms && l.p99_ms <= l.max_ms);
}
