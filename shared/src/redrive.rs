//! Putting dead letters back on the delivery queue (`burstline dlq redrive`).

use crate::error::{Error, Result};
use crate::ids::EndpointId;
use crate::job::{DeliveryJob, DlqMessage};
use crate::queue::{DeliveryQueue, QueueReader};
use std::time::Duration;

/// What a redrive did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedriveReport {
    /// Jobs put back (or that would be).
    pub jobs: Vec<DeliveryJob>,
    /// DLQ messages removed.
    pub removed: usize,
    /// DLQ messages left in place (other endpoints, or undecodable).
    pub left: usize,
}

/// Moves every dead letter (of `endpoint`, if given) back to the delivery queue with a fresh
/// retry schedule; the attempt history is kept. Redriven jobs go out as soon as they are
/// received, outside the endpoint × task order ([`DeliveryJob::chain`] is cleared): the
/// cursor moved past them when they were dead-lettered, so live traffic was not held back. Each message is deleted from the DLQ only after
/// its jobs are enqueued, so a crash in between re-sends rather than loses (deliveries dedupe by
/// `webhook-id`); running it again finds nothing left to do. `dry_run` reports without changes.
pub async fn redrive(
    dlq: &dyn QueueReader,
    queue: &dyn DeliveryQueue,
    endpoint: Option<&EndpointId>,
    dry_run: bool,
) -> Result<RedriveReport> {
    let mut report = RedriveReport::default();
    let mut untouched = Vec::new();
    loop {
        let messages = dlq.receive(10, Duration::ZERO).await?;
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let jobs = match serde_json::from_str::<DlqMessage>(&m.body) {
                Ok(msg) => msg.jobs(),
                Err(e) => {
                    tracing::warn!(message_id = %m.message_id, error = %e, "undecodable DLQ message left in place");
                    untouched.push(m.receipt_handle);
                    continue;
                }
            };
            let matches = endpoint.is_none_or(|ep| jobs.iter().any(|j| &j.endpoint_id == ep));
            if !matches {
                report.left += 1;
                untouched.push(m.receipt_handle);
                continue;
            }
            if dry_run {
                report.jobs.extend(jobs);
                untouched.push(m.receipt_handle);
                continue;
            }
            let fresh: Vec<DeliveryJob> = jobs
                .into_iter()
                .map(|mut j| {
                    j.attempt = 0;
                    j.not_before = None;
                    j.commit_waits = 0;
                    j.chain = None;
                    j
                })
                .collect();
            queue.enqueue(&fresh, Duration::ZERO).await?;
            dlq.delete(std::slice::from_ref(&m.receipt_handle)).await?;
            report.removed += 1;
            report.jobs.extend(fresh);
        }
    }
    // Everything not moved becomes visible again right away.
    dlq.release(&untouched)
        .await
        .map_err(|e| Error::Internal(format!("releasing DLQ messages: {e}")))?;
    Ok(report)
}
