//! [`DeliveryQueue`], [`DeadLetterSink`] and [`QueueReader`] under the model, as `SqsQueue`
//! makes its requests: jobs packed into messages per endpoint (`pack_grouped`), sent in
//! batches (`send_batches`: 10 messages or 256 KiB) with up to 8 in flight; deletes and
//! releases in batches of 10, one after another.

use super::Modeled;
use super::latency::{chunk_sizes, pause};
use crate::aws::MAX_CONCURRENT_REQUESTS;
use crate::error::Result;
use crate::job::{DeadLetter, DeliveryJob, Outgoing, pack_grouped};
use crate::queue::{
    DeadLetterSink, DeliveryQueue, MAX_MESSAGES_PER_SEND, QueueReader, ReceivedMessage,
    send_batches,
};
use async_trait::async_trait;
use std::time::Duration;

impl<T: ?Sized> Modeled<T> {
    async fn send(&self, messages: &[Outgoing]) {
        let bodies: Vec<String> = messages.iter().map(|m| m.body.clone()).collect();
        let batches: Vec<usize> = send_batches(&bodies).iter().map(|r| r.len()).collect();
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
        self.send(&pack_grouped(jobs)).await;
        out
    }
}

#[async_trait]
impl<T: DeadLetterSink + ?Sized> DeadLetterSink for Modeled<T> {
    async fn dead_letter(&self, letters: &[DeadLetter]) -> Result<()> {
        let out = self.inner.dead_letter(letters).await;
        let messages: Vec<Outgoing> = letters.iter().map(DeadLetter::to_outgoing).collect();
        self.send(&messages).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LatencyModel, LatencyTable};
    use crate::queue::memory::MemoryQueue;
    use crate::requests::RequestCounter;
    use std::sync::Arc;
    use tokio::time::Instant;

    fn job(endpoint: usize, seq: u64) -> DeliveryJob {
        serde_json::from_value(serde_json::json!({
            "tenant_id": "acme", "task_id": format!("t{seq}"), "endpoint_id": format!("ep_{endpoint}"),
            "events": [{"seq": seq, "id": format!("e{seq}"), "type": "x"}],
            "through": {"shard_id": "s", "sequence_number": "1"}
        }))
        .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn sends_take_the_slowest_of_their_concurrent_batches() {
        let mut table = LatencyTable::default_table();
        for d in table.operations.values_mut() {
            d.p99_ms = d.median_ms;
        }
        let send = table.operations["sqs:SendMessageBatch"];
        let queue = Modeled::new(
            Arc::new(MemoryQueue::new(
                Duration::from_secs(30),
                RequestCounter::default(),
            )),
            LatencyModel::new(table, 1),
        );
        // 25 endpoints: 25 messages, three batches (10, 10, 5) sent at once.
        let jobs: Vec<DeliveryJob> = (0..25).map(|i| job(i, i as u64 + 1)).collect();
        let started = Instant::now();
        queue.enqueue(&jobs, Duration::ZERO).await.unwrap();
        let full = Duration::from_secs_f64((send.median_ms + 10.0 * send.per_item_ms) / 1000.0);
        let took = started.elapsed();
        assert!(
            took >= full && took <= full + Duration::from_millis(1),
            "{took:?} vs {full:?}"
        );
    }
}
