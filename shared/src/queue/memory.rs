//! In-memory [`DeliveryQueue`] and [`QueueReader`] with SQS's visibility-timeout semantics.
//! Each `SendMessageBatch` it stands in for is refused exactly when SQS would refuse it
//! ([`send_refusal`]): too many entries, a message over the queue's size limit, a delay over
//! 15 minutes.

use super::limits::send_refusal;
use super::{DeadLetterSink, DeliveryQueue, QueueReader, ReceivedMessage, billed, send_batches};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::job::{DeadLetter, DeliveryJob, Outgoing, pack_grouped};
use crate::requests::RequestCounter;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug)]
struct Message {
    id: u64,
    body: String,
    /// `MessageGroupId`, recorded as SQS records it on a standard queue.
    group: Option<String>,
    visible_at: DateTime<Utc>,
    receive_count: u32,
    receipt: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    messages: Vec<Message>,
    next_id: u64,
}

/// A queue held in memory, on an injectable clock. Cloning shares it.
#[derive(Debug, Clone)]
pub struct MemoryQueue {
    inner: Arc<Mutex<Inner>>,
    visibility: Duration,
    requests: RequestCounter,
    clock: Arc<dyn Clock>,
    redrive: Option<Redrive>,
}

/// SQS's `RedrivePolicy`: a message received `max_receive_count` times and still not deleted
/// moves to the dead-letter queue instead of being received again.
#[derive(Debug, Clone)]
struct Redrive {
    target: Arc<Mutex<Inner>>,
    max_receive_count: u32,
}

impl MemoryQueue {
    /// An empty queue whose received messages stay hidden for `visibility`.
    pub fn new(visibility: Duration, requests: RequestCounter) -> Self {
        Self::with_clock(visibility, requests, Arc::new(SystemClock))
    }

    /// The same on `clock`: delays and visibility timeouts follow it.
    pub fn with_clock(
        visibility: Duration,
        requests: RequestCounter,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inner: Arc::default(),
            visibility,
            requests,
            clock,
            redrive: None,
        }
    }

    /// Adds a redrive policy: after `max_receive_count` receives, a message moves to `dlq`
    /// (as the raw body, like SQS), where `burstline dlq redrive` can find it.
    #[must_use]
    pub fn with_redrive(mut self, dlq: &MemoryQueue, max_receive_count: u32) -> Self {
        self.redrive = Some(Redrive {
            target: dlq.inner.clone(),
            max_receive_count: max_receive_count.max(1),
        });
        self
    }

    /// Moves visible messages that exhausted their receives to the redrive target.
    fn redrive_exhausted(&self, inner: &mut Inner, now: DateTime<Utc>) -> Result<()> {
        let Some(redrive) = &self.redrive else {
            return Ok(());
        };
        let (dead, live): (Vec<Message>, Vec<Message>) = std::mem::take(&mut inner.messages)
            .into_iter()
            .partition(|m| m.visible_at <= now && m.receive_count >= redrive.max_receive_count);
        inner.messages = live;
        if dead.is_empty() {
            return Ok(());
        }
        let mut target = redrive
            .target
            .lock()
            .map_err(|_| Error::Internal("memory dead-letter queue lock poisoned".into()))?;
        for m in dead {
            target.next_id += 1;
            let id = target.next_id;
            target.messages.push(Message {
                id,
                body: m.body,
                group: m.group,
                visible_at: now,
                receive_count: 0,
                receipt: None,
            });
        }
        Ok(())
    }

    fn later(&self, by: Duration) -> DateTime<Utc> {
        self.clock.now() + chrono::Duration::from_std(by).unwrap_or_default()
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

    /// Every dead letter in the queue, decoded.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.bodies()
            .iter()
            .filter_map(|b| serde_json::from_str::<crate::job::DlqMessage>(b).ok())
            .filter_map(|m| match m {
                crate::job::DlqMessage::Dead { dead_letter } => Some(*dead_letter),
                crate::job::DlqMessage::Raw(_) => None,
            })
            .collect()
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

impl MemoryQueue {
    /// Appends bodies, visible after `delay` (whole seconds, like `DelaySeconds`), one
    /// `SendMessageBatch` per [`send_batches`] range; a batch SQS would refuse is refused.
    fn send_all(&self, messages: &[Outgoing], delay: Duration) -> Result<()> {
        let delay = Duration::from_secs(delay.as_secs());
        let bodies: Vec<String> = messages.iter().map(|m| m.body.clone()).collect();
        let bodies = &bodies;
        for range in send_batches(bodies) {
            let payload = bodies[range.clone()].iter().map(String::len).sum();
            self.requests
                .record_billed("sqs:SendMessageBatch", &[billed(payload)]);
            if let Some(reason) = send_refusal(&bodies[range.clone()], delay) {
                return Err(Error::Refused {
                    operation: "SendMessageBatch",
                    reason,
                });
            }
            let mut inner = self.lock()?;
            for message in &messages[range] {
                inner.next_id += 1;
                let id = inner.next_id;
                inner.messages.push(Message {
                    id,
                    body: message.body.clone(),
                    group: Some(message.group.clone()),
                    visible_at: self.later(delay),
                    receive_count: 0,
                    receipt: None,
                });
            }
        }
        Ok(())
    }
}

#[async_trait]
impl DeliveryQueue for MemoryQueue {
    async fn enqueue(&self, jobs: &[DeliveryJob], delay: Duration) -> Result<()> {
        self.send_all(&pack_grouped(jobs), delay)
    }
}

#[async_trait]
impl DeadLetterSink for MemoryQueue {
    async fn dead_letter(&self, letters: &[DeadLetter]) -> Result<()> {
        let messages: Vec<Outgoing> = letters.iter().map(DeadLetter::to_outgoing).collect();
        self.send_all(&messages, Duration::ZERO)
    }
}

#[async_trait]
impl QueueReader for MemoryQueue {
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<ReceivedMessage>> {
        self.requests.record_billed("sqs:ReceiveMessage", &[]);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let now = self.clock.now();
            let visible_until = self.later(self.visibility);
            let got: Vec<ReceivedMessage> = {
                let mut inner = self.lock()?;
                self.redrive_exhausted(&mut inner, now)?;
                inner
                    .messages
                    .iter_mut()
                    .filter(|m| m.visible_at <= now)
                    .take(max.clamp(1, 10))
                    .map(|m| {
                        m.receive_count += 1;
                        m.visible_at = visible_until;
                        let receipt = format!("{}-{}", m.id, m.receive_count);
                        m.receipt = Some(receipt.clone());
                        ReceivedMessage {
                            message_id: m.id.to_string(),
                            receipt_handle: receipt,
                            body: m.body.clone(),
                            receive_count: m.receive_count,
                            group: m.group.clone(),
                        }
                    })
                    .collect()
            };
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !got.is_empty() || left.is_zero() {
                let payload = got.iter().map(|m| m.body.len()).sum();
                self.requests
                    .record_units("sqs:ReceiveMessage", &[billed(payload)]);
                return Ok(got);
            }
            tokio::time::sleep(Duration::from_millis(20).min(left)).await;
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

    async fn release(&self, receipt_handles: &[String]) -> Result<()> {
        for _ in receipt_handles.chunks(10) {
            self.requests.record("sqs:ChangeMessageVisibilityBatch");
        }
        let now = self.clock.now();
        let mut inner = self.lock()?;
        for m in inner.messages.iter_mut() {
            if m.receipt
                .as_ref()
                .is_some_and(|r| receipt_handles.contains(r))
            {
                m.visible_at = now;
            }
        }
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

    #[tokio::test]
    async fn a_message_received_too_often_moves_to_the_dead_letter_queue() {
        let clock = crate::clock::ManualClock::new(Utc::now());
        let dlq = MemoryQueue::with_clock(
            Duration::from_secs(30),
            RequestCounter::default(),
            Arc::new(clock.clone()),
        );
        let q = MemoryQueue::with_clock(
            Duration::from_secs(30),
            RequestCounter::default(),
            Arc::new(clock.clone()),
        )
        .with_redrive(&dlq, 2);
        q.enqueue(&[job(1)], Duration::ZERO).await.unwrap();
        for _ in 0..2 {
            assert_eq!(q.receive(10, Duration::ZERO).await.unwrap().len(), 1);
            clock.advance(Duration::from_secs(31));
        }
        assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
        assert_eq!(dlq.jobs(), vec![job(1)]);
        let moved = dlq.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(moved.len(), 1, "the raw body is in the DLQ, receivable");
    }

    #[tokio::test]
    async fn unacked_messages_reappear_after_the_visibility_timeout() {
        let clock = crate::clock::ManualClock::new(Utc::now());
        let q = MemoryQueue::with_clock(
            Duration::from_secs(30),
            RequestCounter::default(),
            Arc::new(clock.clone()),
        );
        // Separate enqueues make separate messages (one call bundles per endpoint).
        q.enqueue(&[job(1)], Duration::ZERO).await.unwrap();
        q.enqueue(&[job(2)], Duration::ZERO).await.unwrap();
        let first = q.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(first.len(), 2);
        q.delete(&[first[0].receipt_handle.clone()]).await.unwrap();
        assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
        clock.advance(Duration::from_secs(31));
        let again = q.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].body, first[1].body);
        assert_eq!(again[0].receive_count, 2);
        // The first receive's handle is stale now and deletes nothing.
        q.delete(&[first[1].receipt_handle.clone()]).await.unwrap();
        assert_eq!(q.bodies().len(), 1);
    }

    #[tokio::test]
    async fn delayed_messages_wait_their_delay() {
        let clock = crate::clock::ManualClock::new(Utc::now());
        let q = MemoryQueue::with_clock(
            Duration::from_secs(30),
            RequestCounter::default(),
            Arc::new(clock.clone()),
        );
        q.enqueue(&[job(1)], Duration::from_secs(600))
            .await
            .unwrap();
        assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
        clock.advance(Duration::from_secs(599));
        assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
        clock.advance(Duration::from_secs(1));
        assert_eq!(q.receive(10, Duration::ZERO).await.unwrap().len(), 1);
    }
}
