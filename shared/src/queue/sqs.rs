//! [`DeliveryQueue`] and [`QueueReader`] on Amazon SQS. A batch SQS refuses (see
//! [`super::limits`]), as a whole or per entry for the sender's fault, comes back as
//! [`Error::Refused`], as from the in-memory queue; it is never resent.

use super::billed;
use super::{DeadLetterSink, DeliveryQueue, QueueReader, ReceivedMessage, send_batches};
use crate::aws::{MAX_CONCURRENT_REQUESTS, sdk_error};
use crate::error::{Error, Result};
use crate::iam::Actions;
use crate::job::{DeadLetter, DeliveryJob, Outgoing, pack_grouped};
use crate::requests::RequestCounter;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use futures_util::stream::{self, StreamExt};
use std::time::Duration;

/// Attempts per batch before giving up on entries SQS keeps rejecting.
const SEND_ATTEMPTS: u32 = 4;

/// An SQS queue, addressed by URL.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
    requests: RequestCounter,
}

impl SqsQueue {
    /// IAM actions of [`DeliveryQueue::enqueue`] (`SendMessageBatch`).
    pub const ENQUEUE: Actions = &["sqs:SendMessage"];
    /// IAM actions of [`DeadLetterSink::dead_letter`] (`SendMessageBatch`).
    pub const DEAD_LETTER: Actions = &["sqs:SendMessage"];
    /// IAM actions of [`QueueReader::receive`].
    pub const RECEIVE: Actions = &["sqs:ReceiveMessage"];
    /// IAM actions of [`QueueReader::delete`] (`DeleteMessageBatch`).
    pub const DELETE: Actions = &["sqs:DeleteMessage"];
    /// IAM actions of [`QueueReader::release`] (`ChangeMessageVisibilityBatch`).
    pub const RELEASE: Actions = &["sqs:ChangeMessageVisibility"];

    /// Uses the queue at `url`.
    pub fn new(client: Client, url: impl Into<String>, requests: RequestCounter) -> Self {
        Self {
            client,
            url: url.into(),
            requests,
        }
    }

    /// Sends one batch; returns the indexes (into `bodies`) that SQS rejected for a reason of
    /// its own. An entry rejected for the sender's fault (a message too large, a delay over
    /// 900 s) is a refusal: no resend can cure it.
    async fn send_batch(
        &self,
        messages: &[Outgoing],
        indexes: &[usize],
        delay: Duration,
    ) -> Result<Vec<usize>> {
        // Not clamped: SQS refuses a delay over 900 s, and so does the in-memory queue.
        let delay_seconds = i32::try_from(delay.as_secs()).unwrap_or(i32::MAX);
        let entries = indexes
            .iter()
            .map(|&i| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&messages[i].body)
                    // Fair queues: a standard queue takes MessageGroupId for fairness only
                    // (no ordering, no deduplication, no per-group throughput limit).
                    .message_group_id(&messages[i].group)
                    .delay_seconds(delay_seconds)
                    .build()
                    .map_err(|e| Error::Internal(e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let payload = indexes.iter().map(|&i| messages[i].body.len()).sum();
        self.requests
            .record_billed("sqs:SendMessageBatch", &[billed(payload)]);
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| sdk_error("SendMessageBatch", e))?;
        if let Some(f) = out.failed().iter().find(|f| f.sender_fault()) {
            return Err(Error::Refused {
                operation: "SendMessageBatch",
                reason: format!(
                    "entry {}: {}: {}",
                    f.id(),
                    f.code(),
                    f.message().unwrap_or_default()
                ),
            });
        }
        out.failed()
            .iter()
            .map(|f| {
                f.id()
                    .parse()
                    .map_err(|_| Error::Internal("SQS returned an unknown entry id".into()))
            })
            .collect()
    }

    /// Sends messages in batches, up to [`MAX_CONCURRENT_REQUESTS`] at once (messages of a
    /// standard queue have no order to keep), retrying entries SQS rejects. Fails if any batch
    /// failed; the others are sent regardless (jobs are delivered at least once).
    async fn send_all(&self, messages: &[Outgoing], delay: Duration) -> Result<()> {
        let bodies: Vec<String> = messages.iter().map(|m| m.body.clone()).collect();
        let sent: Vec<Result<()>> = stream::iter(
            send_batches(&bodies)
                .into_iter()
                .map(|range| self.send_range(messages, range, delay)),
        )
        .buffer_unordered(MAX_CONCURRENT_REQUESTS)
        .collect()
        .await;
        sent.into_iter().collect()
    }

    /// One `SendMessageBatch` of `messages[range]`, resending rejected entries with backoff.
    async fn send_range(
        &self,
        messages: &[Outgoing],
        range: std::ops::Range<usize>,
        delay: Duration,
    ) -> Result<()> {
        let mut pending: Vec<usize> = range.collect();
        let mut backoff = Duration::from_millis(50);
        for attempt in 1..=SEND_ATTEMPTS {
            pending = self.send_batch(messages, &pending, delay).await?;
            if pending.is_empty() {
                break;
            }
            if attempt == SEND_ATTEMPTS {
                return Err(Error::Aws {
                    operation: "SendMessageBatch",
                    message: format!(
                        "{} entries still rejected after {SEND_ATTEMPTS} attempts",
                        pending.len()
                    ),
                    retryable: true,
                });
            }
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
        Ok(())
    }
}

#[async_trait]
impl DeliveryQueue for SqsQueue {
    async fn enqueue(&self, jobs: &[DeliveryJob], delay: Duration) -> Result<()> {
        self.send_all(&pack_grouped(jobs), delay).await
    }
}

#[async_trait]
impl DeadLetterSink for SqsQueue {
    async fn dead_letter(&self, letters: &[DeadLetter]) -> Result<()> {
        let messages: Vec<Outgoing> = letters.iter().map(DeadLetter::to_outgoing).collect();
        self.send_all(&messages, Duration::ZERO).await
    }
}

#[async_trait]
impl QueueReader for SqsQueue {
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<ReceivedMessage>> {
        self.requests.record_billed("sqs:ReceiveMessage", &[]);
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
            .wait_time_seconds(i32::try_from(wait.as_secs().min(20)).unwrap_or(20))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .map_err(|e| sdk_error("ReceiveMessage", e))?;
        let payload = out
            .messages()
            .iter()
            .map(|m| m.body().unwrap_or_default().len())
            .sum();
        self.requests
            .record_units("sqs:ReceiveMessage", &[billed(payload)]);
        Ok(out
            .messages()
            .iter()
            .map(|m| ReceivedMessage {
                message_id: m.message_id().unwrap_or_default().to_owned(),
                receipt_handle: m.receipt_handle().unwrap_or_default().to_owned(),
                body: m.body().unwrap_or_default().to_owned(),
                receive_count: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1),
                group: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                    .cloned(),
            })
            .collect())
    }

    async fn delete(&self, receipt_handles: &[String]) -> Result<()> {
        for chunk in receipt_handles.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(h)
                        .build()
                        .map_err(|e| Error::Internal(e.to_string()))
                })
                .collect::<Result<Vec<_>>>()?;
            self.requests.record("sqs:DeleteMessageBatch");
            let out = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sdk_error("DeleteMessageBatch", e))?;
            if !out.failed().is_empty() {
                // Undeleted messages reappear after the visibility timeout: a duplicate, never a loss.
                tracing::warn!(
                    failed = out.failed().len(),
                    "some messages could not be deleted"
                );
            }
        }
        Ok(())
    }

    async fn release(&self, receipt_handles: &[String]) -> Result<()> {
        for chunk in receipt_handles.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(h)
                        .visibility_timeout(0)
                        .build()
                        .map_err(|e| Error::Internal(e.to_string()))
                })
                .collect::<Result<Vec<_>>>()?;
            self.requests.record("sqs:ChangeMessageVisibilityBatch");
            self.client
                .change_message_visibility_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sdk_error("ChangeMessageVisibilityBatch", e))?;
        }
        Ok(())
    }
}
