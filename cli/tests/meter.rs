//! The meter end to end: `burstline dev` (in memory) answers `/dev/meter` with requests,
//! units, GB-seconds and their bill, and `burstline simulate` against it prints the fanout lag
//! and the modeled cost of the run.

#![allow(clippy::unwrap_used)] // test helpers: a failed setup should panic loudly

mod common;

use burstline::apikey::ApiKey;
use common::Dev;
use serde_json::Value;
use std::time::Duration;
use tokio::process::Command;

async fn meter(client: &reqwest::Client, dev: &Dev) -> Value {
    let r = client
        .get(format!("{}/dev/meter", dev.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

async fn simulate(dev: &Dev, key: &ApiKey, json: bool) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_burstline"));
    cmd.arg("simulate")
        .args([
            "--tasks", "2", "--tools", "2", "--steps", "1", "--tokens", "3",
        ])
        .args([
            "--token-rate",
            "100",
            "--watch",
            "2",
            "--seed",
            "3",
            "--quiet",
        ])
        .env("BURSTLINE_URL", &dev.url)
        .env("BURSTLINE_API_KEY", key.expose())
        .env_remove("BURSTLINE_STREAM_URL")
        .kill_on_drop(true);
    if json {
        cmd.arg("--json");
    }
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("simulate ends")
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_meters_a_simulated_run_and_simulate_reports_its_cost() {
    let key = ApiKey::generate().unwrap();
    let dev = Dev::start(&["--batching-window-ms", "20"], key.expose()).await;
    let client = reqwest::Client::new();

    let before = meter(&client, &dev).await;
    assert_eq!(before["prices"]["region"], "us-east-1");
    assert!(before["idle_viewer_hour"]["usd"].as_f64().unwrap() > 0.0);

    let (ok, stdout, stderr) = simulate(&dev, &key, false).await;
    assert!(ok, "{stderr}\n{stdout}");
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name:?} line in\n{stdout}"))
            .to_owned()
    };
    assert!(
        line("fanout lag ").contains(" ms (ingest → commit)"),
        "{stdout}"
    );
    let cost = line("cost ");
    assert!(cost.contains("per million events"), "{cost}");
    assert!(cost.contains("per viewer-hour"), "{cost}");
    assert!(!cost.contains("n/a"), "{cost}");
    assert!(line("idle viewer ").contains("128 MB"), "{stdout}");
    // Today's lines are all still there.
    for l in [
        "tasks ",
        "events accepted ",
        "commit → SSE ",
        "store ",
        "OK: nothing lost",
    ] {
        line(l);
    }

    let after = meter(&client, &dev).await;
    let n = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    // 2 tasks × (started, reasoning, 2 started, 2 completed, 3 tokens, output, completed),
    // plus the webhook probe's event.
    assert!(n(&after, "events_accepted") - n(&before, "events_accepted") >= 2.0 * 11.0);
    assert!(n(&after, "viewer_seconds") > n(&before, "viewer_seconds"));
    for f in ["ingest", "fanout", "deliver", "stream"] {
        assert!(
            after["lambda"][f]["gb_seconds"].as_f64().unwrap() > 0.0,
            "{f}: {}",
            after["lambda"]
        );
    }
    let ops = &after["operations_by_function"];
    assert!(
        ops["fanout"]["dynamodb:TransactWriteItems"]["units"]["write_request_units"].as_u64()
            > Some(0)
    );
    assert!(ops["stream"]["dynamodb:Query"]["requests"].as_u64() > Some(0));
    assert!(after["bills"]["events"]["total_usd"].as_f64().unwrap() > 0.0);
    assert!(after["bills"]["viewers"]["total_usd"].as_f64().unwrap() > 0.0);
    assert!(after["fanout_lag_max_ms"].as_f64().is_some());

    let (ok, stdout, stderr) = simulate(&dev, &key, true).await;
    assert!(ok, "{stderr}\n{stdout}");
    let s: Value = serde_json::from_str(&stdout).unwrap();
    assert!(s["fanout_lag_max_ms"].as_f64().is_some(), "{s:#}");
    assert!(s["cost"]["usd_per_million_events"].as_f64().unwrap() > 0.0);
    assert!(s["cost"]["usd_per_viewer_hour"].as_f64().unwrap() > 0.0);
    assert!(dev.stop(Duration::from_secs(30)).await);
}
