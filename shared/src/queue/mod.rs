//! The delivery queue port: webhook jobs in SQS, enqueued by fanout, consumed by deliver.

pub mod limits;
pub mod memory;
pub mod sqs;

use crate::error::Result;
use crate::job::{DeadLetter, DeliveryJob};
use async_trait::async_trait;
use std::time::Duration;

pub use limits::{MAX_BYTES_PER_SEND, MAX_MESSAGE_BYTES, MAX_MESSAGES_PER_SEND, send_batches};

/// Enqueuing jobs.
#[async_trait]
pub trait DeliveryQueue: Send + Sync {
    /// Enqueues every job, bundled per endpoint ([`crate::job::pack_grouped`]) and sent
    /// [`MAX_MESSAGES_PER_SEND`] messages per request, each with `MessageGroupId` = its tenant
    /// (SQS fair queues; see `docs/architecture.md`). Entries the service rejects
    /// are retried; `Ok` means every job is in the queue. On `Err` some may be, so callers
    /// retry the whole call (deliver dedupes by `webhook-id`).
    ///
    /// The messages become visible after `delay`, in whole seconds. SQS allows at most 15
    /// minutes; a longer `delay` is refused ([`crate::Error::Refused`], nothing sent), so callers
    /// chain longer waits with [`DeliveryJob::not_before`] and [`crate::schedule::sqs_delay`].
    /// A message over the queue's size limit ([`MAX_MESSAGE_BYTES`]) is refused likewise, on
    /// every adapter; messages before it in the same call may have been sent.
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
    /// Its `MessageGroupId` (the tenant, for jobs and dead letters), if sent with one.
    pub group: Option<String>,
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

/// The SQS billed requests of one request carrying `payload_bytes` of bodies: what both
/// adapters book for each send and receive.
pub(crate) fn billed(payload_bytes: usize) -> (crate::requests::Unit, u64) {
    (
        crate::requests::Unit::SqsBilledRequests,
        crate::meter::units::sqs_billed_requests(payload_bytes),
    )
}
