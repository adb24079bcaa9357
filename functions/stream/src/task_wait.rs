//! Waiting for a task's first commit. Ingest answers 202 once an event is in Kinesis; fanout
//! commits it (and creates the task's head) a batching window later. A client that starts a
//! task and opens its stream at once would get a 404, which EventSource treats as final, so a
//! request for a task with no head reads the head again, with backoff, for up to
//! `TASK_WAIT_SECONDS` before answering 404.
//!
//! The wait happens before the response starts (nothing has been sent, so a 404 is still
//! possible) and before the stream slot is taken: a task that never appears never holds one of
//! the tenant's slots, and a waiting request is not told 429 about a stream it may never get.
//! Only callers allowed to read the task wait: the key's tenant or the token's task is already
//! checked, so another tenant's task is looked up under the caller's tenant and stays a 404.

use burstline::head::TaskHead;
use burstline::ids::TaskKey;
use burstline::store::EventStore;
use std::time::Duration;
use tokio::time::Instant;
use tracing::info;

/// Pause after the first head read that found nothing.
pub const FIRST_PAUSE: Duration = Duration::from_millis(50);
/// Longest pause between head reads.
pub const MAX_PAUSE: Duration = Duration::from_secs(1);

/// What looking for a task's head found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The head was there at the first read.
    Present(TaskHead),
    /// The head was absent at first and appeared while waiting: every event of the task was
    /// committed after the request arrived.
    Appeared(TaskHead),
    /// Still no head after the whole wait.
    Absent,
}

/// The pause before the next head read, after `reads` reads that found nothing and `waited`
/// since the first: doubling from [`FIRST_PAUSE`] to [`MAX_PAUSE`], cut to end exactly at
/// `limit` so the last read happens at the deadline; `None` once the wait is over. About 15
/// reads over the default 10 s. Pure.
pub fn next_pause(reads: u32, waited: Duration, limit: Duration) -> Option<Duration> {
    let left = limit.checked_sub(waited).filter(|d| !d.is_zero())?;
    let doublings = reads.saturating_sub(1).min(16);
    let backoff = FIRST_PAUSE.saturating_mul(1 << doublings).min(MAX_PAUSE);
    Some(backoff.min(left))
}

/// Reads `key`'s head, waiting up to `limit` for it to appear. A failed read ends the wait
/// with the error (the caller answers 503; the client retries).
pub async fn find_head(
    store: &dyn EventStore,
    key: &TaskKey,
    limit: Duration,
) -> burstline::Result<Found> {
    let start = Instant::now();
    let mut reads = 0;
    loop {
        let head = store.head(key).await?;
        reads += 1;
        match head {
            Some(head) if reads == 1 => return Ok(Found::Present(head)),
            Some(head) => {
                let waited_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
                info!(reads, waited_ms, "task appeared while waiting");
                return Ok(Found::Appeared(head));
            }
            None => {}
        }
        let Some(pause) = next_pause(reads, start.elapsed(), limit) else {
            return Ok(Found::Absent);
        };
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_to_a_second_and_end_at_the_limit() {
        let limit = Duration::from_secs(10);
        let (mut waited, mut reads, mut pauses) = (Duration::ZERO, 1, Vec::new());
        while let Some(p) = next_pause(reads, waited, limit) {
            pauses.push(p.as_millis());
            waited += p;
            reads += 1;
        }
        assert_eq!(&pauses[..6], &[50, 100, 200, 400, 800, 1000]);
        assert_eq!(waited, limit, "the last read is at the deadline");
        assert!(reads <= 16, "{reads} reads");
    }

    #[test]
    fn no_wait_configured_means_one_read() {
        assert_eq!(next_pause(1, Duration::ZERO, Duration::ZERO), None);
        assert_eq!(
            next_pause(1, Duration::from_secs(11), Duration::from_secs(10)),
            None
        );
        assert_eq!(
            next_pause(40, Duration::ZERO, Duration::from_secs(10)),
            Some(MAX_PAUSE)
        );
    }
}
