//! The SSE benchmark (`make bench`): commit-to-frame latency, idle read cost and memory per
//! open stream, as a Markdown section for BENCHMARKS.md.

use crate::fixtures::task;
use crate::stack::Stack;
use crate::streams::{SseClient, append, bearer, get_events, streamer, tenant};
use burstline::apikey::Scope;
use burstline::event::Envelope;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stream::StreamSettings;
use tokio::time::Instant;

/// Latency figures of one run.
#[derive(Debug)]
pub struct Latency {
    /// Which adapters.
    pub label: String,
    /// Streams open at once.
    pub streams: usize,
    /// Events measured.
    pub events: usize,
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Worst, ms.
    pub max_ms: f64,
}

/// When each (task, seq) was committed, and when its frame was read.
type Times = Arc<Mutex<HashMap<(usize, u64), Instant>>>;

/// Agent-like load on `streams` open streams (one task each, opened with `from=now`): bursts
/// of `burst` events per task 5 ms apart, a `pause` between bursts. Measures from the moment
/// the commit returns to the moment the client reads the frame.
pub async fn latency(
    stack: Stack,
    label: &str,
    streams: usize,
    bursts: usize,
    burst: usize,
    pause: Duration,
) -> Latency {
    let key = tenant(&stack, "bench", 10_000, &[Scope::Stream]).await;
    let deps = streamer(&stack, stack.store.clone(), StreamSettings::default()).await;
    let auth = bearer(&key);
    let committed: Times = Arc::default();
    let received: Times = Arc::default();
    let mut readers = Vec::new();
    for t in 0..streams {
        let name = format!("task-{t}");
        append(
            stack.store.as_ref(),
            &task("bench", &name),
            &[("task.started", serde_json::json!({}))],
            None,
        )
        .await;
        let response = stream::handle(
            &deps,
            get_events(&name, "from=now", &[("authorization", &auth)]),
        )
        .await;
        assert_eq!(response.status(), 200);
        let received = received.clone();
        readers.push(tokio::spawn(async move {
            let mut client = SseClient::new(response);
            while let Some(e) = client.next().await {
                let at = Instant::now();
                let env: Envelope = serde_json::from_str(&e.data).expect("envelope");
                received.lock().unwrap().insert((t, env.seq.0), at);
                if env.event_type.terminal_status().is_some() {
                    return;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for b in 0..bursts {
        for i in 0..burst {
            let last = b + 1 == bursts && i + 1 == burst;
            let ty = if last {
                "task.completed"
            } else {
                "token.delta"
            };
            for t in 0..streams {
                let k = task("bench", &format!("task-{t}"));
                let evs = append(
                    stack.store.as_ref(),
                    &k,
                    &[(ty, serde_json::json!({"i": i}))],
                    None,
                )
                .await;
                committed
                    .lock()
                    .unwrap()
                    .insert((t, evs[0].seq.0), Instant::now());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if b + 1 < bursts {
            tokio::time::sleep(pause).await;
        }
    }
    for r in readers {
        let _ = tokio::time::timeout(Duration::from_secs(30), r).await;
    }
    let committed = committed.lock().unwrap().clone();
    let received = received.lock().unwrap().clone();
    let mut ms: Vec<f64> = committed
        .iter()
        .filter_map(|(k, c)| {
            received
                .get(k)
                .map(|r| r.saturating_duration_since(*c).as_secs_f64() * 1000.0)
        })
        .collect();
    assert_eq!(
        ms.len(),
        committed.len(),
        "every committed event reached its stream"
    );
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() as f64 * p) as usize).min(ms.len() - 1)];
    Latency {
        label: label.into(),
        streams,
        events: ms.len(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: ms.last().copied().unwrap_or(0.0),
    }
}

/// DynamoDB reads and writes per idle stream-minute, on paused time: `streams` open streams
/// on quiet tasks, measured over `minutes` once the backoff has settled. Each viewer resumes
/// as EventSource does when the idle cutoff ends its segment, so the reconnects (head, tenant,
/// slot claim and release) are part of the cost.
pub async fn idle_cost(streams: usize, minutes: u32) -> (f64, f64) {
    let stack = Stack::memory();
    let key = tenant(&stack, "idle", 10_000, &[Scope::Stream]).await;
    let deps = streamer(&stack, stack.store.clone(), StreamSettings::default()).await;
    let auth = bearer(&key);
    let mut clients = Vec::new();
    for t in 0..streams {
        let name = format!("idle-{t}");
        append(
            stack.store.as_ref(),
            &task("idle", &name),
            &[("task.started", serde_json::json!({}))],
            None,
        )
        .await;
        let r = stream::handle(&deps, get_events(&name, "", &[("authorization", &auth)])).await;
        let mut c = SseClient::new(r);
        let mut last = c.next().await.expect("first event").id;
        let (deps, auth) = (deps.clone(), auth.clone());
        clients.push(tokio::spawn(async move {
            loop {
                while let Some(e) = c.next().await {
                    last = e.id;
                }
                tokio::time::sleep(deps.settings.reconnect).await;
                let headers = [("authorization", auth.as_str()), ("last-event-id", &last)];
                c = SseClient::new(stream::handle(&deps, get_events(&name, "", &headers)).await);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(40)).await;
    stack.requests.reset();
    tokio::time::sleep(Duration::from_secs(60 * u64::from(minutes))).await;
    let counts = stack.requests.snapshot();
    let reads: u64 = ["dynamodb:Query", "dynamodb:GetItem"]
        .iter()
        .filter_map(|op| counts.get(op))
        .sum();
    let writes: u64 = [
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
    ]
    .iter()
    .filter_map(|op| counts.get(op))
    .sum();
    let per = (streams as f64) * f64::from(minutes);
    (reads as f64 / per, writes as f64 / per)
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Resident memory per open stream with `streams` held in one process (the function's side
/// only: session task, channel and response body, read as a runtime would).
pub async fn memory_per_stream(streams: usize) -> f64 {
    let stack = Stack::memory();
    let key = tenant(&stack, "mem", 100_000, &[Scope::Stream]).await;
    let deps = streamer(&stack, stack.store.clone(), StreamSettings::default()).await;
    let auth = bearer(&key);
    for t in 0..streams {
        append(
            stack.store.as_ref(),
            &task("mem", &format!("m-{t}")),
            &[("task.started", serde_json::json!({}))],
            None,
        )
        .await;
    }
    let requests: Vec<_> = (0..streams)
        .map(|t| get_events(&format!("m-{t}"), "", &[("authorization", &auth)]))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_bytes();
    let mut readers = Vec::with_capacity(streams);
    for r in requests {
        let response = stream::handle(&deps, r).await;
        readers.push(tokio::spawn(async move {
            use http_body_util::BodyExt;
            let mut body = response.into_body();
            while body.frame().await.is_some() {}
        }));
    }
    // Let every session replay and settle into its wait.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_bytes();
    drop(readers);
    after.saturating_sub(before) as f64 / streams as f64
}

/// The BENCHMARKS.md section. With `model` (`--aws-model`), the in-memory latency rows run
/// behind the AWS latency model.
pub async fn section(with_moto: bool, model: Option<&burstline::model::LatencyModel>) -> String {
    let short = Duration::from_millis(800);
    let long = Duration::from_secs(2);
    let memory = || Stack::memory().with_aws_model(model);
    let mut rows = vec![
        (latency(memory(), "memory", 20, 10, 10, short).await, short),
        (latency(memory(), "memory", 20, 5, 10, long).await, long),
    ];
    if with_moto {
        let moto = Stack::moto("sse-bench").await;
        rows.push((
            latency(moto, "moto (real SDK)", 5, 5, 10, short).await,
            short,
        ));
    }
    let mut table = String::from(
        "| adapters | pause between bursts | streams | events | p50 ms | p99 ms | max ms |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for (r, pause) in &rows {
        table.push_str(&format!(
            "| {} | {} ms | {} | {} | **{:.1}** | **{:.1}** | {:.1} |\n",
            r.label,
            pause.as_millis(),
            r.streams,
            r.events,
            r.p50_ms,
            r.p99_ms,
            r.max_ms
        ));
    }
    let paused = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime")
    };
    let (reads, writes) = std::thread::spawn(move || paused().block_on(idle_cost(100, 10)))
        .join()
        .expect("idle run");
    let per_stream = memory_per_stream(10_000).await;
    format!(
        "## SSE streams\n\n\
         ### Latency: event commit → frame read by the client\n\n\
         Agent-like load: each stream follows its own task (`from=now`); every task gets bursts of \
         10 events 5 ms apart with pauses between bursts (tool-call fan-outs between reasoning steps). The moto row is bound by moto's own response time (one Python process serving every poll and commit). Measured from the return of the \
         commit to the client reading the frame off the response body (in process; no network). \
         Targets: ≤ 30 ms p50, ≤ 150 ms p99.\n\n{table}\n\
         The latency is the polling delay: every 20 ms while a task is active, a thirty-second of \
         the quiet time after a pause (62 ms after 2 s), so a burst after a long pause waits longest.\n\n\
         ### Idle cost\n\n\
         **{reads:.1}** DynamoDB reads per idle stream-minute (target ≤ 60): one `Query` per second \
         once a task has been quiet for 32 s; plus {writes:.2} writes (lease renewals every 30 s). \
         100 streams, 10 minutes, paused time, counted at the adapters.\n\n\
         ### Memory\n\n\
         **{kb:.1} KB** resident per open stream with 10,000 streams in one process (target ≤ 16 KB): \
         the session task, its 16-frame channel and the response body being read; RSS growth \
         divided by streams.\n",
        kb = per_stream / 1024.0,
    )
}
