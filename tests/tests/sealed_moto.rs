//! Endpoint secrets sealed at rest, through the real SDK against moto's DynamoDB and KMS: what
//! the tenants table holds, deliver signing after opening, plaintext items from before sealing,
//! and a sealed item that is not where it was sealed.

use aws_sdk_dynamodb::types::AttributeValue;
use burstline::apikey::{ApiKey, Scope};
use burstline::error::Error;
use burstline::ids::{EndpointId, TenantId};
use burstline::requests::RequestCounter;
use burstline::seal::key_cache::KeyCachePolicy;
use burstline::seal::kms::KmsSealer;
use burstline::seal::{SealContext, Sealer};
use burstline::tenants::dynamodb::DynamoTenants;
use burstline::tenants::{EndpointStore, Sealing};
use burstline_tests::fixtures::*;
use burstline_tests::moto::Moto;
use burstline_tests::receiver::Receiver;
use burstline_tests::stack::Stack;
use deliver::Policy;
use deliver::http::HttpSender;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "Bearer hdr-5ea1ed-value";

async fn call(
    stack: &Stack,
    key: &ApiKey,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let auth = format!("Bearer {}", key.expose());
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let req = request(
        method,
        path,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        &bytes,
    );
    let resp = api::handle(&stack.api(), req).await;
    let status = resp.status().as_u16();
    (
        status,
        serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null),
    )
}

async fn ddb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&Moto::shared().sdk_config().await)
}

fn table(stack: &Stack) -> String {
    stack
        .provisioned
        .as_ref()
        .unwrap()
        .names
        .tenants_table
        .clone()
}

/// The endpoint's item as DynamoDB holds it.
async fn raw_item(
    stack: &Stack,
    tenant: &str,
    id: &str,
) -> std::collections::HashMap<String, AttributeValue> {
    ddb()
        .await
        .get_item()
        .table_name(table(stack))
        .key("pk", AttributeValue::S(format!("TENANT#{tenant}")))
        .key("sk", AttributeValue::S(format!("ENDPOINT#{id}")))
        .send()
        .await
        .unwrap()
        .item
        .expect("the endpoint's item")
}

fn doc(item: &std::collections::HashMap<String, AttributeValue>) -> String {
    item["doc"].as_s().unwrap().clone()
}

/// deliver's store as main.rs builds it: a fresh process (empty key cache) that only opens.
async fn deliver_store(stack: &Stack, requests: &RequestCounter) -> Arc<dyn EndpointStore> {
    let config = Moto::shared().sdk_config().await;
    let sealer = KmsSealer::from_config(
        &config,
        stack.sealing_key_arn.as_deref().unwrap(),
        KeyCachePolicy::default(),
        requests.clone(),
    );
    Arc::new(
        DynamoTenants::new(
            aws_sdk_dynamodb::Client::new(&config),
            table(stack),
            requests.clone(),
        )
        .with_sealing(Sealing::OpenOnly(Arc::new(sealer))),
    )
}

/// Ingests `n` events for a task and delivers them with deliver's own (open-only) store.
async fn deliver_burst(stack: &Stack, key: &ApiKey, task: &str, n: usize) -> RequestCounter {
    let resp = ingest::handle(&stack.ingest(), post_events(key, &burst(task, n))).await;
    assert_eq!(resp.status(), 202);
    drain(stack, &stack.fanout(), 100).await;
    let requests = RequestCounter::default();
    let mut deps = stack.deliver(
        Arc::new(HttpSender::new(Duration::from_secs(5), true).unwrap()),
        Policy::default(),
    );
    deps.endpoints = deliver_store(stack, &requests).await;
    drain_deliveries(stack, &deps).await;
    requests
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_holds_no_secret_and_deliver_signs_after_opening() {
    let stack = Stack::moto("sealed").await;
    let key = tenant_with_key(&stack, "acme", &[Scope::Manage, Scope::Ingest]).await;
    let rx = Receiver::start().await;
    let (status, ep) = call(
        &stack,
        &key,
        "POST",
        "/v1/endpoints",
        Some(json!({"url": rx.url, "headers": {"Authorization": TOKEN}})),
    )
    .await;
    assert_eq!(status, 201, "{ep}");
    let id = ep["id"].as_str().unwrap().to_owned();
    let first = ep["secret"].as_str().unwrap().to_owned();
    let (status, rotated) = call(
        &stack,
        &key,
        "POST",
        &format!("/v1/endpoints/{id}/rotate-secret"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let second = rotated["secret"].as_str().unwrap().to_owned();

    // Neither secret (current or rotated-out) nor the header value is in the item.
    let item = raw_item(&stack, "acme", &id).await;
    let stored = format!("{item:?}");
    for secret in [&first, &second] {
        assert!(
            !stored.contains(&secret[6..]),
            "a secret in the table: {stored}"
        );
    }
    assert!(!stored.contains("5ea1ed"), "a header value in the table");
    assert!(doc(&item).contains("\"sealed\":\"v1."));

    // deliver, in a process of its own, opens them and signs with both secrets.
    let requests = deliver_burst(&stack, &key, "run-1", 3).await;
    let got = rx.received();
    assert_eq!(got.len(), 3);
    for r in &got {
        for secret in [&first, &second] {
            standardwebhooks::Webhook::new(secret)
                .unwrap()
                .verify(&r.body, &r.header_map())
                .expect("signed with every current secret");
        }
        assert_eq!(r.header("authorization"), Some(TOKEN));
    }
    let made = requests.snapshot();
    assert_eq!(
        made.get("kms:Decrypt"),
        Some(&1),
        "one Decrypt, then the cached key: {made:?}"
    );
    assert_eq!(made.get("kms:GenerateDataKey"), None, "deliver never seals");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_item_still_works_and_is_sealed_on_its_next_write() {
    let stack = Stack::moto("legacy").await;
    let key = tenant_with_key(&stack, "acme", &[Scope::Manage, Scope::Ingest]).await;
    let rx = Receiver::start().await;
    // Written as before sealing existed: the doc holds the secret.
    let config = Moto::shared().sdk_config().await;
    let plain = DynamoTenants::new(
        aws_sdk_dynamodb::Client::new(&config),
        table(&stack),
        RequestCounter::default(),
    );
    let mut ep = endpoint("acme", &rx.url, &["*"]);
    ep.headers =
        burstline::receiver_headers::StaticHeaders::from_pairs([("authorization", TOKEN)]).unwrap();
    plain.create_endpoint(&ep).await.unwrap();
    let secret = ep.secrets[0].secret.expose().to_owned();
    assert!(doc(&raw_item(&stack, "acme", ep.id.as_str()).await).contains(&secret));

    // Read and signed as it is.
    deliver_burst(&stack, &key, "run-1", 2).await;
    let got = rx.received();
    assert_eq!(got.len(), 2);
    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    for r in &got {
        verifier.verify(&r.body, &r.header_map()).unwrap();
        assert_eq!(r.header("authorization"), Some(TOKEN));
    }

    // The api's next write seals it; it still reads back whole.
    let (status, v) = call(
        &stack,
        &key,
        "PATCH",
        &format!("/v1/endpoints/{}", ep.id),
        Some(json!({"description": "sealed now"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let sealed = doc(&raw_item(&stack, "acme", ep.id.as_str()).await);
    assert!(
        !sealed.contains(&secret[6..]) && !sealed.contains("5ea1ed"),
        "{sealed}"
    );
    assert!(sealed.contains("\"sealed\""));
    let back = stack
        .endpoints
        .endpoint(&ep.tenant_id, &ep.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.secrets, ep.secrets);
    assert_eq!(back.headers, ep.headers);
    assert_eq!(back.description, "sealed now");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_item_under_another_endpoint_or_tenant_fails_closed() {
    let stack = Stack::moto("ctx").await;
    let key = tenant_with_key(&stack, "acme", &[Scope::Manage]).await;
    let (_, ep) = call(
        &stack,
        &key,
        "POST",
        "/v1/endpoints",
        Some(json!({"url": "https://h.example.com/a"})),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    // Copy the sealed item, unchanged, under another endpoint id and another tenant.
    let mut item = raw_item(&stack, "acme", &id).await;
    let other = EndpointId::generate();
    item.insert("sk".into(), AttributeValue::S(format!("ENDPOINT#{other}")));
    ddb()
        .await
        .put_item()
        .table_name(table(&stack))
        .set_item(Some(item.clone()))
        .send()
        .await
        .unwrap();
    let err = stack
        .endpoints
        .endpoint(&"acme".parse().unwrap(), &other)
        .await
        .expect_err("must not open under another endpoint");
    assert!(matches!(err, Error::Unsealable { .. }), "{err}");
    assert!(
        err.to_string().contains(other.as_str()),
        "names the endpoint: {err}"
    );
    assert!(!err.is_retryable());

    // KMS itself refuses the data key for another encryption context (the local AES-GCM
    // check never runs).
    let config = Moto::shared().sdk_config().await;
    let sealer = KmsSealer::from_config(
        &config,
        stack.sealing_key_arn.as_deref().unwrap(),
        KeyCachePolicy::default(),
        RequestCounter::default(),
    );
    let acme: TenantId = "acme".parse().unwrap();
    let ep_id: EndpointId = id.parse().unwrap();
    let sealed = sealer
        .seal(&SealContext::new(&acme, &ep_id), b"whsec_x")
        .await
        .unwrap();
    let fresh = KmsSealer::from_config(
        &config,
        stack.sealing_key_arn.as_deref().unwrap(),
        KeyCachePolicy::default(),
        RequestCounter::default(),
    );
    let err = fresh
        .open(
            &SealContext::new(&"umbrella".parse().unwrap(), &ep_id),
            &sealed,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("KMS refused"), "{err}");
    assert_eq!(
        fresh
            .open(&SealContext::new(&acme, &ep_id), &sealed)
            .await
            .unwrap(),
        b"whsec_x"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliver_records_endpoint_health_without_ever_sealing() {
    let stack = Stack::moto("health").await;
    let key = tenant_with_key(&stack, "acme", &[Scope::Manage, Scope::Ingest]).await;
    let rx = Receiver::start().await;
    rx.script([burstline_tests::receiver::Reply::Status(503)]);
    let (_, ep) = call(
        &stack,
        &key,
        "POST",
        "/v1/endpoints",
        Some(json!({"url": rx.url, "headers": {"Authorization": TOKEN}})),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let sealed_text = |item: &std::collections::HashMap<String, AttributeValue>| {
        serde_json::from_str::<Value>(&doc(item)).unwrap()["sealed"].clone()
    };
    let before = sealed_text(&raw_item(&stack, "acme", &id).await);

    // The 503 starts a failure run: deliver (open-only) writes the endpoint back.
    let requests = deliver_burst(&stack, &key, "run-1", 1).await;
    assert_eq!(rx.received().len(), 1);
    let item = raw_item(&stack, "acme", &id).await;
    assert_eq!(
        item["version"].as_n().unwrap(),
        "2",
        "deliver wrote the endpoint"
    );
    let written: Value = serde_json::from_str(&doc(&item)).unwrap();
    assert!(written["failing_since"].is_string(), "{written}");
    assert_eq!(
        written["sealed"], before,
        "the sealed text it read, unchanged"
    );
    assert!(!doc(&item).contains("5ea1ed"));
    assert_eq!(requests.snapshot().get("kms:GenerateDataKey"), None);
    // And it still opens whole.
    let back = stack
        .endpoints
        .endpoint(&"acme".parse().unwrap(), &id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.headers.names(), ["authorization"]);
    assert!(back.failing_since.is_some());
}
