//! Scenarios that run unchanged on in-memory adapters (`tests/memory.rs`) and on moto through
//! the real AWS SDK (`tests/moto.rs`). Each takes a fresh [`Stack`].

use crate::faults::{FaultKind, Faults, FaultyQueue, FaultyStore, FaultySubscriptions};
use crate::fixtures::*;
use crate::stack::Stack;
use aws_lambda_events::event::kinesis::KinesisEvent;
use burstline::apikey::Scope;
use burstline::head::TaskStatus;
use burstline::ids::Seq;
use burstline::log::LogRecord;
use burstline::mapping::kinesis::lambda_event;
use burstline::sequence::is_dense;
use fanout::Fanout;
use fanout::directory::Directory;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

async fn ingest_ok(stack: &Stack, key: &burstline::apikey::ApiKey, body: &Value) -> Vec<String> {
    let resp = ingest::handle(&stack.ingest(), post_events(key, body)).await;
    assert_eq!(resp.status(), 202, "{:?}", resp.body());
    let v: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Everything in the stream, read back in order.
async fn stream_records(stack: &Stack) -> Vec<burstline::log::StoredRecord> {
    let shard = stack.shards.shards().await.unwrap().remove(0);
    stack.shards.read(&shard, None, 10_000).await.unwrap()
}

/// ingest → Kinesis → driver → fanout → DynamoDB + SQS: dense seqs in acceptance order, heads
/// current, one job per matching endpoint and event.
pub async fn end_to_end(stack: Stack) {
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    let all = subscribe(&stack, "acme", &["*"]).await;
    let tools = subscribe(&stack, "acme", &["tool_call.*"]).await;
    let mut ids: HashMap<&str, Vec<String>> = HashMap::new();
    // Interleave bursts of three tasks, as concurrent agents would.
    for round in 0..3 {
        for t in ["run-a", "run-b", "run-c"] {
            let body = if round == 2 {
                burst(t, 7)
            } else {
                let evs: Vec<Value> = (0..6).map(|i| json!({"type":"tool_call.started","task_id":t,"data":{"r":round,"i":i}})).collect();
                json!({ "events": evs })
            };
            ids.entry(t)
                .or_default()
                .extend(ingest_ok(&stack, &key, &body).await);
        }
    }
    let stats = drain(&stack, &stack.fanout(), 25).await;
    assert_eq!(stats.records, 57);
    assert_eq!(stats.function_errors, 0);
    let jobs = drain_jobs(&stack).await;
    for t in ["run-a", "run-b", "run-c"] {
        let k = task("acme", t);
        let events = stored(&stack, &k).await;
        let seqs: Vec<Seq> = events.iter().map(|e| e.seq).collect();
        assert!(is_dense(&seqs), "{t}: {seqs:?}");
        let got: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
        assert_eq!(&got, &ids[t], "{t}: seq order is acceptance order");
        let head = stack.store.head(&k).await.unwrap().unwrap();
        assert_eq!(head.last_seq, Seq(19));
        assert_eq!(head.status, TaskStatus::Completed);
        assert_eq!(head.terminal_seq, Some(Seq(19)));
        for (endpoint, want) in [(&all, 19), (&tools, 12 + 4)] {
            let refs: Vec<u64> = jobs
                .iter()
                .filter(|j| &j.endpoint_id == endpoint && j.task_id == k.task_id)
                .flat_map(|j| j.events.iter().map(|r| r.seq.0))
                .collect();
            let unique: BTreeSet<u64> = refs.iter().copied().collect();
            assert_eq!(
                refs.len(),
                want,
                "{t}: one job ref per event for {endpoint}"
            );
            assert_eq!(unique.len(), want);
        }
        // Every ref names the stored event at its seq.
        for j in jobs.iter().filter(|j| j.task_id == k.task_id) {
            for r in &j.events {
                assert_eq!(events[(r.seq.0 - 1) as usize].id, r.id);
            }
        }
    }
}

/// The same Kinesis batch delivered twice leaves one copy of each event.
pub async fn redelivery_is_idempotent(stack: Stack) {
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    subscribe(&stack, "acme", &["*"]).await;
    ingest_ok(&stack, &key, &burst("run-1", 20)).await;
    let records = stream_records(&stack).await;
    let shard = stack.shards.shards().await.unwrap().remove(0);
    let event: KinesisEvent = lambda_event(&shard, &records, "arn:test");
    let deps = stack.fanout();
    let first = fanout::handler::process(&deps, event.clone()).await;
    assert_eq!((first.stored, first.duplicates), (20, 0));
    let second = fanout::handler::process(&deps, event).await;
    assert_eq!((second.stored, second.duplicates), (0, 20));
    assert!(second.response.batch_item_failures.is_empty());
    // A bisected retry of the second half: nothing new either.
    let half = lambda_event(&shard, &records[10..], "arn:test");
    assert_eq!(fanout::handler::process(&deps, half).await.stored, 0);
    let events = stored(&stack, &task("acme", "run-1")).await;
    assert_eq!(events.len(), 20);
    assert!(is_dense(&events.iter().map(|e| e.seq).collect::<Vec<_>>()));
    assert_eq!(
        drain_jobs(&stack).await.len(),
        1,
        "the replays enqueued no new jobs"
    );
}

/// A producer resubmitting the same event ids (e.g. after a timeout) gets one event each.
pub async fn resubmission_is_idempotent(stack: Stack) {
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    let body = json!({"events": (1..=5).map(|i| json!({"id": format!("p-{i}"), "type":"token.delta","task_id":"run-1"})).collect::<Vec<_>>()});
    ingest_ok(&stack, &key, &body).await;
    drain(&stack, &stack.fanout(), 100).await;
    // Resubmitted later, in another batch, plus one new event.
    let again = json!({"events": [
        {"id":"p-2","type":"token.delta","task_id":"run-1"},
        {"id":"p-6","type":"token.delta","task_id":"run-1"},
        {"id":"p-4","type":"token.delta","task_id":"run-1"}
    ]});
    ingest_ok(&stack, &key, &again).await;
    // The same id under another task of the tenant is still the same event.
    ingest_ok(
        &stack,
        &key,
        &json!({"id":"p-1","type":"x","task_id":"run-2"}),
    )
    .await;
    drain(&stack, &stack.fanout(), 100).await;
    let events = stored(&stack, &task("acme", "run-1")).await;
    let ids: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(ids, ["p-1", "p-2", "p-3", "p-4", "p-5", "p-6"]);
    assert!(is_dense(&events.iter().map(|e| e.seq).collect::<Vec<_>>()));
    assert!(stored(&stack, &task("acme", "run-2")).await.is_empty());
    let found = stack
        .store
        .find_event(&"acme".parse().unwrap(), &"p-6".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(found, Some(("run-1".parse().unwrap(), Seq(6))));
}

/// A producer resends a large request whose 202 it lost, after its events were stored: the
/// whole resend reaches fanout in one batch, with a few new events. Every resent id is stored
/// already; fanout must recognise them all within one invocation (the store names only one
/// transaction's worth of existing ids per conflict), or the batch fails, Lambda retries it
/// from scratch, and the shard never moves on.
pub async fn a_large_resubmission_is_recognised_in_one_invocation(stack: Stack) {
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    let events = |range: std::ops::RangeInclusive<usize>| json!({"events": range.map(|i| json!({"id": format!("big-{i}"), "type": "token.delta", "task_id": "run-1"})).collect::<Vec<_>>()});
    ingest_ok(&stack, &key, &events(1..=300)).await;
    drain(&stack, &stack.fanout(), 500).await;
    let before = stream_records(&stack).await.len();
    ingest_ok(&stack, &key, &events(1..=302)).await;
    let records = stream_records(&stack).await.split_off(before);
    assert_eq!(records.len(), 302);
    let shard = stack.shards.shards().await.unwrap().remove(0);
    let out =
        fanout::handler::process(&stack.fanout(), lambda_event(&shard, &records, "arn")).await;
    assert!(
        out.response.batch_item_failures.is_empty(),
        "the batch went through in one invocation: {:?}",
        out.response.batch_item_failures
    );
    assert_eq!((out.stored, out.duplicates), (2, 300));
    let stored_events = stored(&stack, &task("acme", "run-1")).await;
    assert_eq!(stored_events.len(), 302);
    assert!(is_dense(
        &stored_events.iter().map(|e| e.seq).collect::<Vec<_>>()
    ));
}

/// A producer sends events without ids under an `Idempotency-Key`, loses the 202 and retries
/// the same request: the events are stored once. Another key is another request.
pub async fn idempotency_key_retries_are_stored_once(stack: Stack) {
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    let body = json!({"events": (1..=3).map(|i| json!({"type":"token.delta","task_id":"run-1","data":{"i":i}})).collect::<Vec<_>>()});
    let post = |idempotency: &'static str| {
        let auth = format!("Bearer {}", key.expose());
        let request = request(
            "POST",
            "/v1/events",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
                ("idempotency-key", idempotency),
            ],
            body.to_string().as_bytes(),
        );
        let deps = stack.ingest();
        async move {
            let resp = ingest::handle(&deps, request).await;
            assert_eq!(resp.status(), 202, "{:?}", resp.body());
            let v: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
            v["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let first = post("order-42").await;
    // The retry lands in the same fanout batch as the original, and again in a later one.
    assert_eq!(post("order-42").await, first);
    drain(&stack, &stack.fanout(), 100).await;
    assert_eq!(post("order-42").await, first);
    drain(&stack, &stack.fanout(), 100).await;
    let ids = |events: Vec<burstline::event::Envelope>| {
        events.iter().map(|e| e.id.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(ids(stored(&stack, &task("acme", "run-1")).await), first);

    let second = post("order-43").await;
    drain(&stack, &stack.fanout(), 100).await;
    let all = ids(stored(&stack, &task("acme", "run-1")).await);
    assert_eq!(all, [first, second].concat(), "another key, new events");
}

/// Crash (or fail) right after each port call fanout makes, then let the driver replay:
/// seqs stay 1..N, nothing is duplicated, and every stored event has its webhook job.
/// Returns how many fault points were exercised.
pub async fn crash_at_every_step<F, Fut>(make_stack: F) -> usize
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Stack>,
{
    let scenario = async |stack: &Stack, faults: Faults| {
        let key = tenant_with_key(stack, "acme", &[Scope::Ingest]).await;
        subscribe(stack, "acme", &["*"]).await;
        let mut submitted: HashMap<&str, Vec<String>> = HashMap::new();
        for (t, n) in [("long", 20), ("other", 5), ("long", 20), ("long", 15)] {
            let body = if t == "long" && submitted.get("long").map_or(0, Vec::len) == 40 {
                burst(t, n)
            } else {
                json!({"events": (0..n).map(|i| json!({"type":"token.delta","task_id":t,"data":{"i":i}})).collect::<Vec<_>>()})
            };
            submitted
                .entry(t)
                .or_default()
                .extend(ingest_ok(stack, &key, &body).await);
        }
        let deps = Fanout {
            store: Arc::new(FaultyStore(stack.store.clone(), faults.clone())),
            queue: Arc::new(FaultyQueue(stack.queue.clone(), faults.clone())),
            directory: Directory::new(
                Arc::new(FaultySubscriptions(
                    stack.subscriptions.clone(),
                    faults.clone(),
                )),
                Duration::from_secs(10),
            ),
            log: stack.log.clone(),
        };
        let stats = drain(stack, &deps, 25).await;
        (submitted, stats)
    };
    // A clean run counts the calls.
    let clean = Faults::default();
    let stack = make_stack().await;
    let (_, stats) = scenario(&stack, clean.clone()).await;
    assert_eq!(stats.function_errors, 0);
    let calls = clean.calls();
    assert!(
        calls >= 8,
        "expected several calls, got {:?}",
        clean.call_log()
    );
    let mut points = 0;
    for n in 1..=calls {
        for kind in [FaultKind::Crash, FaultKind::Error] {
            let stack = make_stack().await;
            let faults = Faults::default();
            faults.arm(n, kind);
            let (submitted, _) = scenario(&stack, faults.clone()).await;
            assert!(faults.fired(), "fault {n} {kind:?} never fired");
            points += 1;
            let jobs = drain_jobs(&stack).await;
            for (t, ids) in &submitted {
                let events = stored(&stack, &task("acme", t)).await;
                let got: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
                assert_eq!(&got, ids, "after {kind:?} at call {n} ({t})");
                assert!(is_dense(&events.iter().map(|e| e.seq).collect::<Vec<_>>()));
                for e in &events {
                    let has_job = jobs.iter().any(|j| {
                        j.task_id == e.task_id
                            && j.events.iter().any(|r| r.seq == e.seq && r.id == e.id)
                    });
                    assert!(
                        has_job,
                        "no job for {t} seq {} after {kind:?} at call {n}",
                        e.seq
                    );
                }
            }
            let head = stack
                .store
                .head(&task("acme", "long"))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (head.last_seq, head.status),
                (Seq(55), TaskStatus::Completed)
            );
        }
    }
    points
}

/// Poison records are counted and skipped; they never block the records behind them.
pub async fn poison_records_are_skipped(stack: Stack) {
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    ingest_ok(&stack, &key, &burst("run-1", 3)).await;
    let ghost = json!({"id":"g1","type":"x","tenant_id":"ghost","task_id":"t","time":"2026-11-22T10:00:00Z","data":null});
    stack
        .log
        .put(&[
            LogRecord {
                partition_key: "acme/run-1".into(),
                data: b"\x00garbage".to_vec(),
            },
            LogRecord {
                partition_key: "ghost/t".into(),
                data: ghost.to_string().into_bytes(),
            },
        ])
        .await
        .unwrap();
    ingest_ok(
        &stack,
        &key,
        &json!({"type":"late.event","task_id":"run-1"}),
    )
    .await;
    let records = stream_records(&stack).await;
    let shard = stack.shards.shards().await.unwrap().remove(0);
    let out =
        fanout::handler::process(&stack.fanout(), lambda_event(&shard, &records, "arn")).await;
    assert_eq!(out.poison, 2);
    assert_eq!(out.stored, 4);
    assert!(out.response.batch_item_failures.is_empty());
    assert_eq!(stored(&stack, &task("acme", "run-1")).await.len(), 4);
}

/// One bad request: name, headers, body, and the expected status, code and field.
type BadCase<'a> = (
    &'a str,
    Vec<(&'a str, &'a str)>,
    Vec<u8>,
    u16,
    &'a str,
    Option<&'a str>,
);

/// Every bad input gets its status, code and field, and writes nothing.
pub async fn bad_input_matrix(stack: Stack) {
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    let auth = format!("Bearer {}", key.expose());
    let json_headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let big = "x".repeat(70 * 1024);
    let too_many: Vec<Value> = (0..501)
        .map(|_| json!({"type":"a","task_id":"t"}))
        .collect();
    let cases: Vec<BadCase<'_>> = vec![
        ("malformed", json_headers.to_vec(), b"{\"type\":".to_vec(), 400, "malformed_json", None),
        ("not an object", json_headers.to_vec(), b"[]".to_vec(), 400, "malformed_json", None),
        ("text/plain", vec![("authorization", auth.as_str()), ("content-type", "text/plain")], b"{}".to_vec(), 415, "unsupported_media_type", None),
        ("no content type", vec![("authorization", auth.as_str())], b"{}".to_vec(), 415, "unsupported_media_type", None),
        ("missing type", json_headers.to_vec(), br#"{"task_id":"t"}"#.to_vec(), 422, "invalid_event", Some("type")),
        ("bad type", json_headers.to_vec(), br#"{"type":"Bad Type","task_id":"t"}"#.to_vec(), 422, "invalid_event", Some("type")),
        ("bad task", json_headers.to_vec(), br#"{"type":"a","task_id":"no/slash"}"#.to_vec(), 422, "invalid_event", Some("task_id")),
        ("long task", json_headers.to_vec(), format!(r#"{{"type":"a","task_id":"{}"}}"#, "t".repeat(129)).into_bytes(), 422, "invalid_event", Some("task_id")),
        ("bad id in batch", json_headers.to_vec(), br#"{"events":[{"type":"a","task_id":"t"},{"type":"a","task_id":"t","id":"has space"}]}"#.to_vec(), 422, "invalid_event", Some("events[1].id")),
        ("seq given", json_headers.to_vec(), br#"{"type":"a","task_id":"t","seq":1}"#.to_vec(), 422, "invalid_event", Some("seq")),
        ("oversize data", json_headers.to_vec(), json!({"events":[{"type":"a","task_id":"t","data":big}]}).to_string().into_bytes(), 413, "data_too_large", Some("events[0].data")),
        ("501 events", json_headers.to_vec(), json!({"events": too_many}).to_string().into_bytes(), 413, "too_many_events", Some("events")),
        ("oversize body", json_headers.to_vec(), vec![b' '; 5 * 1024 * 1024 + 1], 413, "payload_too_large", None),
        ("no key", vec![("content-type", "application/json")], br#"{"type":"a","task_id":"t"}"#.to_vec(), 401, "unauthorized", None),
        ("unknown key", vec![("authorization", "Bearer bl_00000000000000000000000000000000"), ("content-type", "application/json")], br#"{"type":"a","task_id":"t"}"#.to_vec(), 401, "unauthorized", None),
    ];
    for (name, headers, body, status, code, field) in cases {
        let resp = ingest::handle(
            &stack.ingest(),
            request("POST", "/v1/events", &headers, &body),
        )
        .await;
        assert_eq!(resp.status(), status, "{name}");
        assert_eq!(resp.headers()["content-type"], "application/json", "{name}");
        let v: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
        assert_eq!(v["error"]["code"], code, "{name}: {v}");
        assert_eq!(v["error"]["field"].as_str(), field, "{name}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{name}"
        );
    }
    let resp = ingest::handle(
        &stack.ingest(),
        request("GET", "/v1/events", &json_headers, b""),
    )
    .await;
    assert_eq!(resp.status(), 405);
    let resp = ingest::handle(
        &stack.ingest(),
        request("POST", "/v1/other", &json_headers, b"{}"),
    )
    .await;
    assert_eq!(resp.status(), 404);
    assert!(
        stream_records(&stack).await.is_empty(),
        "bad input wrote nothing"
    );
}

/// A key acts only within its tenant and scopes.
pub async fn cross_tenant_is_refused(stack: Stack) {
    let a = tenant_with_key(&stack, "tenant-a", &[Scope::Ingest]).await;
    let b_stream_only = tenant_with_key(&stack, "tenant-b", &[Scope::Stream]).await;
    let resp = ingest::handle(
        &stack.ingest(),
        post_events(
            &a,
            &json!({"type":"x","task_id":"shared","tenant_id":"tenant-b"}),
        ),
    )
    .await;
    assert_eq!(resp.status(), 403);
    let v: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
    assert_eq!(v["error"]["code"], "tenant_mismatch");
    let resp = ingest::handle(
        &stack.ingest(),
        post_events(&b_stream_only, &json!({"type":"x","task_id":"shared"})),
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert!(stream_records(&stack).await.is_empty());
    // A's events for a task id that B also uses stay A's.
    ingest_ok(&stack, &a, &json!({"type":"x","task_id":"shared"})).await;
    drain(&stack, &stack.fanout(), 100).await;
    assert_eq!(stored(&stack, &task("tenant-a", "shared")).await.len(), 1);
    assert!(stored(&stack, &task("tenant-b", "shared")).await.is_empty());
    assert!(
        stack
            .store
            .head(&task("tenant-b", "shared"))
            .await
            .unwrap()
            .is_none()
    );
}

/// A 20-event burst of one task costs a handful of AWS requests in fanout.
pub async fn burst_request_budget(stack: Stack) -> u64 {
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    subscribe(&stack, "acme", &["*"]).await;
    ingest_ok(&stack, &key, &burst("run-1", 20)).await;
    let records = stream_records(&stack).await;
    let shard = stack.shards.shards().await.unwrap().remove(0);
    stack.requests.reset();
    let out =
        fanout::handler::process(&stack.fanout(), lambda_event(&shard, &records, "arn")).await;
    assert_eq!(out.stored, 20);
    let total = stack.requests.total();
    assert!(
        total <= 5,
        "fanout made {total} requests: {:?}",
        stack.requests.snapshot()
    );
    total
}

/// 25 tasks × 20 events through 500-record batches: every transaction is packed to DynamoDB's
/// 100-action limit, as in production.
pub async fn template_sized_batches(stack: Stack) {
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    subscribe(&stack, "acme", &["*"]).await;
    for t in 0..25 {
        ingest_ok(&stack, &key, &burst(&format!("run-{t}"), 20)).await;
    }
    stack.requests.reset();
    let started = std::time::Instant::now();
    let stats = drain(&stack, &stack.fanout(), 500).await;
    assert_eq!(
        (stats.records, stats.function_errors, stats.invocations),
        (500, 0, 1),
        "{stats:?}"
    );
    eprintln!(
        "500 events in {:?}, requests {:?}",
        started.elapsed(),
        stack.requests.snapshot()
    );
    let counts = stack.requests.snapshot();
    assert_eq!(counts.get("dynamodb:TransactWriteItems"), Some(&11));
    for t in 0..25 {
        let events = stored(&stack, &task("acme", &format!("run-{t}"))).await;
        assert_eq!(events.len(), 20);
        assert!(is_dense(&events.iter().map(|e| e.seq).collect::<Vec<_>>()));
    }
}

/// The rejections a tenant has been told of, in order: `(event_id, task_id, reason, message)`.
async fn rejections(stack: &Stack, tenant: &str) -> Vec<(String, String, String, String)> {
    stored(stack, &task(tenant, fanout::rejection::REJECTIONS_TASK))
        .await
        .into_iter()
        .map(|e| {
            assert_eq!(e.event_type.as_str(), fanout::rejection::REJECTED_TYPE);
            let field = |k: &str| e.data[k].as_str().unwrap_or_default().to_owned();
            (
                field("event_id"),
                field("task_id"),
                field("reason"),
                field("message"),
            )
        })
        .collect()
}

fn ids_of(events: &[burstline::event::Envelope]) -> Vec<String> {
    events.iter().map(|e| e.id.to_string()).collect()
}

/// A tenant reusing a new id for two tasks in one Kinesis batch (SPEC §4.6): the later use is
/// set aside with a visible `burstline.event.rejected`, and neither the tenant's other events
/// nor another tenant's are held up. A reuse in a later batch is set aside the same way,
/// while a resubmission to the id's own task stays a silent duplicate.
pub async fn reused_id_is_set_aside_without_blocking_the_shard(stack: Stack) {
    let acme = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    let zeta = tenant_with_key(&stack, "zeta", &[Scope::Ingest]).await;
    subscribe(&stack, "acme", &["*"]).await;
    ingest_ok(
        &stack,
        &acme,
        &json!({"events":[
        {"id":"step-1","type":"tool_call.started","task_id":"a"},
        {"id":"a-2","type":"tool_call.completed","task_id":"a"}]}),
    )
    .await;
    ingest_ok(&stack, &zeta, &burst("z", 3)).await;
    ingest_ok(
        &stack,
        &acme,
        &json!({"events":[
        {"id":"step-1","type":"tool_call.started","task_id":"b"},
        {"id":"b-2","type":"tool_call.completed","task_id":"b"}]}),
    )
    .await;
    ingest_ok(&stack, &zeta, &burst("z2", 2)).await;

    // One batch holds all of it, then the rejection event comes round on the stream.
    let stats = drain(&stack, &stack.fanout(), 100).await;
    assert_eq!(
        (stats.function_errors, stats.discarded),
        (0, 0),
        "the shard moved on: {stats:?}"
    );
    assert_eq!(
        stats.invocations, 2,
        "the batch, then the rejection: {stats:?}"
    );
    let a = stored(&stack, &task("acme", "a")).await;
    assert_eq!(ids_of(&a), ["step-1", "a-2"]);
    let b = stored(&stack, &task("acme", "b")).await;
    assert_eq!(ids_of(&b), ["b-2"], "b's own event is stored");
    for events in [&a, &b] {
        assert!(is_dense(&events.iter().map(|e| e.seq).collect::<Vec<_>>()));
    }
    assert_eq!(stored(&stack, &task("zeta", "z")).await.len(), 3);
    assert_eq!(stored(&stack, &task("zeta", "z2")).await.len(), 2);
    let told = rejections(&stack, "acme").await;
    assert_eq!(told.len(), 1, "{told:?}");
    let (id, task_id, reason, message) = &told[0];
    assert_eq!(
        (id.as_str(), task_id.as_str(), reason.as_str()),
        ("step-1", "b", "id_conflict")
    );
    assert!(message.contains("task a"), "{message}");
    assert!(rejections(&stack, "zeta").await.is_empty());

    // Later batches: a reuse by task c is set aside; a resubmission to a is a duplicate.
    ingest_ok(
        &stack,
        &acme,
        &json!({"events":[
        {"id":"step-1","type":"tool_call.started","task_id":"c"},
        {"id":"c-2","type":"tool_call.completed","task_id":"c"}]}),
    )
    .await;
    ingest_ok(
        &stack,
        &acme,
        &json!({"id":"step-1","type":"tool_call.started","task_id":"a"}),
    )
    .await;
    let stats = drain(&stack, &stack.fanout(), 100).await;
    assert_eq!(
        (stats.function_errors, stats.discarded),
        (0, 0),
        "{stats:?}"
    );
    assert_eq!(ids_of(&stored(&stack, &task("acme", "c")).await), ["c-2"]);
    assert_eq!(stored(&stack, &task("acme", "a")).await.len(), 2);
    let told = rejections(&stack, "acme").await;
    assert_eq!(told.len(), 2, "{told:?}");
    assert_eq!((told[1].0.as_str(), told[1].1.as_str()), ("step-1", "c"));
    assert!(told[1].3.contains("task a"), "{}", told[1].3);

    // Replaying the whole stream (a retried invocation) files nothing twice.
    let records = stream_records(&stack).await;
    let shard = stack.shards.shards().await.unwrap().remove(0);
    let again =
        fanout::handler::process(&stack.fanout(), lambda_event(&shard, &records, "arn")).await;
    assert!(again.response.batch_item_failures.is_empty());
    assert_eq!((again.stored, again.rejected), (0, 0));
    drain(&stack, &stack.fanout(), 100).await;
    assert_eq!(rejections(&stack, "acme").await.len(), 2);
}

/// A record DynamoDB refuses for its content (an item over 400 KB, written to the stream
/// without ingest's limits) is isolated and set aside with `store_refused`; the events around
/// it and other tenants' events in the same transaction are stored.
pub async fn refused_record_is_set_aside(stack: Stack) {
    let acme = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    let zeta = tenant_with_key(&stack, "zeta", &[Scope::Ingest]).await;
    ingest_ok(&stack, &acme, &json!({"id":"a-1","type":"x","task_id":"a"})).await;
    let huge = json!({"id":"a-huge","type":"x","tenant_id":"acme","task_id":"a",
        "time":"2026-11-22T10:00:00Z","data":"x".repeat(450 * 1024)});
    let put = stack
        .log
        .put(&[LogRecord {
            partition_key: "acme/a".into(),
            data: huge.to_string().into_bytes(),
        }])
        .await
        .unwrap();
    assert!(matches!(put[0], burstline::log::PutResult::Accepted(_)));
    ingest_ok(&stack, &acme, &json!({"id":"a-3","type":"x","task_id":"a"})).await;
    ingest_ok(&stack, &zeta, &burst("z", 3)).await;
    let stats = drain(&stack, &stack.fanout(), 100).await;
    assert_eq!(
        (stats.function_errors, stats.discarded),
        (0, 0),
        "{stats:?}"
    );
    let a = stored(&stack, &task("acme", "a")).await;
    assert_eq!(ids_of(&a), ["a-1", "a-3"]);
    assert!(is_dense(&a.iter().map(|e| e.seq).collect::<Vec<_>>()));
    assert_eq!(stored(&stack, &task("zeta", "z")).await.len(), 3);
    let told = rejections(&stack, "acme").await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(
        (told[0].0.as_str(), told[0].1.as_str(), told[0].2.as_str()),
        ("a-huge", "a", "store_refused")
    );
}

/// A conflict on one task re-plans the tasks that shared its transaction; one whose plan is
/// unchanged does not have its jobs enqueued again.
pub async fn unchanged_plans_are_not_enqueued_again(stack: Stack) {
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    subscribe(&stack, "acme", &["*"]).await;
    ingest_ok(
        &stack,
        &key,
        &json!({"id":"p-1","type":"x","task_id":"run-1"}),
    )
    .await;
    drain(&stack, &stack.fanout(), 100).await;
    drain_jobs(&stack).await;
    // run-2 and run-1 share a transaction; run-1 resubmits p-1, so it conflicts.
    ingest_ok(&stack, &key, &burst("run-2", 5)).await;
    ingest_ok(
        &stack,
        &key,
        &json!({"events":[
        {"id":"p-1","type":"x","task_id":"run-1"},
        {"id":"p-2","type":"x","task_id":"run-1"}]}),
    )
    .await;
    let records = stream_records(&stack).await;
    let shard = stack.shards.shards().await.unwrap().remove(0);
    stack.requests.reset();
    let out =
        fanout::handler::process(&stack.fanout(), lambda_event(&shard, &records[1..], "arn")).await;
    assert_eq!((out.stored, out.duplicates), (6, 1), "{out:?}");
    assert_eq!(
        stack.requests.snapshot().get("dynamodb:TransactWriteItems"),
        Some(&2),
        "the conflict forced a second round"
    );
    let jobs = drain_jobs(&stack).await;
    let refs = |t: &str| -> Vec<u64> {
        jobs.iter()
            .filter(|j| j.task_id.as_str() == t)
            .flat_map(|j| j.events.iter().map(|r| r.seq.0))
            .collect()
    };
    assert_eq!(refs("run-2"), [1, 2, 3, 4, 5], "run-2's jobs went out once");
    assert_eq!(
        stored(&stack, &task("acme", "run-1")).await.len(),
        2,
        "p-1 once, p-2"
    );
}

/// `EventStore::events_at` reads exactly the seqs asked for, of that task only, ascending,
/// whatever their number (more than one `BatchGetItem`'s 100 keys) and order.
pub async fn events_at_reads_exactly_the_asked_seqs(stack: Stack) {
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    ingest_ok(&stack, &key, &burst("run-1", 5)).await;
    ingest_ok(&stack, &key, &burst("run-2", 5)).await;
    drain(&stack, &stack.fanout(), 100).await;
    let run1 = task("acme", "run-1");
    let all = stored(&stack, &run1).await;
    let got = stack
        .store
        .events_at(&run1, &[Seq(4), Seq(2), Seq(9)])
        .await
        .unwrap();
    assert_eq!(
        got,
        vec![all[1].clone(), all[3].clone()],
        "absent seqs are absent"
    );
    let wide: Vec<Seq> = (1..=150).rev().map(Seq).collect();
    stack.requests.reset();
    let got = stack.store.events_at(&run1, &wide).await.unwrap();
    assert_eq!(got, all, "only run-1's events, ascending");
    assert_eq!(
        stack.requests.snapshot().get("dynamodb:BatchGetItem"),
        Some(&2),
        "150 keys are two requests"
    );
    let none = stack
        .store
        .events_at(&task("acme", "no-such-task"), &[Seq(1)])
        .await
        .unwrap();
    assert!(none.is_empty());
    assert!(stack.store.events_at(&run1, &[]).await.unwrap().is_empty());
}

/// An [`EventStore`](burstline::store::EventStore) whose commits take `latency` each and that
/// records how many were in flight at once.
struct SlowCommits {
    inner: Arc<dyn burstline::store::EventStore>,
    latency: Duration,
    in_flight: Arc<std::sync::Mutex<(usize, usize)>>,
}

#[async_trait::async_trait]
impl burstline::store::EventStore for SlowCommits {
    async fn heads(
        &self,
        keys: &[burstline::ids::TaskKey],
    ) -> burstline::Result<HashMap<burstline::ids::TaskKey, burstline::head::TaskHead>> {
        self.inner.heads(keys).await
    }
    async fn commit(&self, chunks: &[burstline::sequence::CommitChunk]) -> burstline::Result<()> {
        {
            let mut f = self.in_flight.lock().unwrap();
            f.0 += 1;
            f.1 = f.1.max(f.0);
        }
        tokio::time::sleep(self.latency).await;
        let result = self.inner.commit(chunks).await;
        self.in_flight.lock().unwrap().0 -= 1;
        result
    }
    async fn head(
        &self,
        key: &burstline::ids::TaskKey,
    ) -> burstline::Result<Option<burstline::head::TaskHead>> {
        self.inner.head(key).await
    }
    async fn events(
        &self,
        key: &burstline::ids::TaskKey,
        after: Seq,
        limit: usize,
    ) -> burstline::Result<Vec<burstline::event::Envelope>> {
        self.inner.events(key, after, limit).await
    }
    async fn events_at(
        &self,
        key: &burstline::ids::TaskKey,
        seqs: &[Seq],
    ) -> burstline::Result<Vec<burstline::event::Envelope>> {
        self.inner.events_at(key, seqs).await
    }
    async fn find_event(
        &self,
        tenant: &burstline::ids::TenantId,
        id: &burstline::ids::EventId,
    ) -> burstline::Result<Option<(burstline::ids::TaskId, Seq)>> {
        self.inner.find_event(tenant, id).await
    }
}

/// One 500-record batch of 20 small tasks and one long task (chained over several
/// transactions): transactions of different tasks are in flight together (at most
/// [`fanout::round::MAX_CONCURRENT_COMMITS`]), the long task's chunks land in order, and every
/// task is stored densely in acceptance order, exactly once.
pub async fn independent_tasks_commit_concurrently(stack: Stack) {
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    subscribe(&stack, "acme", &["*"]).await;
    let mut ids: HashMap<String, Vec<String>> = HashMap::new();
    for t in 0..20 {
        let task = format!("run-{t}");
        ids.insert(
            task.clone(),
            ingest_ok(&stack, &key, &burst(&task, 20)).await,
        );
    }
    let long = json!({"events": (0..100).map(|i| json!({"type":"token.delta","task_id":"long","data":{"i":i}})).collect::<Vec<_>>()});
    ids.insert("long".into(), ingest_ok(&stack, &key, &long).await);
    let in_flight = Arc::new(std::sync::Mutex::new((0, 0)));
    let deps = Fanout {
        store: Arc::new(SlowCommits {
            inner: stack.store.clone(),
            latency: Duration::from_millis(50),
            in_flight: in_flight.clone(),
        }),
        ..stack.fanout()
    };
    let stats = drain(&stack, &deps, 500).await;
    assert_eq!(
        (stats.records, stats.function_errors, stats.invocations),
        (500, 0, 1),
        "{stats:?}"
    );
    let most = in_flight.lock().unwrap().1;
    assert!(
        (2..=fanout::round::MAX_CONCURRENT_COMMITS).contains(&most),
        "{most} commits in flight at once"
    );
    for (t, sent) in ids {
        let events = stored(&stack, &task("acme", &t)).await;
        let got: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
        assert_eq!(got, sent, "{t}: every event once, in acceptance order");
        assert!(is_dense(&events.iter().map(|e| e.seq).collect::<Vec<_>>()));
    }
}
