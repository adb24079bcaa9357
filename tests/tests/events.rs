//! The sample events in `events/` run through the real handlers on in-memory adapters, so the
//! samples stay shaped like what AWS sends and keep producing the documented answers.

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use burstline::apikey::{ApiKey, KeyRecord, Scope};
use burstline::attempts::AttemptStatus;
use burstline::event::NewEvent;
use burstline::iam::{Grant, authorised_as};
use burstline::ids::{EndpointId, TenantId};
use burstline::log::StoredRecord;
use burstline::tenant::Tenant;
use burstline_tests::fixtures::{endpoint, stored, task};
use burstline_tests::receiver::Receiver;
use burstline_tests::stack::Stack;
use burstline_tests::streams::{SseClient, ids, streamer};
use chrono::Utc;
use deliver::Policy;
use deliver::http::HttpSender;
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// The key in the `authorization` header of every Function URL sample.
const SAMPLE_KEY: &str = "bl_BurstlineSampleKeyForLocalTest00";

/// The endpoint the `events/deliver` job is for.
const SAMPLE_ENDPOINT: &str = "ep_01JD4Z7A2B3C4D5E6F7G8H9J0K";

/// A sample's text, by path under `events/`.
fn sample(path: &str) -> String {
    let full = format!("{}/../events/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// A Function URL sample as lambda_http hands it to the handler.
fn function_url_request(path: &str) -> Request {
    lambda_http::request::from_str(&sample(path)).unwrap()
}

/// Tenant `acme` holding the sample key with the ingest, stream and manage scopes.
async fn acme_with_sample_key(stack: &Stack) {
    let key = ApiKey::from_presented(SAMPLE_KEY).expect("the sample key is well formed");
    let tenant = TenantId::parse("acme").unwrap();
    stack
        .tenants
        .create_tenant(&Tenant::new(tenant.clone(), Utc::now()))
        .await
        .unwrap();
    stack
        .tenants
        .put_key(&KeyRecord {
            hash: key.hash(),
            tenant_id: tenant,
            scopes: vec![Scope::Ingest, Scope::Stream, Scope::Manage],
            prefix: key.display_prefix().into(),
            created_at: Utc::now(),
        })
        .await
        .unwrap();
}

/// Runs an ingest sample against a fresh stack; returns the response and the stream.
async fn ingest_sample(path: &str) -> (Response<Body>, Vec<StoredRecord>) {
    let stack = Stack::memory();
    acme_with_sample_key(&stack).await;
    stack.requests.reset();
    let response = ingest::handle(&stack.ingest(), function_url_request(path)).await;
    if response.status() == 202 {
        assert_declared(&stack, ingest::AWS_ACTIONS, "ingest");
    }
    let shard = stack.shards.shards().await.unwrap().remove(0);
    let records = stack.shards.read(&shard, None, 100).await.unwrap();
    (response, records)
}

fn json_body(response: &Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).unwrap()
}

fn kinesis_sample() -> KinesisEvent {
    serde_json::from_str(&sample("fanout/batch-with-poison.json")).unwrap()
}

fn sqs_sample() -> SqsEvent {
    serde_json::from_str(&sample("deliver/batch-with-poison.json")).unwrap()
}

/// Every request the stack's adapters made since the last reset is authorised by `grants`
/// (a function's `AWS_ACTIONS`): the declarations cover what the handler really calls.
fn assert_declared(stack: &Stack, grants: &[Grant], function: &str) {
    let declared: BTreeSet<&str> = grants.iter().flat_map(Grant::actions).collect();
    let made = stack.requests.snapshot();
    assert!(!made.is_empty(), "{function} made no request");
    for op in made.keys() {
        assert!(
            declared.contains(authorised_as(op)),
            "{function} called {op}, which its AWS_ACTIONS lack ({declared:?})"
        );
    }
}

/// A fresh stack with the sample key, the fanout sample's events stored, and
/// [`SAMPLE_ENDPOINT`] posting to `url`; the requests of the set-up are forgotten.
async fn stack_after_fanout(url: &str) -> Stack {
    let stack = Stack::memory();
    acme_with_sample_key(&stack).await;
    let mut ep = endpoint("acme", url, &["*"]);
    ep.id = EndpointId::parse(SAMPLE_ENDPOINT).unwrap();
    stack.endpoints.create_endpoint(&ep).await.unwrap();
    fanout::handler::process(&stack.fanout(), kinesis_sample()).await;
    stack.requests.reset();
    stack
}

#[test]
fn sample_key_is_a_well_formed_key() {
    assert!(ApiKey::from_presented(SAMPLE_KEY).is_some());
}

#[tokio::test]
async fn ingest_valid_is_accepted_into_the_stream() {
    let (response, records) = ingest_sample("ingest/valid.json").await;
    assert_eq!(response.status(), 202, "{}", json_body(&response));
    let body = json_body(&response);
    let ids: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "evt_01JD4Z6Q8K3M2N7P9R5T0V1W2X",
            "evt_01JD4Z6Q8K3M2N7P9R5T0V1W2Y",
            "evt_01JD4Z6Q8K3M2N7P9R5T0V1W2Z",
        ]
    );
    assert_eq!(records.len(), 3);
    for r in &records {
        assert_eq!(r.partition_key, "acme/run-42");
        let event: NewEvent = serde_json::from_slice(&r.data).unwrap();
        assert_eq!(event.tenant_id.as_str(), "acme");
    }
}

#[tokio::test]
async fn ingest_invalid_type_is_422_naming_the_field() {
    let (response, records) = ingest_sample("ingest/invalid-type.json").await;
    assert_eq!(response.status(), 422);
    let body = json_body(&response);
    assert_eq!(body["error"]["code"], "invalid_event");
    assert_eq!(body["error"]["field"], "events[1].type");
    assert!(
        records.is_empty(),
        "nothing is written for an invalid request"
    );
}

#[tokio::test]
async fn ingest_not_json_is_415() {
    let (response, records) = ingest_sample("ingest/not-json.json").await;
    assert_eq!(response.status(), 415);
    assert_eq!(
        json_body(&response)["error"]["code"],
        "unsupported_media_type"
    );
    assert!(records.is_empty());
}

/// The fanout sample carries exactly what ingest writes for `ingest/valid.json`, so the two
/// samples describe one journey through the pipeline.
#[tokio::test]
async fn fanout_sample_carries_what_ingest_writes() {
    let (_, written) = ingest_sample("ingest/valid.json").await;
    let written: Vec<&str> = written
        .iter()
        .map(|r| std::str::from_utf8(&r.data).unwrap())
        .collect();
    let event = kinesis_sample();
    let carried: Vec<&str> = event
        .records
        .iter()
        .filter_map(|r| std::str::from_utf8(&r.kinesis.data).ok())
        .filter(|data| serde_json::from_str::<NewEvent>(data).is_ok())
        .collect();
    assert_eq!(carried, written);
}

#[tokio::test]
async fn fanout_batch_stores_three_and_skips_the_poison_record() {
    let stack = Stack::memory();
    acme_with_sample_key(&stack).await;
    stack.requests.reset();
    let outcome = fanout::handler::process(&stack.fanout(), kinesis_sample()).await;
    assert_eq!(outcome.stored, 3);
    assert_eq!(outcome.poison, 1);
    assert_eq!(outcome.duplicates, 0);
    assert!(outcome.response.batch_item_failures.is_empty());
    let events = stored(&stack, &task("acme", "run-42")).await;
    let stored: Vec<(u64, &str)> = events.iter().map(|e| (e.seq.0, e.id.as_str())).collect();
    assert_eq!(
        stored,
        [
            (1, "evt_01JD4Z6Q8K3M2N7P9R5T0V1W2X"),
            (2, "evt_01JD4Z6Q8K3M2N7P9R5T0V1W2Y"),
            (3, "evt_01JD4Z6Q8K3M2N7P9R5T0V1W2Z"),
        ]
    );
    assert_declared(&stack, fanout::AWS_ACTIONS, "fanout");
}

/// The deliver sample's job is byte-for-byte the message fanout enqueues for the Kinesis
/// sample, so fanout → deliver is one journey too.
#[tokio::test]
async fn deliver_sample_carries_what_fanout_enqueues() {
    let stack = Stack::memory();
    acme_with_sample_key(&stack).await;
    let mut ep = endpoint("acme", "https://hooks.example.com/burstline", &["*"]);
    ep.id = EndpointId::parse(SAMPLE_ENDPOINT).unwrap();
    stack.endpoints.create_endpoint(&ep).await.unwrap();
    fanout::handler::process(&stack.fanout(), kinesis_sample()).await;
    let enqueued = stack
        .queue_reader
        .receive(10, Duration::ZERO)
        .await
        .unwrap();
    let bodies: Vec<&str> = enqueued.iter().map(|m| m.body.as_str()).collect();
    let sample = sqs_sample();
    assert_eq!(bodies, [sample.records[0].body.as_deref().unwrap()]);
}

#[tokio::test]
async fn deliver_batch_posts_three_events_and_fails_only_the_poison_message() {
    let receiver = Receiver::start().await;
    let stack = stack_after_fanout(&receiver.url).await;
    let sender = Arc::new(HttpSender::new(Duration::from_secs(5), true).unwrap());
    let deps = stack.deliver(sender, Policy::default());
    let sample = sqs_sample();
    let poison = sample.records[1].message_id.clone().unwrap();

    let response = deliver::handle(&deps, sample).await;

    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        [poison.as_str()],
        "only the undecodable message is retried"
    );
    let ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        ids,
        [
            "evt_01JD4Z6Q8K3M2N7P9R5T0V1W2X",
            "evt_01JD4Z6Q8K3M2N7P9R5T0V1W2Y",
            "evt_01JD4Z6Q8K3M2N7P9R5T0V1W2Z",
        ],
        "one signed POST per event, in seq order"
    );
    assert!(
        receiver
            .received()
            .iter()
            .all(|r| r.header("webhook-signature").is_some())
    );
    let tenant = TenantId::parse("acme").unwrap();
    let endpoint = EndpointId::parse(SAMPLE_ENDPOINT).unwrap();
    let attempts = stack
        .attempts
        .list(&tenant, &endpoint, 10, None)
        .await
        .unwrap()
        .attempts;
    assert_eq!(attempts.len(), 3);
    assert!(
        attempts
            .iter()
            .all(|a| a.status == AttemptStatus::Delivered)
    );
    assert!(
        stack
            .dlq_reader
            .receive(10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty(),
        "nothing is dead-lettered"
    );
    assert_declared(&stack, deliver::AWS_ACTIONS, "deliver");
}

#[tokio::test]
async fn api_create_then_list_endpoints() {
    let stack = Stack::memory();
    acme_with_sample_key(&stack).await;
    stack.requests.reset();
    let api = stack.api();

    let created = api::handle(&api, function_url_request("api/create-endpoint.json")).await;
    assert_eq!(created.status(), 201, "{}", json_body(&created));
    let body = json_body(&created);
    let id = body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ep_"), "{body}");
    assert_eq!(body["url"], "https://hooks.example.com/burstline");
    assert_eq!(
        body["filters"],
        serde_json::json!(["tool_call.*", "task.*"])
    );
    assert!(
        body["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_")),
        "the signing secret is shown once: {body}"
    );

    let listed = api::handle(&api, function_url_request("api/list-endpoints.json")).await;
    assert_eq!(listed.status(), 200);
    let body = json_body(&listed);
    let endpoints = body["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0]["id"], id.as_str());
    assert!(endpoints[0].get("secret").is_none(), "never listed again");
    assert_declared(&stack, api::AWS_ACTIONS, "api");
}

#[tokio::test(start_paused = true)]
async fn stream_resumes_after_last_event_id() {
    let stack = stack_after_fanout("https://hooks.example.com/burstline").await;
    let deps = streamer(
        &stack,
        stack.store.clone(),
        stream::StreamSettings::default(),
    )
    .await;

    let response = stream::handle(&deps, function_url_request("stream/resume.json")).await;
    let mut client = SseClient::new(response);
    assert_eq!(client.status, 200);
    assert_eq!(client.headers["content-type"], "text/event-stream");
    let mut got = Vec::new();
    for _ in 0..2 {
        let event = client.next_within(Duration::from_secs(5)).await;
        got.push(
            event
                .expect("replayed promptly")
                .expect("stream still open"),
        );
    }
    assert_eq!(
        ids(&got),
        [2, 3],
        "events after Last-Event-ID: 1, in seq order"
    );
    assert_eq!(got[0].event, "tool_call.completed");
    assert_declared(&stack, stream::AWS_ACTIONS, "stream");
}
