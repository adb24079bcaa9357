//! The endpoints API: the validation matrix, tenant isolation, and the routes working with
//! fanout and deliver through the same endpoint model.

use burstline::apikey::{ApiKey, Scope};
use burstline_tests::fixtures::*;
use burstline_tests::receiver::{Receiver, Reply};
use burstline_tests::stack::Stack;
use deliver::Policy;
use deliver::http::HttpSender;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

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
    let v = serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null);
    (status, v)
}

async fn manager(stack: &Stack, tenant: &str) -> ApiKey {
    tenant_with_key(stack, tenant, &[Scope::Manage, Scope::Ingest]).await
}

#[tokio::test]
async fn create_shows_the_secret_once_and_fanout_sees_the_endpoint() {
    let stack = Stack::memory();
    let key = manager(&stack, "acme").await;
    let rx = Receiver::start().await;
    let (status, ep) = call(
        &stack,
        &key,
        "POST",
        "/v1/endpoints",
        Some(json!({"url": rx.url, "filters": ["tool_call.*"], "description": "ops"})),
    )
    .await;
    assert_eq!(status, 201, "{ep}");
    let secret = ep["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let id = ep["id"].as_str().unwrap().to_owned();
    let (status, got) = call(&stack, &key, "GET", &format!("/v1/endpoints/{id}"), None).await;
    assert_eq!(status, 200);
    assert!(got.get("secret").is_none(), "never shown again");
    assert!(!got.to_string().contains(&secret[6..]));
    let (_, listed) = call(&stack, &key, "GET", "/v1/endpoints", None).await;
    assert_eq!(listed["endpoints"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&secret[6..]));

    // One model: fanout routes by the filters the API stored, deliver signs with its secret.
    let resp = ingest::handle(&stack.ingest(), post_events(&key, &burst("run-1", 4))).await;
    assert_eq!(resp.status(), 202);
    drain(&stack, &stack.fanout(), 100).await;
    let deps = stack.deliver(
        Arc::new(HttpSender::new(Duration::from_secs(2), true).unwrap()),
        Policy::default(),
    );
    drain_deliveries(&stack, &deps).await;
    let got = rx.received();
    assert_eq!(got.len(), 2, "only the tool_call.* events");
    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    for r in &got {
        let mut h = http::HeaderMap::new();
        for (k, v) in &r.headers {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        verifier.verify(&r.body, &h).unwrap();
    }
    let (status, page) = call(
        &stack,
        &key,
        "GET",
        &format!("/v1/endpoints/{id}/deliveries?limit=1"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let encoded: String = url_encode(&cursor);
    let (_, page2) = call(
        &stack,
        &key,
        "GET",
        &format!("/v1/endpoints/{id}/deliveries?limit=10&cursor={encoded}"),
        None,
    )
    .await;
    assert_eq!(page2["deliveries"].as_array().unwrap().len(), 1);
    assert_ne!(
        page["deliveries"][0]["webhook_id"],
        page2["deliveries"][0]["webhook_id"]
    );
}

/// `?cursor=` (empty, as a client that passes `next_cursor` through a form may send) is the
/// first page: DynamoDB rejects an empty key value, which used to make this a 500 there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_cursor_is_the_first_page_on_dynamodb_too() {
    for stack in [Stack::memory(), Stack::moto("empty-cursor").await] {
        let key = manager(&stack, "acme").await;
        let (status, ep) = call(
            &stack,
            &key,
            "POST",
            "/v1/endpoints",
            Some(json!({"url": "https://hooks.example.com/x"})),
        )
        .await;
        assert_eq!(status, 201, "{ep}");
        let id = ep["id"].as_str().unwrap();
        stack
            .attempts
            .record(&[burstline::attempts::AttemptRecord {
                tenant_id: "acme".parse().unwrap(),
                endpoint_id: burstline::ids::EndpointId::parse(id).unwrap(),
                webhook_id: "evt_1".into(),
                task_id: "run-1".parse().unwrap(),
                seqs: vec![1],
                attempt: 1,
                at: chrono::Utc::now(),
                status: burstline::attempts::AttemptStatus::Delivered,
                http_status: Some(200),
                latency_ms: 3,
                error: None,
                paused_until: None,
            }])
            .await
            .unwrap();
        let (status, page) = call(
            &stack,
            &key,
            "GET",
            &format!("/v1/endpoints/{id}/deliveries?cursor="),
            None,
        )
        .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["deliveries"].as_array().unwrap().len(), 1, "{page}");
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn validation_matrix() {
    let stack = Stack::memory();
    let key = manager(&stack, "acme").await;
    let mut strict = stack.api();
    strict.allow_private_networks = false;
    let cases: Vec<(Value, u16, &str, Option<&str>)> = vec![
        (json!({}), 422, "invalid_request", Some("url")),
        (json!({"url": 7}), 422, "invalid_request", Some("url")),
        (
            json!({"url": "http://hooks.example.com/x"}),
            422,
            "invalid_request",
            Some("url"),
        ),
        (
            json!({"url": "https://10.0.0.1/x"}),
            422,
            "invalid_request",
            Some("url"),
        ),
        (
            json!({"url": "https://[::1]/x"}),
            422,
            "invalid_request",
            Some("url"),
        ),
        (
            json!({"url": "https://169.254.169.254/x"}),
            422,
            "invalid_request",
            Some("url"),
        ),
        (
            json!({"url": "not a url"}),
            422,
            "invalid_request",
            Some("url"),
        ),
        (
            json!({"url": "https://h.example.com", "filters": []}),
            422,
            "invalid_request",
            Some("filters"),
        ),
        (
            json!({"url": "https://h.example.com", "filters": ["Bad Type"]}),
            422,
            "invalid_request",
            Some("filters[0]"),
        ),
        (
            json!({"url": "https://h.example.com", "batching": {"max_events": 0}}),
            422,
            "invalid_request",
            Some("batching.max_events"),
        ),
        (
            json!({"url": "https://h.example.com", "batching": {"max_events": 500}}),
            422,
            "invalid_request",
            Some("batching.max_events"),
        ),
        (
            json!({"url": "https://h.example.com", "batching": {"max_events": 5, "max_wait_ms": 60000}}),
            422,
            "invalid_request",
            Some("batching.max_wait_ms"),
        ),
        (
            json!({"url": "https://h.example.com", "secret": "whsec_x"}),
            422,
            "invalid_request",
            Some("secret"),
        ),
        (
            json!({"url": "https://h.example.com", "enabled": "yes"}),
            422,
            "invalid_request",
            Some("enabled"),
        ),
    ];
    let auth = format!("Bearer {}", key.expose());
    for (body, status, code, field) in cases {
        let req = request(
            "POST",
            "/v1/endpoints",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body.to_string().as_bytes(),
        );
        let resp = api::handle(&strict, req).await;
        let v: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
        assert_eq!(resp.status().as_u16(), status, "{body}: {v}");
        assert_eq!(v["error"]["code"], code, "{body}");
        assert_eq!(v["error"]["field"].as_str(), field, "{body}: {v}");
    }
    let req = request(
        "POST",
        "/v1/endpoints",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        b"{nope",
    );
    assert_eq!(api::handle(&strict, req).await.status(), 400);
    let req = request(
        "POST",
        "/v1/endpoints",
        &[("authorization", &auth), ("content-type", "text/plain")],
        b"{}",
    );
    assert_eq!(api::handle(&strict, req).await.status(), 415);
    assert!(
        stack
            .endpoints
            .endpoints(&"acme".parse().unwrap())
            .await
            .unwrap()
            .is_empty(),
        "nothing was written"
    );
    let (status, v) = call(&stack, &key, "PUT", "/v1/endpoints", None).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    // RFC 9110: a 405 names the methods the path serves; before authentication, too.
    for (path, allow) in [
        ("/v1/endpoints", "POST, GET"),
        ("/v1/endpoints/ep_1", "GET, PATCH, DELETE"),
        ("/v1/tasks/run-1/result", "GET"),
    ] {
        let r = api::handle(&stack.api(), request("PUT", path, &[], b"")).await;
        assert_eq!(r.status(), 405, "{path}");
        assert_eq!(r.headers()["allow"], allow, "{path}");
    }
    let r = ingest::handle(&stack.ingest(), request("GET", "/v1/events", &[], b"")).await;
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
}

#[tokio::test]
async fn tenants_cannot_see_or_touch_each_others_endpoints() {
    let stack = Stack::memory();
    let a = manager(&stack, "tenant-a").await;
    let b = manager(&stack, "tenant-b").await;
    let (_, ep) = call(
        &stack,
        &a,
        "POST",
        "/v1/endpoints",
        Some(json!({"url": "https://a.example.com/hook"})),
    )
    .await;
    let id = ep["id"].as_str().unwrap();
    for (method, path, body) in [
        ("GET", format!("/v1/endpoints/{id}"), None),
        (
            "PATCH",
            format!("/v1/endpoints/{id}"),
            Some(json!({"description": "mine now"})),
        ),
        ("DELETE", format!("/v1/endpoints/{id}"), None),
        ("POST", format!("/v1/endpoints/{id}/rotate-secret"), None),
        ("POST", format!("/v1/endpoints/{id}/enable"), None),
        ("GET", format!("/v1/endpoints/{id}/deliveries"), None),
        (
            "POST",
            format!("/v1/endpoints/{id}/replay"),
            Some(json!({"task_id": "t"})),
        ),
    ] {
        let (status, _) = call(&stack, &b, method, &path, body).await;
        assert_eq!(status, 404, "{method} {path}");
    }
    let (_, listed) = call(&stack, &b, "GET", "/v1/endpoints", None).await;
    assert!(listed["endpoints"].as_array().unwrap().is_empty());
    let (_, still) = call(&stack, &a, "GET", &format!("/v1/endpoints/{id}"), None).await;
    assert_eq!(still["description"], "");
    // Keys without the manage scope are refused.
    let ingest_only = tenant_with_key(&stack, "tenant-c", &[Scope::Ingest]).await;
    let (status, v) = call(&stack, &ingest_only, "GET", "/v1/endpoints", None).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("insufficient_scope"))
    );
}

#[tokio::test]
async fn patch_rotate_enable_delete() {
    let stack = Stack::memory();
    let key = manager(&stack, "acme").await;
    let (_, ep) = call(
        &stack,
        &key,
        "POST",
        "/v1/endpoints",
        Some(json!({"url": "https://h.example.com/a"})),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let (status, patched) = call(
        &stack,
        &key,
        "PATCH",
        &format!("/v1/endpoints/{id}"),
        Some(json!({"enabled": false, "batching": {"max_events": 10}, "filters": ["task.*"]})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["disabled"]["reason"], "manual");
    assert_eq!(
        patched["batching"],
        json!({"max_events": 10, "max_wait_ms": 0})
    );
    // JSON Schema's `integer` (what the document says) includes `20.0`.
    let (status, patched) = call(
        &stack,
        &key,
        "PATCH",
        &format!("/v1/endpoints/{id}"),
        Some(json!({"batching": {"max_events": 20.0, "max_wait_ms": 5.0}})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched["batching"],
        json!({"max_events": 20, "max_wait_ms": 5})
    );
    let (status, rotated) = call(
        &stack,
        &key,
        "POST",
        &format!("/v1/endpoints/{id}/rotate-secret"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_ne!(rotated["secret"], ep["secret"]);
    assert!(rotated["previous_expires_at"].is_string());
    let stored = stack
        .endpoints
        .endpoint(&"acme".parse().unwrap(), &id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.signing_secrets(chrono::Utc::now()).len(),
        2,
        "both sign during the overlap"
    );
    let (status, enabled) = call(
        &stack,
        &key,
        "POST",
        &format!("/v1/endpoints/{id}/enable"),
        None,
    )
    .await;
    assert_eq!((status, enabled["enabled"].as_bool()), (200, Some(true)));
    let (status, _) = call(&stack, &key, "DELETE", &format!("/v1/endpoints/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&stack, &key, "GET", &format!("/v1/endpoints/{id}"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn replay_resends_a_seq_range_to_one_endpoint() {
    let stack = Stack::memory();
    let key = manager(&stack, "acme").await;
    let rx = Receiver::start().await;
    let (_, ep) = call(
        &stack,
        &key,
        "POST",
        "/v1/endpoints",
        Some(json!({"url": rx.url})),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    rx.script([
        Reply::Status(400),
        Reply::Status(400),
        Reply::Status(400),
        Reply::Status(400),
        Reply::Status(400),
    ]);
    ingest::handle(&stack.ingest(), post_events(&key, &burst("run-9", 5))).await;
    drain(&stack, &stack.fanout(), 100).await;
    let deps = stack.deliver(
        Arc::new(HttpSender::new(Duration::from_secs(2), true).unwrap()),
        Policy::default(),
    );
    drain_deliveries(&stack, &deps).await;
    assert_eq!(rx.received().len(), 5);
    let (status, v) = call(
        &stack,
        &key,
        "POST",
        &format!("/v1/endpoints/{id}/replay"),
        Some(json!({"task_id": "run-9", "from_seq": 2, "to_seq": 4})),
    )
    .await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["enqueued"], 3);
    drain_deliveries(&stack, &deps).await;
    let seqs: Vec<u64> = rx.received()[5..]
        .iter()
        .map(|r| r.json()["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [2, 3, 4]);
    let (status, v) = call(
        &stack,
        &key,
        "POST",
        &format!("/v1/endpoints/{id}/replay"),
        Some(json!({"task_id": "nope"})),
    )
    .await;
    // The endpoint exists: an unknown task in the body is 422 naming the field, not 404.
    assert_eq!(
        (
            status,
            v["error"]["code"].as_str(),
            v["error"]["field"].as_str()
        ),
        (422, Some("invalid_request"), Some("task_id"))
    );
    let (status, v) = call(
        &stack,
        &key,
        "POST",
        &format!("/v1/endpoints/{id}/replay"),
        Some(json!({"task_id": "run-9", "from_seq": 0})),
    )
    .await;
    assert_eq!(
        (status, v["error"]["field"].as_str()),
        (422, Some("from_seq"))
    );
}

/// Everything logged while it runs, at every level (the test runs on one thread).
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn static_headers_are_validated_write_only_sent_and_never_logged() {
    let logs = Captured::default();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(logs.clone())
            .finish(),
    );
    let stack = Stack::memory();
    let key = manager(&stack, "acme").await;
    let rx = Receiver::start().await;

    // Refused with a JSON error naming the header; nothing is created.
    for (headers, field) in [
        (
            json!({"webhook-signature": "v1,x"}),
            "headers.webhook-signature",
        ),
        (
            json!({"Content-Type": "text/plain"}),
            "headers.Content-Type",
        ),
        (json!({"x-a": "ok\r\nx-evil: 1"}), "headers.x-a"),
        (json!({"bad name": "v"}), "headers.bad name"),
        (json!({"x-a": 5}), "headers.x-a"),
        (json!(["authorization"]), "headers"),
        (
            json!({"x-a": "v".repeat(2000), "x-b": "v".repeat(2000), "x-c": "v".repeat(200)}),
            "headers",
        ),
    ] {
        let (status, v) = call(
            &stack,
            &key,
            "POST",
            "/v1/endpoints",
            Some(json!({"url": rx.url, "headers": headers})),
        )
        .await;
        assert_eq!(status, 422, "{headers}: {v}");
        assert_eq!(v["error"]["field"], field, "{v}");
    }
    let (_, listed) = call(&stack, &key, "GET", "/v1/endpoints", None).await;
    assert_eq!(listed["endpoints"], json!([]));

    let token = "Bearer tok-9f8e7d6c5b4a";
    let (status, ep) = call(
        &stack,
        &key,
        "POST",
        "/v1/endpoints",
        Some(json!({"url": rx.url, "headers": {"Authorization": token, "X-Team": "ops"}})),
    )
    .await;
    assert_eq!(status, 201, "{ep}");
    assert_eq!(ep["header_names"], json!(["authorization", "x-team"]));
    assert!(!ep.to_string().contains("tok-9f8e"), "write-only: {ep}");
    let id = ep["id"].as_str().unwrap().to_owned();
    let (_, got) = call(&stack, &key, "GET", &format!("/v1/endpoints/{id}"), None).await;
    assert_eq!(got["header_names"], json!(["authorization", "x-team"]));
    let (_, listed) = call(&stack, &key, "GET", "/v1/endpoints", None).await;
    assert!(!listed.to_string().contains("tok-9f8e"));

    // PATCH changes one header at a time; a refused patch changes nothing.
    let (status, v) = call(
        &stack,
        &key,
        "PATCH",
        &format!("/v1/endpoints/{id}"),
        Some(json!({"headers": {"host": "evil.example"}})),
    )
    .await;
    assert_eq!(
        (status, v["error"]["field"].as_str()),
        (422, Some("headers.host"))
    );
    let (status, patched) = call(
        &stack,
        &key,
        "PATCH",
        &format!("/v1/endpoints/{id}"),
        Some(json!({"headers": {"x-team": null, "X-Tenant-Ref": "ref-31337x"}})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched["header_names"],
        json!(["authorization", "x-tenant-ref"])
    );

    // Sent on every webhook POST, beside the Standard Webhooks headers.
    let resp = ingest::handle(&stack.ingest(), post_events(&key, &burst("run-1", 3))).await;
    assert_eq!(resp.status(), 202);
    drain(&stack, &stack.fanout(), 100).await;
    let deps = stack.deliver(
        Arc::new(HttpSender::new(Duration::from_secs(2), true).unwrap()),
        Policy::default(),
    );
    drain_deliveries(&stack, &deps).await;
    let got = rx.received();
    assert_eq!(got.len(), 3);
    for r in &got {
        assert_eq!(r.header("authorization"), Some(token));
        assert_eq!(r.header("x-tenant-ref"), Some("ref-31337x"));
        assert_eq!(r.header("x-team"), None);
        assert!(r.header("webhook-signature").unwrap().starts_with("v1,"));
        assert_eq!(r.header("content-type"), Some("application/json"));
    }

    // `null` clears them all.
    let (status, cleared) = call(
        &stack,
        &key,
        "PATCH",
        &format!("/v1/endpoints/{id}"),
        Some(json!({"headers": null})),
    )
    .await;
    assert_eq!((status, cleared["header_names"].clone()), (200, json!([])));

    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("endpoint created"), "logs were captured");
    assert!(
        !logged.contains("tok-9f8e"),
        "a header value reached the logs"
    );
    assert!(
        !logged.contains("ref-31337x"),
        "a header value reached the logs"
    );
}
