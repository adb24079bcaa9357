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

/// Shortest pause between head reads: at most 10 reads a second, the stream's read cap.
pub const MIN_PAUSE: Duration = Duration::from_millis(100);
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

/// The pause before the next head read, `waited` after the first: an eighth of the time
/// waited, within [`MIN_PAUSE`, `MAX_PAUSE`], cut to end exactly at `limit` so the last read
/// happens at the deadline; `None` once the wait is over. A task that is about to appear (a
/// client opened the stream as it started the task) is read every 100 ms for its first 800 ms
/// and every 200 ms at 1.6 s, so its first events reach the viewer within a read of their
/// commit, whichever consumer fanout runs: a doubling backoff (50 ms, 100, 200, 400, 800 ms)
/// left a first commit at 400 ms unseen until 750 ms, and one at 800 ms until 1.55 s. About
/// 29 reads over the default 10 s. Pure.
pub fn next_pause(waited: Duration, limit: Duration) -> Option<Duration> {
    let left = limit.checked_sub(waited).filter(|d| !d.is_zero())?;
    Some((waited / 8).clamp(MIN_PAUSE, MAX_PAUSE).min(left))
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
        let Some(pause) = next_pause(start.elapsed(), limit) else {
            return Ok(Found::Absent);
        };
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_with_the_wait_from_100_ms_to_a_second_and_end_at_the_limit() {
        let limit = Duration::from_secs(10);
        let (mut waited, mut reads, mut at) = (Duration::ZERO, 1, vec![Duration::ZERO]);
        while let Some(p) = next_pause(waited, limit) {
            waited += p;
            reads += 1;
            at.push(waited);
        }
        let pauses: Vec<u128> = at.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
        assert_eq!(&pauses[..8], &[100; 8], "every 100 ms at first");
        assert!(
            pauses.iter().all(|&p| (100..=1000).contains(&p)),
            "{pauses:?}"
        );
        assert_eq!(
            pauses.iter().rev().nth(1),
            Some(&1000),
            "a second apart by the end"
        );
        assert_eq!(waited, limit, "the last read is at the deadline");
        assert!(reads <= 32, "{reads} reads");
        for w in at.windows(11) {
            assert!(
                w[10] - w[0] >= Duration::from_secs(1),
                "at most 10 reads a second"
            );
        }
    }

    #[test]
    fn no_wait_configured_means_one_read() {
        assert_eq!(next_pause(Duration::ZERO, Duration::ZERO), None);
        assert_eq!(
            next_pause(Duration::from_secs(11), Duration::from_secs(10)),
            None
        );
        assert_eq!(
            next_pause(Duration::from_secs(9), Duration::from_secs(60)),
            Some(MAX_PAUSE)
        );
    }
}
