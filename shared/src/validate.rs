//! Decoding and validating a `POST /v1/events` body (SPEC §2–3). Pure: bytes in, events or the
//! first [`ApiError`] out, so nothing is written unless the whole request is valid.

use crate::api_error::ApiError;
use crate::event::{EventType, NewEvent};
use crate::idempotency::IdempotencyKey;
use crate::ids::{EventId, TaskId, TenantId};
use crate::traceparent::Traceparent;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// DynamoDB's item limit leaves room for at most this much `data` per event.
pub const HARD_MAX_DATA_BYTES: usize = 350 * 1024;

/// Request and event size limits (SPEC §2), configurable per deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest serialized `data` of one event.
    pub max_data_bytes: usize,
    /// Most events in one request.
    pub max_events: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_data_bytes: 64 * 1024,
            max_events: 500,
            max_body_bytes: 5 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// Clamps configured values to what the storage can hold.
    pub fn clamped(self) -> Self {
        Self {
            max_data_bytes: self.max_data_bytes.min(HARD_MAX_DATA_BYTES),
            ..self
        }
    }
}

const KNOWN_FIELDS: [&str; 7] = [
    "id",
    "type",
    "task_id",
    "tenant_id",
    "time",
    "data",
    "traceparent",
];

/// Checks the `content-type` header: JSON only (415 otherwise).
pub fn check_content_type(content_type: Option<&str>) -> Result<(), ApiError> {
    let media = content_type
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match media.as_deref() {
        Some("application/json") => Ok(()),
        Some(other) => Err(ApiError::new(
            415,
            "unsupported_media_type",
            format!("content-type must be application/json, got {other}"),
        )),
        None => Err(ApiError::new(
            415,
            "unsupported_media_type",
            "content-type must be application/json",
        )),
    }
}

/// Parses and validates a request body for `tenant`. Events get ingest-assigned ids and times
/// where the producer gave none; `now` is the ingest time. Assigned ids are random, or derived
/// from `idempotency` and the event's index when the request carries a key.
pub fn parse_events(
    body: &[u8],
    tenant: &TenantId,
    limits: &Limits,
    now: DateTime<Utc>,
    idempotency: Option<&IdempotencyKey>,
) -> Result<Vec<NewEvent>, ApiError> {
    if body.len() > limits.max_body_bytes {
        return Err(ApiError::new(
            413,
            "payload_too_large",
            format!("request body exceeds {} bytes", limits.max_body_bytes),
        ));
    }
    let root: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            400,
            "malformed_json",
            format!("body is not valid JSON: {e}"),
        )
    })?;
    let Value::Object(mut root) = root else {
        return Err(ApiError::new(
            400,
            "malformed_json",
            "body must be a JSON object: one event or {\"events\":[…]}",
        ));
    };
    let (items, prefix): (Vec<Value>, Option<()>) = match root.remove("events") {
        Some(Value::Array(items)) => {
            if let Some(extra) = root.keys().next() {
                return Err(ApiError::invalid(
                    extra.clone(),
                    "unknown field next to \"events\"",
                ));
            }
            (items, Some(()))
        }
        Some(_) => return Err(ApiError::invalid("events", "must be an array of events")),
        None => (vec![Value::Object(root)], None),
    };
    if items.is_empty() {
        return Err(ApiError::invalid("events", "must hold at least one event"));
    }
    if items.len() > limits.max_events {
        return Err(ApiError::new(
            413,
            "too_many_events",
            format!(
                "at most {} events per request, got {}",
                limits.max_events,
                items.len()
            ),
        )
        .at("events"));
    }
    let path = |i: usize, field: &str| match prefix {
        Some(()) if field.is_empty() => format!("events[{i}]"),
        Some(()) => format!("events[{i}].{field}"),
        None => field.to_owned(),
    };
    let mut seen: HashMap<EventId, usize> = HashMap::new();
    let mut events = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let mint = || match idempotency {
            Some(key) => key.event_id(tenant, i),
            None => EventId::generate(),
        };
        let event = parse_one(item, tenant, limits, now, mint, |f| path(i, f))?;
        if let Some(first) = seen.insert(event.id.clone(), i) {
            return Err(ApiError::invalid(
                path(i, "id"),
                format!("duplicates the id of {}", path(first, "")),
            ));
        }
        events.push(event);
    }
    Ok(events)
}

fn parse_one(
    item: Value,
    tenant: &TenantId,
    limits: &Limits,
    now: DateTime<Utc>,
    mint: impl FnOnce() -> EventId,
    path: impl Fn(&str) -> String,
) -> Result<NewEvent, ApiError> {
    let Value::Object(mut obj) = item else {
        return Err(ApiError::invalid(path(""), "must be a JSON object"));
    };
    if let Some(unknown) = obj.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
        let message = if unknown == "seq" {
            "seq is assigned by Burstline; do not send it".to_owned()
        } else {
            format!("unknown field; allowed: {}", KNOWN_FIELDS.join(", "))
        };
        return Err(ApiError::invalid(path(unknown), message));
    }
    if let Some(claimed) = obj.remove("tenant_id")
        && claimed.as_str() != Some(tenant.as_str())
    {
        return Err(ApiError::forbidden(
            "tenant_mismatch",
            "tenant_id does not match the API key's tenant",
        )
        .at(path("tenant_id")));
    }
    let event_type = required_str(&mut obj, "type", &path)?;
    let event_type =
        EventType::parse(&event_type).map_err(|why| ApiError::invalid(path("type"), why))?;
    let task_id = required_str(&mut obj, "task_id", &path)?;
    let task_id = TaskId::parse(&task_id).map_err(|e| ApiError::invalid(path("task_id"), e.0))?;
    let id = match obj.remove("id") {
        None | Some(Value::Null) => mint(),
        Some(Value::String(s)) => {
            EventId::parse(&s).map_err(|e| ApiError::invalid(path("id"), e.0))?
        }
        Some(_) => return Err(ApiError::invalid(path("id"), "must be a string")),
    };
    let time = match obj.remove("time") {
        None | Some(Value::Null) => now,
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(&s)
            .map_err(|_| ApiError::invalid(path("time"), "must be an RFC 3339 timestamp"))?
            .with_timezone(&Utc),
        Some(_) => {
            return Err(ApiError::invalid(
                path("time"),
                "must be an RFC 3339 string",
            ));
        }
    };
    let data = obj.remove("data").unwrap_or(Value::Null);
    let size = serde_json::to_vec(&data)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > limits.max_data_bytes {
        return Err(ApiError::new(
            413,
            "data_too_large",
            format!(
                "data is {size} bytes serialized; the limit is {}",
                limits.max_data_bytes
            ),
        )
        .at(path("data")));
    }
    // Unlike the header (ignored when invalid, as W3C asks), this field is ours: strict.
    let traceparent = match obj.remove("traceparent") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            Traceparent::parse(&s).map_err(|why| ApiError::invalid(path("traceparent"), why))?,
        ),
        Some(_) => return Err(ApiError::invalid(path("traceparent"), "must be a string")),
    };
    Ok(NewEvent {
        id,
        event_type,
        tenant_id: tenant.clone(),
        task_id,
        time,
        data,
        traceparent,
    })
}

fn required_str(
    obj: &mut Map<String, Value>,
    field: &str,
    path: &impl Fn(&str) -> String,
) -> Result<String, ApiError> {
    match obj.remove(field) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(ApiError::invalid(path(field), "is required")),
        Some(_) => Err(ApiError::invalid(path(field), "must be a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tenant() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    fn parse(v: Value) -> Result<Vec<NewEvent>, ApiError> {
        parse_events(
            &serde_json::to_vec(&v).unwrap(),
            &tenant(),
            &Limits::default(),
            Utc::now(),
            None,
        )
    }

    fn err(v: Value) -> (u16, &'static str, Option<String>) {
        let e = parse(v).unwrap_err();
        (e.status, e.code, e.field)
    }

    #[test]
    fn accepts_one_event_and_fills_id_and_time() {
        let now = Utc::now();
        let evs = parse_events(
            br#"{"type":"tool_call.started","task_id":"run-1","data":{"tool":"search"}}"#,
            &tenant(),
            &Limits::default(),
            now,
            None,
        )
        .unwrap();
        assert_eq!(evs.len(), 1);
        assert!(evs[0].id.as_str().starts_with("evt_"));
        assert_eq!(evs[0].time, now);
        assert_eq!(evs[0].tenant_id, tenant());
        assert_eq!(evs[0].data, json!({"tool":"search"}));
    }

    #[test]
    fn a_per_event_traceparent_is_kept_and_an_invalid_one_refused() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let evs = parse(json!({"events":[
            {"type":"x","task_id":"t","traceparent":tp},
            {"type":"y","task_id":"t"}
        ]}))
        .unwrap();
        assert_eq!(evs[0].traceparent.as_ref().map(|t| t.as_str()), Some(tp));
        assert_eq!(evs[1].traceparent, None);
        let bad = json!({"events":[{"type":"x","task_id":"t","traceparent":"00-zz"}]});
        assert_eq!(
            err(bad),
            (422, "invalid_event", Some("events[0].traceparent".into()))
        );
    }

    #[test]
    fn accepts_a_batch_in_order_with_producer_ids() {
        let evs = parse(json!({"events":[
            {"id":"a-1","type":"x","task_id":"t"},
            {"id":"a-2","type":"y","task_id":"t","time":"2026-11-22T10:00:00Z","tenant_id":"acme"}
        ]}))
        .unwrap();
        let ids: Vec<_> = evs.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a-1", "a-2"]);
    }

    #[test]
    fn bad_input_matrix() {
        let cases: Vec<(Value, u16, &str, Option<&str>)> = vec![
            (json!([1, 2]), 400, "malformed_json", None),
            (json!({"events": []}), 422, "invalid_event", Some("events")),
            (json!({"events": {}}), 422, "invalid_event", Some("events")),
            (
                json!({"events": [1]}),
                422,
                "invalid_event",
                Some("events[0]"),
            ),
            (json!({"task_id": "t"}), 422, "invalid_event", Some("type")),
            (json!({"type": "a"}), 422, "invalid_event", Some("task_id")),
            (
                json!({"type": "A.b", "task_id": "t"}),
                422,
                "invalid_event",
                Some("type"),
            ),
            (
                json!({"type": "a", "task_id": "t t"}),
                422,
                "invalid_event",
                Some("task_id"),
            ),
            (
                json!({"type": "a", "task_id": "x".repeat(129)}),
                422,
                "invalid_event",
                Some("task_id"),
            ),
            (
                json!({"type": "a", "task_id": "t", "id": "no spaces"}),
                422,
                "invalid_event",
                Some("id"),
            ),
            (
                json!({"type": "a", "task_id": "t", "id": 7}),
                422,
                "invalid_event",
                Some("id"),
            ),
            (
                json!({"type": "a", "task_id": "t", "time": "yesterday"}),
                422,
                "invalid_event",
                Some("time"),
            ),
            (
                json!({"type": "a", "task_id": "t", "seq": 3}),
                422,
                "invalid_event",
                Some("seq"),
            ),
            (
                json!({"type": "a", "task_id": "t", "colour": 3}),
                422,
                "invalid_event",
                Some("colour"),
            ),
            (
                json!({"type": "a", "task_id": "t", "tenant_id": "other"}),
                403,
                "tenant_mismatch",
                Some("tenant_id"),
            ),
            (
                json!({"events":[{"type":"a","task_id":"t"},{"type":"a","task_id":"t","data":"x".repeat(70_000)}]}),
                413,
                "data_too_large",
                Some("events[1].data"),
            ),
            (
                json!({"events":[{"id":"d","type":"a","task_id":"t"},{"id":"d","type":"a","task_id":"t"}]}),
                422,
                "invalid_event",
                Some("events[1].id"),
            ),
            (
                json!({"events":[{"type":"a","task_id":"t"}], "x": 1}),
                422,
                "invalid_event",
                Some("x"),
            ),
        ];
        for (body, status, code, field) in cases {
            let got = err(body.clone());
            assert_eq!(got, (status, code, field.map(str::to_owned)), "{body}");
        }
    }

    #[test]
    fn an_idempotency_key_derives_only_the_missing_ids_by_position() {
        let key = IdempotencyKey::parse(b"req-7").unwrap();
        let body = br#"{"events":[{"type":"a","task_id":"t"},{"id":"mine","type":"a","task_id":"t"},{"type":"a","task_id":"t"}]}"#;
        let parse = |key: Option<&IdempotencyKey>| {
            parse_events(body, &tenant(), &Limits::default(), Utc::now(), key).unwrap()
        };
        let ids = |evs: Vec<NewEvent>| evs.into_iter().map(|e| e.id).collect::<Vec<_>>();
        let keyed = ids(parse(Some(&key)));
        assert_eq!(
            keyed,
            [
                key.event_id(&tenant(), 0),
                EventId::parse("mine").unwrap(),
                key.event_id(&tenant(), 2)
            ]
        );
        assert_eq!(ids(parse(Some(&key))), keyed, "a retry mints the same ids");
        let random = ids(parse(None));
        assert_ne!(random[0], keyed[0]);
        assert_ne!(random, ids(parse(None)), "without a key, ids are fresh");
    }

    #[test]
    fn too_many_events_is_413() {
        let events: Vec<Value> = (0..501)
            .map(|_| json!({"type":"a","task_id":"t"}))
            .collect();
        assert_eq!(
            err(json!({ "events": events })),
            (413, "too_many_events", Some("events".to_owned()))
        );
    }

    #[test]
    fn oversize_body_is_413_before_parsing() {
        let limits = Limits {
            max_body_bytes: 10,
            ..Limits::default()
        };
        let e = parse_events(
            b"{\"type\":\"a\",\"task_id\":\"t\"}",
            &tenant(),
            &limits,
            Utc::now(),
            None,
        )
        .unwrap_err();
        assert_eq!((e.status, e.code), (413, "payload_too_large"));
    }

    #[test]
    fn malformed_json_is_400() {
        let e = parse_events(
            b"{\"type\":",
            &tenant(),
            &Limits::default(),
            Utc::now(),
            None,
        )
        .unwrap_err();
        assert_eq!((e.status, e.code), (400, "malformed_json"));
    }

    #[test]
    fn content_type_must_be_json() {
        assert!(check_content_type(Some("application/json")).is_ok());
        assert!(check_content_type(Some("Application/JSON; charset=utf-8")).is_ok());
        assert_eq!(
            check_content_type(Some("text/plain")).unwrap_err().status,
            415
        );
        assert_eq!(check_content_type(None).unwrap_err().status, 415);
    }

    #[test]
    fn limits_clamp_to_the_item_ceiling() {
        let l = Limits {
            max_data_bytes: 10 << 20,
            ..Limits::default()
        }
        .clamped();
        assert_eq!(l.max_data_bytes, HARD_MAX_DATA_BYTES);
    }
}
