//! End to end: `burstline dev` as a subprocess against moto, used only over HTTP. Register an
//! endpoint (a real receiver), ingest a burst, read the SSE stream to the terminal event,
//! check every webhook with an independent Standard Webhooks verifier, stop it with SIGTERM
//! (draining) and start it again on the same resources: the data survived and nothing is
//! delivered twice.

#![allow(clippy::unwrap_used)] // test helpers: a failed setup should panic loudly

mod common;

use burstline::apikey::ApiKey;
use burstline_tests::moto::Moto;
use burstline_tests::receiver::Receiver;
use common::Dev;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const TERMINAL: &str = "task.completed";

fn burst(task: &str, n: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| {
            let ty = match i {
                1 => "task.started",
                _ if i == n => TERMINAL,
                _ if i % 2 == 0 => "tool_call.started",
                _ => "tool_call.completed",
            };
            json!({"id": format!("{task}-{i}"), "task_id": task, "type": ty, "data": {"i": i}})
        })
        .collect()
}

async fn json_of(response: reqwest::Response) -> Value {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

fn ids_of(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn ingest(client: &reqwest::Client, dev: &Dev, key: &str, events: &[Value]) {
    for chunk in events.chunks(25) {
        let r = client
            .post(format!("{}/v1/events", dev.url))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(json!({ "events": chunk }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    }
}

/// Every (seq, id) the task's stream sends from the start to the terminal event.
async fn read_stream(
    client: &reqwest::Client,
    dev: &Dev,
    key: &str,
    task: &str,
) -> Vec<(u64, String)> {
    // Opened right after ingest's 202: the stream waits for fanout's first commit (one
    // batching window) instead of answering 404.
    let response = client
        .get(format!("{}/v1/tasks/{task}/events", dev.url))
        .bearer_auth(key)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "served as SSE"
    );
    let mut events = response.bytes_stream().eventsource();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(e) = events.next().await {
            let e = e.expect("a well-formed SSE frame");
            let env: Value = serde_json::from_str(&e.data).unwrap();
            got.push((
                e.id.parse().unwrap(),
                env["id"].as_str().unwrap().to_owned(),
            ));
            if e.event == TERMINAL {
                return;
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "stream reached the terminal event; got {got:?}"
    );
    got
}

/// Event ids the receiver got, with how many times, after checking every signature.
fn delivered(receiver: &Receiver, secret: &str) -> BTreeMap<String, usize> {
    let verifier = standardwebhooks::Webhook::new(secret).unwrap();
    let mut ids = BTreeMap::new();
    for r in receiver.received() {
        verifier
            .verify(&r.body, &r.header_map())
            .expect("every webhook verifies with an independent verifier");
        let body = r.json();
        let events = match body.get("events") {
            Some(batch) => batch.as_array().unwrap().clone(),
            None => vec![body],
        };
        for e in events {
            *ids.entry(e["id"].as_str().unwrap().to_owned()).or_insert(0) += 1;
        }
    }
    ids
}

async fn wait_for_deliveries(receiver: &Receiver, secret: &str, ids: &[String]) {
    for _ in 0..300 {
        let got = delivered(receiver, secret);
        if ids.iter().all(|id| got.contains_key(id)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = delivered(receiver, secret);
    let missing: Vec<_> = ids.iter().filter(|id| !got.contains_key(*id)).collect();
    panic!("webhooks missing after 30 s: {missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_on_moto_streams_delivers_drains_and_survives_a_restart() {
    let moto = Moto::shared();
    let prefix = burstline_tests::stack::unique_prefix("dev");
    let key = ApiKey::generate().unwrap();
    let key = key.expose();
    let args = [
        "--aws-endpoint",
        moto.endpoint.as_str(),
        "--prefix",
        prefix.as_str(),
        "--batching-window-ms",
        "200",
    ];
    let client = reqwest::Client::new();
    let dev = Dev::start(&args, key).await;

    // 1. Register an endpoint: a receiver of the test's own.
    let receiver = Receiver::start().await;
    let created = client
        .post(format!("{}/v1/endpoints", dev.url))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(json!({"url": receiver.url, "description": "e2e receiver"}).to_string())
        .send()
        .await
        .unwrap();
    let created = json_of(created).await;
    let secret = created["secret"]
        .as_str()
        .expect("the secret, shown once")
        .to_owned();
    let endpoint_id = created["id"].as_str().unwrap().to_owned();

    // 2. Start a task with its first event and open its stream at once, as README's flow
    // does: fanout has not committed the event yet, so the stream waits for it (not 404);
    // the rest of the burst is ingested while it streams.
    let events = burst("e2e-a", 60);
    let ids = ids_of(&events);
    ingest(&client, &dev, key, &events[..1]).await;
    let (streamed, ()) = tokio::join!(
        read_stream(&client, &dev, key, "e2e-a"),
        ingest(&client, &dev, key, &events[1..])
    );

    // 3. The stream sends every seq in order, in acceptance order.
    let want: Vec<(u64, String)> = (1..=60).zip(ids.iter().cloned()).collect();
    assert_eq!(streamed, want);

    // 4. The receiver got every event, each signature valid.
    wait_for_deliveries(&receiver, &secret, &ids).await;

    // /dev/metrics shows the counters the functions' Lambdas emit as EMF, cumulative. deliver
    // counts a batch's attempts once the batch is settled, which may be after the receiver
    // has seen the last POST: poll until they are in.
    let find = |metrics: &Value, name: &str, dimensions: &Value| {
        metrics["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name && m["dimensions"] == *dimensions)
            .and_then(|m| m["value"].as_u64())
    };
    let attempts_ok = json!({"function": "deliver", "outcome": "delivered"});
    let mut metrics = Value::Null;
    for _ in 0..100 {
        let response = client.get(format!("{}/dev/metrics", dev.url)).send();
        metrics = json_of(response.await.unwrap()).await;
        if find(&metrics, "WebhookAttempts", &attempts_ok).is_some_and(|n| n >= 60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let value = |name: &str, dimensions: Value| {
        find(&metrics, name, &dimensions)
            .unwrap_or_else(|| panic!("{name} {dimensions} in {metrics}"))
    };
    let accepted = json!({"function": "ingest", "tenant_id": "demo"});
    assert_eq!(value("EventsAccepted", accepted), 60);
    assert_eq!(value("EventsStored", json!({"function": "fanout"})), 60);
    assert!(value("WebhookAttempts", attempts_ok) >= 60, "{metrics}");
    assert_eq!(value("StreamsOpened", json!({"function": "stream"})), 1);

    // Ingest a second task and stop at once: the shutdown drains it into the store and out
    // to the receiver before the process exits.
    let events_b = burst("e2e-b", 30);
    let ids_b = ids_of(&events_b);
    ingest(&client, &dev, key, &events_b).await;
    assert!(
        dev.stop(Duration::from_secs(60)).await,
        "clean exit on SIGTERM"
    );
    let got = delivered(&receiver, &secret);
    let undelivered: Vec<_> = ids_b.iter().filter(|id| !got.contains_key(*id)).collect();
    assert!(
        undelivered.is_empty(),
        "drained before exit; missing {undelivered:?}"
    );

    // The endpoint's secret is sealed at rest with dev's local key, not stored as written.
    let tenants_table = burstline::provision::ResourceNames::with_prefix(&prefix).tenants_table;
    let ddb = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let item = ddb
        .get_item()
        .table_name(tenants_table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("TENANT#demo".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ENDPOINT#{endpoint_id}")),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("the endpoint's item");
    let doc = item["doc"].as_s().unwrap();
    assert!(
        doc.contains("\"sealed\"") && !doc.contains(&secret[6..]),
        "sealed at rest: {doc}"
    );

    // 5. Restart on the same resources: the data survived (and its sealed secrets open).
    let dev = Dev::start(&args, key).await;
    let streamed = read_stream(&client, &dev, key, "e2e-a").await;
    assert_eq!(streamed, want, "the log survived the restart");
    assert_eq!(read_stream(&client, &dev, key, "e2e-b").await.len(), 30);
    let status = client
        .get(format!("{}/v1/tasks/e2e-a", dev.url))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    // reqwest follows the 303 to the result: the terminal event.
    let result = json_of(status).await;
    assert_eq!(result["seq"], 60);
    let endpoints = client
        .get(format!("{}/v1/endpoints", dev.url))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let endpoints = json_of(endpoints).await;
    assert!(
        endpoints.to_string().contains(&endpoint_id),
        "the endpoint survived: {endpoints}"
    );
    // The mappings work after the restart; re-reading the stream from its start did not
    // deliver anything twice.
    let events_c = burst("e2e-c", 10);
    let ids_c = ids_of(&events_c);
    ingest(&client, &dev, key, &events_c).await;
    wait_for_deliveries(&receiver, &secret, &ids_c).await;
    let twice: Vec<_> = delivered(&receiver, &secret)
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert!(dev.stop(Duration::from_secs(60)).await);
}
