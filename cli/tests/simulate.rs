//! `burstline simulate` end to end: the real binary against ingest, api and stream served at
//! one origin on 127.0.0.1 over an in-memory stack, with the Kinesis and SQS mappings driven
//! in the background (fanout, then deliver to the binary's own webhook receiver).
#![allow(clippy::unwrap_used)] // test helpers: a failed setup should panic loudly

use axum::body::{Body as AxumBody, to_bytes};
use axum::http::{Method, Request as AxumRequest};
use axum::response::Response as AxumResponse;
use burstline::apikey::{ApiKey, Scope};
use burstline::ids::TenantId;
use burstline::mapping::sqs::{SqsDriver, SqsMapping};
use burstline::store::EventStore;
use burstline_tests::fixtures::{driver, tenant_with};
use burstline_tests::stack::Stack;
use burstline_tests::streams::{Hiding, streamer};
use deliver::Policy;
use deliver::http::HttpSender;
use serde_json::Value;
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stream::{StreamSettings, Streamer};
use tokio::process::Command;

/// The functions behind one origin, as `burstline dev` serves them.
#[derive(Clone)]
struct Functions {
    ingest: ingest::Ingest,
    api: api::Api,
    stream: Streamer,
}

/// Routes a request to the function that owns its path.
async fn dispatch(f: Functions, req: AxumRequest<AxumBody>) -> AxumResponse {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    if parts.method == Method::GET && path.starts_with("/v1/tasks/") && path.ends_with("/events") {
        let request = lambda_http::http::Request::from_parts(parts, lambda_http::Body::Empty);
        let (parts, body) = stream::handle(&f.stream, request).await.into_parts();
        return AxumResponse::from_parts(parts, AxumBody::new(body));
    }
    let bytes = to_bytes(body, 8 * 1024 * 1024).await.unwrap_or_default();
    let request =
        lambda_http::http::Request::from_parts(parts, lambda_http::Body::Binary(bytes.to_vec()));
    let response = if path == "/v1/events" {
        ingest::handle(&f.ingest, request).await
    } else {
        api::handle(&f.api, request).await
    };
    let (parts, body) = response.into_parts();
    AxumResponse::from_parts(parts, AxumBody::from(body.as_ref().to_vec()))
}

/// A running deployment; dropping it stops the server and the mappings.
struct Deployment {
    url: String,
    key: ApiKey,
    stack: Stack,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Deployment {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Serves the stack; streams read events through `stream_store` (the stack's, or a wrapper).
async fn deploy(stack: Stack, stream_store: Arc<dyn EventStore>) -> Deployment {
    let key = tenant_with(
        &stack,
        "acme",
        100,
        &[Scope::Ingest, Scope::Stream, Scope::Manage],
    )
    .await;
    let functions = Functions {
        ingest: stack.ingest(),
        api: stack.api(),
        stream: streamer(&stack, stream_store, StreamSettings::default()).await,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(move |req| dispatch(functions.clone(), req));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mappings = tokio::spawn(run_mappings(stack.clone()));
    Deployment {
        url,
        key,
        stack,
        tasks: vec![server, mappings],
    }
}

/// The event-source mappings: fanout over new Kinesis records, then deliver over visible
/// jobs, every few ms; the manual clock follows real time so schedules behave.
async fn run_mappings(stack: Stack) {
    let mut kinesis = driver(&stack, 100);
    let fanout = stack.fanout();
    let sender = Arc::new(HttpSender::new(Duration::from_secs(5), true).unwrap());
    let deliver = stack.deliver(sender, Policy::default());
    let sqs = SqsDriver::new(stack.queue_reader.clone(), SqsMapping::default());
    let fanout_handler = |ev| {
        let deps = fanout.clone();
        async move { Ok(fanout::handle(&deps, ev).await) }
    };
    let deliver_handler = |ev, deadline| {
        let deps = deliver.clone();
        async move { Ok(deliver::handle_until(&deps, ev, deadline).await) }
    };
    let mut last = Instant::now();
    loop {
        let _ = kinesis.drain(&fanout_handler).await;
        while sqs
            .poll_once(&deliver_handler)
            .await
            .is_ok_and(|s| s.received > 0)
        {}
        stack.advance(last.elapsed());
        last = Instant::now();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn simulate(d: &Deployment, args: &[&str]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_burstline"))
        .arg("simulate")
        .args(args)
        .env("BURSTLINE_URL", &d.url)
        .env("BURSTLINE_API_KEY", d.key.expose())
        .env_remove("BURSTLINE_STREAM_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("simulate ends within its own timeout")
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_run_loses_nothing_and_reports_latencies() {
    let stack = Stack::memory();
    let d = deploy(stack.clone(), stack.store.clone()).await;
    let out = simulate(
        &d,
        &[
            "--tasks",
            "5",
            "--tools",
            "8",
            "--steps",
            "2",
            "--tokens",
            "20",
            "--seed",
            "7",
            "--task-prefix",
            "e2e",
            "--json",
        ],
    )
    .await;
    let stderr = text(&out.stderr);
    // Shown with --nocapture: what a user sees.
    println!("{stderr}\n{}", text(&out.stdout));
    assert!(out.status.success(), "{stderr}\n{}", text(&out.stdout));
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Per task: started, 2 × (reasoning, 8 started, 8 completed, 20 tokens), output, completed.
    let per_task = 1 + 2 * (1 + 8 + 8 + 20) + 2;
    let total = 5 * per_task;
    assert_eq!(s["ok"], true, "{s:#}");
    assert_eq!(s["tasks"], 5);
    assert_eq!(s["events_planned"], total);
    assert_eq!(s["events_accepted"], total);
    assert!(s["accepted_per_second"].as_f64().unwrap() > 0.0);
    assert_eq!(s["streams"]["watched_tasks"], 5);
    assert_eq!(s["streams"]["expected"], total);
    assert_eq!(s["streams"]["received"], total);
    assert_eq!(s["streams"]["latency"]["samples"], total);
    assert!(s["streams"]["latency"]["p99_ms"].as_f64().unwrap() < 5_000.0);
    assert_eq!(s["webhooks"]["checked"], true);
    assert_eq!(s["webhooks"]["expected"], total);
    assert_eq!(s["webhooks"]["delivered_unique"], total);
    assert_eq!(s["webhooks"]["bad_signatures"], 0);
    assert!(s["webhooks"]["latency"]["p50_ms"].as_f64().is_some());
    assert_eq!(s["store"]["tasks"], 5);
    for n in ["lost", "duplicates", "out_of_order"] {
        assert_eq!(s[n], 0, "{n}");
    }
    assert_eq!(s["timed_out"], false);
    // Not a dev stack: no meter, so no modeled cost or lag; the idle viewer-hour is priced
    // from the deployed stream defaults.
    assert_eq!(s["fanout_lag_max_ms"], Value::Null);
    assert_eq!(s["cost"]["usd_per_million_events"], Value::Null);
    assert!(
        s["cost"]["source"]
            .as_str()
            .unwrap()
            .starts_with("not available")
    );
    assert!(s["cost"]["idle_viewer_hour"]["usd"].as_f64().unwrap() > 0.0);
    // What the binary claims, checked in the store itself.
    for i in 0..5 {
        let head = d
            .stack
            .store
            .head(&burstline_tests::fixtures::task(
                "acme",
                &format!("e2e-{i}"),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(head.last_seq.0, per_task as u64);
    }
    let tenant = TenantId::parse("acme").unwrap();
    assert!(
        d.stack
            .endpoints
            .endpoints(&tenant)
            .await
            .unwrap()
            .is_empty(),
        "the temporary endpoint is deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stream_is_reported_lost_and_fails_the_run() {
    let stack = Stack::memory();
    // Streams never see seq 5 (so, never skipping, nothing after it either).
    let hiding = Hiding::new(stack.store.clone());
    hiding.hide([5]);
    let d = deploy(stack.clone(), Arc::new(hiding)).await;
    let out = simulate(
        &d,
        &[
            "--tasks",
            "2",
            "--tools",
            "8",
            "--steps",
            "1",
            "--tokens",
            "5",
            "--watch",
            "1",
            "--no-webhooks",
            "--timeout",
            "3",
        ],
    )
    .await;
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    println!("{stderr}\n{stdout}");
    assert!(!out.status.success(), "{stdout}");
    let per_task = 1 + (1 + 8 + 8 + 5) + 2;
    assert!(
        stdout.contains(&format!(
            "streamed           4 / {per_task} events of 1 watched task(s)"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("webhooks           not checked (--no-webhooks)"));
    assert!(stdout.contains("store              2 task(s) checked, 0 lost, 0 extra"));
    assert!(stdout.contains("FAILED:"), "{stdout}");
    let last = stderr.trim().lines().last().unwrap();
    assert!(
        last.starts_with("error: ")
            && last.contains(&format!(
                "{} event(s) lost ({0} never streamed)",
                per_task - 4
            ))
            && last.contains("timed out"),
        "{stderr}"
    );
}

#[tokio::test]
async fn help_has_examples_and_missing_settings_fail_in_one_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_burstline"))
        .args(["simulate", "--help"])
        .output()
        .await
        .unwrap();
    assert!(text(&out.stdout).contains("Examples:"));
    let out = Command::new(env!("CARGO_BIN_EXE_burstline"))
        .args(["simulate", "--tasks", "1"])
        .env_remove("BURSTLINE_URL")
        .env_remove("BURSTLINE_API_KEY")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("BURSTLINE_URL"));
    let out = Command::new(env!("CARGO_BIN_EXE_burstline"))
        .args(["simulate", "--watch", "101"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success(), "over the default stream budget");
}
