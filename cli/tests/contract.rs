//! The API contract, checked from outside: Schemathesis (pinned in `requirements-dev.txt`,
//! run from `.venv`) against `burstline dev` in memory, over every operation in
//! `docs/openapi.json` as the server itself serves it at `/openapi.json`. Valid and invalid
//! inputs (`mode = "all"`), then stateful sequences along the document's links (create an
//! endpoint → get/patch/rotate/enable/deliveries/replay/delete it; post events → task status →
//! result → stream tokens → stream). Checks: no 5xx; every status code, content type, header
//! and body (each SSE event too) as documented; no use after delete; created resources
//! available; 405 with a matching `Allow` for undocumented methods; requests without the key
//! refused. Settings (fixed seed, bounded examples) are in `tests/schemathesis.toml`.
//!
//! `make contract` runs only this, with Schemathesis's report on the terminal.

#![allow(clippy::unwrap_used)] // test: a failed setup should panic loudly

mod common;

use burstline::apikey::ApiKey;
use common::Dev;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// Far above the few minutes a run takes on two cores; only a hang gets here.
const RUN_LIMIT: Duration = Duration::from_secs(20 * 60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure_in_any_operation() {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let schemathesis = manifest.join("../.venv/bin/schemathesis");
    assert!(
        schemathesis.exists(),
        "{} is missing: run `make venv`",
        schemathesis.display()
    );
    let key = ApiKey::generate().unwrap();
    // A short batching window: a task posted in one step of a sequence is committed before
    // the next step looks it up (status, result, stream). Short streams: a running task's
    // stream ends by itself after 3 s, so reading one costs no more than that.
    let dev = Dev::start(
        &[
            "--batching-window-ms",
            "20",
            "--stream-lifetime-seconds",
            "3",
        ],
        key.expose(),
    )
    .await;

    let page = reqwest::get(format!("{}/docs", dev.url)).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/openapi.json"));

    let scratch = std::env::temp_dir().join(format!("burstline-contract-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let run = Command::new(&schemathesis)
        .arg("--config-file")
        .arg(manifest.join("tests/schemathesis.toml"))
        .args(["--no-color", "run"])
        .arg(format!("{}/openapi.json", dev.url))
        .args(["--url", &dev.url])
        .env("BURSTLINE_API_KEY", key.expose())
        // Loopback only, whatever proxy the environment names.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .current_dir(&scratch)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(RUN_LIMIT, run)
        .await
        .expect("Schemathesis finished within the limit")
        .expect("run Schemathesis");
    let _ = std::fs::remove_dir_all(&scratch);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    assert!(
        out.status.success(),
        "Schemathesis reported failures ({}):\n{report}",
        out.status
    );
}
