//! Writing events to the log, retrying records that Kinesis rejects.

use crate::error::IngestError;
use burstline::event::NewEvent;
use burstline::log::{EventLog, LogRecord, PutResult, put_batches};
use std::time::Duration;

/// Retry timing for rejected records: `attempts` tries in all, doubling from `first_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts per record.
    pub attempts: u32,
    /// Pause before the second attempt.
    pub first_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            first_delay: Duration::from_millis(50),
        }
    }
}

/// Encodes events as Kinesis records keyed by tenant + task.
pub fn records(events: &[NewEvent]) -> Vec<LogRecord> {
    events
        .iter()
        .map(|e| LogRecord {
            partition_key: e.task_key().partition_key(),
            data: serde_json::to_vec(e).unwrap_or_default(),
        })
        .collect()
}

/// Puts every record, retrying the rejected ones (and whole failed calls) with backoff.
/// `Ok` means every record is durably in the stream.
///
/// A record retried after a later record of its task was accepted is sequenced after it:
/// its acceptance is the retry. Callers resubmitting with the same event ids never create
/// duplicates, so a 503 is always safe to retry as a whole.
pub async fn publish(
    log: &dyn EventLog,
    records: &[LogRecord],
    policy: RetryPolicy,
) -> Result<(), IngestError> {
    let mut accepted = vec![false; records.len()];
    let mut pending: Vec<usize> = (0..records.len()).collect();
    let mut delay = policy.first_delay;
    for attempt in 1..=policy.attempts {
        let batch: Vec<LogRecord> = pending.iter().map(|&i| records[i].clone()).collect();
        let mut still = Vec::new();
        for range in put_batches(&batch) {
            let indexes = &pending[range.clone()];
            match log.put(&batch[range]).await {
                Ok(results) => {
                    for (&i, r) in indexes.iter().zip(results) {
                        match r {
                            PutResult::Accepted(_) => accepted[i] = true,
                            PutResult::Rejected { code } => {
                                tracing::warn!(attempt, code, "record rejected by the stream");
                                still.push(i);
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(attempt, error = %e, records = indexes.len(), "PutRecords failed");
                    still.extend_from_slice(indexes);
                }
            }
        }
        pending = still;
        if pending.is_empty() || attempt == policy.attempts {
            break;
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
    if accepted.iter().all(|a| *a) {
        Ok(())
    } else {
        Err(IngestError::NotAccepted { accepted })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burstline::log::memory::MemoryLog;
    use burstline::requests::RequestCounter;

    fn recs(n: usize) -> Vec<LogRecord> {
        (0..n)
            .map(|i| LogRecord {
                partition_key: "acme/t".into(),
                data: i.to_string().into_bytes(),
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn retries_rejected_records_until_accepted() {
        let log = MemoryLog::new(RequestCounter::default());
        // The first call rejects every odd record; later calls accept all.
        log.reject_when(|call, r| call == 0 && r.data[0] % 2 == 1);
        publish(&log, &recs(6), RetryPolicy::default())
            .await
            .unwrap();
        let order: Vec<String> = log
            .records()
            .iter()
            .map(|r| String::from_utf8(r.data.clone()).unwrap())
            .collect();
        assert_eq!(order, ["0", "2", "4", "1", "3", "5"]);
    }

    #[tokio::test(start_paused = true)]
    async fn reports_records_that_never_get_in() {
        let log = MemoryLog::new(RequestCounter::default());
        log.reject_when(|_, r| r.data == b"2");
        let err = publish(&log, &recs(4), RetryPolicy::default())
            .await
            .unwrap_err();
        assert_eq!(
            err,
            IngestError::NotAccepted {
                accepted: vec![true, true, false, true]
            }
        );
        assert!(err.is_retryable());
        assert_eq!(log.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn large_requests_split_into_500_record_calls() {
        let requests = RequestCounter::default();
        let log = MemoryLog::new(requests.clone());
        publish(&log, &recs(1200), RetryPolicy::default())
            .await
            .unwrap();
        assert_eq!(requests.total(), 3);
    }
}
