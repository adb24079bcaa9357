//! Opening a stream in as few round trips as it can: the tenant's budget is read while the
//! task's head is, and the first page while the slot is claimed, so a deployed stream (every
//! call a network round trip) sends its first frame after two round trips instead of four.
//! A refused claim still sends no event. Every call here takes one second of paused time.

use burstline::apikey::Scope;
use burstline_tests::fixtures::task;
use burstline_tests::slow::{Delays, Slow};
use burstline_tests::stack::Stack;
use burstline_tests::streams::{SseClient, append, bearer, events, get_events, ids, streamer};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use stream::StreamSettings;
use tokio::time::Instant;

const ROUND_TRIP: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn the_first_frame_comes_after_two_round_trips_and_a_refused_claim_sends_none() {
    let stack = Stack::memory();
    let key = burstline_tests::streams::tenant(&stack, "acme", 1, &[Scope::Stream]).await;
    let slow = Delays {
        head: ROUND_TRIP,
        events: ROUND_TRIP,
        tenant: ROUND_TRIP,
        acquire: ROUND_TRIP,
        release: Duration::ZERO,
    };
    let mut deps = streamer(
        &stack,
        Arc::new(Slow::new(stack.store.clone(), slow)),
        StreamSettings::default(),
    )
    .await;
    deps.tenants = Arc::new(Slow::new(deps.tenants.clone(), slow));
    deps.leases = Arc::new(Slow::new(deps.leases.clone(), slow));
    append(
        stack.store.as_ref(),
        &task("acme", "t"),
        &events(3, false),
        None,
    )
    .await;
    let auth = bearer(&key);

    let asked = Instant::now();
    let mut first = SseClient::new(
        stream::handle(&deps, get_events("t", "", &[("authorization", &auth)])).await,
    );
    let frame = first.next().await.expect("the first event");
    let took = asked.elapsed();
    assert_eq!(ids(&[frame]), vec![1]);
    // Head ∥ tenant, then claim ∥ first page: two round trips. One after another (head,
    // tenant, claim, page) they took four.
    assert!(
        took >= 2 * ROUND_TRIP && took < 3 * ROUND_TRIP,
        "first frame after {took:?}"
    );

    // The only slot is held: the second open read a page while claiming, and sends none of it.
    let refused = stream::handle(&deps, get_events("t", "", &[("authorization", &auth)])).await;
    assert_eq!(refused.status(), 429);
    let body = refused.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("too_many_streams"), "{body}");
    assert!(!body.contains("task.started"), "{body}");
}
