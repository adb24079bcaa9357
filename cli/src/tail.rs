//! `burstline tail`: follow a task's events over SSE like a browser `EventSource` would —
//! reconnecting with `Last-Event-ID` after drops, honouring `retry:`, stopping at the terminal
//! event or a 204. Frames are parsed by `eventsource-stream`.

use anyhow::{Context, bail};
use clap::Args;
use eventsource_stream::{Event, Eventsource};
use futures_util::StreamExt;
use serde_json::Value;
use std::io::Write;
use std::time::Duration;

/// Reconnection attempts in a row that may fail before giving up.
const MAX_FAILED_CONNECTS: u32 = 10;
/// Event types that end a task (SPEC §1).
const TERMINAL: [&str; 3] = ["task.completed", "task.failed", "task.cancelled"];

/// Which task, from where, and how to print it.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  burstline tail run-42                         # every event, then follow until it ends
  burstline tail run-42 --from-now --json       # only new events, as JSON lines
  burstline tail run-42 --last-event-id 17      # resume after seq 17
  burstline tail run-42 --token eyJ...          # with a stream token instead of a key")]
pub struct TailArgs {
    /// The task to follow.
    task_id: String,
    /// Every event from the first (the default).
    #[arg(long, conflicts_with_all = ["from_now", "last_event_id"])]
    from_start: bool,
    /// Only events committed from now on.
    #[arg(long, conflicts_with = "last_event_id")]
    from_now: bool,
    /// Events after this seq.
    #[arg(long)]
    last_event_id: Option<u64>,
    /// Print each envelope as one line of JSON instead of a table row.
    #[arg(long)]
    json: bool,
    /// The stream function's URL (default: BURSTLINE_URL, as in `burstline dev`).
    #[arg(long, env = "BURSTLINE_STREAM_URL")]
    url: Option<String>,
    /// An API key with the `stream` scope.
    #[arg(long, env = "BURSTLINE_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// A stream token instead of a key (as a browser would use).
    #[arg(long, conflicts_with = "api_key")]
    token: Option<String>,
}

/// What carries over from one connection to the next, as in an `EventSource`.
struct Follow {
    /// The last event id seen: sent as `Last-Event-ID`.
    last_id: Option<String>,
    /// The reconnection delay, from the server's `retry:`.
    retry: Duration,
}

/// How one connection ended.
enum Outcome {
    /// The task is over and read: stop.
    Done,
    /// Reconnect after this long.
    Reconnect(Duration),
}

/// Follows the task until it ends.
pub async fn run(mut args: TailArgs) -> anyhow::Result<()> {
    if args.url.is_none() {
        args.url = std::env::var("BURSTLINE_URL")
            .ok()
            .filter(|u| !u.is_empty());
    }
    if args.url.is_none() {
        bail!("no stream URL: pass --url or set BURSTLINE_STREAM_URL (or BURSTLINE_URL)");
    }
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let mut state = Follow {
        last_id: args.last_event_id.map(|n| n.to_string()),
        retry: Duration::from_secs(1),
    };
    let mut failures = 0;
    let stdout = std::io::stdout();
    loop {
        match connect(&client, &args, &mut state, &stdout).await {
            Ok(Outcome::Done) => return Ok(()),
            Ok(Outcome::Reconnect(wait)) => {
                failures = 0;
                tokio::time::sleep(wait).await;
            }
            Err(e) if failures < MAX_FAILED_CONNECTS && is_transient(&e) => {
                failures += 1;
                tracing::warn!(error = %e, failures, "connection failed; reconnecting");
                tokio::time::sleep(state.retry).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn is_transient(e: &anyhow::Error) -> bool {
    e.downcast_ref::<reqwest::Error>()
        .is_some_and(|e| e.is_connect() || e.is_timeout() || e.is_request() || e.is_body())
}

async fn connect(
    client: &reqwest::Client,
    args: &TailArgs,
    state: &mut Follow,
    stdout: &std::io::Stdout,
) -> anyhow::Result<Outcome> {
    let resume = state.last_id.clone();
    let mut url = reqwest::Url::parse(&format!(
        "{}/v1/tasks/{}/events",
        args.url
            .as_deref()
            .unwrap_or_default()
            .trim_end_matches('/'),
        args.task_id
    ))
    .context("--url")?;
    if let Some(token) = &args.token {
        url.query_pairs_mut().append_pair("token", token);
    }
    if resume.is_none() && args.from_now {
        url.query_pairs_mut().append_pair("from", "now");
    }
    let mut request = client.get(url).header("accept", "text/event-stream");
    if let Some(key) = &args.api_key {
        request = request.bearer_auth(key);
    }
    if let Some(id) = &resume {
        request = request.header("last-event-id", id);
    }
    let response = request.send().await?;
    match response.status().as_u16() {
        200 => {}
        204 => return Ok(Outcome::Done),
        429 => {
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .map_or(state.retry, Duration::from_secs);
            eprintln!("over the stream budget; retrying in {}s", wait.as_secs());
            return Ok(Outcome::Reconnect(wait));
        }
        status => {
            let body = response.text().await.unwrap_or_default();
            bail!("{status}: {body}");
        }
    }
    let retry_seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen = retry_seen.clone();
    // eventsource-stream drops a block that carries only `retry:` (as the SPEC's first bytes
    // do) without exposing it, so the reconnection delay is also read off the raw chunks.
    let chunks = response.bytes_stream().inspect(move |chunk| {
        if let Ok(bytes) = chunk
            && let Some(ms) = retry_field(bytes)
            && let Ok(mut slot) = seen.lock()
        {
            *slot = Some(Duration::from_millis(ms));
        }
    });
    let mut events = chunks.eventsource();
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(e) => e,
            // A dropped connection: resume from the last id.
            Err(e) => {
                tracing::warn!(error = %e, "stream interrupted");
                break;
            }
        };
        if let Some(r) = event.retry {
            state.retry = r;
        }
        if !event.id.is_empty() {
            state.last_id = Some(event.id.clone());
        }
        if event.event == "throttled" {
            eprintln!("over the stream budget; retrying");
            continue;
        }
        print(stdout, &event, args.json)?;
        if TERMINAL.contains(&event.event.as_str()) {
            return Ok(Outcome::Done);
        }
    }
    if let Ok(Some(r)) = retry_seen.lock().map(|g| *g) {
        state.retry = r;
    }
    Ok(Outcome::Reconnect(state.retry))
}

/// The value of a `retry:` line in a chunk, if the chunk has one.
fn retry_field(chunk: &[u8]) -> Option<u64> {
    std::str::from_utf8(chunk)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("retry:"))
        .and_then(|v| v.trim().parse().ok())
}

fn print(stdout: &std::io::Stdout, event: &Event, json: bool) -> anyhow::Result<()> {
    let mut out = stdout.lock();
    if event.event == "gap" {
        let gap: Value = serde_json::from_str(&event.data).unwrap_or_default();
        eprintln!(
            "events {}..{} are past retention",
            gap["from_seq"], gap["to_seq"]
        );
        return Ok(());
    }
    if json {
        writeln!(out, "{}", event.data)?;
    } else {
        let env: Value = serde_json::from_str(&event.data).unwrap_or_default();
        let time = env["time"].as_str().unwrap_or_default();
        writeln!(
            out,
            "{:>6}  {}  {:<24}  {}",
            event.id,
            time,
            event.event,
            env.get("data").unwrap_or(&Value::Null)
        )?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_lines_are_found() {
        assert_eq!(retry_field(b"retry: 1500\n\n"), Some(1500));
        assert_eq!(retry_field(b"id: 1\nevent: a\ndata: {}\n\n"), None);
    }
}
