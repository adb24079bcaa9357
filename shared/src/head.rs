//! A task's head: its status, how far its sequence has got, and which Kinesis record was
//! applied last. The head is what makes fanout's replays idempotent.

use crate::ids::{EndpointId, Seq, TaskKey};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Lifecycle of a task, driven by its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// No terminal event yet.
    Running,
    /// Ended by `task.completed`.
    Completed,
    /// Ended by `task.failed`.
    Failed,
    /// Ended by `task.cancelled`.
    Cancelled,
}

impl TaskStatus {
    /// Whether the task has ended.
    pub fn is_terminal(self) -> bool {
        self != TaskStatus::Running
    }

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Running => "running",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Running,
            Self::Completed,
            Self::Failed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// Where a record sits in Kinesis: shard and sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StreamPosition {
    /// Shard id, e.g. `shardId-000000000000`.
    pub shard_id: String,
    /// Kinesis sequence number: a decimal string of up to 128 digits.
    pub sequence_number: String,
}

impl StreamPosition {
    /// Builds a position.
    pub fn new(shard_id: impl Into<String>, sequence_number: impl Into<String>) -> Self {
        Self {
            shard_id: shard_id.into(),
            sequence_number: sequence_number.into(),
        }
    }

    /// Whether `self` is at or after `other` on the same shard. Positions on different shards
    /// are not comparable (`None`): after a reshard a task's records continue on a child shard,
    /// whose records Lambda delivers only once the parent is finished.
    pub fn at_or_after(&self, other: &StreamPosition) -> Option<bool> {
        (self.shard_id == other.shard_id)
            .then(|| compare_sequence_numbers(&self.sequence_number, &other.sequence_number))
            .map(|o| o != Ordering::Less)
    }
}

/// Compares Kinesis sequence numbers numerically (they exceed `u128`).
pub fn compare_sequence_numbers(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The head item of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskHead {
    /// Which task.
    pub key: TaskKey,
    /// Running or how it ended.
    pub status: TaskStatus,
    /// Highest assigned seq; events 1..=last_seq exist.
    pub last_seq: Seq,
    /// Seq of the terminal event, once there is one.
    pub terminal_seq: Option<Seq>,
    /// Last Kinesis record applied to this task: records at or before it are already stored.
    pub position: Option<StreamPosition>,
    /// When the first event was stored.
    pub created_at: DateTime<Utc>,
    /// When the head last changed.
    pub updated_at: DateTime<Utc>,
    /// Bumped by every commit; commits are conditional on it, so a zombie invocation's
    /// stale plan can never overwrite a newer head.
    pub version: u64,
    /// Per endpoint, the cursor value its last enqueued webhook job of this task leaves: where
    /// the endpoint's next job chains from ([`crate::delivery_order`]). Committed with the
    /// events, so committed plans chain without gaps. Absent: no job yet.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub chain_ends: BTreeMap<EndpointId, Seq>,
}

impl TaskHead {
    /// The head of a task that has no events yet.
    pub fn empty(key: TaskKey, now: DateTime<Utc>) -> Self {
        Self {
            key,
            status: TaskStatus::Running,
            last_seq: Seq(0),
            terminal_seq: None,
            position: None,
            created_at: now,
            updated_at: now,
            version: 0,
            chain_ends: BTreeMap::new(),
        }
    }

    /// Whether the record at `pos` has already been applied to this task.
    pub fn has_applied(&self, pos: &StreamPosition) -> bool {
        self.position
            .as_ref()
            .and_then(|applied| applied.at_or_after(pos))
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_compare_numerically() {
        use Ordering::*;
        assert_eq!(compare_sequence_numbers("9", "10"), Less);
        assert_eq!(
            compare_sequence_numbers(
                "49590338271490256608559692538361571095921575989136588898",
                "49590338271490256608559692538361571095921575989136588899"
            ),
            Less
        );
        assert_eq!(compare_sequence_numbers("007", "7"), Equal);
        assert_eq!(compare_sequence_numbers("100", "99"), Greater);
    }

    #[test]
    fn applied_only_on_the_same_shard_at_or_before() {
        let key = TaskKey::new("t".parse().unwrap(), "k".parse().unwrap());
        let mut head = TaskHead::empty(key, Utc::now());
        assert!(!head.has_applied(&StreamPosition::new("s0", "5")));
        head.position = Some(StreamPosition::new("s0", "10"));
        assert!(head.has_applied(&StreamPosition::new("s0", "5")));
        assert!(head.has_applied(&StreamPosition::new("s0", "10")));
        assert!(!head.has_applied(&StreamPosition::new("s0", "11")));
        assert!(!head.has_applied(&StreamPosition::new("s1", "5")));
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            TaskStatus::Running,
            TaskStatus::Completed,
            TaskStatus::Failed,
            TaskStatus::Cancelled,
        ] {
            assert_eq!(TaskStatus::parse(s.as_str()), Some(s));
        }
        assert!(!TaskStatus::Running.is_terminal());
        assert!(TaskStatus::Failed.is_terminal());
    }
}
