//! The delivery queue port: webhook jobs in SQS, enqueued by fanout, consumed by deliver.

pub mod memory;
pub mod sqs;

use crate::error::Result;
use crate::job::{DeadLetter, DeliveryJob};
use async_trait::async_trait;
use std::time::Duration;

/// `SendMessageBatch` takes at most 10 entries…
pub const MAX_MESSAGES_PER_SEND: usize = 10;
/// …totalling at most 256 KiB.
pub const MAX_BYTES_PER_SEND: usize = 256 * 1024;

/// Enqueuing jobs.
#[async_trait]
pub trait DeliveryQueue: Send + Sync {
    /// Enqueues every job, bundled per endpoint ([`crate::job::pack_messages`]) and sent
    /// [`MAX_MESSAGES_PER_SEND`] messages per request. Entries the service rejects
    /// are retried; `Ok` means every job is in the queue. On `Err` some may be, so callers
    /// retry the whole call (deliver dedupes by `webhook-id`).
    ///
    /// The messages become visible after `delay` (at most 15 minutes; longer waits are chained
    /// with [`DeliveryJob::not_before`]).
    async fn enqueue(&self, jobs: &[DeliveryJob], delay: Duration) -> Result<()>;
}

/// Writing dead letters.
#[async_trait]
pub trait DeadLetterSink: Send + Sync {
    /// Sends every letter; `Ok` means all are in the dead-letter queue.
    async fn dead_letter(&self, letters: &[DeadLetter]) -> Result<()>;
}

/// A message received from the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// Message id.
    pub message_id: String,
    /// Handle for deleting it.
    pub receipt_handle: String,
    /// Body text.
    pub body: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
}

/// Consuming messages: what an SQS event-source mapping does.
#[async_trait]
pub trait QueueReader: Send + Sync {
    /// Up to `max` (≤ 10) visible messages, waiting up to `wait` for one. Received messages stay
    /// invisible for the queue's visibility timeout.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<ReceivedMessage>>;
    /// Deletes messages that were handled.
    async fn delete(&self, receipt_handles: &[String]) -> Result<()>;
    /// Makes received messages visible again at once (for listing without consuming).
    async fn release(&self, receipt_handles: &[String]) -> Result<()>;
}

#[async_trait]
impl<T: QueueReader + ?Sized> QueueReader for std::sync::Arc<T> {
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<ReceivedMessage>> {
        (**self).receive(max, wait).await
    }
    async fn delete(&self, receipt_handles: &[String]) -> Result<()> {
        (**self).delete(receipt_handles).await
    }
    async fn release(&self, receipt_handles: &[String]) -> Result<()> {
        (**self).release(receipt_handles).await
    }
}

/// Splits message bodies into index ranges that each fit one `SendMessageBatch`.
pub fn send_batches(bodies: &[String]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, b) in bodies.iter().enumerate() {
        if i > start && (i - start == MAX_MESSAGES_PER_SEND || bytes + b.len() > MAX_BYTES_PER_SEND)
        {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += b.len();
    }
    if start < bodies.len() {
        out.push(start..bodies.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_of_ten_within_the_byte_limit() {
        let small: Vec<String> = (0..25).map(|_| "x".repeat(100)).collect();
        assert_eq!(send_batches(&small), vec![0..10, 10..20, 20..25]);
        let big: Vec<String> = (0..4).map(|_| "x".repeat(100 * 1024)).collect();
        assert_eq!(send_batches(&big), vec![0..2, 2..4]);
    }
}
