//! `burstline tail` as a user runs it: the real binary against the stream function served on a
//! loopback port, with streams that end every second so the client must resume.
#![allow(clippy::unwrap_used)] // test helpers: a failed setup should panic loudly

use burstline::apikey::Scope;
use burstline_tests::fixtures::task;
use burstline_tests::serve_stream::serve;
use burstline_tests::stack::Stack;
use burstline_tests::streams::{Hiding, append, events, streamer, tenant, token};
use serde_json::Value;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use stream::StreamSettings;
use tokio::process::Command;

fn tail(url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_burstline"));
    cmd.arg("tail")
        .args(args)
        .args(["--url", url])
        .env_remove("BURSTLINE_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// The `seq` of every line `tail --json` printed, in order.
fn json_seqs(stdout: &[u8]) -> Vec<u64> {
    std::str::from_utf8(stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

fn short_lived() -> StreamSettings {
    StreamSettings {
        lifetime: Duration::from_millis(700),
        retry: Duration::from_millis(50),
        ..StreamSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_resumes_after_every_drop_until_the_terminal_event() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 10, &[Scope::Stream]).await;
    let url = serve(streamer(&stack, stack.store.clone(), short_lived()).await).await;
    let k = task("acme", "run-1");
    append(stack.store.as_ref(), &k, &events(3, false), None).await;
    let child = tail(&url, &["run-1", "--api-key", key.expose(), "--json"])
        .spawn()
        .unwrap();
    // Events keep coming across several stream lifetimes.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        append(stack.store.as_ref(), &k, &events(2, false), None).await;
    }
    append(stack.store.as_ref(), &k, &events(1, true), None).await;
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("tail stops after the terminal event")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let seqs = json_seqs(&out.stdout);
    assert_eq!(seqs, (1..=16).collect::<Vec<_>>(), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_stops_on_204_and_pretty_prints_with_a_token() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 10, &[Scope::Stream]).await;
    let deps = streamer(&stack, stack.store.clone(), short_lived()).await;
    let url = serve(deps).await;
    append(
        stack.store.as_ref(),
        &task("acme", "done"),
        &events(4, true),
        None,
    )
    .await;
    let out = tail(
        &url,
        &["done", "--api-key", key.expose(), "--last-event-id", "4"],
    )
    .output()
    .await
    .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "nothing left: 204");

    let tok = token(
        "acme",
        "done",
        chrono::Utc::now(),
        chrono::Duration::minutes(5),
    );
    let out = tail(&url, &["done", "--token", &tok, "--last-event-id", "2"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].trim_start().starts_with("3  ") && lines[0].contains("tool_call.completed"));
    assert!(lines[1].trim_start().starts_with("4  ") && lines[1].contains("task.completed"));

    let out = tail(&url, &["done", "--token", "not-a-token"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_from_now_reconnects_from_where_it_started() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 10, &[Scope::Stream]).await;
    // Seq 5 is committed but not yet visible to event reads: the streams end (every 700 ms)
    // and tail reconnects before it has received any event.
    let hiding = Hiding::new(stack.store.clone());
    hiding.hide([5]);
    let url = serve(streamer(&stack, Arc::new(hiding.clone()), short_lived()).await).await;
    let k = task("acme", "run-2");
    append(stack.store.as_ref(), &k, &events(4, false), None).await;
    let child = tail(
        &url,
        &["run-2", "--from-now", "--api-key", key.expose(), "--json"],
    )
    .spawn()
    .unwrap();
    // Once a stream reads events, tail holds the opening `id: 4`.
    let reads = || {
        stack
            .requests
            .snapshot()
            .get("dynamodb:Query")
            .copied()
            .unwrap_or(0)
    };
    while reads() == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    append(stack.store.as_ref(), &k, &events(1, false), None).await;
    // Two stream lifetimes: tail reconnects. Re-anchored at the head by `?from=now`, it would
    // skip seq 5; resuming after its opening id 4, it waits for 5.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    hiding.reveal(5);
    append(stack.store.as_ref(), &k, &events(1, true), None).await;
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("tail stops after the terminal event")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let seqs = json_seqs(&out.stdout);
    assert_eq!(seqs, vec![5, 6], "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follows_across_segments_reconnecting_at_once() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 10, &[Scope::Stream]).await;
    // A slow 10 s `retry:` when a connection drops, but segments of 1 s that end with the
    // short reconnect delay: tail must honour the segment's final `retry:` to keep up.
    let settings = StreamSettings {
        segment: Duration::from_secs(1),
        retry: Duration::from_secs(10),
        reconnect: Duration::ZERO,
        ..StreamSettings::default()
    };
    let url = serve(streamer(&stack, stack.store.clone(), settings).await).await;
    let k = task("acme", "run-3");
    append(stack.store.as_ref(), &k, &events(2, false), None).await;
    stack.requests.reset();
    let started = tokio::time::Instant::now();
    let child = tail(&url, &["run-3", "--api-key", key.expose(), "--json"])
        .spawn()
        .unwrap();
    // Four seconds of events: four segment ends.
    for _ in 0..16 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        append(stack.store.as_ref(), &k, &events(1, false), None).await;
    }
    append(stack.store.as_ref(), &k, &events(1, true), None).await;
    // At the 10 s retry, four reconnects would take 40 s.
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("tail reconnects at once after each segment")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let seqs = json_seqs(&out.stdout);
    assert_eq!(seqs, (1..=19).collect::<Vec<_>>(), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20));
    // Each connection claimed a stream slot: the task really spanned several segments.
    let connections = stack.requests.snapshot()["dynamodb:PutItem"];
    assert!(connections >= 4, "{connections} connections");
}
