//! [`DeliveryQueue`], [`DeadLetterSink`] and [`QueueReader`] under the model, as `SqsQueue`
//! makes its requests: sends in batches of 10 with up to 8 in flight; deletes and releases in
//! batches of 10, one after another.

use super::Modeled;
use super::latency::{chunk_sizes, pause};
use crate::aws::MAX_CONCURRENT_REQUESTS;
use crate::error::Result;
use crate::job::{DeadLetter, DeliveryJob};
use crate::queue::{
    DeadLetterSink, DeliveryQueue, MAX_MESSAGES_PER_SEND, QueueReader, ReceivedMessage,
};
use async_trait::async_trait;
use std::time::Duration;

impl<T: ?Sized> Modeled<T> {
    async fn send(&self, messages: usize) {
        let batches = chunk_sizes(messages, MAX_MESSAGES_PER_SEND);
        let took = self
            .model
            .concurrent("sqs:SendMessageBatch", &batches, MAX_CONCURRENT_REQUESTS);
        pause(took).await;
    }
}

#[async_trait]
impl<T: DeliveryQueue + ?Sized> DeliveryQueue for Modeled<T> {
    async fn enqueue(&self, jobs: &[DeliveryJob], delay: Duration) -> Result<()> {
        let out = self.inner.enqueue(jobs, delay).await;
        self.send(jobs.len()).await;
        out
    }
}

#[async_trait]
impl<T: DeadLetterSink + ?Sized> DeadLetterSink for Modeled<T> {
    async fn dead_letter(&self, letters: &[DeadLetter]) -> Result<()> {
        let out = self.inner.dead_letter(letters).await;
        self.send(letters.len()).await;
        out
    }
}

#[async_trait]
impl<T: QueueReader + ?Sized> QueueReader for Modeled<T> {
    /// The inner queue waits (long polling) as SQS does; the request's own latency is added.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<ReceivedMessage>> {
        let out = self.inner.receive(max, wait).await;
        let items = out.as_ref().map_or(0, Vec::len);
        pause(self.model.request("sqs:ReceiveMessage", items)).await;
        out
    }
    async fn delete(&self, receipt_handles: &[String]) -> Result<()> {
        let out = self.inner.delete(receipt_handles).await;
        let batches = chunk_sizes(receipt_handles.len(), MAX_MESSAGES_PER_SEND);
        pause(self.model.in_turn("sqs:DeleteMessageBatch", &batches)).await;
        out
    }
    async fn release(&self, receipt_handles: &[String]) -> Result<()> {
        let out = self.inner.release(receipt_handles).await;
        let batches = chunk_sizes(receipt_handles.len(), MAX_MESSAGES_PER_SEND);
        pause(
            self.model
                .in_turn("sqs:ChangeMessageVisibilityBatch", &batches),
        )
        .await;
        out
    }
}
