//! The SSE benchmark's measurements on small numbers, so `make test` keeps them working.

use burstline_tests::stack::Stack;
use burstline_tests::stream_bench::{idle_cost, latency, memory_per_stream};
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn idle_cost_is_measured() {
    let t = std::time::Instant::now();
    let (reads, writes) = idle_cost(5, 2).await;
    eprintln!("idle {reads} {writes} in {:?}", t.elapsed());
    assert!((55.0..=60.0).contains(&reads), "{reads}");
    assert!(writes > 0.0 && writes < 5.0, "{writes}");
}

#[tokio::test]
async fn memory_is_measured() {
    let t = std::time::Instant::now();
    let per = memory_per_stream(2000).await;
    eprintln!("mem {per} in {:?}", t.elapsed());
}

#[tokio::test]
async fn latency_is_measured() {
    let t = std::time::Instant::now();
    let l = latency(
        Stack::memory(),
        "memory",
        3,
        2,
        5,
        Duration::from_millis(100),
    )
    .await;
    eprintln!("{l:?} in {:?}", t.elapsed());
    assert_eq!(l.events, 3 * 2 * 5);
}

#[tokio::test]
async fn probe_single_stream_latency() {
    use burstline::apikey::Scope;
    use burstline_tests::fixtures::task;
    use burstline_tests::streams::*;
    let stack = Stack::memory();
    let key = tenant(&stack, "p", 10, &[Scope::Stream]).await;
    let deps = streamer(
        &stack,
        stack.store.clone(),
        stream::StreamSettings::default(),
    )
    .await;
    let k = task("p", "t");
    append(stack.store.as_ref(), &k, &events(1, false), None).await;
    let auth = bearer(&key);
    let mut c = SseClient::new(
        stream::handle(&deps, get_events("t", "", &[("authorization", &auth)])).await,
    );
    c.next().await.unwrap();
    let mut out = vec![];
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        append(stack.store.as_ref(), &k, &events(1, false), None).await;
        let t0 = tokio::time::Instant::now();
        c.next().await.unwrap();
        out.push(t0.elapsed().as_millis());
    }
    eprintln!("probe {out:?}");
}
