//! Streams bounded for Lambda, on in-memory adapters with tokio's clock paused: a response
//! ends after its segment length or the idle cutoff with a short `retry:`, the viewer resumes
//! with `Last-Event-ID` and sees every seq once; an abandoned stream (Lambda never says the
//! client left) frees its slot within 60 s.

use burstline::apikey::Scope;
use burstline_tests::fixtures::task;
use burstline_tests::stack::Stack;
use burstline_tests::streams::{
    SseClient, append, bearer, events, get_events, ids, streamer, tenant,
};
use http_body_util::BodyExt;
use std::time::Duration;
use stream::StreamSettings;
use tokio::time::Instant;

const ALL: &[Scope] = &[Scope::Stream];

/// The frame that ends a segment: the short reconnect delay and the last seq sent.
fn reconnect_frame(settings: &StreamSettings, last: u64) -> String {
    format!("retry: {}\nid: {last}\n\n", settings.reconnect.as_millis())
}

#[tokio::test(start_paused = true)]
async fn a_viewer_follows_a_long_task_across_segments_and_sees_every_seq_once() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 10, ALL).await;
    let settings = StreamSettings::default();
    let deps = streamer(&stack, stack.store.clone(), settings.clone()).await;
    let k = task("acme", "long");
    append(stack.store.as_ref(), &k, &events(1, false), None).await;
    // One event every 2 s for 200 s, then the terminal event: about four segments' worth.
    let store = stack.store.clone();
    let producer_key = k.clone();
    let producer = tokio::spawn(async move {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            append(store.as_ref(), &producer_key, &events(1, false), None).await;
        }
        append(store.as_ref(), &producer_key, &events(1, true), None).await;
    });
    let auth = bearer(&key);
    let mut seen: Vec<u64> = Vec::new();
    let mut segments = 0;
    loop {
        let last = seen.last().copied().unwrap_or(0).to_string();
        let headers = [("authorization", auth.as_str()), ("last-event-id", &last)];
        let response = stream::handle(&deps, get_events("long", "", &headers)).await;
        if response.status() == 204 {
            break;
        }
        assert_eq!(response.status(), 200);
        segments += 1;
        let opened = Instant::now();
        let mut client = SseClient::new(response);
        let got = client.rest().await;
        seen.extend(ids(&got));
        if got.last().is_some_and(|e| e.event == "task.completed") {
            break;
        }
        let lasted = Instant::now() - opened;
        assert_eq!(
            lasted, settings.segment,
            "a busy segment runs its full length"
        );
        let last = seen.last().copied().unwrap_or(0);
        assert!(
            client.text().ends_with(&reconnect_frame(&settings, last)),
            "a segment ends with a short retry: and its cursor: {:?}",
            client.text()
        );
        tokio::time::sleep(settings.reconnect).await;
    }
    producer.await.unwrap();
    assert_eq!(
        seen,
        (1..=102).collect::<Vec<_>>(),
        "every seq once, in order"
    );
    assert!(segments >= 4, "{segments} segments");
}

#[tokio::test(start_paused = true)]
async fn a_quiet_task_ends_the_response_at_the_idle_cutoff() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 10, ALL).await;
    let settings = StreamSettings::default();
    let deps = streamer(&stack, stack.store.clone(), settings.clone()).await;
    append(
        stack.store.as_ref(),
        &task("acme", "quiet"),
        &events(3, false),
        None,
    )
    .await;
    let auth = bearer(&key);
    let t0 = Instant::now();
    let mut client = SseClient::new(
        stream::handle(&deps, get_events("quiet", "", &[("authorization", &auth)])).await,
    );
    assert_eq!(ids(&client.rest().await), vec![1, 2, 3]);
    assert_eq!(
        Instant::now() - t0,
        settings.idle,
        "ends at the idle cutoff"
    );
    assert!(client.text().ends_with(&reconnect_frame(&settings, 3)));
    // Pings kept the connection alive meanwhile; they are not activity.
    assert!(client.text().contains(": ping\n\n"));
    // The reconnect resumes after seq 3; the idle cutoff counts from the open.
    let t1 = Instant::now();
    let mut again = SseClient::new(
        stream::handle(
            &deps,
            get_events(
                "quiet",
                "",
                &[("authorization", &auth), ("last-event-id", "3")],
            ),
        )
        .await,
    );
    assert!(again.rest().await.is_empty());
    assert_eq!(Instant::now() - t1, settings.idle);
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_stream_frees_its_slot_within_60_seconds() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 1, ALL).await;
    let deps = streamer(&stack, stack.store.clone(), StreamSettings::default()).await;
    let k = task("acme", "busy");
    append(stack.store.as_ref(), &k, &events(1, false), None).await;
    // The task stays busy: an event every second, for longer than the test looks.
    let store = stack.store.clone();
    let producer = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            append(store.as_ref(), &k, &events(1, false), None).await;
        }
    });
    let auth = bearer(&key);
    let open = || stream::handle(&deps, get_events("busy", "", &[("authorization", &auth)]));
    let abandoned = open().await;
    assert_eq!(abandoned.status(), 200);
    let t0 = Instant::now();
    // As on Lambda: the client is gone, but the runtime keeps accepting every byte, so the
    // function never learns it.
    let sink = tokio::spawn(async move {
        let mut body = abandoned.into_body();
        while let Some(Ok(_)) = body.frame().await {}
    });
    let freed = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let r = open().await;
        if r.status() == 200 {
            break Instant::now() - t0;
        }
        assert_eq!(r.status(), 429, "the budget is one stream");
        assert!(
            Instant::now() - t0 <= Duration::from_secs(60),
            "the abandoned stream still holds the slot after 60 s"
        );
    };
    assert!(freed <= Duration::from_secs(60), "{freed:?}");
    producer.abort();
    sink.abort();
}
