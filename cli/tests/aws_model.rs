//! `burstline dev --aws-model efo` as a subprocess, over HTTP only: events are accepted and
//! reach a stream in order; a viewer that stays sees every seq exactly once across segment
//! ends; and, as on Lambda, a stream whose client left keeps running (and holding its slot)
//! until it ends by itself, here at a short idle cutoff, well within 60 s. On an AWS endpoint
//! (moto) the model takes the endpoint's stream as it is: its shard count, not the table's.

#![allow(clippy::unwrap_used)] // test helpers: a failed setup should panic loudly

mod common;

use burstline::apikey::ApiKey;
use common::Dev;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn ingest(client: &reqwest::Client, url: &str, key: &str, events: &[Value]) {
    let r = client
        .post(format!("{url}/v1/events"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(json!({ "events": events }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
}

fn event(task: &str, i: usize, ty: &str) -> Value {
    json!({"id": format!("{task}-{i}"), "task_id": task, "type": ty, "data": {"i": i}})
}

fn stream_request(
    client: &reqwest::Client,
    dev: &Dev,
    key: &str,
    task: &str,
    client_id: &str,
    last: Option<u64>,
) -> reqwest::RequestBuilder {
    let r = client
        .get(format!(
            "{}/v1/tasks/{task}/events?client_id={client_id}",
            dev.url
        ))
        .bearer_auth(key)
        .header("accept", "text/event-stream");
    match last {
        Some(seq) => r.header("last-event-id", seq.to_string()),
        None => r,
    }
}

/// `StreamsEnded` by reason, from `/dev/metrics`.
async fn endings(client: &reqwest::Client, dev: &Dev) -> Vec<(String, u64)> {
    let body = client
        .get(format!("{}/dev/metrics", dev.url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let m: Value = serde_json::from_slice(&body).unwrap();
    m["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == "StreamsEnded" && s["dimensions"].get("reason").is_some())
        .map(|s| {
            (
                s["dimensions"]["reason"].as_str().unwrap().to_owned(),
                s["value"].as_u64().unwrap(),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_stays_sees_every_seq_once_in_order_across_segments_efo() {
    viewer_stays("efo").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_stays_sees_every_seq_once_in_order_across_segments_standard() {
    viewer_stays("standard").await;
}

/// Events keep coming while the viewer crosses several 1 s segment ends, resuming each time
/// with `Last-Event-ID`: every seq arrives once, in order, under the `profile` model.
async fn viewer_stays(profile: &str) {
    let key = ApiKey::generate().unwrap();
    let key = key.expose();
    let dev = Dev::start(
        &["--aws-model", profile, "--stream-segment-seconds", "1"],
        key,
    )
    .await;
    let client = reqwest::Client::new();
    let task = "stays";
    let n = 12;
    // Events keep coming for about 6.5 s, far longer than fanout takes under either profile
    // (even on a loaded machine): the viewer crosses several 1 s segments.
    let producer = {
        let (client, url) = (client.clone(), dev.url.clone());
        let key = key.to_owned();
        tokio::spawn(async move {
            for i in 1..=n {
                let ty = match i {
                    1 => "task.started",
                    _ if i == n => "task.completed",
                    _ => "tool_call.started",
                };
                ingest(&client, &url, &key, &[event(task, i, ty)]).await;
                tokio::time::sleep(Duration::from_millis(600)).await;
            }
        })
    };
    let mut seen: Vec<(u64, String)> = Vec::new();
    let mut responses = 0;
    let done = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let last = seen.last().map(|(seq, _)| *seq);
            let r = stream_request(&client, &dev, key, task, "viewer", last)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            responses += 1;
            let mut frames = r.bytes_stream().eventsource();
            while let Some(frame) = frames.next().await {
                let Ok(frame) = frame else { break };
                if frame.id.is_empty() || frame.data.is_empty() {
                    continue;
                }
                let env: Value = serde_json::from_str(&frame.data).unwrap();
                seen.push((
                    frame.id.parse().unwrap(),
                    env["id"].as_str().unwrap().into(),
                ));
                if frame.event == "task.completed" {
                    return;
                }
            }
        }
    })
    .await;
    producer.await.unwrap();
    assert!(done.is_ok(), "reached the terminal event; saw {seen:?}");
    let expected: Vec<(u64, String)> = (1..=n).map(|i| (i as u64, format!("{task}-{i}"))).collect();
    assert_eq!(seen, expected, "every seq once, in order");
    assert!(
        responses >= 2,
        "crossed segment ends ({responses} responses)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_client_left_runs_to_its_idle_cutoff_then_frees_its_slot() {
    let key = ApiKey::generate().unwrap();
    let key = key.expose();
    let dev = Dev::start(&["--aws-model", "efo", "--stream-idle-seconds", "2"], key).await;
    let client = reqwest::Client::new();
    let task = "left";
    ingest(&client, &dev.url, key, &[event(task, 1, "task.started")]).await;
    let r = stream_request(&client, &dev, key, task, "tab", None)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut frames = r.bytes_stream().eventsource();
    while let Some(frame) = frames.next().await {
        if frame.unwrap().id == "1" {
            break;
        }
    }
    // The tab closes mid-task; the task goes on.
    drop(frames);
    let left = Instant::now();
    ingest(
        &client,
        &dev.url,
        key,
        &[event(task, 2, "tool_call.started")],
    )
    .await;

    let ended = loop {
        let e = endings(&client, &dev).await;
        if !e.is_empty() {
            break e;
        }
        assert!(
            left.elapsed() < Duration::from_secs(60),
            "slot still held after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Lambda never tells the function its client left: the stream ran on to its idle cutoff
    // (and released its slot then), instead of ending as soon as a frame found no reader.
    assert_eq!(ended, vec![("idle".to_owned(), 1)]);
    assert!(
        left.elapsed() >= Duration::from_secs(1),
        "{:?}",
        left.elapsed()
    );
}

/// dev creates a one-shard stream on an endpoint: the model places and limits writes by that
/// shard (1,000 records a second), not by the table's four (`AwsModel::for_shards`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_an_endpoint_the_model_takes_the_streams_own_shards() {
    let moto = burstline_tests::moto::Moto::shared();
    let prefix = burstline_tests::stack::unique_prefix("devmodel");
    let key = ApiKey::generate().unwrap();
    let args = [
        "--aws-endpoint",
        moto.endpoint.as_str(),
        "--prefix",
        prefix.as_str(),
        "--aws-model",
        "efo",
    ];
    let dev = Dev::start(&args, key.expose()).await;
    let line = dev.banner_line("  aws model").await;
    assert!(
        line.contains("efo consumer, 1 shard (the endpoint's stream)"),
        "{line}"
    );
}
