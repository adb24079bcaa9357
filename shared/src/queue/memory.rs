//! In-memory [`DeliveryQueue`] and [`QueueReader`] with SQS's visibility-timeout semantics.

use super::{DeliveryQueue, QueueReader, ReceivedMessage, send_batches};
use crate::error::{Error, Result};
use crate::job::{DeliveryJob, pack_messages};
use crate::requests::RequestCounter;
use async_trait::async_trait;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug)]
struct Message {
    id: u64,
    body: String,
    visible_at: Instant,
    receive_count: u32,
    receipt: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    messages: Vec<Message>,
    next_id: u64,
}

/// A queue held in memory. Cloning shares it.
#[derive(Debug, Clone)]
pub struct MemoryQueue {
    inner: Arc<Mutex<Inner>>,
    visibility: Duration,
    requests: RequestCounter,
}

impl MemoryQueue {
    /// An empty queue whose received messages stay hidden for `visibility`.
    pub fn new(visibility: Duration, requests: RequestCounter) -> Self {
        Self {
            inner: Arc::default(),
            visibility,
            requests,
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>> {
        self.inner
            .lock()
            .map_err(|_| Error::Internal("memory queue lock poisoned".into()))
    }

    /// Bodies of every message in the queue, visible or not.
    pub fn bodies(&self) -> Vec<String> {
        self.inner
            .lock()
            .map(|i| i.messages.iter().map(|m| m.body.clone()).collect())
            .unwrap_or_default()
    }

    /// Every job in the queue, decoded.
    pub fn jobs(&self) -> Vec<DeliveryJob> {
        self.bodies()
            .iter()
            .filter_map(|b| crate::job::unpack_message(b).ok())
            .flatten()
            .collect()
    }
}

#[async_trait]
impl DeliveryQueue for MemoryQueue {
    async fn enqueue(&self, jobs: &[DeliveryJob]) -> Result<()> {
        let bodies = pack_messages(jobs);
        for range in send_batches(&bodies) {
            self.requests.record("sqs:SendMessageBatch");
            let mut inner = self.lock()?;
            for body in &bodies[range] {
                inner.next_id += 1;
                let id = inner.next_id;
                inner.messages.push(Message {
                    id,
                    body: body.clone(),
                    visible_at: Instant::now(),
                    receive_count: 0,
                    receipt: None,
                });
            }
        }
        Ok(())
    }
}

#[async_trait]
impl QueueReader for MemoryQueue {
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<ReceivedMessage>> {
        self.requests.record("sqs:ReceiveMessage");
        let deadline = Instant::now() + wait;
        loop {
            let now = Instant::now();
            let got: Vec<ReceivedMessage> = {
                let mut inner = self.lock()?;
                inner
                    .messages
                    .iter_mut()
                    .filter(|m| m.visible_at <= now)
                    .take(max.clamp(1, 10))
                    .map(|m| {
                        m.receive_count += 1;
                        m.visible_at = now + self.visibility;
                        let receipt = format!("{}-{}", m.id, m.receive_count);
                        m.receipt = Some(receipt.clone());
                        ReceivedMessage {
                            message_id: m.id.to_string(),
                            receipt_handle: receipt,
                            body: m.body.clone(),
                            receive_count: m.receive_count,
                        }
                    })
                    .collect()
            };
            if !got.is_empty() || now >= deadline {
                return Ok(got);
            }
            tokio::time::sleep(Duration::from_millis(20).min(deadline - now)).await;
        }
    }

    async fn delete(&self, receipt_handles: &[String]) -> Result<()> {
        for _ in receipt_handles.chunks(10) {
            self.requests.record("sqs:DeleteMessageBatch");
        }
        let mut inner = self.lock()?;
        // Like SQS, only the latest receipt deletes: a stale handle from an earlier receive
        // must not remove a message another consumer now holds.
        inner.messages.retain(|m| {
            m.receipt
                .as_ref()
                .is_none_or(|r| !receipt_handles.contains(r))
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(n: u64) -> DeliveryJob {
        serde_json::from_value(serde_json::json!({
            "tenant_id": "acme", "task_id": "t", "endpoint_id": "ep_1",
            "events": [{"seq": n, "id": format!("e{n}"), "type": "x"}],
            "through": {"shard_id": "s", "sequence_number": "1"}
        }))
        .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn unacked_messages_reappear_after_the_visibility_timeout() {
        let q = MemoryQueue::new(Duration::from_secs(30), RequestCounter::default());
        // Separate enqueues make separate messages (one call bundles per endpoint).
        q.enqueue(&[job(1)]).await.unwrap();
        q.enqueue(&[job(2)]).await.unwrap();
        let first = q.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(first.len(), 2);
        q.delete(&[first[0].receipt_handle.clone()]).await.unwrap();
        assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
        tokio::time::advance(Duration::from_secs(31)).await;
        let again = q.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].body, first[1].body);
        assert_eq!(again[0].receive_count, 2);
        // The first receive's handle is stale now and deletes nothing.
        q.delete(&[first[1].receipt_handle.clone()]).await.unwrap();
        assert_eq!(q.bodies().len(), 1);
    }
}
