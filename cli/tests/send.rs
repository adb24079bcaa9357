//! `burstline send` as users run it: the real binary against ingest served on 127.0.0.1 on an
//! in-memory stack; what landed is read back through fanout and the store.
#![allow(clippy::unwrap_used)] // test helpers: a failed setup should panic loudly

use burstline::apikey::{ApiKey, Scope};
use burstline_tests::fixtures::{drain, stored, task, tenant_with_key};
use burstline_tests::serve::{Served, serve};
use burstline_tests::stack::Stack;
use serde_json::Value;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Ingest on a memory stack, recording how many events each request carried.
struct World {
    stack: Stack,
    key: ApiKey,
    served: Served,
    requests: Arc<Mutex<Vec<usize>>>,
}

async fn world() -> World {
    world_on(Stack::memory()).await
}

async fn world_on(stack: Stack) -> World {
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    let ingest = stack.ingest();
    let requests: Arc<Mutex<Vec<usize>>> = Arc::default();
    let seen = requests.clone();
    let served = serve(move |req| {
        let ingest = ingest.clone();
        let seen = seen.clone();
        async move {
            let body: Value = serde_json::from_slice(req.body().as_ref()).unwrap_or_default();
            let n = body["events"].as_array().map_or(1, Vec::len);
            seen.lock().unwrap().push(n);
            ingest::handle(&ingest, req).await
        }
    })
    .await;
    World {
        stack,
        key,
        served,
        requests,
    }
}

impl World {
    async fn send(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_burstline"))
            .arg("send")
            .args(args)
            .env("BURSTLINE_URL", &self.served.url)
            .env("BURSTLINE_API_KEY", self.key.expose())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin).await.unwrap();
        drop(input);
        child.wait_with_output().await.unwrap()
    }

    /// Every event fanout stores for `task_id`.
    async fn stored(&self, task_id: &str) -> Vec<burstline::event::Envelope> {
        drain(&self.stack, &self.stack.fanout(), 100).await;
        stored(&self.stack, &task("acme", task_id)).await
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ndjson(n: usize, task_id: &str) -> String {
    let mut s = String::new();
    for i in 1..=n {
        let ty = if i == n {
            "task.completed"
        } else {
            "token.delta"
        };
        s.push_str(&format!(
            "{{\"id\":\"e-{i}\",\"type\":\"{ty}\",\"task_id\":\"{task_id}\",\"data\":{{\"i\":{i}}}}}\n"
        ));
        if i % 100 == 0 {
            s.push('\n'); // blank lines are skipped
        }
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_from_stdin_lands_in_order_in_batches_of_at_most_500() {
    let w = world().await;
    let out = w.send(&[], ndjson(1203, "run-1").as_bytes()).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(*w.requests.lock().unwrap(), [500, 500, 203]);
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1203);
    assert_eq!(stdout.lines().next(), Some("e-1\trun-1"));
    assert!(text(&out.stderr).contains("accepted 1203 event(s) in 3 request(s)"));
    let events = w.stored("run-1").await;
    let ids: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    let want: Vec<String> = (1..=1203).map(|i| format!("e-{i}")).collect();
    assert_eq!(ids, want, "every event, once, in input order");
    assert_eq!(events.last().unwrap().seq.0, 1203);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_from_flags_and_a_file_with_a_default_task() {
    let w = world().await;
    let out = w
        .send(
            &[
                "--task",
                "run-2",
                "--type",
                "tool_call.started",
                "--data",
                r#"{"tool":"search"}"#,
                "--id",
                "call-1",
                "--time",
                "2026-11-22T10:00:00Z",
            ],
            b"ignored: flags win over stdin",
        )
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "call-1\trun-2");

    let dir = std::env::temp_dir().join(format!("burstline-send-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("events.ndjson");
    std::fs::write(
        &file,
        "{\"type\":\"tool_call.completed\",\"data\":{\"ok\":true}}\n\n{\"type\":\"task.completed\"}\n",
    )
    .unwrap();
    let out = w
        .send(
            &[
                "--file",
                file.to_str().unwrap(),
                "--task",
                "run-2",
                "--json",
            ],
            b"",
        )
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["events"].as_array().unwrap().len(), 2);
    assert!(
        body["events"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("evt_")
    );
    let events = w.stored("run-2").await;
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["tool_call.started", "tool_call.completed", "task.completed"]
    );
    assert_eq!(events[0].data["tool"], "search");
    assert_eq!(
        events[0].time.to_rfc3339(),
        "2026-11-22T10:00:00+00:00",
        "the producer's time"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_ndjson_line_is_named_and_nothing_is_sent() {
    let w = world().await;
    let mut input = ndjson(700, "run-3");
    input.push_str("{\"type\": \"token.delta\", \n");
    input.push_str(&ndjson(3, "run-3"));
    // 700 events + 7 blank lines, so the bad line is line 708.
    let out = w.send(&[], input.as_bytes()).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("line 708: not valid JSON"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
    assert!(w.requests.lock().unwrap().is_empty(), "nothing was sent");
    assert!(w.stored("run-3").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_422_prints_the_field_and_its_line_and_writes_nothing() {
    let w = world().await;
    // The 4th event has a bad type: events[3], line 4.
    let input: String = ndjson(10, "run-4")
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let l = if i == 3 {
                l.replace("token.delta", "Token.Delta")
            } else {
                l.to_owned()
            };
            l + "\n"
        })
        .collect();
    let out = w.send(&[], input.as_bytes()).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("422 invalid_event") && stderr.contains("(field events[3].type)"),
        "{stderr}"
    );
    assert!(stderr.contains("at line 4"), "{stderr}");
    assert_eq!(*w.requests.lock().unwrap(), [10]);
    assert!(
        w.stored("run-4").await.is_empty(),
        "a rejected request writes nothing"
    );

    let out = w.send(&["--task", "run-4", "--type", "a b"], b"").await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("(field type)"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_reports_what_was_not_accepted_and_stops() {
    let mut stack = Stack::memory();
    let log = burstline::log::memory::MemoryLog::default();
    log.reject_when(|_, r| String::from_utf8_lossy(&r.data).contains("\"id\":\"e-502\""));
    stack.log = Arc::new(log.clone());
    stack.shards = Arc::new(log);
    let w = world_on(stack).await;
    let out = w.send(&[], ndjson(1203, "run-5").as_bytes()).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    // A blank line follows every 100 events: e-502 is on line 507, e-1001 on line 1011.
    assert!(
        stderr.contains("503: 1 of 500 events were not accepted")
            && stderr.contains("not accepted: line 507 (id e-502, task run-5)")
            && stderr.contains("lines 1011-1215 were not sent"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert_eq!(*w.requests.lock().unwrap(), [500, 500]);
    assert_eq!(text(&out.stdout).lines().count(), 999, "the accepted ids");
    assert!(!text(&out.stdout).contains("e-502\t"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_settings_and_input_are_one_line_errors() {
    let w = world().await;
    let out = Command::new(env!("CARGO_BIN_EXE_burstline"))
        .args(["send", "--task", "t", "--type", "a"])
        .env_remove("BURSTLINE_URL")
        .env_remove("BURSTLINE_API_KEY")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("BURSTLINE_URL"));
    let out = w.send(&[], b"\n\n").await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no events in the input"));
    let out = Command::new(env!("CARGO_BIN_EXE_burstline"))
        .args(["send", "--help"])
        .output()
        .await
        .unwrap();
    assert!(text(&out.stdout).contains("Examples:"));
}
