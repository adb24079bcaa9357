//! `burstline send`: post events to ingest (`POST /v1/events`, SPEC §3) from flags, a file or
//! stdin as NDJSON. The whole input is read and checked before anything is sent, then sent in
//! order in requests of at most 500 events and 5 MiB, so a task's events keep their order.

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Map, Value};
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::Duration;

/// Most events in one request (SPEC §2).
pub(crate) const MAX_EVENTS_PER_REQUEST: usize = 500;
/// Largest request body (SPEC §2).
pub(crate) const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;
/// `{"events":[` and `]}` around the events.
const ENVELOPE_BYTES: usize = r#"{"events":[]}"#.len();

/// `burstline send …`
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = EXAMPLES)]
pub struct SendArgs {
    /// The task the event belongs to (with --type); with NDJSON, the task_id of lines that
    /// have none.
    #[arg(long)]
    task: Option<String>,
    /// Send one event of this type, built from the flags (ignores stdin).
    #[arg(long = "type", value_name = "TYPE", requires = "task")]
    event_type: Option<String>,
    /// The event's `data`, as JSON.
    #[arg(long, value_name = "JSON", requires = "event_type")]
    data: Option<String>,
    /// The event's id (an idempotency key); ingest assigns `evt_…` when absent.
    #[arg(long, requires = "event_type")]
    id: Option<String>,
    /// The event's time (RFC 3339); ingest time when absent.
    #[arg(long, value_name = "RFC3339", requires = "event_type")]
    time: Option<String>,
    /// NDJSON file of events, one JSON object per line; `-` reads stdin.
    #[arg(long, short = 'f', value_name = "PATH", conflicts_with = "event_type")]
    file: Option<PathBuf>,
    /// Print the accepted events as one JSON document instead of `id task_id` lines.
    #[arg(long)]
    json: bool,
    /// Ingest's base URL (the stack output `IngestUrl`, or `burstline dev`'s address).
    #[arg(long, env = "BURSTLINE_URL")]
    url: Option<String>,
    /// An API key with the `ingest` scope.
    #[arg(long, env = "BURSTLINE_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

const EXAMPLES: &str = "\
Input: with --type, one event from the flags. Otherwise NDJSON (one event object per line,
blank lines skipped) from --file, or from stdin when stdin is not a terminal. The whole input
is checked first: a line that is not a JSON object stops the command before anything is sent.

Examples:
  export BURSTLINE_URL=http://127.0.0.1:8787 BURSTLINE_API_KEY=bl_…
  burstline send --task run-42 --type tool_call.started --data '{\"tool\":\"search\"}'
  burstline send --task run-42 --type task.completed --id run-42-done
  burstline send --file events.ndjson
  burstline send --task run-42 < events.ndjson      # lines without task_id go to run-42
  gen-events | burstline send --json

Prints `id task_id` per accepted event (stdout) and a count (stderr). Exits 1 on the first
rejected request, printing the server's code, message and field (with its NDJSON line).";

/// One event to send, and where it came from.
#[derive(Debug)]
struct Line {
    /// 1-based line number in the input (0 for flags).
    number: usize,
    /// The event, serialized compactly.
    json: String,
}

/// Sends the events and prints what was accepted.
pub async fn run(args: SendArgs) -> anyhow::Result<()> {
    let url = args
        .url
        .as_deref()
        .context("set --url or BURSTLINE_URL to ingest's address")?;
    let key = args
        .api_key
        .as_deref()
        .context("set --api-key or BURSTLINE_API_KEY (a key with the ingest scope)")?;
    let lines = read_input(&args)?;
    if lines.is_empty() {
        bail!("no events in the input");
    }
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()?;
    let mut accepted: Vec<Value> = Vec::with_capacity(lines.len());
    let batches = batches(&lines, MAX_EVENTS_PER_REQUEST, MAX_BODY_BYTES);
    for (n, batch) in batches.iter().enumerate() {
        // One event from flags goes bare, so a rejected field reads `type`, not `events[0].type`.
        let body = match batch {
            [only] if only.number == 0 => only.json.clone(),
            _ => body_of(batch.iter().map(|l| l.json.as_str())),
        };
        let outcome = post_events(&client, url, key, body)
            .await
            .with_context(|| format!("posting to {url}"))?;
        match outcome {
            Outcome::Accepted(events) => accepted.extend(events),
            Outcome::Partial(p) => {
                let not_accepted: Vec<String> = p
                    .rejected
                    .iter()
                    .map(|r| {
                        let line = batch
                            .get(r.index)
                            .filter(|l| l.number > 0)
                            .map(|l| format!("line {} ", l.number))
                            .unwrap_or_default();
                        format!("{line}(id {}, task {})", r.id, r.task_id)
                    })
                    .collect();
                accepted.extend(p.accepted.iter().map(|a| a.summary()));
                print_accepted(&accepted, args.json)?;
                let unsent = unsent_note(&batches[n + 1..]);
                bail!(
                    "{}: {}; not accepted: {}{unsent}{}",
                    p.error.status,
                    p.error.message,
                    not_accepted.join(", "),
                    report_progress(&accepted, n, batches.len())
                );
            }
            Outcome::Refused(e) => {
                print_accepted(&accepted, args.json)?;
                let line = e
                    .field
                    .as_deref()
                    .and_then(event_index)
                    .and_then(|i| batch.get(i))
                    .or_else(|| {
                        if batch.len() == 1 {
                            batch.first()
                        } else {
                            None
                        }
                    })
                    .filter(|l| l.number > 0)
                    .map(|l| format!(" at line {}", l.number))
                    .unwrap_or_default();
                bail!("{e}{line}{}", report_progress(&accepted, n, batches.len()));
            }
        }
    }
    print_accepted(&accepted, args.json)?;
    eprintln!(
        "accepted {} event(s) in {} request(s)",
        accepted.len(),
        batches.len()
    );
    Ok(())
}

/// What happened before a failed request, when the input took several.
fn report_progress(accepted: &[Value], failed_batch: usize, total: usize) -> String {
    if total <= 1 {
        return String::new();
    }
    format!(
        "; {} event(s) accepted in {failed_batch} earlier request(s), {} request(s) not sent",
        accepted.len(),
        total - failed_batch - 1
    )
}

fn unsent_note(rest: &[&[Line]]) -> String {
    match (rest.first(), rest.last()) {
        (Some(first), Some(last)) => format!(
            "; lines {}-{} were not sent",
            first.first().map_or(0, |l| l.number),
            last.last().map_or(0, |l| l.number)
        ),
        _ => String::new(),
    }
}

fn print_accepted(accepted: &[Value], json: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::json!({ "events": accepted }))?;
    } else {
        for e in accepted {
            writeln!(
                out,
                "{}\t{}",
                e["id"].as_str().unwrap_or(""),
                e["task_id"].as_str().unwrap_or("")
            )?;
        }
    }
    Ok(())
}

/// The events to send, from the flags or NDJSON, whichever the rule picks (see `EXAMPLES`).
fn read_input(args: &SendArgs) -> anyhow::Result<Vec<Line>> {
    if let Some(ty) = &args.event_type {
        return Ok(vec![Line {
            number: 0,
            json: from_flags(args, ty)?.to_string(),
        }]);
    }
    let text = match &args.file {
        Some(path) if path.as_os_str() != "-" => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        Some(_) => read_stdin()?,
        None if !std::io::stdin().is_terminal() => read_stdin()?,
        None => bail!(
            "nothing to send: give --task and --type, --file PATH, or pipe NDJSON on stdin \
             (see --help)"
        ),
    };
    parse_ndjson(&text, args.task.as_deref())
}

fn read_stdin() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading stdin")?;
    Ok(text)
}

fn from_flags(args: &SendArgs, event_type: &str) -> anyhow::Result<Value> {
    let mut event = Map::new();
    if let Some(id) = &args.id {
        event.insert("id".into(), id.clone().into());
    }
    event.insert("type".into(), event_type.into());
    if let Some(task) = &args.task {
        event.insert("task_id".into(), task.clone().into());
    }
    if let Some(time) = &args.time {
        chrono::DateTime::parse_from_rfc3339(time)
            .with_context(|| format!("--time {time:?} is not an RFC 3339 timestamp"))?;
        event.insert("time".into(), time.clone().into());
    }
    if let Some(data) = &args.data {
        let data: Value = serde_json::from_str(data).context("--data is not valid JSON")?;
        event.insert("data".into(), data);
    }
    Ok(Value::Object(event))
}

/// Parses NDJSON: one JSON object per line, blank lines skipped. `default_task` fills a
/// missing `task_id`. The first bad line is an error naming its number.
fn parse_ndjson(text: &str, default_task: Option<&str>) -> anyhow::Result<Vec<Line>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(raw)
            .with_context(|| format!("line {number}: not valid JSON; nothing was sent"))?;
        let Value::Object(mut event) = value else {
            bail!("line {number}: must be one JSON event object; nothing was sent");
        };
        if let Some(task) = default_task
            && !event.contains_key("task_id")
        {
            event.insert("task_id".into(), task.into());
        }
        out.push(Line {
            number,
            json: Value::Object(event).to_string(),
        });
    }
    Ok(out)
}

/// Splits `lines` into consecutive requests of at most `max_events` events and `max_bytes`
/// of body. An event too large on its own travels alone (ingest answers 413 for it).
fn batches(lines: &[Line], max_events: usize, max_bytes: usize) -> Vec<&[Line]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = ENVELOPE_BYTES;
    for (i, line) in lines.iter().enumerate() {
        let add = line.json.len() + usize::from(i > start);
        if i > start && (i - start == max_events || bytes + add > max_bytes) {
            out.push(&lines[start..i]);
            start = i;
            bytes = ENVELOPE_BYTES + line.json.len();
        } else {
            bytes += add;
        }
    }
    if start < lines.len() {
        out.push(&lines[start..]);
    }
    out
}

/// `{"events":[…]}` around already-serialized events.
pub(crate) fn body_of<'a>(events: impl Iterator<Item = &'a str>) -> String {
    let mut body = String::from(r#"{"events":["#);
    for (i, e) in events.enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(e);
    }
    body.push_str("]}");
    body
}

/// The `i` of a field path `events[i]…`.
fn event_index(field: &str) -> Option<usize> {
    field
        .strip_prefix("events[")?
        .split(']')
        .next()?
        .parse()
        .ok()
}

/// The server's JSON error (SPEC §3), with the status it came with.
#[derive(Debug, Clone)]
pub(crate) struct ApiFailure {
    /// HTTP status.
    pub status: u16,
    /// `error.code`.
    pub code: String,
    /// `error.message`.
    pub message: String,
    /// `error.field`, when the server named one.
    pub field: Option<String>,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<Duration>,
}

impl ApiFailure {
    /// 408, 429 and 5xx: the same request may succeed later (ids make it safe to resend).
    pub fn is_retryable(&self) -> bool {
        matches!(self.status, 408 | 429) || self.status >= 500
    }
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)?;
        if let Some(field) = &self.field {
            write!(f, " (field {field})")?;
        }
        Ok(())
    }
}

/// One event of an ingest answer, as `{"index","id","task_id"}`.
#[derive(Debug, Clone)]
pub(crate) struct Indexed {
    /// Position in the request.
    pub index: usize,
    /// Event id (the producer's or the one ingest assigned).
    pub id: String,
    /// Task id.
    pub task_id: String,
}

impl Indexed {
    fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            index: usize::try_from(v["index"].as_u64()?).ok()?,
            id: v["id"].as_str()?.to_owned(),
            task_id: v["task_id"].as_str()?.to_owned(),
        })
    }

    fn summary(&self) -> Value {
        serde_json::json!({"id": self.id, "task_id": self.task_id})
    }
}

/// A 503 `stream_unavailable`: some events were written, the rest were not.
#[derive(Debug, Clone)]
pub(crate) struct Partial {
    /// The error (status, code, message, Retry-After).
    pub error: ApiFailure,
    /// Events durably accepted.
    pub accepted: Vec<Indexed>,
    /// Events not written; resending them with the same ids is safe.
    pub rejected: Vec<Indexed>,
}

/// What ingest answered to one `POST /v1/events`.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// 202: every event is accepted; `{"id","task_id"}` per event, in request order.
    Accepted(Vec<Value>),
    /// 503 with the accepted and rejected lists.
    Partial(Partial),
    /// Any other status: nothing was written.
    Refused(ApiFailure),
}

/// Posts one request body to `{url}/v1/events`. Transport failures are `Err`; every answer
/// of the server is an [`Outcome`].
pub(crate) async fn post_events(
    client: &reqwest::Client,
    url: &str,
    api_key: &str,
    body: String,
) -> Result<Outcome, reqwest::Error> {
    let response = client
        .post(format!("{}/v1/events", url.trim_end_matches('/')))
        .bearer_auth(api_key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.trim().parse().ok())
        .map(Duration::from_secs);
    let text = response.text().await?;
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status == 202 {
        let events = value["events"].as_array().cloned().unwrap_or_default();
        return Ok(Outcome::Accepted(events));
    }
    let error = ApiFailure {
        status,
        code: value["error"]["code"]
            .as_str()
            .unwrap_or("unexpected_response")
            .to_owned(),
        message: value["error"]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| first_line(&text)),
        field: value["error"]["field"].as_str().map(str::to_owned),
        retry_after,
    };
    let list = |name: &str| -> Option<Vec<Indexed>> {
        value[name]
            .as_array()?
            .iter()
            .map(Indexed::from_json)
            .collect()
    };
    if status == 503
        && let (Some(accepted), Some(rejected)) = (list("accepted"), list("rejected"))
    {
        return Ok(Outcome::Partial(Partial {
            error,
            accepted,
            rejected,
        }));
    }
    Ok(Outcome::Refused(error))
}

/// A response body as JSON (`Null` when it is not JSON).
pub(crate) async fn json_body(response: reqwest::Response) -> Value {
    let bytes = response.bytes().await.unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        "no error body".to_owned()
    } else {
        line.chars().take(200).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(sizes: &[usize]) -> Vec<Line> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, n)| Line {
                number: i + 1,
                json: "x".repeat(*n),
            })
            .collect()
    }

    #[test]
    fn batches_respect_count_and_bytes() {
        let ls = lines(&[10; 1203]);
        let b = batches(&ls, 500, MAX_BODY_BYTES);
        assert_eq!(
            b.iter().map(|b| b.len()).collect::<Vec<_>>(),
            [500, 500, 203]
        );
        // 13 bytes of envelope, events of 10 bytes plus a comma: three fit in 45 bytes.
        let seven = lines(&[10; 7]);
        let b = batches(&seven, 500, 13 + 10 + 11 + 11);
        assert_eq!(b.iter().map(|b| b.len()).collect::<Vec<_>>(), [3, 3, 1]);
        for batch in &b {
            assert!(body_of(batch.iter().map(|l| l.json.as_str())).len() <= 45);
        }
        let big = lines(&[100, 5]);
        let b = batches(&big, 500, 50);
        assert_eq!(b.iter().map(|b| b.len()).collect::<Vec<_>>(), [1, 1]);
        assert!(batches(&[], 500, 50).is_empty());
    }

    #[test]
    fn ndjson_skips_blanks_names_bad_lines_and_fills_the_task() {
        let ok = parse_ndjson(
            "{\"type\":\"a\"}\n\n  \n{\"type\":\"b\",\"task_id\":\"t2\"}\n",
            Some("t1"),
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].number, 1);
        assert_eq!(ok[0].json, r#"{"type":"a","task_id":"t1"}"#);
        assert_eq!(ok[1].number, 4);
        assert!(ok[1].json.contains("t2"));
        let e = parse_ndjson("{}\n{\"type\":\n", None).unwrap_err();
        assert!(format!("{e:#}").starts_with("line 2: not valid JSON"));
        let e = parse_ndjson("{}\n\n[1]\n", None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("line 3: must be one JSON event object")
        );
    }

    #[test]
    fn field_paths_name_an_event() {
        assert_eq!(event_index("events[3].type"), Some(3));
        assert_eq!(event_index("events[12]"), Some(12));
        assert_eq!(event_index("type"), None);
    }

    #[test]
    fn failures_read_like_the_spec() {
        let e = ApiFailure {
            status: 422,
            code: "invalid_event".into(),
            message: "is required".into(),
            field: Some("events[0].type".into()),
            retry_after: None,
        };
        assert_eq!(
            e.to_string(),
            "422 invalid_event: is required (field events[0].type)"
        );
        assert!(!e.is_retryable());
    }
}
