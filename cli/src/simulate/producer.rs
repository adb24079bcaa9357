//! Playing a task's plan against ingest: each [`Post`] at its offset, one after another (so
//! the task's events keep their order), noting the instant each event's 202 came back.

use super::plan::Post;
use crate::send::{Outcome, body_of, post_events};
use anyhow::bail;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Attempts per POST before the task gives up on transport errors.
const ATTEMPTS: u32 = 6;
/// How long a POST keeps being resent while ingest answers that it is busy (a retryable
/// refusal: 408, 429, 5xx, or a 503 that took part of it), as a producer should when the
/// stream is at its write limit: the events are not bad, only early.
const BUSY_FOR: Duration = Duration::from_secs(120);
/// First pause between attempts; doubles each time up to [`MAX_BACKOFF`] (a `Retry-After`
/// overrides it).
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Longest pause between attempts without a `Retry-After`.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

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
/// Retries transport failures ([`ATTEMPTS`] times), and 408, 429 and 5xx for up to
/// [`BUSY_FOR`], with the same ids (idempotent); a 503 partial acceptance resends only the
/// rejected events. Each pause is the `Retry-After` (or the doubling backoff) stretched by up
/// to half again, spread by task, so a thousand throttled producers do not all come back in
/// the same millisecond. `on_resend()` is called for every POST sent again after a retryable
/// refusal. Any other answer (400–499) fails the task with the server's error.
pub async fn run_task(
    client: &reqwest::Client,
    url: &str,
    api_key: &str,
    task_id: &str,
    posts: Vec<Post>,
    on_accepted: impl Fn(usize),
    on_resend: impl Fn(),
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
        let first_sent = Instant::now();
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
                    busy(first_sent, task_id, pending.len())?;
                    on_resend();
                    p.error.retry_after.unwrap_or(backoff)
                }
                Ok(Outcome::Refused(e)) if e.is_retryable() => {
                    busy(first_sent, task_id, pending.len())?;
                    on_resend();
                    e.retry_after.unwrap_or(backoff)
                }
                Ok(Outcome::Refused(e)) => bail!("task {task_id}: {e}"),
                Err(e) if attempt < ATTEMPTS => {
                    tracing::warn!(task_id, error = %e, "POST failed; retrying");
                    attempt += 1;
                    backoff
                }
                Err(e) => bail!("task {task_id}: {e} (after {ATTEMPTS} attempts)"),
            };
            tokio::time::sleep(spread(wait, task_id, backoff)).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
    Ok(accepted)
}

/// Fails the task once ingest has been busy for [`BUSY_FOR`] since the POST was first sent.
fn busy(first_sent: Instant, task_id: &str, pending: usize) -> anyhow::Result<()> {
    if first_sent.elapsed() >= BUSY_FOR {
        bail!(
            "task {task_id}: {pending} event(s) still not accepted after {}s of retryable refusals",
            BUSY_FOR.as_secs()
        );
    }
    Ok(())
}

/// `wait` stretched by 0–50 %, the fraction taken from the task id and the current backoff
/// (so each task, and each of its retries, lands at its own point of the window).
fn spread(wait: Duration, task_id: &str, backoff: Duration) -> Duration {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    (task_id, backoff).hash(&mut h);
    let fraction = (h.finish() % 1000) as f64 / 2000.0;
    wait.mul_f64(1.0 + fraction)
}

fn keep_indices<T>(items: Vec<T>, keep: impl Fn(&usize) -> bool) -> Vec<T> {
    items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep(i))
        .map(|(_, x)| x)
        .collect()
}
