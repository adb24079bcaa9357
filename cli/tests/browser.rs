//! The demo page in a real browser: Debian's headless Chromium, driven over WebDriver by
//! Debian's chromedriver, against `burstline dev` run as a subprocess. A simulated agent task
//! renders; the connection is dropped mid-task, and responses end every second (short stream
//! segments, as Lambda's bounded streams end) so EventSource resumes by itself several times;
//! the stream resumes with no missing or duplicated seq; the inspector shows every event's webhook with a valid signature. A
//! screenshot is written to `target/artifacts/demo-page.png`.
//!
//! Needs `chromium` and `chromium-driver` (Debian packages; `make browser-deps` installs
//! them, `.ci/run` does too). `CHROMIUM` / `CHROMEDRIVER` override their paths.

#![allow(clippy::unwrap_used)] // test helpers: a failed setup should panic loudly

mod common;

use base64::Engine;
use burstline::apikey::ApiKey;
use common::Dev;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

fn tool(var: &str, default: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_owned()));
    assert!(
        path.exists(),
        "{} not found: install Debian's chromium and chromium-driver (`make browser-deps`), \
         or set {var}",
        path.display()
    );
    path
}

/// A chromedriver process and one browser session.
struct Browser {
    client: reqwest::Client,
    base: String,
    _driver: Child,
}

impl Browser {
    async fn start() -> Browser {
        let chromium = tool("CHROMIUM", "/usr/bin/chromium");
        let driver = tool("CHROMEDRIVER", "/usr/bin/chromedriver");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn chromedriver");
        let client = reqwest::Client::new();
        let driver_url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if client
                .get(format!("{driver_url}/status"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile =
            std::env::temp_dir().join(format!("burstline-chromium-{}", std::process::id()));
        // Flags for a sandboxed CI machine with no network beyond loopback: no background
        // services that would try (and fail) to reach Google.
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,900",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args}
        }}});
        let session = post(&client, &format!("{driver_url}/session"), &caps).await;
        let id = session["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {session}"))
            .to_owned();
        Browser {
            client,
            base: format!("{driver_url}/session/{id}"),
            _driver: child,
        }
    }

    async fn open(&self, url: &str) {
        post(
            &self.client,
            &format!("{}/url", self.base),
            &json!({ "url": url }),
        )
        .await;
    }

    /// Runs `script` (a function body) in the page and returns its value.
    async fn eval(&self, script: &str) -> Value {
        let r = post(
            &self.client,
            &format!("{}/execute/sync", self.base),
            &json!({"script": script, "args": []}),
        )
        .await;
        r["value"].clone()
    }

    /// Waits until `script` returns true.
    async fn wait(&self, what: &str, script: &str, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if self.eval(script).await == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let state = self
            .eval("return JSON.stringify({seqs: window.burstline.seqs.length, last: window.burstline.lastSeq, log: document.getElementById('log').innerText});")
            .await;
        panic!("timed out waiting for {what}; page state: {state}");
    }

    async fn screenshot(&self, path: &Path) {
        let r: Value = serde_json::from_slice(
            &self
                .client
                .get(format!("{}/screenshot", self.base))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["value"].as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    async fn quit(self) {
        let _ = self.client.delete(&self.base).send().await;
    }
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> Value {
    let bytes = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_page_renders_a_simulated_task_and_resumes_after_a_drop_and_across_segments() {
    let key = ApiKey::generate().unwrap();
    let dev = Dev::start(
        &[
            "--batching-window-ms",
            "200",
            "--stream-segment-seconds",
            "1",
        ],
        key.expose(),
    )
    .await;
    let browser = Browser::start().await;
    browser.open(&format!("{}/", dev.url)).await;
    browser
        .wait(
            "the page to load",
            "return window.burstline && window.burstline.ready === true;",
            Duration::from_secs(30),
        )
        .await;

    // A simulated agent task: 12 parallel tool calls per step, 3 steps, tokens at ~50/s.
    browser
        .eval("document.getElementById('tools').value = 12; document.getElementById('steps').value = 3; document.getElementById('simulate').click();")
        .await;
    browser
        .wait(
            "the first events to render",
            "return window.burstline.seqs.length >= 15 && window.burstline.connected;",
            Duration::from_secs(30),
        )
        .await;
    let rows_before = browser
        .eval("return document.querySelectorAll('#events tr').length;")
        .await;
    assert!(rows_before.as_u64().unwrap() >= 15, "events render as rows");

    // Force a reconnect mid-task.
    let dropped_at = browser
        .eval("const s = window.burstline.lastSeq; document.getElementById('drop').click(); return s;")
        .await;
    browser
        .wait(
            "the task to finish",
            "return window.burstline.done === true;",
            Duration::from_secs(90),
        )
        .await;
    let state = browser
        .eval("const b = window.burstline; return {seqs: b.seqs, expected: b.expected, reconnects: b.reconnects, gaps: b.gaps, duplicates: b.duplicates, task: b.task, log: document.getElementById('log').innerText};")
        .await;
    let seqs: Vec<u64> = state["seqs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let expected = state["expected"].as_u64().unwrap();
    assert_eq!(
        seqs,
        (1..=expected).collect::<Vec<_>>(),
        "every seq once, in order, across the reconnect"
    );
    assert_eq!(state["duplicates"], 0);
    assert_eq!(state["gaps"], 0);
    // The forced drop, and segment ends that EventSource resumed by itself.
    let reconnects = state["reconnects"].as_u64().unwrap();
    assert!(reconnects >= 3, "{reconnects} reconnects");
    let log = state["log"].as_str().unwrap();
    assert!(
        log.matches("the browser resumes after seq").count() >= 2,
        "EventSource resumed across segment ends: {log}"
    );
    assert!(
        log.contains(&format!(
            "resuming after seq {}",
            dropped_at.as_u64().unwrap()
        )),
        "the page shows where it resumed: {log}"
    );

    // The inspector shows a signed webhook for every event of the task.
    let task = state["task"].as_str().unwrap().to_owned();
    browser
        .wait(
            "every webhook in the inspector",
            &format!(
                "return window.burstline.hooks.flatMap(h => h.events).filter(e => e.task_id === {task:?}).length >= {expected};"
            ),
            Duration::from_secs(60),
        )
        .await;
    let bad = browser
        .eval("return window.burstline.hooks.filter(h => !h.signature_valid).length;")
        .await;
    assert_eq!(bad, 0, "every signature verifies");

    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/artifacts/demo-page.png");
    browser.screenshot(&shot).await;
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "a real screenshot"
    );
    browser.quit().await;
    assert!(dev.stop(Duration::from_secs(30)).await);
}
