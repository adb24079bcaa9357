//! SSE frames (SPEC §6, WHATWG event-stream), byte for byte. Pure.
//!
//! Every frame ends with a blank line and is written as its own chunk, so nothing waits for
//! a buffer to fill. The envelope is serialized by `serde_json`, which escapes newlines inside
//! strings: `data:` is always exactly one line, whatever the payload holds.

use burstline::event::Envelope;
use burstline::ids::Seq;
use bytes::Bytes;
use serde_json::json;
use std::time::Duration;

/// First bytes of every stream (SPEC §6): how long the client waits before reconnecting, and
/// as `id:` the position the stream starts after. The block has no `data:`, so it dispatches
/// no event, but WHATWG's parser still sets the last event ID from it: a client that
/// reconnects before the first event sends `Last-Event-ID: <cursor>` and resumes from the same
/// point, instead of being re-anchored (`?from=now` would otherwise skip what was committed
/// meanwhile). `id: 0` is the start: `Last-Event-ID: 0` resumes after seq 0, i.e. from seq 1.
pub fn opening(delay: Duration, cursor: Seq) -> Bytes {
    Bytes::from(format!("retry: {}\nid: {cursor}\n\n", delay.as_millis()))
}

/// The last bytes of a segment that ends while the task goes on (its length or the idle
/// cutoff ran out): `retry:` with the short reconnect delay, and the cursor as `id:`. The
/// response ends after it; EventSource (and `burstline tail`) reconnect after `delay` with
/// `Last-Event-ID: <cursor>`, so the next segment starts right after the last event sent:
/// no gap, no duplicate. The next segment's opening `retry:` restores the normal delay.
pub fn reconnect(delay: Duration, cursor: Seq) -> Bytes {
    opening(delay, cursor)
}

/// One event: `id: <seq>`, `event: <type>`, `data: <envelope>`.
pub fn event(envelope: &Envelope) -> Bytes {
    // Serializing an envelope (validated ids, a JSON value) cannot fail.
    let data = serde_json::to_string(envelope).unwrap_or_default();
    Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {data}\n\n",
        envelope.seq, envelope.event_type
    ))
}

/// The heartbeat comment.
pub fn ping() -> Bytes {
    Bytes::from_static(b": ping\n\n")
}

/// Events `from..=to` are past retention and will never be sent. The frame's id is `to`, so
/// a client that reconnects after it resumes past the gap instead of being told again.
pub fn gap(from: Seq, to: Seq) -> Bytes {
    let data = json!({"from_seq": from, "to_seq": to, "reason": "retention"});
    Bytes::from(format!("id: {to}\nevent: gap\ndata: {data}\n\n"))
}

/// The tenant is over its stream budget; the stream ends after this frame and the client
/// retries after `retry_after`. Sent only to EventSource (token) clients, which would give
/// up for good on a non-200 status.
pub fn throttled(retry_after: Duration) -> Bytes {
    let data = json!({"error": {
        "code": "too_many_streams",
        "message": "this tenant has reached its limit of open streams; retrying later",
        "retry_after_ms": u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
    }});
    Bytes::from(format!("event: throttled\ndata: {data}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burstline::event::EventType;
    use burstline::ids::{EventId, TaskId, TenantId};
    use chrono::{DateTime, Utc};

    fn envelope(data: serde_json::Value) -> Envelope {
        Envelope {
            id: EventId::parse("e1").unwrap(),
            event_type: EventType::parse("token.delta").unwrap(),
            tenant_id: TenantId::parse("acme").unwrap(),
            task_id: TaskId::parse("run-42").unwrap(),
            seq: Seq(17),
            time: DateTime::parse_from_rfc3339("2026-11-22T10:00:00.123Z")
                .unwrap()
                .with_timezone(&Utc),
            data,
            traceparent: None,
        }
    }

    #[test]
    fn event_frames_are_exact() {
        let frame = event(&envelope(json!({"text": "hi"})));
        assert_eq!(
            frame,
            "id: 17\nevent: token.delta\ndata: {\"id\":\"e1\",\"type\":\"token.delta\",\"tenant_id\":\"acme\",\"task_id\":\"run-42\",\"seq\":17,\"time\":\"2026-11-22T10:00:00.123Z\",\"data\":{\"text\":\"hi\"}}\n\n"
        );
    }

    #[test]
    fn payload_newlines_never_break_the_data_line() {
        let frame = event(&envelope(json!({"text": "a\nb\r\nc\rd\u{2028}é😀"})));
        let text = std::str::from_utf8(&frame).unwrap();
        assert!(text.ends_with("\n\n"));
        let lines: Vec<&str> = text.trim_end_matches('\n').split('\n').collect();
        assert_eq!(lines.len(), 3, "{text:?}");
        assert!(!text.contains('\r'));
        assert!(lines[2].starts_with("data: {"));
    }

    #[test]
    fn control_frames_are_exact() {
        assert_eq!(
            opening(Duration::from_millis(1500), Seq(0)),
            "retry: 1500\nid: 0\n\n"
        );
        assert_eq!(
            opening(Duration::from_secs(1), Seq(42)),
            "retry: 1000\nid: 42\n\n"
        );
        assert_eq!(
            reconnect(Duration::from_millis(250), Seq(7)),
            "retry: 250\nid: 7\n\n"
        );
        assert_eq!(ping(), ": ping\n\n");
        assert_eq!(
            gap(Seq(1), Seq(40)),
            "id: 40\nevent: gap\ndata: {\"from_seq\":1,\"to_seq\":40,\"reason\":\"retention\"}\n\n"
        );
        let t = throttled(Duration::from_secs(10));
        let t = std::str::from_utf8(&t).unwrap();
        assert!(t.starts_with("event: throttled\ndata: {\"error\":{\"code\":\"too_many_streams\""));
        assert!(t.contains("\"retry_after_ms\":10000"));
        assert!(t.ends_with("}\n\n") && t.matches('\n').count() == 3);
    }
}
