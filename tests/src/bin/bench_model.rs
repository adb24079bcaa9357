//! `make bench`: the issue #11 runs under the AWS model, recorded in BENCHMARKS.md. For each
//! profile (`standard`, `efo`) it starts `burstline dev --port 0 --aws-model PROFILE`, runs
//! `burstline simulate --json` for the seed burst and for agent runs, stops the stack, and
//! writes the figures. Every figure is **modeled** (in memory, behind
//! `shared/model/aws-latency.toml`), on this machine, with the load generator sharing its cores.
//!
//! Usage: `bench-model [PATH_TO_BURSTLINE]` (default `target/release/burstline`; `make bench`
//! builds it first). Extra `dev` arguments can be given in `BENCH_MODEL_DEV_ARGS`.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The runs, with simulate's arguments (issue #11's table).
const RUNS: [(&str, &str); 2] = [
    (
        "seed burst",
        "--tasks 1000 --tools 20 --steps 1 --tokens 0 --concurrency 1000 --watch 100",
    ),
    ("agent runs", "--tasks 200 --tools 20"),
];
const PROFILES: [&str; 2] = ["standard", "efo"];

/// A running `burstline dev`: its URL and API key, read from the banner.
struct Dev {
    child: Child,
    url: String,
    key: String,
}

impl Dev {
    fn start(bin: &str, profile: &str) -> Dev {
        let extra = std::env::var("BENCH_MODEL_DEV_ARGS").unwrap_or_default();
        let mut child = Command::new(bin)
            .args(["dev", "--port", "0", "--aws-model", profile])
            .args(extra.split_whitespace())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {bin} dev: {e}"));
        let out = child.stdout.take().expect("dev stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the banner, then keeps draining dev's stdout so it never writes to a closed pipe.
        std::thread::spawn(move || {
            let mut url = None;
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(u) = line.strip_prefix("burstline dev ready at ") {
                    url = Some(u.trim().to_owned());
                }
                if let Some(k) = line.split_whitespace().find(|w| w.starts_with("bl_")) {
                    let _ = tx.send((url.clone(), k.to_owned()));
                }
            }
        });
        let (url, key) = rx.recv().expect("dev printed its banner");
        Dev {
            child,
            url: url.expect("dev printed its URL"),
            key,
        }
    }

    /// Ctrl-C, as a person stops it: it drains and exits.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn simulate(bin: &str, dev: &Dev, args: &str) -> Value {
    let out = Command::new(bin)
        .args(["simulate", "--url", &dev.url, "--api-key", &dev.key])
        .args(["--seed", "7", "--json"])
        .args(args.split_whitespace())
        .output()
        .expect("simulate");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "simulate printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn ms(v: &Value) -> String {
    v.as_f64().map_or("–".into(), |v| format!("{v:.0}"))
}

fn row(run: &str, profile: &str, s: &Value) -> String {
    let sse = &s["streams"]["latency"];
    let hook = &s["webhooks"]["latency"];
    format!(
        "| {run} | {profile} | {} / {} | {} / {} | {} | {} | ${:.2} | ${:.4} | {} |",
        ms(&sse["p50_ms"]),
        ms(&sse["p99_ms"]),
        ms(&hook["p50_ms"]),
        ms(&hook["p99_ms"]),
        ms(&s["fanout_lag_max_ms"]),
        s["accepted_per_second"].as_f64().unwrap_or(0.0).round(),
        s["cost"]["usd_per_million_events"]
            .as_f64()
            .unwrap_or(f64::NAN),
        s["cost"]["usd_per_viewer_hour"]
            .as_f64()
            .unwrap_or(f64::NAN),
        if s["ok"].as_bool() == Some(true) {
            "nothing lost, duplicated or out of order".to_owned()
        } else {
            format!("FAILED: {}", s["problems"])
        },
    )
}

fn main() {
    let bin = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/release/burstline".into());
    let mut rows = Vec::new();
    for (run, args) in RUNS {
        for profile in PROFILES {
            let dev = Dev::start(&bin, profile);
            let summary = simulate(&bin, &dev, args);
            dev.stop();
            let line = row(run, profile, &summary);
            println!("{line}");
            rows.push(line);
        }
    }
    let doc = format!(
        "## Under the AWS model: `make bench`\n\n\
         **Modeled**: `bench-model` (part of `make bench`) starts `burstline dev --port 0 \
         --aws-model PROFILE` and runs `burstline simulate --seed 7 --json` against it, on {}; \
         the load generator and its receiver share the machine with the stack. Seed burst: \
         `{}`; agent runs: `{}`. Latencies are ingest → SSE frame and ingest → webhook, in ms.\n\n\
         | run | profile | SSE p50 / p99 | webhook p50 / p99 | fanout lag max | events/s accepted | $ per million events | $ per viewer-hour | check |\n\
         |---|---|---|---|---|---|---|---|---|\n{}\n",
        burstline_tests::benchdoc::machine(),
        RUNS[0].1,
        RUNS[1].1,
        rows.join("\n"),
    );
    let path = burstline_tests::benchdoc::record_section("aws-model-bench", &doc)
        .expect("write BENCHMARKS.md");
    eprintln!("recorded in {}", path.display());
}
