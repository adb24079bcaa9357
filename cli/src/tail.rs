//! `burstline tail`: follow a task's events over SSE like a browser `EventSource` would —
//! reconnecting with `Last-Event-ID` after drops and at the end of each stream segment,
//! honouring `retry:` (a segment's last block asks for an immediate reconnect), stopping at the
//! terminal event or a 204. Every connection of one run sends the same `client_id`, so a
//! reconnect takes over its own stream slot. Frames are parsed by `eventsource-stream`.

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
    /// This run's `client_id`: a reconnect takes over the stream slot its previous connection
    /// may still hold on the server (Lambda does not notice a dropped client at once).
    client_id: String,
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
        client_id: format!("tail-{}", ulid::Ulid::new()),
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
    url.query_pairs_mut()
        .append_pair("client_id", &state.client_id);
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
    let fields = std::sync::Arc::new(std::sync::Mutex::new(Fields::default()));
    let seen = fields.clone();
    // eventsource-stream drops a block without `data:` (as the SPEC's opening `retry:` + `id:`
    // block is) without exposing its fields, so they are also read off the raw bytes.
    let chunks = response.bytes_stream().inspect(move |chunk| {
        if let Ok(bytes) = chunk
            && let Ok(mut f) = seen.lock()
        {
            f.feed(bytes);
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
    if let Ok(f) = fields.lock() {
        if let Some(ms) = f.retry {
            state.retry = Duration::from_millis(ms);
        }
        // The opening block's id too: reconnecting before the first event resumes from the
        // point the stream started after, not from a new `?from=now`.
        if let Some(id) = &f.last_id {
            state.last_id = (!id.is_empty()).then(|| id.clone());
        }
    }
    Ok(Outcome::Reconnect(state.retry))
}

/// The fields WHATWG's parser keeps across blocks: the last event id and the reconnection
/// time, read from the raw bytes as an `EventSource` reads them. An `id:` line takes effect
/// when its block ends, whether or not the block has `data:`; an empty `id:` resets it.
#[derive(Debug, Default)]
struct Fields {
    /// The current, unfinished line.
    line: Vec<u8>,
    /// The previous byte was `\r` (a `\r\n` pair ends one line).
    after_cr: bool,
    /// The id buffer: the value of the last `id:` line.
    id_buffer: Option<String>,
    /// The last event id: the id buffer as of the last completed block.
    last_id: Option<String>,
    /// The last valid `retry:` value, in milliseconds.
    retry: Option<u64>,
}

impl Fields {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                continue;
            }
            if b == b'\r' || b == b'\n' {
                self.after_cr = b == b'\r';
                let line = std::mem::take(&mut self.line);
                self.line_ended(&line);
            } else {
                self.line.push(b);
            }
        }
    }

    fn line_ended(&mut self, line: &[u8]) {
        if line.is_empty() {
            self.last_id.clone_from(&self.id_buffer);
            return;
        }
        let line = String::from_utf8_lossy(line);
        let (name, value) = line.split_once(':').unwrap_or((&line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match name {
            "id" if !value.contains('\0') => self.id_buffer = Some(value.to_owned()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry = value.parse().ok();
            }
            _ => {}
        }
    }
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

    fn fed(chunks: &[&[u8]]) -> Fields {
        let mut f = Fields::default();
        for c in chunks {
            f.feed(c);
        }
        f
    }

    #[test]
    fn the_opening_block_sets_retry_and_the_last_id() {
        let f = fed(&[b"retry: 1500\nid: 42\n\n"]);
        assert_eq!((f.retry, f.last_id.as_deref()), (Some(1500), Some("42")));
        let f = fed(&[b"retry: 1000\nid: 0\n\nid: 1\nevent: a\ndata: {}\n\n: ping\n\n"]);
        assert_eq!(f.last_id.as_deref(), Some("1"));
    }

    #[test]
    fn ids_apply_only_when_their_block_ends_across_chunk_splits() {
        let f = fed(&[b"retry: 10", b"00\r\nid: 7", b"\r\n"]);
        assert_eq!((f.retry, f.last_id.as_deref()), (Some(1000), None));
        let f = fed(&[b"retry: 1000\r\nid: 7\r", b"\n\r\n"]);
        assert_eq!(f.last_id.as_deref(), Some("7"));
        let f = fed(&[b"id: 7\n\nid\n\n"]);
        assert_eq!(f.last_id.as_deref(), Some(""), "an empty id resets it");
        let f = fed(&[b"retry: soon\nid: 3\0\n\n"]);
        assert_eq!((f.retry, f.last_id), (None, None));
    }
}
