//! Playing a task's plan against ingest: each [`Post`] at its offset, one after another (so
//! the task's events keep their order), noting the instant each event's 202 came back.

use super::plan::Post;
use crate::send::{Outcome, body_of, post_events};
use anyhow::bail;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Attempts per POST before the task gives up (transport errors, 408/429/5xx, 503 leftovers).
const ATTEMPTS: u32 = 6;
/// First pause between attempts; doubles each time (a `Retry-After` overrides it).
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// One event ingest accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The event id.
    pub id: String,
    /// When the 202 (or the 503 listing it as accepted) came back: the commit instant that
    /// stream and webhook latencies are measured from.
    pub at: Instant,
}

/// Posts `posts` to `{url}/v1/events` with `api_key`, each at its `at` from now (late POSTs go
/// at once; a slow ingest delays the rest rather than reordering them). Returns every event's
/// commit instant, in acceptance order. `on_accepted(n)` is called as each answer arrives,
/// with the number of events it accepted (for progress bars).
///
/// Retries transport failures, 408, 429 and 5xx with the same ids (idempotent); a 503 partial
/// acceptance resends only the rejected events. Any other answer (400–499) fails the task with
/// the server's error.
pub async fn run_task(
    client: &reqwest::Client,
    url: &str,
    api_key: &str,
    task_id: &str,
    posts: Vec<Post>,
    on_accepted: impl Fn(usize),
) -> anyhow::Result<Vec<Accepted>> {
    let start = tokio::time::Instant::now();
    let mut accepted = Vec::with_capacity(posts.iter().map(|p| p.events.len()).sum());
    for post in posts {
        tokio::time::sleep_until(start + post.at).await;
        let mut pending: Vec<String> = post.events.iter().map(|e| e.to_string()).collect();
        let mut ids: Vec<String> = post
            .events
            .iter()
            .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let body = body_of(pending.iter().map(String::as_str));
            let wait = match post_events(client, url, api_key, body).await {
                Ok(Outcome::Accepted(events)) => {
                    let at = Instant::now();
                    // Ingest echoes the ids it accepted, in request order.
                    accepted.extend(events.iter().zip(&ids).map(|(e, sent)| Accepted {
                        id: e["id"].as_str().unwrap_or(sent).to_owned(),
                        at,
                    }));
                    on_accepted(events.len());
                    break;
                }
                Ok(Outcome::Partial(p)) => {
                    let at = Instant::now();
                    accepted.extend(p.accepted.iter().map(|a| Accepted {
                        id: a.id.clone(),
                        at,
                    }));
                    on_accepted(p.accepted.len());
                    let retry: HashSet<usize> = p.rejected.iter().map(|r| r.index).collect();
                    let keep = |i: &usize| retry.contains(i);
                    pending = keep_indices(pending, keep);
                    ids = keep_indices(ids, keep);
                    if pending.is_empty() {
                        break;
                    }
                    p.error.retry_after.unwrap_or(backoff)
                }
                Ok(Outcome::Refused(e)) if e.is_retryable() => e.retry_after.unwrap_or(backoff),
                Ok(Outcome::Refused(e)) => bail!("task {task_id}: {e}"),
                Err(e) if attempt < ATTEMPTS => {
                    tracing::warn!(task_id, error = %e, "POST failed; retrying");
                    backoff
                }
                Err(e) => bail!("task {task_id}: {e}"),
            };
            if attempt >= ATTEMPTS {
                bail!(
                    "task {task_id}: {} event(s) still not accepted after {ATTEMPTS} attempts",
                    pending.len()
                );
            }
            attempt += 1;
            tokio::time::sleep(wait).await;
            backoff *= 2;
        }
    }
    Ok(accepted)
}

fn keep_indices<T>(items: Vec<T>, keep: impl Fn(&usize) -> bool) -> Vec<T> {
    items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep(i))
        .map(|(_, x)| x)
        .collect()
}
