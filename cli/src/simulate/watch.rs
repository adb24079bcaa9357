//! Following a task over SSE as `burstline tail` does (eventsource-stream, resume with
//! `Last-Event-ID`, `Retry-After` on 429), recording each seq's arrival and checking they come
//! 1, 2, 3, … with no gap or repeat.

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Event types that end a task (SPEC §1).
const TERMINAL: [&str; 3] = ["task.completed", "task.failed", "task.cancelled"];
/// Pause before asking again for a task the stream does not know yet (404: its first event
/// is accepted but not yet committed).
const NOT_YET: Duration = Duration::from_millis(50);
/// Pause before reconnecting after a dropped or ended response.
const RECONNECT: Duration = Duration::from_millis(100);

/// What one watched task's stream delivered so far. Shared with the runner, which reads it
/// when the wait ends, finished or not.
#[derive(Debug, Default)]
pub struct StreamLog {
    /// Event id → when its frame arrived (first time).
    pub arrivals: HashMap<String, Instant>,
    /// Seqs received.
    seen: HashSet<u64>,
    /// Highest seq received.
    last: u64,
    /// Frames repeating a seq.
    pub duplicates: usize,
    /// Frames whose seq skipped past the next one.
    pub out_of_order: usize,
    /// The terminal event arrived (or the stream answered 204).
    pub finished: bool,
    /// The last failure, for the summary when a stream never finished.
    pub last_error: Option<String>,
}

impl StreamLog {
    /// Distinct seqs received.
    pub fn received(&self) -> usize {
        self.seen.len()
    }

    /// Records one frame's envelope.
    fn record(&mut self, seq: u64, id: &str, at: Instant) {
        if !self.seen.insert(seq) {
            self.duplicates += 1;
            return;
        }
        if seq != self.last + 1 {
            self.out_of_order += 1;
        }
        self.last = self.last.max(seq);
        self.arrivals.entry(id.to_owned()).or_insert(at);
    }
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct StreamTarget {
    /// The client (no overall timeout: streams are long).
    pub client: reqwest::Client,
    /// The stream function's base URL.
    pub url: String,
    /// A key with the `stream` scope.
    pub api_key: String,
}

/// Follows `task_id` from its first event until the terminal one, recording into `log`. Runs
/// until then; the caller bounds it with a timeout.
pub async fn watch(target: StreamTarget, task_id: String, log: Arc<Mutex<StreamLog>>) {
    let mut last_id: Option<String> = None;
    loop {
        let wait = match connect(&target, &task_id, &mut last_id, &log).await {
            Ok(Next::Done) => {
                if let Ok(mut l) = log.lock() {
                    l.finished = true;
                }
                return;
            }
            Ok(Next::After(wait)) => wait,
            Err(e) => {
                if let Ok(mut l) = log.lock() {
                    l.last_error = Some(e);
                }
                RECONNECT
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// How one connection ended.
enum Next {
    /// The task is over and read.
    Done,
    /// Connect again after this long.
    After(Duration),
}

async fn connect(
    target: &StreamTarget,
    task_id: &str,
    last_id: &mut Option<String>,
    log: &Mutex<StreamLog>,
) -> Result<Next, String> {
    let url = format!(
        "{}/v1/tasks/{task_id}/events",
        target.url.trim_end_matches('/')
    );
    let mut request = target
        .client
        .get(url)
        .bearer_auth(&target.api_key)
        .header("accept", "text/event-stream");
    if let Some(id) = last_id.as_deref() {
        request = request.header("last-event-id", id);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    match response.status().as_u16() {
        200 => {}
        204 => return Ok(Next::Done),
        404 => return Ok(Next::After(NOT_YET)),
        429 => {
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .map_or(Duration::from_secs(1), Duration::from_secs);
            if let Ok(mut l) = log.lock() {
                l.last_error = Some("over the tenant's stream budget (429)".to_owned());
            }
            return Ok(Next::After(wait));
        }
        status => {
            let body = response.text().await.unwrap_or_default();
            return Err(format!("{status}: {}", body.trim()));
        }
    }
    let mut events = response.bytes_stream().eventsource();
    while let Some(event) = events.next().await {
        let Ok(event) = event else {
            // A dropped connection: resume from the last id.
            return Ok(Next::After(RECONNECT));
        };
        let at = Instant::now();
        if event.event == "gap" || event.event == "throttled" {
            // A gap means seqs past retention: they will count as not streamed.
            continue;
        }
        let envelope: Value = serde_json::from_str(&event.data).unwrap_or_default();
        let seq = envelope["seq"]
            .as_u64()
            .or_else(|| event.id.parse().ok())
            .unwrap_or(0);
        let id = envelope["id"].as_str().unwrap_or_default();
        if let Ok(mut l) = log.lock() {
            l.record(seq, id, at);
        }
        if !event.id.is_empty() {
            *last_id = Some(event.id.clone());
        }
        if TERMINAL.contains(&event.event.as_str()) {
            return Ok(Next::Done);
        }
    }
    Ok(Next::After(RECONNECT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seqs_must_come_one_by_one() {
        let now = Instant::now();
        let mut l = StreamLog::default();
        for seq in [1, 2, 3] {
            l.record(seq, &format!("e{seq}"), now);
        }
        assert_eq!((l.received(), l.duplicates, l.out_of_order), (3, 0, 0));
        l.record(3, "e3", now);
        l.record(5, "e5", now);
        l.record(4, "e4", now);
        assert_eq!((l.received(), l.duplicates, l.out_of_order), (5, 1, 2));
    }
}
