//! The api's task routes on in-memory adapters: status, 303 once finished, result and 409,
//! stream tokens that open exactly their task, and tenant scoping.

use api::Api;
use api::tasks::TaskRoutes;
use burstline::apikey::{ApiKey, Scope};
use burstline::auth::Authenticator;
use burstline::clock::TokioClock;
use burstline::event::Envelope;
use burstline_tests::fixtures::{request, task};
use burstline_tests::stack::Stack;
use burstline_tests::streams::{
    SseClient, append, bearer, events, get_events, ids, secret, streamer, tenant,
};
use lambda_http::Body;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use stream::StreamSettings;

/// The api with task routes on a paused clock and a fixed stream URL.
fn routes(stack: &Stack) -> Api {
    let tasks = TaskRoutes {
        store: stack.store.clone(),
        auth: Authenticator::new(stack.tenants.clone(), Duration::from_secs(60)),
        tokens: secret(),
        clock: Arc::new(TokioClock::starting_at(chrono::Utc::now())),
        token_ttl: Duration::from_secs(300),
        stream_url: "https://stream.example".into(),
    };
    Api {
        tasks,
        ..stack.api()
    }
}

async fn call(deps: &Api, method: &str, path: &str, key: &ApiKey) -> (u16, Value, String) {
    let auth = bearer(key);
    let r = api::handle(
        deps,
        request(method, path, &[("authorization", &auth)], b""),
    )
    .await;
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = match r.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("unexpected body {other:?}"),
    };
    (r.status().as_u16(), body, location)
}

#[tokio::test(start_paused = true)]
async fn status_result_and_redirect_follow_the_task() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 10, &[Scope::Stream]).await;
    let deps = routes(&stack);
    let k = task("acme", "run-1");
    append(stack.store.as_ref(), &k, &events(3, false), None).await;

    let (code, body, _) = call(&deps, "GET", "/v1/tasks/run-1", &key).await;
    assert_eq!(code, 200);
    assert_eq!(body["status"], "running");
    assert_eq!(body["last_seq"], 3);
    assert_eq!(body["task_id"], "run-1");
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        body["links"]["events"],
        "https://stream.example/v1/tasks/run-1/events"
    );
    assert_eq!(body["links"]["result"], "/v1/tasks/run-1/result");

    let (code, body, _) = call(&deps, "GET", "/v1/tasks/run-1/result", &key).await;
    assert_eq!(code, 409);
    assert_eq!(body["error"]["code"], "task_running");

    let done = append(
        stack.store.as_ref(),
        &k,
        &[("task.failed", json!({"why": "boom"}))],
        None,
    )
    .await;
    let (code, body, location) = call(&deps, "GET", "/v1/tasks/run-1", &key).await;
    assert_eq!(code, 303);
    assert_eq!(location, "/v1/tasks/run-1/result");
    assert_eq!(body["status"], "failed");
    let (code, body, _) = call(&deps, "GET", "/v1/tasks/run-1/result", &key).await;
    assert_eq!(code, 200);
    let terminal: Envelope = serde_json::from_value(body).unwrap();
    assert_eq!(terminal, done[0]);
}

#[tokio::test(start_paused = true)]
async fn every_route_is_tenant_scoped() {
    let stack = Stack::memory();
    tenant(&stack, "acme", 10, &[Scope::Stream, Scope::Manage]).await;
    let other = tenant(&stack, "globex", 10, &[Scope::Stream, Scope::Manage]).await;
    let deps = routes(&stack);
    append(
        stack.store.as_ref(),
        &task("acme", "run-1"),
        &events(2, true),
        None,
    )
    .await;
    for (method, path) in [
        ("GET", "/v1/tasks/run-1"),
        ("GET", "/v1/tasks/run-1/result"),
        ("GET", "/v1/tasks/unknown"),
    ] {
        let (code, body, _) = call(&deps, method, path, &other).await;
        assert_eq!(code, 404, "{method} {path}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    // A token can be minted before a task's first commit, so another tenant gets one, but it
    // names that tenant's own (absent) run-1: it never opens acme's.
    let (code, body, _) = call(&deps, "POST", "/v1/tasks/run-1/stream-tokens", &other).await;
    assert_eq!(code, 201);
    let query = body["url"].as_str().unwrap().split_once('?').unwrap().1;
    let streams = streamer(&stack, stack.store.clone(), StreamSettings::default()).await;
    let r = stream::handle(&streams, get_events("run-1", query, &[])).await;
    assert_eq!(r.status(), 404);
    let anon = api::handle(&deps, request("GET", "/v1/tasks/run-1", &[], b"")).await;
    assert_eq!(anon.status(), 401);
    // The events stream is the stream function's route, not api's.
    let stream_path = api::handle(&deps, request("GET", "/v1/tasks/run-1/events", &[], b"")).await;
    assert_eq!(stream_path.status(), 404);
}

#[tokio::test(start_paused = true)]
async fn minted_tokens_open_their_task_and_nothing_else() {
    let stack = Stack::memory();
    let manager = tenant(&stack, "acme", 10, &[Scope::Manage]).await;
    let reader = tenant(&stack, "acme-readers", 10, &[Scope::Stream]).await;
    let deps = routes(&stack);
    let streams = streamer(&stack, stack.store.clone(), StreamSettings::default()).await;
    append(
        stack.store.as_ref(),
        &task("acme", "run-1"),
        &events(3, true),
        None,
    )
    .await;
    append(
        stack.store.as_ref(),
        &task("acme", "run-2"),
        &events(2, true),
        None,
    )
    .await;

    let (code, body, _) = call(&deps, "POST", "/v1/tasks/run-1/stream-tokens", &manager).await;
    assert_eq!(code, 201);
    let token = body["token"].as_str().unwrap();
    let url = body["url"].as_str().unwrap();
    assert_eq!(
        url,
        format!("https://stream.example/v1/tasks/run-1/events?token={token}")
    );
    let expires =
        chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    let ttl = expires.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(ttl > chrono::Duration::seconds(290) && ttl <= chrono::Duration::seconds(300));

    // The URL opens the stream as a browser would: no headers.
    let query = url.split_once('?').unwrap().1;
    let r = stream::handle(&streams, get_events("run-1", query, &[])).await;
    assert_eq!(ids(&SseClient::new(r).rest().await), vec![1, 2, 3]);
    let r = stream::handle(&streams, get_events("run-2", query, &[])).await;
    assert_eq!(r.status(), 403);

    // Minting needs the manage scope.
    let (code, _, _) = call(&deps, "POST", "/v1/tasks/run-1/stream-tokens", &reader).await;
    assert_eq!(code, 403);
    let (code, _, _) = call(&deps, "GET", "/v1/tasks/run-1/stream-tokens", &manager).await;
    assert_eq!(code, 405);
}

#[tokio::test(start_paused = true)]
async fn tokens_for_a_task_not_committed_yet_open_it_once_it_is() {
    let stack = Stack::memory();
    let manager = tenant(&stack, "acme", 10, &[Scope::Manage]).await;
    let deps = routes(&stack);
    let streams = streamer(&stack, stack.store.clone(), StreamSettings::default()).await;

    // "Start a task, then open its stream": the token is minted before fanout's first commit.
    let (code, body, _) = call(&deps, "POST", "/v1/tasks/run-9/stream-tokens", &manager).await;
    assert_eq!(code, 201, "{body}");
    let url = body["url"].as_str().unwrap().to_owned();
    let query = url.split_once('?').unwrap().1.to_owned();
    let waiting = {
        let (streams, query) = (streams.clone(), query.clone());
        tokio::spawn(
            async move { stream::handle(&streams, get_events("run-9", &query, &[])).await },
        )
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    append(
        stack.store.as_ref(),
        &task("acme", "run-9"),
        &events(2, true),
        None,
    )
    .await;
    let r = waiting.await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(ids(&SseClient::new(r).rest().await), vec![1, 2]);

    // A token for a task that never appears opens nothing: 404 after the wait.
    let (code, body, _) = call(&deps, "POST", "/v1/tasks/never/stream-tokens", &manager).await;
    assert_eq!(code, 201);
    let query = body["url"].as_str().unwrap().split_once('?').unwrap().1;
    let r = stream::handle(&streams, get_events("never", query, &[])).await;
    assert_eq!(r.status(), 404);
}
