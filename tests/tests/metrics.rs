//! Each function's handler, run on in-memory adapters, emits the CloudWatch Embedded Metric
//! Format documents the template's dashboard and alarms read. The assertions are on the JSON
//! the exporter writes (captured instead of stdout): namespace, metric names, units,
//! dimension sets and values.

use burstline::apikey::{ApiKey, Scope};
use burstline::log::LogRecord;
use burstline::metrics::emf;
use burstline_tests::fixtures::*;
use burstline_tests::receiver::{Receiver, Reply};
use burstline_tests::stack::Stack;
use burstline_tests::streams::{
    SseClient, append, bearer, clock_now, events, get_events, streamer, tenant, token,
};
use deliver::Policy;
use deliver::http::HttpSender;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use stream::StreamSettings;

const NAMESPACE: &str = "BurstlineTest";

/// The exporter is process-wide: tests that read it take turns.
static SERIAL: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(|| tokio::sync::Mutex::new(()));

async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    let guard = SERIAL.lock().await;
    // As each function's main does: install, then give the exporter the units.
    emf::install(NAMESPACE).unwrap();
    ingest::metrics::describe();
    fanout::metrics::describe();
    deliver::metrics::describe();
    stream::metrics::describe();
    api::metrics::describe();
    guard
}

/// Every document written since [`emf::start_capture`], each checked to be well-formed EMF.
fn captured() -> Vec<Value> {
    let docs: Vec<Value> = emf::take_captured()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    for d in &docs {
        let aws = &d["_aws"];
        assert!(aws["Timestamp"].is_u64(), "{d}");
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1, "{d}");
        assert_eq!(directives[0]["Namespace"], NAMESPACE, "{d}");
        for set in directives[0]["Dimensions"].as_array().unwrap() {
            for dim in set.as_array().unwrap() {
                assert!(d[dim.as_str().unwrap()].is_string(), "{dim} in {d}");
            }
        }
        for m in directives[0]["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            assert!(d[name].is_number() || d[name].is_array(), "{name} in {d}");
        }
    }
    docs
}

/// `name` under the dimension set that is exactly `dims` (names and values), after checking
/// its unit in every document reporting it: counters summed and histogram values joined
/// across documents (every flush writes one), as CloudWatch aggregates them.
fn metric(docs: &[Value], name: &str, unit: &str, dims: &[(&str, &str)]) -> Value {
    let want: BTreeSet<&str> = dims.iter().map(|(k, _)| *k).collect();
    let found: Vec<&Value> = docs
        .iter()
        .filter(|d| {
            let directive = &d["_aws"]["CloudWatchMetrics"][0];
            let set: BTreeSet<&str> = directive["Dimensions"][0]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            set == want
                && dims.iter().all(|(k, v)| d[*k] == *v)
                && directive["Metrics"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["Name"] == name)
        })
        .collect();
    assert!(
        !found.is_empty(),
        "{name} {dims:?} not reported in {}",
        serde_json::to_string_pretty(docs).unwrap()
    );
    for d in &found {
        let entry = d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["Name"] == name)
            .unwrap();
        assert_eq!(entry["Unit"], unit, "{name}");
    }
    match &found[0][name] {
        Value::Array(_) => Value::Array(
            found
                .iter()
                .flat_map(|d| d[name].as_array().unwrap().clone())
                .collect(),
        ),
        _ => json!(found.iter().map(|d| d[name].as_u64().unwrap()).sum::<u64>()),
    }
}

/// No document reports `name` under these dimension values (counters at zero are omitted).
fn absent(docs: &[Value], name: &str) {
    assert!(
        docs.iter().all(|d| d.get(name).is_none()),
        "{name} reported: {docs:?}"
    );
}

#[tokio::test]
async fn ingest_counts_accepted_events_per_tenant_and_rejections_by_code() {
    let _turn = exclusive().await;
    let stack = Stack::memory();
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    let deps = stack.ingest();
    emf::start_capture();

    let resp = ingest::handle(&deps, post_events(&key, &burst("run-1", 3))).await;
    assert_eq!(resp.status(), 202);
    let bad = json!({"events": [{"type": "Not A Type", "task_id": "run-1"}]});
    assert_eq!(
        ingest::handle(&deps, post_events(&key, &bad))
            .await
            .status(),
        422
    );
    let anonymous = request("POST", "/v1/events", &[], b"{}");
    assert_eq!(ingest::handle(&deps, anonymous).await.status(), 401);

    let docs = captured();
    let f = ("function", "ingest");
    assert_eq!(metric(&docs, "EventsAccepted", "Count", &[f]), 3);
    assert_eq!(
        metric(
            &docs,
            "EventsAccepted",
            "Count",
            &[f, ("tenant_id", "acme")]
        ),
        3
    );
    assert_eq!(
        metric(
            &docs,
            "RequestsRejected",
            "Count",
            &[f, ("reason", "invalid_event")]
        ),
        1
    );
    assert_eq!(
        metric(
            &docs,
            "RequestsRejected",
            "Count",
            &[f, ("reason", "unauthorized")]
        ),
        1
    );
    assert_eq!(docs.len(), 4, "nothing else is reported: {docs:?}");
}

#[tokio::test]
async fn fanout_reports_stored_events_batch_size_lag_and_poison() {
    let _turn = exclusive().await;
    let stack = Stack::memory();
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    let resp = ingest::handle(&stack.ingest(), post_events(&key, &burst("run-1", 5))).await;
    assert_eq!(resp.status(), 202);
    stack
        .log
        .put(&[LogRecord {
            partition_key: "acme/run-2".into(),
            data: b"not an event".to_vec(),
        }])
        .await
        .unwrap();
    emf::start_capture();

    drain(&stack, &stack.fanout(), 100).await;

    let docs = captured();
    let f = [("function", "fanout")];
    assert_eq!(metric(&docs, "EventsStored", "Count", &f), 5);
    assert_eq!(metric(&docs, "PoisonRecords", "Count", &f), 1);
    assert_eq!(metric(&docs, "FanoutBatchSize", "Count", &f), json!([6.0]));
    let lag = metric(&docs, "FanoutLag", "Milliseconds", &f);
    let lag = lag.as_array().unwrap();
    assert_eq!(lag.len(), 1, "one value per batch: {lag:?}");
    assert!(lag[0].as_f64().unwrap() >= 0.0);
    absent(&docs, "DuplicatesSkipped");
}

#[tokio::test]
async fn deliver_reports_attempts_by_outcome_latency_dead_letters_and_endpoint_health() {
    let _turn = exclusive().await;
    let stack = Stack::memory();
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    // One receiver takes the first event, then answers 410 Gone; the other is down (503).
    let gone = Receiver::start().await;
    gone.script([Reply::Status(200), Reply::Status(410)]);
    let down = Receiver::start().await;
    down.script([Reply::Status(503)]);
    for rx in [&gone, &down] {
        let ep = endpoint("acme", &rx.url, &["*"]);
        stack.endpoints.create_endpoint(&ep).await.unwrap();
    }
    let resp = ingest::handle(&stack.ingest(), post_events(&key, &burst("run-1", 3))).await;
    assert_eq!(resp.status(), 202);
    drain(&stack, &stack.fanout(), 100).await;
    let sender = Arc::new(HttpSender::new(Duration::from_secs(2), true).unwrap());
    let deps = stack.deliver(sender, Policy::default());
    emf::start_capture();

    drain_deliveries(&stack, &deps).await;

    assert_eq!((gone.received().len(), down.received().len()), (2, 1));
    let docs = captured();
    let f = ("function", "deliver");
    let acme = ("tenant_id", "acme");
    for (outcome, n) in [("delivered", 1), ("failed", 1), ("retrying", 1)] {
        let o = ("outcome", outcome);
        assert_eq!(metric(&docs, "WebhookAttempts", "Count", &[f, o]), n);
        assert_eq!(metric(&docs, "WebhookAttempts", "Count", &[f, acme, o]), n);
    }
    let latency = metric(&docs, "DeliveryLatency", "Milliseconds", &[f]);
    assert_eq!(latency.as_array().unwrap().len(), 3, "{latency}");
    assert_eq!(metric(&docs, "DeadLetters", "Count", &[f]), 1);
    assert_eq!(metric(&docs, "DeadLetters", "Count", &[f, acme]), 1);
    assert_eq!(
        metric(
            &docs,
            "EndpointsDisabled",
            "Count",
            &[f, ("reason", "gone")]
        ),
        1
    );
    assert_eq!(metric(&docs, "EndpointsFailing", "Count", &[f]), 1);
}

#[tokio::test(start_paused = true)]
async fn stream_reports_opens_throttles_endings_and_durations() {
    let _turn = exclusive().await;
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 1, &[Scope::Stream]).await;
    let deps = streamer(&stack, stack.store.clone(), StreamSettings::default()).await;
    append(
        stack.store.as_ref(),
        &task("acme", "done"),
        &events(3, true),
        None,
    )
    .await;
    append(
        stack.store.as_ref(),
        &task("acme", "live"),
        &events(2, false),
        None,
    )
    .await;
    let auth = bearer(&key);
    let headers = [("authorization", auth.as_str())];
    emf::start_capture();

    // A finished task streams to its end.
    let mut finished =
        SseClient::new(stream::handle(&deps, get_events("done", "", &headers)).await);
    assert_eq!(finished.rest().await.len(), 3);
    // A live task holds the tenant's only slot; both kinds of client are then over budget.
    let mut live = SseClient::new(stream::handle(&deps, get_events("live", "", &headers)).await);
    assert_eq!(live.next().await.unwrap().id, "1");
    let over = stream::handle(&deps, get_events("live", "", &headers)).await;
    assert_eq!(over.status(), 429);
    let t = token(
        "acme",
        "live",
        clock_now(&deps),
        chrono::Duration::minutes(5),
    );
    let browser = stream::handle(&deps, get_events("live", &format!("token={t}"), &[])).await;
    assert_eq!(browser.status(), 200);
    let missing = stream::handle(&deps, get_events("nope", "", &headers)).await;
    assert_eq!(missing.status(), 404);
    // The live reader leaves; its session notices at the next heartbeat.
    drop(live);
    tokio::time::sleep(Duration::from_secs(20)).await;

    let docs = captured();
    let f = ("function", "stream");
    assert_eq!(metric(&docs, "StreamsOpened", "Count", &[f]), 2);
    assert_eq!(
        metric(&docs, "StreamsOpened", "Count", &[f, ("tenant_id", "acme")]),
        2
    );
    for client in ["key", "token"] {
        let c = ("client", client);
        assert_eq!(metric(&docs, "StreamsThrottled", "Count", &[f, c]), 1);
    }
    for reason in ["terminal", "client_gone"] {
        let r = ("reason", reason);
        assert_eq!(metric(&docs, "StreamsEnded", "Count", &[f, r]), 1);
    }
    for reason in ["too_many_streams", "not_found"] {
        let r = ("reason", reason);
        assert_eq!(metric(&docs, "RequestsRejected", "Count", &[f, r]), 1);
    }
    // Each ending flushes its own document, as no invocation end follows it.
    let durations: Vec<f64> = metric(&docs, "StreamDuration", "Seconds", &[f])
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(durations.len(), 2, "{docs:?}");
    assert!(durations.iter().any(|d| *d >= 15.0), "{durations:?}");
}

#[tokio::test]
async fn api_counts_rejections_and_endpoints_paused_and_enabled() {
    let _turn = exclusive().await;
    let stack = Stack::memory();
    let key: ApiKey = tenant_with_key(&stack, "acme", &[Scope::Manage, Scope::Stream]).await;
    let deps = stack.api();
    let auth = bearer(&key);
    let call = |method: &str, path: &str, body: Value| {
        request(
            method,
            path,
            &[
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
            ],
            body.to_string().as_bytes(),
        )
    };
    let created = api::handle(
        &deps,
        call(
            "POST",
            "/v1/endpoints",
            json!({"url": "https://hooks.example.com/a"}),
        ),
    )
    .await;
    assert_eq!(created.status(), 201);
    let id = serde_json::from_slice::<Value>(created.body().as_ref()).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    emf::start_capture();

    let path = format!("/v1/endpoints/{id}");
    let paused = api::handle(&deps, call("PATCH", &path, json!({"enabled": false}))).await;
    assert_eq!(paused.status(), 200);
    let enabled = api::handle(&deps, call("POST", &format!("{path}/enable"), json!({}))).await;
    assert_eq!(enabled.status(), 200);
    let unknown = api::handle(&deps, call("GET", "/v1/endpoints/ep_nope", json!({}))).await;
    assert_eq!(unknown.status(), 404);
    let no_task = api::handle(&deps, call("GET", "/v1/tasks/nope", json!({}))).await;
    assert_eq!(no_task.status(), 404);

    let docs = captured();
    let f = ("function", "api");
    assert_eq!(
        metric(
            &docs,
            "EndpointsDisabled",
            "Count",
            &[f, ("reason", "manual")]
        ),
        1
    );
    assert_eq!(metric(&docs, "EndpointsEnabled", "Count", &[f]), 1);
    assert_eq!(
        metric(
            &docs,
            "RequestsRejected",
            "Count",
            &[f, ("reason", "not_found")]
        ),
        2
    );
}
