//! Cold-start benchmark: how long each function's release binary takes from process start to
//! its first `GET /2018-06-01/runtime/invocation/next`, i.e. until it is ready for its first
//! invoke. A fake Lambda Runtime API on 127.0.0.1 stands in for Lambda; AWS endpoints point at
//! a closed loopback port, since no function contacts AWS before its first invoke. Also lists
//! the size of each `target/lambda/<fn>/bootstrap.zip` that `make build` left.
//!
//! Run by `make bench-coldstart`, which builds the x86_64 release binaries first; they are
//! looked for next to this binary. Prints a table and records it in BENCHMARKS.md.

use burstline_tests::benchdoc::{machine, record_section};
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FUNCTIONS: [&str; 5] = ["ingest", "fanout", "deliver", "stream", "api"];
const RUNS: usize = 21;
/// The first invocation/next must come within this, or the run fails.
const DEADLINE: Duration = Duration::from_secs(10);
/// A loopback port nothing listens on: AWS requests (none are expected) fail fast.
const NOWHERE: &str = "http://127.0.0.1:9";

/// The configuration variables a function's config reads, with values that parse.
fn config(function: &str) -> Vec<(&'static str, String)> {
    let vars: &[&'static str] = match function {
        "ingest" => &ingest::IngestConfig::VARS,
        "fanout" => &fanout::FanoutConfig::VARS,
        "deliver" => &deliver::DeliverConfig::VARS,
        "stream" => &stream::StreamConfig::VARS,
        "api" => &api::ApiConfig::VARS,
        other => panic!("unknown function {other}"),
    };
    vars.iter()
        .filter_map(|&var| {
            let value = if var.ends_with("_TABLE") || var == "EVENT_STREAM_NAME" {
                format!("bench-{}", var.to_lowercase())
            } else if var.ends_with("_QUEUE_URL") || var.ends_with("_DLQ_URL") {
                format!("{NOWHERE}/000000000000/bench-{}", var.to_lowercase())
            } else if var == "STREAM_URL" {
                "https://stream.example.com".to_owned()
            } else if var == "STREAM_TOKEN_SECRET" {
                "bench-stream-token-secret-0123456789abcdef".to_owned()
            } else {
                return None; // the config's default, as in template.yaml's defaults
            };
            Some((var, value))
        })
        .collect()
}

/// Starts `binary` as Lambda would, with the Runtime API at `port`.
fn spawn(binary: &Path, function: &str, port: u16) -> Child {
    let mut cmd = Command::new(binary);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", format!("burstline-{function}"))
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/burstline-{function}"),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/22/[$LATEST]bench")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_SESSION_TOKEN", "bench")
        .env("AWS_ENDPOINT_URL", NOWHERE)
        .envs(config(function))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd.spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()))
}

/// One cold start: spawn → first `invocation/next` request line read.
fn cold_start(binary: &Path, function: &str) -> Result<Duration, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let started = Instant::now();
    let mut child = spawn(binary, function, port);
    let result = first_poll(&listener, &mut child, started);
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// Waits for the child's first request on `listener`: the time since `started` if it is
/// `invocation/next`.
fn first_poll(
    listener: &TcpListener,
    child: &mut Child,
    started: Instant,
) -> Result<Duration, String> {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).map_err(|e| e.to_string())?;
                let mut line = String::new();
                BufReader::new(stream)
                    .read_line(&mut line)
                    .map_err(|e| e.to_string())?;
                let ready = started.elapsed();
                return if line.starts_with("GET /2018-06-01/runtime/invocation/next ") {
                    Ok(ready)
                } else {
                    Err(format!("unexpected first request: {line:?}"))
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Ok(Some(status)) = child.try_wait() {
                    let mut err = String::new();
                    if let Some(mut s) = child.stderr.take() {
                        let _ = s.read_to_string(&mut err);
                    }
                    return Err(format!("exited with {status} before polling: {err}"));
                }
                if started.elapsed() > DEADLINE {
                    return Err("no invocation/next within the deadline".into());
                }
                std::thread::sleep(Duration::from_micros(50));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn kib(path: &Path) -> Option<String> {
    std::fs::metadata(path)
        .ok()
        .map(|m| format!("{:.0}", m.len() as f64 / 1024.0))
}

fn main() {
    let here = std::env::current_exe().expect("own path");
    let bin_dir = here.parent().expect("a directory").to_path_buf();
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut rows = Vec::new();
    for function in FUNCTIONS {
        let binary = bin_dir.join(function);
        assert!(
            binary.exists(),
            "{} is missing: build the release binaries first (make bench-coldstart)",
            binary.display()
        );
        // One unmeasured start, so every measured run finds the binary in the page cache.
        cold_start(&binary, function).unwrap_or_else(|e| panic!("{function}: {e}"));
        let times: Vec<Duration> = (0..RUNS)
            .map(|_| cold_start(&binary, function).unwrap_or_else(|e| panic!("{function}: {e}")))
            .collect();
        let (min, max) = (
            *times.iter().min().expect("runs"),
            *times.iter().max().expect("runs"),
        );
        let zip = workspace.join(format!("target/lambda/{function}/bootstrap.zip"));
        let row = format!(
            "| {function} | **{}** | {} – {} | {} | {} |",
            ms(median(times)),
            ms(min),
            ms(max),
            kib(&binary).unwrap_or_default(),
            kib(&zip).unwrap_or_else(|| "— (run `make build`)".into()),
        );
        println!("{row}");
        rows.push(row);
    }
    let body = format!(
        "## Cold start and artifact size\n\n\
         `make bench-coldstart` on {machine}: each function's x86_64 release binary (the \
         workspace's release profile: LTO, one codegen unit, stripped, `panic = \"abort\"`) is \
         started {RUNS} times as Lambda starts `bootstrap`, against a fake Runtime API on \
         127.0.0.1, after one unmeasured start. *Start → ready* is the time from spawning the \
         process to its first `GET /2018-06-01/runtime/invocation/next`: runtime set-up, \
         config parsing and building the AWS clients (no AWS request is made before the first \
         invoke; the SDK clients connect lazily). deliver also builds its webhook HTTP client \
         (reqwest with rustls, which loads the system's root certificates) before it polls. \
         Lambda's own init (fetching and unpacking the zip, the sandbox) comes on top and is \
         not measured here. *bootstrap.zip* is the arm64 artifact `make build` \
         produces (`cargo lambda build --release --arm64 --output-format zip`), which is what \
         gets deployed.\n\n\
         | function | start → ready, median (ms) | fastest – slowest (ms) | x86_64 binary (KiB) | arm64 bootstrap.zip (KiB) |\n\
         |---|---|---|---|---|\n{}\n",
        rows.join("\n"),
        machine = machine(),
    );
    match record_section("coldstart", &body) {
        Ok(p) => println!("recorded in {}", p.display()),
        Err(e) => eprintln!("could not write BENCHMARKS.md: {e}"),
    }
}
