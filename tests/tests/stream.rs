//! The stream function on in-memory adapters, with tokio's clock paused: framing, resume at
//! every cut point, live tail, endings, heartbeats, budgets and tokens. Streams are parsed by
//! `eventsource-stream`, not by an inverse of our encoder.

use burstline::apikey::Scope;
use burstline::event::Envelope;
use burstline::ids::TenantId;
use burstline::leases::Claim;
use burstline_tests::fixtures::task;
use burstline_tests::stack::Stack;
use burstline_tests::streams::{
    FailingReads, Hiding, SseClient, append, bearer, body_text, clock_now, events, get_events, ids,
    streamer, tenant, token,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use stream::StreamSettings;
use tokio::time::Instant;

const ALL: &[Scope] = &[Scope::Stream, Scope::Manage];

/// Settings whose segments last the whole lifetime and never end for quiet: for tests that
/// watch one long response (segments are `stream_segments.rs`'s subject).
fn unsegmented() -> StreamSettings {
    let d = StreamSettings::default();
    StreamSettings {
        segment: d.lifetime,
        idle: d.lifetime,
        ..d
    }
}

#[tokio::test(start_paused = true)]
async fn frames_are_exact_and_payloads_survive() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 10, ALL).await;
    let deps = streamer(&stack, stack.store.clone(), StreamSettings::default()).await;
    let payloads = [
        json!({"text": "line one\nline two\r\nline three\rend"}),
        json!({"text": "héllo wörld — 你好 😀 \u{2028}\u{2029}", "nested": {"a": [1, "\n\n"]}}),
        json!("data: not a field\n\nid: 99\nevent: fake"),
        json!(null),
    ];
    let mut evs: Vec<(&str, serde_json::Value)> = payloads
        .iter()
        .map(|p| ("token.delta", p.clone()))
        .collect();
    evs.push(("task.completed", json!({"ok": true})));
    let stored = append(stack.store.as_ref(), &task("acme", "run-1"), &evs, None).await;

    let auth = bearer(&key);
    let response =
        stream::handle(&deps, get_events("run-1", "", &[("authorization", &auth)])).await;
    let mut client = SseClient::new(response);
    assert_eq!(client.status, 200);
    let h = &client.headers;
    assert_eq!(h["content-type"], "text/event-stream");
    assert_eq!(h["cache-control"], "no-cache, no-transform");
    assert_eq!(h["x-accel-buffering"], "no");
    assert!(h.get("content-length").is_none());

    let got = client.rest().await;
    assert!(
        client.text().starts_with("retry: 1000\nid: 0\n\n"),
        "{:?}",
        client.text()
    );
    assert_eq!(got.len(), stored.len());
    for (event, envelope) in got.iter().zip(&stored) {
        assert_eq!(event.id, envelope.seq.to_string());
        assert_eq!(event.event, envelope.event_type.as_str());
        let parsed: Envelope = serde_json::from_str(&event.data).unwrap();
        assert_eq!(&parsed, envelope);
    }
    // Every event is one frame of exactly three lines.
    let raw = client.raw();
    for (_, chunk) in &raw[1..] {
        let text = std::str::from_utf8(chunk).unwrap();
        assert!(text.starts_with("id: ") && text.ends_with("\n\n"));
        assert_eq!(text.matches('\n').count(), 4, "{text:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn resume_at_every_cut_point_of_a_200_event_task() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 1000, ALL).await;
    let settings = StreamSettings {
        page_size: 37,
        ..StreamSettings::default()
    };
    let deps = streamer(&stack, stack.store.clone(), settings).await;
    append(
        stack.store.as_ref(),
        &task("acme", "big"),
        &events(200, true),
        None,
    )
    .await;
    let auth = bearer(&key);
    let want: Vec<u64> = (1..=200).collect();
    for k in 0..=200usize {
        let first = stream::handle(&deps, get_events("big", "", &[("authorization", &auth)])).await;
        let mut first = SseClient::new(first);
        let mut seen = Vec::new();
        for _ in 0..k {
            seen.push(first.next().await.unwrap());
        }
        drop(first); // the cut
        let last = seen.last().map_or("0".to_owned(), |e| e.id.clone());
        let second = stream::handle(
            &deps,
            get_events(
                "big",
                "",
                &[("authorization", &auth), ("last-event-id", &last)],
            ),
        )
        .await;
        if k == 200 {
            assert_eq!(
                second.status(),
                204,
                "nothing left after the terminal event"
            );
            assert_eq!(ids(&seen), want);
            continue;
        }
        let mut second = SseClient::new(second);
        seen.extend(second.rest().await);
        assert_eq!(ids(&seen), want, "cut after {k}");
    }
    // The query-parameter form resumes the same way.
    let r = stream::handle(
        &deps,
        get_events("big", "last_event_id=150", &[("authorization", &auth)]),
    )
    .await;
    let got = SseClient::new(r).rest().await;
    assert_eq!(ids(&got), (151..=200).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn live_tail_never_skips_when_seqs_appear_out_of_order() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 10, ALL).await;
    let hiding = Hiding::new(stack.store.clone());
    let deps = streamer(&stack, Arc::new(hiding.clone()), StreamSettings::default()).await;
    let k = task("acme", "live");
    append(stack.store.as_ref(), &k, &events(3, false), None).await;
    let auth = bearer(&key);
    let mut client = SseClient::new(
        stream::handle(&deps, get_events("live", "", &[("authorization", &auth)])).await,
    );
    for want in 1..=3 {
        assert_eq!(client.next().await.unwrap().id, want.to_string());
    }
    // Committed while the stream is open.
    tokio::time::sleep(Duration::from_secs(5)).await;
    append(stack.store.as_ref(), &k, &events(2, false), None).await;
    let t0 = Instant::now();
    assert_eq!(client.next().await.unwrap().id, "4");
    assert!(
        t0.elapsed() <= Duration::from_millis(700),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(client.next().await.unwrap().id, "5");

    // 7 and 8 become visible before 6.
    hiding.hide([6]);
    append(stack.store.as_ref(), &k, &events(3, false), None).await;
    assert!(
        client.next_within(Duration::from_secs(10)).await.is_err(),
        "nothing may pass a missing seq"
    );
    hiding.reveal(6);
    let t0 = Instant::now();
    for want in 6..=8 {
        assert_eq!(client.next().await.unwrap().id, want.to_string());
    }
    assert!(
        t0.elapsed() <= Duration::from_millis(100),
        "{:?}",
        t0.elapsed()
    );
    append(
        stack.store.as_ref(),
        &k,
        &[("task.failed", json!({}))],
        None,
    )
    .await;
    let last = client.next().await.unwrap();
    assert_eq!(
        (last.id.as_str(), last.event.as_str()),
        ("9", "task.failed")
    );
    assert!(
        client.next().await.is_none(),
        "ends after the terminal event"
    );
}

#[tokio::test(start_paused = true)]
async fn from_now_tails_only_new_events() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 10, ALL).await;
    let deps = streamer(&stack, stack.store.clone(), StreamSettings::default()).await;
    let k = task("acme", "t");
    append(stack.store.as_ref(), &k, &events(4, false), None).await;
    let auth = bearer(&key);
    let mut client = SseClient::new(
        stream::handle(
            &deps,
            get_events("t", "from=now", &[("authorization", &auth)]),
        )
        .await,
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    append(stack.store.as_ref(), &k, &events(1, true), None).await;
    let got = client.rest().await;
    assert_eq!(ids(&got), vec![5]);
    let r = stream::handle(
        &deps,
        get_events("t", "from=now", &[("authorization", &auth)]),
    )
    .await;
    assert_eq!(r.status(), 204);
}

#[tokio::test(start_paused = true)]
async fn the_opening_frame_carries_the_cursor_so_an_early_reconnect_resumes_there() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 10, ALL).await;
    let deps = streamer(&stack, stack.store.clone(), StreamSettings::default()).await;
    let k = task("acme", "t");
    append(stack.store.as_ref(), &k, &events(4, false), None).await;
    let auth = bearer(&key);
    let opening = |query: &'static str, last: Option<&'static str>| {
        let deps = deps.clone();
        let auth = auth.clone();
        async move {
            let mut headers = vec![("authorization", auth.as_str())];
            headers.extend(last.map(|l| ("last-event-id", l)));
            let mut c =
                SseClient::new(stream::handle(&deps, get_events("t", query, &headers)).await);
            // Reading pulls the body; the opening block is its own first chunk.
            let _ = c.next_within(Duration::from_millis(100)).await;
            String::from_utf8(c.raw()[0].1.to_vec()).unwrap()
        }
    };
    assert_eq!(opening("", None).await, "retry: 1000\nid: 0\n\n");
    assert_eq!(opening("", Some("2")).await, "retry: 1000\nid: 2\n\n");
    assert_eq!(opening("from=now", None).await, "retry: 1000\nid: 4\n\n");

    // An EventSource on `?from=now` drops before any event; seq 5 is committed meanwhile. It
    // reconnects to the same URL with the opening id as Last-Event-ID: 5 is not skipped.
    append(stack.store.as_ref(), &k, &events(1, true), None).await;
    let r = stream::handle(
        &deps,
        get_events(
            "t",
            "from=now",
            &[("authorization", &auth), ("last-event-id", "4")],
        ),
    )
    .await;
    assert_eq!(ids(&SseClient::new(r).rest().await), vec![5]);
}

#[tokio::test(start_paused = true)]
async fn failed_reads_never_declare_a_gap() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 10, ALL).await;
    // A task older than retention, all of whose events exist: only a false gap could skip.
    let old = chrono::Utc::now() - chrono::Duration::days(8);
    append(
        stack.store.as_ref(),
        &task("acme", "old"),
        &events(10, true),
        Some(old),
    )
    .await;
    // The first reads time out, each after longer than the gap grace.
    let failing = FailingReads::new(stack.store.clone(), 3, Duration::from_millis(2500));
    let deps = streamer(&stack, Arc::new(failing), StreamSettings::default()).await;
    let auth = bearer(&key);
    let r = stream::handle(&deps, get_events("old", "", &[("authorization", &auth)])).await;
    let got = SseClient::new(r).rest().await;
    assert!(got.iter().all(|e| e.event != "gap"), "{got:?}");
    assert_eq!(ids(&got), (1..=10).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn a_stream_opened_before_the_first_commit_waits_for_it() {
    let stack = Stack::memory();
    // Two slots and two waiting requests: a request waiting for its task must not hold one.
    let key = tenant(&stack, "acme", 2, ALL).await;
    let deps = streamer(&stack, stack.store.clone(), StreamSettings::default()).await;
    let auth = bearer(&key);
    let open = |task: &'static str, query: &'static str| {
        let deps = deps.clone();
        let auth = auth.clone();
        tokio::spawn(async move {
            stream::handle(&deps, get_events(task, query, &[("authorization", &auth)])).await
        })
    };
    let from_start = open("new", "");
    let from_now = open("new", "from=now");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!from_start.is_finished(), "waiting, nothing sent yet");
    append(
        stack.store.as_ref(),
        &task("acme", "other"),
        &events(1, true),
        None,
    )
    .await;
    let other = open("other", "").await.unwrap();
    assert_eq!(other.status(), 200, "the waiting requests hold no slot");
    assert_eq!(ids(&SseClient::new(other).rest().await), vec![1]);

    // fanout commits the task's first events a few seconds after ingest's 202.
    tokio::time::sleep(Duration::from_secs(2)).await;
    append(
        stack.store.as_ref(),
        &task("acme", "new"),
        &events(3, true),
        None,
    )
    .await;
    let r = from_start.await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(ids(&SseClient::new(r).rest().await), vec![1, 2, 3]);
    // Every event of a task that appeared while waiting is new to a `from=now` stream.
    let r = from_now.await.unwrap();
    assert_eq!(ids(&SseClient::new(r).rest().await), vec![1, 2, 3]);

    // A task that never appears is a 404 once the wait is over, not before.
    let start = Instant::now();
    let r = open("never", "").await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(start.elapsed(), StreamSettings::default().task_wait);
}

#[tokio::test(start_paused = true)]
async fn events_past_retention_become_one_gap_frame() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 10, ALL).await;
    let hiding = Hiding::new(stack.store.clone());
    let deps = streamer(&stack, Arc::new(hiding.clone()), StreamSettings::default()).await;
    let old = chrono::Utc::now() - chrono::Duration::days(8);
    append(
        stack.store.as_ref(),
        &task("acme", "old"),
        &events(10, true),
        Some(old),
    )
    .await;
    hiding.hide(1..=4);
    let auth = bearer(&key);
    let mut client = SseClient::new(
        stream::handle(&deps, get_events("old", "", &[("authorization", &auth)])).await,
    );
    let got = client.rest().await;
    assert_eq!(got[0].event, "gap");
    assert_eq!(got[0].id, "4");
    let gap: serde_json::Value = serde_json::from_str(&got[0].data).unwrap();
    assert_eq!(
        (gap["from_seq"].as_u64(), gap["to_seq"].as_u64()),
        (Some(1), Some(4))
    );
    assert_eq!(ids(&got[1..]), (5..=10).collect::<Vec<_>>());

    // A young task with the same hole waits instead (then the lifetime ends the stream).
    append(
        stack.store.as_ref(),
        &task("acme", "young"),
        &events(10, true),
        None,
    )
    .await;
    let settings = StreamSettings {
        lifetime: Duration::from_secs(30),
        ..StreamSettings::default()
    };
    let deps = streamer(&stack, Arc::new(hiding.clone()), settings).await;
    let mut client = SseClient::new(
        stream::handle(&deps, get_events("young", "", &[("authorization", &auth)])).await,
    );
    assert!(client.rest().await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn lifetime_ends_the_stream_and_heartbeats_keep_cadence() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 10, ALL).await;
    let settings = StreamSettings {
        lifetime: Duration::from_secs(14 * 60),
        ..unsegmented()
    };
    let deps = streamer(&stack, stack.store.clone(), settings).await;
    append(
        stack.store.as_ref(),
        &task("acme", "idle"),
        &events(2, false),
        None,
    )
    .await;
    let auth = bearer(&key);
    let t0 = Instant::now();
    let mut client = SseClient::new(
        stream::handle(&deps, get_events("idle", "", &[("authorization", &auth)])).await,
    );
    assert_eq!(ids(&client.rest().await), vec![1, 2]);
    let ended = Instant::now() - t0;
    assert_eq!(
        ended,
        Duration::from_secs(14 * 60),
        "ends exactly at the lifetime"
    );
    let pings: Vec<Duration> = client
        .raw()
        .iter()
        .filter(|(_, b)| b.as_ref() == b": ping\n\n")
        .map(|(at, _)| *at - t0)
        .collect();
    assert_eq!(
        pings.len(),
        14 * 4 - 1,
        "one every 15 s, none at the very end"
    );
    let mut last = Duration::ZERO;
    for p in &pings {
        assert_eq!(*p - last, Duration::from_secs(15));
        last = *p;
    }
    // The client resumes and gets only what is new.
    append(
        stack.store.as_ref(),
        &task("acme", "idle"),
        &events(1, true),
        None,
    )
    .await;
    let r = stream::handle(
        &deps,
        get_events(
            "idle",
            "",
            &[("authorization", &auth), ("last-event-id", "2")],
        ),
    )
    .await;
    assert_eq!(ids(&SseClient::new(r).rest().await), vec![3]);
}

#[tokio::test(start_paused = true)]
async fn idle_streams_read_at_most_once_a_second() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 10, ALL).await;
    let deps = streamer(&stack, stack.store.clone(), unsegmented()).await;
    append(
        stack.store.as_ref(),
        &task("acme", "idle"),
        &events(1, false),
        None,
    )
    .await;
    let auth = bearer(&key);
    let mut client = SseClient::new(
        stream::handle(&deps, get_events("idle", "", &[("authorization", &auth)])).await,
    );
    client.next().await.unwrap();
    tokio::time::sleep(Duration::from_secs(40)).await;
    stack.requests.reset();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let reads = stack
        .requests
        .snapshot()
        .get("dynamodb:Query")
        .copied()
        .unwrap_or(0);
    assert!(
        (55..=60).contains(&reads),
        "{reads} reads in an idle minute"
    );
}

#[tokio::test(start_paused = true)]
async fn a_busy_stream_reads_at_most_ten_times_a_second() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 10, ALL).await;
    let settings = StreamSettings {
        page_size: 5,
        ..unsegmented()
    };
    let deps = streamer(&stack, stack.store.clone(), settings).await;
    let k = task("acme", "busy");
    append(stack.store.as_ref(), &k, &events(1, false), None).await;
    let auth = bearer(&key);
    let mut client = SseClient::new(
        stream::handle(&deps, get_events("busy", "", &[("authorization", &auth)])).await,
    );
    client.next().await.unwrap();
    stack.requests.reset();
    // Ten seconds of a hard burst: 20 events every 10 ms, far more than pages of 5 carry.
    let store = stack.store.clone();
    let producer_key = k.clone();
    let producer = tokio::spawn(async move {
        for _ in 0..1000 {
            append(store.as_ref(), &producer_key, &events(20, false), None).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let reader = tokio::spawn(async move { while client.next().await.is_some() {} });
    tokio::time::sleep(Duration::from_secs(10)).await;
    let reads = stack
        .requests
        .snapshot()
        .get("dynamodb:Query")
        .copied()
        .unwrap_or(0);
    assert!((90..=101).contains(&reads), "{reads} reads in a busy 10 s");
    producer.abort();
    reader.abort();
}

#[tokio::test(start_paused = true)]
async fn unknown_and_foreign_tasks_are_404_and_credentials_are_checked() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 10, ALL).await;
    let other = tenant(&stack, "globex", 10, ALL).await;
    let ingest_only = tenant(&stack, "initech", 10, &[Scope::Ingest]).await;
    let deps = streamer(&stack, stack.store.clone(), StreamSettings::default()).await;
    append(
        stack.store.as_ref(),
        &task("acme", "mine"),
        &events(2, false),
        None,
    )
    .await;
    let status = |r: lambda_http::Response<stream::SseBody>| r.status().as_u16();
    let h = |k| bearer(k);
    assert_eq!(
        status(
            stream::handle(
                &deps,
                get_events("nope", "", &[("authorization", &h(&key))])
            )
            .await
        ),
        404
    );
    let (code, _, body) = body_text(
        stream::handle(
            &deps,
            get_events("mine", "", &[("authorization", &h(&other))]),
        )
        .await,
    )
    .await;
    assert_eq!(code, 404, "another tenant's task is unknown: {body}");
    assert!(body.contains("\"not_found\""));
    assert_eq!(
        status(stream::handle(&deps, get_events("mine", "", &[])).await),
        401
    );
    assert_eq!(
        status(
            stream::handle(
                &deps,
                get_events("mine", "", &[("authorization", &h(&ingest_only))])
            )
            .await
        ),
        403
    );
    assert_eq!(
        status(
            stream::handle(
                &deps,
                get_events(
                    "mine",
                    "",
                    &[("authorization", &h(&key)), ("last-event-id", "x")]
                )
            )
            .await
        ),
        400
    );
    // A header value that is not visible ASCII is refused too, not taken for "no resume
    // point" (which would resend the task from seq 1).
    assert_eq!(
        status(
            stream::handle(
                &deps,
                get_events(
                    "mine",
                    "",
                    &[("authorization", &h(&key)), ("last-event-id", "\u{84}")]
                )
            )
            .await
        ),
        400
    );
}

#[tokio::test(start_paused = true)]
async fn tokens_open_exactly_their_task() {
    let stack = Stack::memory();
    tenant(&stack, "acme", 10, ALL).await;
    tenant(&stack, "globex", 10, ALL).await;
    let deps = streamer(&stack, stack.store.clone(), StreamSettings::default()).await;
    append(
        stack.store.as_ref(),
        &task("acme", "a"),
        &events(2, true),
        None,
    )
    .await;
    append(
        stack.store.as_ref(),
        &task("acme", "b"),
        &events(2, true),
        None,
    )
    .await;
    let now = clock_now(&deps);
    let min = chrono::Duration::minutes(5);
    let open = |t: &str, tok: String| {
        let q = format!("token={tok}");
        stream::handle(&deps, get_events(t, &q, &[]))
    };
    let ok = open("a", token("acme", "a", now, min)).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ids(&SseClient::new(ok).rest().await), vec![1, 2]);
    // Wrong task.
    assert_eq!(open("b", token("acme", "a", now, min)).await.status(), 403);
    // Another tenant's token names its own tenant's task "a", which does not exist.
    assert_eq!(
        open("a", token("globex", "a", now, min)).await.status(),
        404
    );
    // Expired.
    let expired = token("acme", "a", now - chrono::Duration::minutes(10), min);
    assert_eq!(open("a", expired).await.status(), 401);
    // Tampered: another task's claims under this token's signature.
    let good = token("acme", "a", now, min);
    let other = token("acme", "b", now, min);
    let g: Vec<&str> = good.split('.').collect();
    let o: Vec<&str> = other.split('.').collect();
    let (code, _, body) = body_text(open("b", format!("{}.{}.{}", g[0], o[1], g[2])).await).await;
    assert_eq!(code, 401);
    assert!(body.contains("invalid_token"), "{body}");
    assert_eq!(open("a", "garbage".into()).await.status(), 401);
    // A token expires while the clock moves on.
    let short = token("acme", "a", now, chrono::Duration::seconds(30));
    tokio::time::advance(Duration::from_secs(31)).await;
    assert_eq!(open("a", short).await.status(), 401);
}

#[tokio::test(start_paused = true)]
async fn budget_is_strict_and_token_clients_are_throttled_in_band() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 10, ALL).await;
    let deps = streamer(&stack, stack.store.clone(), StreamSettings::default()).await;
    append(
        stack.store.as_ref(),
        &task("acme", "t"),
        &events(1, false),
        None,
    )
    .await;
    let auth = bearer(&key);
    let opens =
        (0..50).map(|_| stream::handle(&deps, get_events("t", "", &[("authorization", &auth)])));
    let responses = futures_util::future::join_all(opens).await;
    let ok = responses.iter().filter(|r| r.status() == 200).count();
    let limited: Vec<_> = responses.iter().filter(|r| r.status() == 429).collect();
    assert_eq!((ok, limited.len()), (10, 40));
    assert_eq!(limited[0].headers()["retry-after"], "10");

    // Token clients over budget: 200, retry:, one throttled frame, end.
    let tok = token("acme", "t", clock_now(&deps), chrono::Duration::minutes(5));
    let r = stream::handle(&deps, get_events("t", &format!("token={tok}"), &[])).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut c = SseClient::new(r);
    let got = c.rest().await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].event, "throttled");
    // The cursor rides along, so the retry resumes from the same point.
    assert!(
        c.text().starts_with("retry: 10000\nid: 0\n\n"),
        "{}",
        c.text()
    );

    // Readers that go away are noticed at the next write (the heartbeat) in-process, and
    // their slots released.
    drop(responses);
    tokio::time::advance(Duration::from_secs(16)).await;
    tokio::task::yield_now().await;
    let reopened =
        (0..10).map(|_| stream::handle(&deps, get_events("t", "", &[("authorization", &auth)])));
    let reopened = futures_util::future::join_all(reopened).await;
    assert!(reopened.iter().all(|r| r.status() == 200));
}

#[tokio::test(start_paused = true)]
async fn a_crashed_streams_slot_frees_itself_within_two_minutes() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 3, ALL).await;
    let deps = streamer(&stack, stack.store.clone(), unsegmented()).await;
    append(
        stack.store.as_ref(),
        &task("acme", "t"),
        &events(1, false),
        None,
    )
    .await;
    let auth = bearer(&key);
    // Three streams crash right after claiming their slots: nobody renews or releases them.
    let tenant_id = TenantId::parse("acme").unwrap();
    for _ in 0..3 {
        let claim = deps
            .leases
            .acquire(
                &tenant_id,
                None,
                3,
                clock_now(&deps),
                deps.settings.lease_ttl,
            )
            .await
            .unwrap();
        assert!(matches!(claim, Claim::Granted(_)));
    }
    let open = || stream::handle(&deps, get_events("t", "", &[("authorization", &auth)]));
    assert_eq!(open().await.status(), 429);
    tokio::time::advance(deps.settings.lease_ttl - Duration::from_secs(1)).await;
    assert_eq!(open().await.status(), 429);
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(deps.settings.lease_ttl < Duration::from_secs(120));
    let live = open().await;
    assert_eq!(
        live.status(),
        200,
        "a dead stream's slot is free once its lease expires"
    );
    // A live stream renews its lease, so it keeps its slot past the lease time.
    let mut live = SseClient::new(live);
    live.next().await.unwrap();
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert_eq!(open().await.status(), 200);
    assert_eq!(open().await.status(), 200);
    assert_eq!(
        open().await.status(),
        429,
        "the first stream still holds its slot"
    );
}
