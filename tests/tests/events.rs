//! The sample events in `events/` run through the real handlers on in-memory adapters, so the
//! samples stay shaped like what AWS sends and keep producing the documented answers.

use aws_lambda_events::event::kinesis::KinesisEvent;
use burstline::apikey::{ApiKey, KeyRecord, Scope};
use burstline::event::NewEvent;
use burstline::ids::TenantId;
use burstline::log::StoredRecord;
use burstline::tenant::Tenant;
use burstline_tests::fixtures::{stored, task};
use burstline_tests::stack::Stack;
use chrono::Utc;
use lambda_http::{Body, Request, Response};
use serde_json::Value;

/// The key in the `authorization` header of every `events/ingest` sample.
const SAMPLE_KEY: &str = "bl_BurstlineSampleKeyForLocalTest00";

/// A sample's text, by path under `events/`.
fn sample(path: &str) -> String {
    let full = format!("{}/../events/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// A Function URL sample as lambda_http hands it to the handler.
fn function_url_request(path: &str) -> Request {
    lambda_http::request::from_str(&sample(path)).unwrap()
}

/// Tenant `acme` holding the sample key with the ingest scope.
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
            scopes: vec![Scope::Ingest],
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
    let response = ingest::handle(&stack.ingest(), function_url_request(path)).await;
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
}
