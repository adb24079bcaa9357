//! Records set aside, and how the tenant learns of them (SPEC §4.6): a
//! `burstline.event.rejected` event in the tenant's own log, under the task
//! `burstline.rejections`, appended to Kinesis like any accepted event.
//!
//! A record is set aside when its id belongs to another task of the tenant (`id_conflict`) or
//! when DynamoDB refuses to store it for a reason no retry can cure (`store_refused`). The
//! rejection's id is derived from the record's shard and sequence number, so a retried
//! invocation files it again under the same id and the store keeps one.

use burstline::event::{EventType, NewEvent};
use burstline::head::StreamPosition;
use burstline::ids::{EventId, TaskId, TenantId};
use burstline::log::{EventLog, LogRecord, PutResult, put_batches};
use burstline::sequence::Incoming;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// The task rejection events are filed under, in the tenant's log.
pub const REJECTIONS_TASK: &str = "burstline.rejections";
/// The type of a rejection event.
pub const REJECTED_TYPE: &str = "burstline.event.rejected";
/// Longest service message a rejection repeats.
const MAX_MESSAGE_CHARS: usize = 300;

/// Why a record was set aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Its id belongs to another task of the tenant.
    IdConflict,
    /// DynamoDB refuses to store it, every time.
    StoreRefused,
}

impl Reason {
    /// The code in the rejection event's data.
    pub fn code(self) -> &'static str {
        match self {
            Reason::IdConflict => "id_conflict",
            Reason::StoreRefused => "store_refused",
        }
    }
}

/// A record set aside, with what its tenant is told.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The record's place in the stream; the rejection's id derives from it.
    pub position: StreamPosition,
    /// The tenant of the record.
    pub tenant_id: TenantId,
    /// The task the event was sent for.
    pub task_id: TaskId,
    /// The event's id.
    pub event_id: EventId,
    /// The event's type.
    pub event_type: EventType,
    /// Why it was set aside.
    pub reason: Reason,
    /// A sentence for the tenant: which task holds the id, or what DynamoDB said.
    pub message: String,
}

impl Rejection {
    /// An id conflict: `holder` owns the record's id (`stored`: already in the store, else
    /// first sent earlier in the same batch).
    pub fn id_conflict(record: &Incoming, holder: &TaskId, stored: bool) -> Self {
        let id = &record.event.id;
        let message = if stored {
            format!("event id {id} is already stored for task {holder}")
        } else {
            format!("event id {id} was first sent for task {holder}")
        };
        Self::new(record, Reason::IdConflict, message)
    }

    /// A record DynamoDB refused to store; `refusal` is the service's reason.
    pub fn store_refused(record: &Incoming, refusal: &str) -> Self {
        let refusal: String = refusal.chars().take(MAX_MESSAGE_CHARS).collect();
        Self::new(
            record,
            Reason::StoreRefused,
            format!("the event store refused the event: {refusal}"),
        )
    }

    fn new(record: &Incoming, reason: Reason, message: String) -> Self {
        Self {
            position: record.position.clone(),
            tenant_id: record.event.tenant_id.clone(),
            task_id: record.event.task_id.clone(),
            event_id: record.event.id.clone(),
            event_type: record.event.event_type.clone(),
            reason,
            message,
        }
    }

    /// Whether the record is itself a rejection event's task: such records are never
    /// answered with another rejection, so setting one aside cannot loop.
    pub fn is_of_rejections_task(&self) -> bool {
        self.task_id.as_str() == REJECTIONS_TASK
    }

    /// The `burstline.event.rejected` event that tells the tenant.
    pub fn event(&self, now: DateTime<Utc>) -> NewEvent {
        NewEvent {
            id: rejection_id(&self.position),
            event_type: EventType::parse(REJECTED_TYPE).expect("a valid constant type"),
            tenant_id: self.tenant_id.clone(),
            task_id: TaskId::parse(REJECTIONS_TASK).expect("a valid constant task id"),
            time: now,
            data: serde_json::json!({
                "event_id": self.event_id,
                "task_id": self.task_id,
                "type": self.event_type,
                "reason": self.reason.code(),
                "message": self.message,
            }),
        }
    }
}

/// The rejection event's id: `rej_` + 32 hex characters hashed from the record's shard and
/// sequence number (which together exceed an id's 64 characters).
pub fn rejection_id(position: &StreamPosition) -> EventId {
    let digest = Sha256::digest(format!(
        "{}:{}",
        position.shard_id, position.sequence_number
    ));
    EventId::parse(&format!("rej_{}", hex::encode(&digest[..16])))
        .expect("rej_ and hex digits form a valid id")
}

/// Files rejection events in their tenants' logs (Kinesis `PutRecords`). Returns the
/// positions of the records whose rejection could not be filed: those must be retried, since
/// an event answered 202 is never dropped without a trace. Rejections of the rejections task
/// itself are never filed.
pub async fn file(
    log: &dyn EventLog,
    rejections: &[&Rejection],
    now: DateTime<Utc>,
) -> HashSet<StreamPosition> {
    let to_file: Vec<&Rejection> = rejections
        .iter()
        .copied()
        .filter(|r| !r.is_of_rejections_task())
        .collect();
    let records: Vec<LogRecord> = to_file
        .iter()
        .map(|r| {
            let event = r.event(now);
            LogRecord {
                partition_key: event.task_key().partition_key(),
                data: serde_json::to_vec(&event).unwrap_or_default(),
            }
        })
        .collect();
    let mut failed = HashSet::new();
    for range in put_batches(&records) {
        let batch = &to_file[range.clone()];
        match log.put(&records[range]).await {
            Ok(results) => {
                for (r, result) in batch.iter().zip(&results) {
                    if let PutResult::Rejected { code } = result {
                        tracing::warn!(sequence_number = %r.position.sequence_number, code, "filing a rejection was throttled");
                        failed.insert(r.position.clone());
                    }
                }
                // A short answer leaves the rest unknown: retry them.
                failed.extend(batch.iter().skip(results.len()).map(|r| r.position.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, rejections = batch.len(), "filing rejections failed");
                failed.extend(batch.iter().map(|r| r.position.clone()));
            }
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use burstline::log::memory::MemoryLog;

    fn record(task: &str, seq: &str) -> Incoming {
        Incoming {
            position: StreamPosition::new("shardId-000000000001", seq),
            event: NewEvent {
                id: "step-1".parse().unwrap(),
                event_type: "tool_call.started".parse().unwrap(),
                tenant_id: "acme".parse().unwrap(),
                task_id: task.parse().unwrap(),
                time: Utc::now(),
                data: serde_json::json!({"secret": "payload"}),
            },
        }
    }

    #[test]
    fn a_rejection_names_the_event_task_reason_and_holder() {
        let rec = record("b", "4960");
        let r = Rejection::id_conflict(&rec, &"a".parse().unwrap(), true);
        let ev = r.event(Utc::now());
        assert_eq!(ev.task_id.as_str(), REJECTIONS_TASK);
        assert_eq!(ev.event_type.as_str(), REJECTED_TYPE);
        assert_eq!(ev.tenant_id.as_str(), "acme");
        assert_eq!(ev.data["event_id"], "step-1");
        assert_eq!(ev.data["task_id"], "b");
        assert_eq!(ev.data["type"], "tool_call.started");
        assert_eq!(ev.data["reason"], "id_conflict");
        assert_eq!(
            ev.data["message"],
            "event id step-1 is already stored for task a"
        );
        assert!(ev.data.get("data").is_none(), "the payload is not repeated");
        let refused = Rejection::store_refused(&rec, &"x".repeat(1000));
        assert_eq!(refused.event(Utc::now()).data["reason"], "store_refused");
        assert!(refused.message.len() < 400);
    }

    #[test]
    fn the_id_is_derived_from_the_record_position_only() {
        let long_seq = "4".repeat(56);
        let a = rejection_id(&StreamPosition::new(
            "shardId-000000000001",
            long_seq.clone(),
        ));
        let again = rejection_id(&StreamPosition::new("shardId-000000000001", long_seq));
        let other = rejection_id(&StreamPosition::new("shardId-000000000002", "4"));
        assert_eq!(a, again);
        assert_ne!(a, other);
        assert!(a.as_str().starts_with("rej_") && a.as_str().len() == 36);
    }

    #[tokio::test]
    async fn filing_appends_to_the_tenant_log_except_for_the_rejections_task() {
        let log = MemoryLog::default();
        let conflict = Rejection::id_conflict(&record("b", "7"), &"a".parse().unwrap(), false);
        let own = Rejection::store_refused(&record(REJECTIONS_TASK, "8"), "too large");
        let failed = file(&log, &[&conflict, &own], Utc::now()).await;
        assert!(failed.is_empty());
        let records = log.records();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].partition_key, "acme/burstline.rejections");
        let filed: NewEvent = serde_json::from_slice(&records[0].data).unwrap();
        assert_eq!(filed.id, rejection_id(&conflict.position));

        let throttled = MemoryLog::default();
        throttled.reject_when(|_, _| true);
        let failed = file(&throttled, &[&conflict], Utc::now()).await;
        assert_eq!(failed, HashSet::from([conflict.position.clone()]));
    }
}
