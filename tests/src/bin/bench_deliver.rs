//! `make bench`: signed webhook deliveries per second from the deliver path (store read,
//! signing, keep-alive POST, outcome, attempt log) to a local HTTP receiver on the same
//! 2-core machine, with 1 KiB events; one event per POST and batched.
//! `--aws-model standard|efo` (and `--aws-latency-table PATH`) puts the stack's ports behind the
//! AWS latency model (`shared/src/model/`).

use axum::http::StatusCode;
use burstline::endpoint::{Batching, Endpoint};
use burstline::head::{StreamPosition, TaskHead};
use burstline::ids::{Seq, TaskKey};
use burstline::job::{DeliveryJob, EventRef, pack_messages};
use burstline::sequence::{Incoming, pack_transactions, plan_task};
use burstline_tests::fixtures::endpoint;
use burstline_tests::stack::Stack;
use deliver::Policy;
use deliver::http::HttpSender;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const TASKS: u64 = 200;
const EVENTS_PER_TASK: u64 = 100;

/// A receiver that only counts: the cheapest possible peer, on its own runtime thread.
fn start_receiver() -> (String, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(format!(
                "http://{}/hook",
                listener.local_addr().expect("addr")
            ))
            .expect("send url");
            let app = axum::Router::new().route(
                "/hook",
                axum::routing::post(move |_body: axum::body::Bytes| {
                    c.fetch_add(1, Ordering::Relaxed);
                    async { StatusCode::NO_CONTENT }
                }),
            );
            let _ = axum::serve(listener, app).await;
        });
    });
    (rx.recv().expect("receiver url"), count)
}

/// Stores TASKS × EVENTS_PER_TASK events of ~1 KiB and returns one job per task.
async fn seed(stack: &Stack, ep: &Endpoint) -> Vec<DeliveryJob> {
    let payload = "x".repeat(1000);
    let mut jobs = Vec::new();
    let mut plans = Vec::new();
    for t in 0..TASKS {
        let key = TaskKey::new(
            "acme".parse().expect("tenant"),
            format!("task-{t}").parse().expect("task"),
        );
        let records: Vec<Incoming> = (1..=EVENTS_PER_TASK)
            .map(|i| Incoming {
                position: StreamPosition::new("s0", (t * 1000 + i).to_string()),
                event: burstline::event::NewEvent {
                    id: format!("evt_{t}_{i}").parse().expect("id"),
                    event_type: "token.delta".parse().expect("type"),
                    tenant_id: key.tenant_id.clone(),
                    task_id: key.task_id.clone(),
                    time: chrono::Utc::now(),
                    data: serde_json::json!({"text": payload}),
                    traceparent: None,
                },
            })
            .collect();
        let plan = plan_task(
            &key,
            None::<&TaskHead>,
            &records,
            &HashSet::new(),
            chrono::Utc::now(),
        )
        .expect("plan");
        jobs.push(DeliveryJob {
            tenant_id: key.tenant_id.clone(),
            task_id: key.task_id.clone(),
            endpoint_id: ep.id.clone(),
            events: plan
                .events
                .iter()
                .map(|a| EventRef {
                    seq: a.envelope.seq,
                    id: a.envelope.id.clone(),
                    event_type: a.envelope.event_type.clone(),
                })
                .collect(),
            through: plan.head.position.clone().expect("position"),
            attempt: 0,
            not_before: None,
            commit_waits: 0,
            history: Vec::new(),
            // Each task's one job, in order as fanout chains it (a claim and an advance each).
            chain: Some(burstline::delivery_order::Chain::new(
                Seq(0),
                plan.head.last_seq,
                0,
            )),
        });
        plans.push(plan);
    }
    for tx in pack_transactions(plans) {
        stack.store.commit(&tx).await.expect("commit");
    }
    let _ = Seq(0);
    jobs
}

/// Jobs in flight per invocation: deliver's default (`Policy::default().concurrency`), or
/// `BENCH_CONCURRENCY`.
fn concurrency() -> usize {
    std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(Policy::default().concurrency)
}

async fn run(batching: Option<Batching>, url: &str, count: &AtomicU64) -> (f64, f64, u64) {
    let stack = Stack::memory().with_aws_model(burstline_tests::aws_model::from_args().as_ref());
    let mut ep = endpoint("acme", url, &["*"]);
    ep.batching = batching;
    stack
        .endpoints
        .create_endpoint(&ep)
        .await
        .expect("endpoint");
    let jobs = seed(&stack, &ep).await;
    let sender = Arc::new(HttpSender::new(Duration::from_secs(10), true).expect("client"));
    let deps = stack.deliver(
        sender,
        Policy {
            concurrency: concurrency(),
            ..Policy::default()
        },
    );
    let bodies = pack_messages(&jobs);
    let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_value(serde_json::json!({
        "Records": bodies.iter().enumerate().map(|(i, b)| serde_json::json!({"messageId": i.to_string(), "body": b})).collect::<Vec<_>>()
    }))
    .expect("event");
    let before = count.load(Ordering::Relaxed);
    let started = Instant::now();
    let response = deliver::handle(&deps, event).await;
    let elapsed = started.elapsed().as_secs_f64();
    assert!(response.batch_item_failures.is_empty());
    let posts = count.load(Ordering::Relaxed) - before;
    // A figure only counts if every event went out in this invocation (none deferred).
    let expected = match batching {
        None => TASKS * EVENTS_PER_TASK,
        Some(b) => TASKS * EVENTS_PER_TASK.div_ceil(u64::from(b.max_events)),
    };
    assert_eq!(
        posts, expected,
        "every event delivered within the invocation"
    );
    let events = (TASKS * EVENTS_PER_TASK) as f64;
    (events / elapsed, posts as f64 / elapsed, posts)
}

fn main() {
    let (url, count) = start_receiver();
    // Two tokio workers for the deliver path (the receiver runs on its own thread): measured
    // faster than one worker on this 2-core machine. BENCH_WORKERS overrides.
    let workers: usize = std::env::var("BENCH_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime");
    const RUNS: usize = 5;
    let rows = rt.block_on(async {
        // Warm the connection pool and the allocator once.
        let _ = run(None, &url, &count).await;
        let mut rows = Vec::new();
        let batched = Batching {
            max_events: 50,
            max_wait_ms: 0,
        };
        for (name, batching) in [
            ("one event per POST", None),
            ("batching, 50 events per POST", Some(batched)),
        ] {
            let mut runs = Vec::new();
            for _ in 0..RUNS {
                runs.push(run(batching, &url, &count).await);
            }
            runs.sort_by(|a, b| a.0.total_cmp(&b.0));
            rows.push((name, runs));
        }
        rows
    });
    let mut table = String::from(
        "| mode | events delivered/s, median of 5 runs | slowest – fastest run | POSTs/s (median) | POSTs per run |\n|---|---|---|---|---|\n",
    );
    for (name, runs) in &rows {
        let (eps, pps, posts) = runs[RUNS / 2];
        table.push_str(&format!(
            "| {name} | **{eps:.0}** | {:.0} – {:.0} | {pps:.0} | {posts} |\n",
            runs[0].0,
            runs[RUNS - 1].0
        ));
    }
    println!("{table}");
    let doc = format!(
        "## Webhook delivery\n\n`cargo run --release -p burstline-tests --bin bench-deliver` (part of `make bench`) on {}.\n\n\
         {} tasks × {} events of 1 KiB, one job per task, delivered by `deliver::handle` (store read, \
         Standard Webhooks signing, keep-alive POST through the SSRF-checking client, outcome, attempt \
         log) to a local receiver answering 204, which runs on the same machine (its own thread; the \
         deliver path gets {workers} tokio worker thread(s)). Jobs run {} at a time; within a \
         job, events go out in seq order. Target: ≥ 20,000 deliveries/s.\n\n{table}",
        burstline_tests::benchdoc::machine(),
        TASKS,
        EVENTS_PER_TASK,
        concurrency(),
    );
    let path =
        burstline_tests::benchdoc::record_section("deliver", &doc).expect("write BENCHMARKS.md");
    eprintln!("recorded in {}", path.display());
}
