//! An SQS event-source mapping: receives messages, invokes a handler with an `SqsEvent` shaped
//! like Lambda's, deletes the messages that succeeded and leaves the failures, which reappear
//! after the queue's visibility timeout (and go to the DLQ by the queue's redrive policy).
//! With a function timeout, each invocation is given its deadline and stopped there, as Lambda
//! does: then every message of the batch is left for redelivery.

use super::invoke_until;
use crate::error::Result;
use crate::queue::{QueueReader, ReceivedMessage};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Mapping settings, named as in `AWS::Lambda::EventSourceMapping`.
#[derive(Debug, Clone)]
pub struct SqsMapping {
    /// Queue ARN put in each record's `eventSourceARN`.
    pub queue_arn: String,
    /// `BatchSize` (at most 10 per receive).
    pub batch_size: usize,
    /// Long-poll wait per receive.
    pub wait: Duration,
    /// The function's `Timeout`: each invocation gets a deadline this far away and is stopped
    /// at it. `None`: no deadline.
    pub timeout: Option<Duration>,
}

impl Default for SqsMapping {
    fn default() -> Self {
        Self {
            queue_arn: "arn:aws:sqs:us-east-1:000000000000:burstline-deliveries".into(),
            batch_size: 10,
            wait: Duration::ZERO,
            timeout: None,
        }
    }
}

/// What one poll did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollStats {
    /// Messages received.
    pub received: usize,
    /// Messages the handler completed (deleted).
    pub deleted: usize,
    /// Messages left for redelivery.
    pub failed: usize,
}

/// Drives a queue into a handler.
#[derive(Debug)]
pub struct SqsDriver<Q> {
    queue: Q,
    mapping: SqsMapping,
}

impl<Q: QueueReader> SqsDriver<Q> {
    /// A driver for `queue`.
    pub fn new(queue: Q, mapping: SqsMapping) -> Self {
        Self { queue, mapping }
    }

    /// Receives one batch, invokes the handler with the event and the invocation's deadline,
    /// deletes the successes.
    pub async fn poll_once<F, Fut>(&self, handler: &F) -> Result<PollStats>
    where
        F: Fn(SqsEvent, Option<Instant>) -> Fut,
        Fut: Future<Output = Result<SqsBatchResponse, String>> + Send + 'static,
    {
        let messages = self
            .queue
            .receive(self.mapping.batch_size, self.mapping.wait)
            .await?;
        if messages.is_empty() {
            return Ok(PollStats::default());
        }
        let event = lambda_event(&messages, &self.mapping.queue_arn);
        let deadline = self.mapping.timeout.map(|t| Instant::now() + t);
        let failed_ids: Vec<String> = match invoke_until(handler(event, deadline), deadline).await {
            Ok(Ok(resp)) => resp
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier)
                .collect(),
            Ok(Err(e)) | Err(e) => {
                tracing::warn!(error = %e, messages = messages.len(), "deliver invocation failed");
                messages.iter().map(|m| m.message_id.clone()).collect()
            }
        };
        let done: Vec<String> = messages
            .iter()
            .filter(|m| !failed_ids.contains(&m.message_id))
            .map(|m| m.receipt_handle.clone())
            .collect();
        self.queue.delete(&done).await?;
        Ok(PollStats {
            received: messages.len(),
            deleted: done.len(),
            failed: messages.len() - done.len(),
        })
    }
}

/// An `SqsEvent` exactly as Lambda sends it.
pub fn lambda_event(messages: &[ReceivedMessage], queue_arn: &str) -> SqsEvent {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            serde_json::json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": {
                    "ApproximateReceiveCount": m.receive_count.to_string(),
                    "SentTimestamp": chrono::Utc::now().timestamp_millis().to_string(),
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::DeliveryJob;
    use crate::queue::DeliveryQueue;
    use crate::queue::memory::MemoryQueue;
    use crate::requests::RequestCounter;
    use aws_lambda_events::event::sqs::BatchItemFailure;

    fn job(n: u64) -> DeliveryJob {
        serde_json::from_value(serde_json::json!({
            "tenant_id": "acme", "task_id": "t", "endpoint_id": "ep_1",
            "events": [{"seq": n, "id": format!("e{n}"), "type": "x"}],
            "through": {"shard_id": "s", "sequence_number": "1"}
        }))
        .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn deletes_successes_and_leaves_failures() {
        let q = MemoryQueue::new(Duration::from_secs(30), RequestCounter::default());
        for n in 1..=3 {
            q.enqueue(&[job(n)], Duration::ZERO).await.unwrap();
        }
        let driver = SqsDriver::new(q.clone(), SqsMapping::default());
        let handler = |ev: SqsEvent, _| async move {
            let mut resp = SqsBatchResponse::default();
            for m in &ev.records {
                if m.body.as_deref().is_some_and(|b| b.contains("\"e2\"")) {
                    let mut f = BatchItemFailure::default();
                    f.item_identifier = m.message_id.clone().unwrap_or_default();
                    resp.batch_item_failures.push(f);
                }
            }
            Ok(resp)
        };
        let stats = driver.poll_once(&handler).await.unwrap();
        assert_eq!(
            stats,
            PollStats {
                received: 3,
                deleted: 2,
                failed: 1
            }
        );
        assert_eq!(q.jobs().len(), 1);
        assert_eq!(q.jobs()[0].events[0].seq.0, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_crashed_invocation_deletes_nothing() {
        let q = MemoryQueue::new(Duration::from_secs(30), RequestCounter::default());
        q.enqueue(&[job(1)], Duration::ZERO).await.unwrap();
        let driver = SqsDriver::new(q.clone(), SqsMapping::default());
        let handler = |_ev: SqsEvent, _| async move {
            if true {
                panic!("crash");
            }
            Ok(SqsBatchResponse::default())
        };
        let stats = driver.poll_once(&handler).await.unwrap();
        assert_eq!(stats.failed, 1);
        assert_eq!(q.jobs().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn invocations_get_their_deadline_and_are_stopped_there() {
        let q = MemoryQueue::new(Duration::from_secs(30), RequestCounter::default());
        q.enqueue(&[job(1)], Duration::ZERO).await.unwrap();
        let mapping = SqsMapping {
            timeout: Some(Duration::from_secs(120)),
            ..SqsMapping::default()
        };
        let driver = SqsDriver::new(q.clone(), mapping);
        let start = Instant::now();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
        let handler = |_ev: SqsEvent, deadline: Option<Instant>| {
            let seen = seen.clone();
            async move {
                *seen.lock().unwrap() = deadline;
                // Runs past its deadline, as a handler that ignores it would.
                tokio::time::sleep(Duration::from_secs(300)).await;
                Ok(SqsBatchResponse::default())
            }
        };
        let stats = driver.poll_once(&handler).await.unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            Some(start + Duration::from_secs(120))
        );
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(120),
            "stopped at the deadline"
        );
        assert_eq!(stats.failed, 1, "a timed-out invocation deletes nothing");
        assert_eq!(q.jobs().len(), 1);
    }
}
