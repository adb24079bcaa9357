//! The event envelope (SPEC §2) in its two lives: a [`NewEvent`] accepted by ingest and carried
//! on Kinesis without a `seq`, and an [`Envelope`] stored, streamed and delivered with one.

use crate::ids::{EventId, Seq, TaskId, TaskKey, TenantId};
use crate::traceparent::Traceparent;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An event type: lowercase dotted words, `[a-z0-9_]+(\.[a-z0-9_]+)*`, at most 64 chars.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventType(String);

impl EventType {
    /// Longest type accepted.
    pub const MAX_LEN: usize = 64;

    /// Parses a type, returning why it is refused.
    pub fn parse(s: &str) -> Result<Self, String> {
        let words_ok = s.split('.').all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
        if s.len() <= Self::MAX_LEN && words_ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "must be lowercase dotted words ([a-z0-9_]+(.[a-z0-9_]+)*), at most {} characters",
                Self::MAX_LEN
            ))
        }
    }

    /// The type as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The task status this type ends a task with, if it is terminal.
    pub fn terminal_status(&self) -> Option<crate::head::TaskStatus> {
        use crate::head::TaskStatus;
        match self.0.as_str() {
            "task.completed" => Some(TaskStatus::Completed),
            "task.failed" => Some(TaskStatus::Failed),
            "task.cancelled" => Some(TaskStatus::Cancelled),
            _ => None,
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<EventType> for String {
    fn from(t: EventType) -> String {
        t.0
    }
}

impl std::str::FromStr for EventType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl TryFrom<String> for EventType {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

/// Timestamps travel as RFC 3339 UTC with milliseconds: `2026-11-22T10:00:00.123Z`.
pub mod rfc3339_millis {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes with millisecond precision and a `Z` suffix.
    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    /// Accepts any RFC 3339 timestamp and normalises it to UTC.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// Formats a timestamp the way the envelope does.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An event accepted by ingest and written to Kinesis; fanout gives it a `seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Idempotency key within the tenant.
    pub id: EventId,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// Owning tenant (from the API key, never from the body).
    pub tenant_id: TenantId,
    /// Task the event belongs to.
    pub task_id: TaskId,
    /// Producer's timestamp, else ingest time.
    #[serde(with = "rfc3339_millis")]
    pub time: DateTime<Utc>,
    /// Arbitrary JSON payload.
    pub data: serde_json::Value,
    /// The producer's W3C trace context (header or per-event field), if it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<Traceparent>,
}

impl NewEvent {
    /// The task this event belongs to.
    pub fn task_key(&self) -> TaskKey {
        TaskKey::new(self.tenant_id.clone(), self.task_id.clone())
    }

    /// The stored form, once fanout has assigned `seq`.
    pub fn with_seq(self, seq: Seq) -> Envelope {
        Envelope {
            id: self.id,
            event_type: self.event_type,
            tenant_id: self.tenant_id,
            task_id: self.task_id,
            seq,
            time: self.time,
            data: self.data,
            traceparent: self.traceparent,
        }
    }
}

/// The envelope as stored, streamed and delivered (SPEC §2). Field order matches the SPEC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Event id.
    pub id: EventId,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Task.
    pub task_id: TaskId,
    /// Dense per-task sequence number.
    pub seq: Seq,
    /// Event time.
    #[serde(with = "rfc3339_millis")]
    pub time: DateTime<Utc>,
    /// Payload.
    pub data: serde_json::Value,
    /// The producer's W3C trace context; absent (not `null`) when it sent none, so the
    /// envelope of an untraced event is exactly SPEC §2's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<Traceparent>,
}

impl Envelope {
    /// The task this event belongs to.
    pub fn task_key(&self) -> TaskKey {
        TaskKey::new(self.tenant_id.clone(), self.task_id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_follow_the_pattern() {
        for ok in [
            "tool_call.started",
            "token.delta",
            "a",
            "a1_b.c2",
            "task.completed",
        ] {
            assert!(EventType::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Tool.call",
            "a..b",
            ".a",
            "a.",
            "a-b",
            "a b",
            &"a".repeat(65),
        ] {
            assert!(EventType::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn terminal_types_map_to_statuses() {
        use crate::head::TaskStatus;
        let t = |s: &str| EventType::parse(s).unwrap().terminal_status();
        assert_eq!(t("task.completed"), Some(TaskStatus::Completed));
        assert_eq!(t("task.failed"), Some(TaskStatus::Failed));
        assert_eq!(t("task.cancelled"), Some(TaskStatus::Cancelled));
        assert_eq!(t("task.progress"), None);
    }

    #[test]
    fn envelope_serializes_exactly_as_the_spec_shows() {
        let env = Envelope {
            id: EventId::parse("evt_01JD4Z6Q8K3M2N7P9R5T0V1W2X").unwrap(),
            event_type: EventType::parse("tool_call.completed").unwrap(),
            tenant_id: TenantId::parse("acme").unwrap(),
            task_id: TaskId::parse("run-42").unwrap(),
            seq: Seq(17),
            time: DateTime::parse_from_rfc3339("2026-11-22T10:00:00.123Z")
                .unwrap()
                .with_timezone(&Utc),
            data: serde_json::json!({"tool": "search"}),
            traceparent: None,
        };
        assert_eq!(
            serde_json::to_string(&env).unwrap(),
            r#"{"id":"evt_01JD4Z6Q8K3M2N7P9R5T0V1W2X","type":"tool_call.completed","tenant_id":"acme","task_id":"run-42","seq":17,"time":"2026-11-22T10:00:00.123Z","data":{"tool":"search"}}"#
        );
        let back: Envelope = serde_json::from_str(&serde_json::to_string(&env).unwrap()).unwrap();
        assert_eq!(back, env);
        // A traced event carries its trace context last, unchanged.
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let traced = Envelope {
            traceparent: Some(Traceparent::parse(tp).unwrap()),
            ..env
        };
        let json = serde_json::to_string(&traced).unwrap();
        assert!(
            json.ends_with(&format!(
                r#""data":{{"tool":"search"}},"traceparent":"{tp}"}}"#
            )),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Envelope>(&json).unwrap(), traced);
    }

    #[test]
    fn times_normalise_to_utc_millis() {
        let ev: NewEvent = serde_json::from_value(serde_json::json!({
            "id": "e1", "type": "a", "tenant_id": "t", "task_id": "k",
            "time": "2026-11-22T12:00:00.123456+02:00", "data": null
        }))
        .unwrap();
        assert_eq!(format_time(&ev.time), "2026-11-22T10:00:00.123Z");
    }
}
