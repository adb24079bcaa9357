//! `burstline endpoints`, `dlq` and `verify` as users run them: the real binary against the
//! api served on 127.0.0.1, and SQS on moto.
#![allow(clippy::unwrap_used)] // test helpers: a failed setup should panic loudly

use burstline::apikey::Scope;
use burstline::job::{DeadLetter, DeliveryJob};
use burstline::signing::WebhookSecret;
use burstline_tests::fixtures::tenant_with_key;
use burstline_tests::moto::Moto;
use burstline_tests::serve::serve;
use burstline_tests::stack::Stack;
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn burstline(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_burstline"));
    cmd.args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("BURSTLINE_URL")
        .env_remove("BURSTLINE_API_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

async fn burstline_async(args: Vec<String>, env: Vec<(String, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        burstline(&args, &env, b"")
    })
    .await
    .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn verify_accepts_genuine_deliveries_and_refuses_altered_ones() {
    let secret = WebhookSecret::generate().unwrap();
    let body = br#"{"id":"evt_1","type":"task.completed","seq":3}"#;
    let ts = chrono::Utc::now().timestamp();
    let sig = secret.sign("evt_1", ts, body);
    let args = |sig: &str, ts: i64| {
        vec![
            "verify".to_owned(),
            "--secret".to_owned(),
            secret.expose().to_owned(),
            "-H".to_owned(),
            "webhook-id: evt_1".to_owned(),
            "-H".to_owned(),
            format!("webhook-timestamp: {ts}"),
            "-H".to_owned(),
            format!("Webhook-Signature: {sig}"),
        ]
    };
    let run = |a: Vec<String>, body: &[u8]| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        burstline(&a, &[], body)
    };
    let ok = run(args(&sig, ts), body);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("valid: evt_1"));
    let tampered = run(
        args(&sig, ts),
        br#"{"id":"evt_1","type":"task.completed","seq":4}"#,
    );
    assert!(!tampered.status.success());
    assert!(text(&tampered.stderr).contains("no signature matches"));
    let old_ts = ts - 3600;
    let stale = run(args(&secret.sign("evt_1", old_ts, body), old_ts), body);
    assert!(!stale.status.success());
    assert!(text(&stale.stderr).contains("timestamp"));
    let missing = burstline(&["verify", "--secret", secret.expose()], &[], body);
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("webhook-id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_commands_through_the_api() {
    let stack = Stack::memory();
    let key = tenant_with_key(&stack, "acme", &[Scope::Manage]).await;
    let api = stack.api();
    let served = serve(move |req| {
        let api = api.clone();
        async move { api::handle(&api, req).await }
    })
    .await;
    let env = vec![
        ("BURSTLINE_URL".to_owned(), served.url.clone()),
        ("BURSTLINE_API_KEY".to_owned(), key.expose().to_owned()),
    ];
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();

    let out = burstline_async(
        s(&[
            "endpoints",
            "add",
            "--url",
            "https://hooks.example.com/in",
            "--filter",
            "tool_call.*",
            "--batch-max-events",
            "10",
        ]),
        env.clone(),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(created["batching"]["max_events"], 10);
    let id = created["id"].as_str().unwrap().to_owned();

    let out = burstline_async(s(&["endpoints", "list"]), env.clone()).await;
    assert!(
        text(&out.stdout).contains(&id) && text(&out.stdout).contains("tool_call.*"),
        "{}",
        text(&out.stdout)
    );

    let out = burstline_async(s(&["endpoints", "rotate", &id]), env.clone()).await;
    assert!(out.status.success());
    let rotated = text(&out.stdout).trim().to_owned();
    assert!(rotated.starts_with("whsec_") && rotated != created["secret"].as_str().unwrap());

    let out = burstline_async(s(&["endpoints", "enable", &id]), env.clone()).await;
    assert!(out.status.success());

    // Limits: set, shown, refused when out of range (naming the field).
    let limit = s(&[
        "endpoints",
        "limit",
        &id,
        "--rate-limit",
        "20",
        "--max-in-flight",
        "4",
    ]);
    let out = burstline_async(limit, env.clone()).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("20/s, 4 in flight"),
        "{}",
        text(&out.stdout)
    );
    let too_many = s(&["endpoints", "limit", &id, "--max-in-flight", "99"]);
    let out = burstline_async(too_many, env.clone()).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("field max_in_flight"),
        "{}",
        text(&out.stderr)
    );
    let reset = s(&["endpoints", "limit", &id, "--rate-limit", "default"]);
    let out = burstline_async(reset, env.clone()).await;
    assert!(
        text(&out.stdout).contains("no rate limit, 4 in flight"),
        "{}",
        text(&out.stdout)
    );
    let again = s(&["endpoints", "limit", &id, "--rate-limit", "20"]);
    assert!(burstline_async(again, env.clone()).await.status.success());
    // A pause (as deliver's breaker writes it) shows in the list.
    let tenant: burstline::ids::TenantId = "acme".parse().unwrap();
    let mut ep = stack
        .endpoints
        .endpoint(&tenant, &id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    ep.breaker.paused_until = Some(chrono::Utc::now() + chrono::Duration::seconds(30));
    ep.breaker.reason = Some(burstline::breaker::PauseReason::RetryAfter);
    ep.version += 1;
    assert!(stack.endpoints.update_endpoint(&ep).await.unwrap());
    let out = burstline_async(s(&["endpoints", "list"]), env.clone()).await;
    let listed = text(&out.stdout);
    assert!(
        listed.contains("paused until")
            && listed.contains("(retry_after)")
            && listed.contains("20/s, 4 in flight"),
        "{listed}"
    );

    let out = burstline_async(s(&["endpoints", "add", "--url", "ftp://nope"]), env.clone()).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("field url"),
        "{}",
        text(&out.stderr)
    );
    let out = burstline_async(s(&["endpoints", "list"]), vec![]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("BURSTLINE_URL"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_list_and_redrive_against_sqs() {
    let stack = Stack::moto("cli-dlq").await;
    let p = stack.provisioned.clone().unwrap();
    let job: DeliveryJob = serde_json::from_value(serde_json::json!({
        "tenant_id": "acme", "task_id": "run-7", "endpoint_id": "ep_01JD4Z6Q8K3M2N7P9R5T0V1W2X",
        "events": [{"seq": 4, "id": "evt_4", "type": "x"}, {"seq": 5, "id": "evt_5", "type": "x"}],
        "through": {"shard_id": "s", "sequence_number": "1"}, "attempt": 7
    }))
    .unwrap();
    let letter = DeadLetter {
        job,
        reason: "retries exhausted".into(),
        url: Some("https://h.example.com".into()),
        dead_at: chrono::Utc::now(),
    };
    stack.dead_letters.dead_letter(&[letter]).await.unwrap();
    let env = vec![
        (
            "AWS_ENDPOINT_URL".to_owned(),
            Moto::shared().endpoint.clone(),
        ),
        ("DELIVERY_DLQ_URL".to_owned(), p.delivery_dlq_url.clone()),
        (
            "DELIVERY_QUEUE_URL".to_owned(),
            p.delivery_queue_url.clone(),
        ),
    ];
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let out = burstline_async(s(&["dlq", "list"]), env.clone()).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("acme/run-7 seq 4,5")
            && text(&out.stdout).contains("retries exhausted"),
        "{}",
        text(&out.stdout)
    );
    let out = burstline_async(s(&["dlq", "redrive", "--dry-run"]), env.clone()).await;
    assert!(
        text(&out.stdout).contains("would redrive 1 job(s), 2 event(s)"),
        "{}",
        text(&out.stdout)
    );
    let out = burstline_async(s(&["dlq", "redrive"]), env.clone()).await;
    assert!(
        text(&out.stdout).contains("redrove 1 job(s)"),
        "{}",
        text(&out.stdout)
    );
    let out = burstline_async(s(&["dlq", "redrive"]), env.clone()).await;
    assert!(
        text(&out.stdout).contains("redrove 0 job(s)"),
        "idempotent: {}",
        text(&out.stdout)
    );
    let jobs = burstline_tests::fixtures::drain_jobs(&stack).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].attempt, 0, "a fresh schedule");
}
