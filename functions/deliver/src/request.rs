//! Turning a job's events into signed POSTs, as pure functions.

use burstline::endpoint::Endpoint;
use burstline::event::Envelope;
use burstline::signing::signature_header;
use burstline::traceparent::Traceparent;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// One request header: name and value.
pub type Header = (Cow<'static, str>, String);

/// `user-agent` sent with every webhook.
pub const USER_AGENT: &str = concat!("Burstline/", env!("CARGO_PKG_VERSION"));

/// One POST: its `webhook-id`, body and the events it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// `webhook-id`: the event id, or for a batch an id derived from its event ids, so it is
    /// stable across retries and receivers can dedupe.
    pub webhook_id: String,
    /// JSON body: the envelope, or `{"events":[…]}`.
    pub body: Vec<u8>,
    /// Seqs carried, ascending.
    pub seqs: Vec<u64>,
    /// The `traceparent` header: the event's trace context, or for a batch its first traced
    /// event's (every envelope in the body carries its own, for receivers that link spans).
    pub traceparent: Option<Traceparent>,
}

/// The POSTs for `events` (ascending seq): one per event, or batches of `max_events` when the
/// endpoint opted in.
pub fn deliveries(endpoint: &Endpoint, events: &[Envelope]) -> Vec<Delivery> {
    match endpoint.batching {
        None => events
            .iter()
            .map(|e| Delivery {
                webhook_id: e.id.to_string(),
                body: serde_json::to_vec(e).unwrap_or_default(),
                seqs: vec![e.seq.0],
                traceparent: e.traceparent.clone(),
            })
            .collect(),
        Some(b) => events
            .chunks(usize::try_from(b.max_events.max(1)).unwrap_or(1))
            .map(|chunk| Delivery {
                webhook_id: batch_id(chunk),
                body: serde_json::to_vec(&serde_json::json!({ "events": chunk }))
                    .unwrap_or_default(),
                seqs: chunk.iter().map(|e| e.seq.0).collect(),
                traceparent: chunk.iter().find_map(|e| e.traceparent.clone()),
            })
            .collect(),
    }
}

/// `batch_` + the first 26 hex chars of SHA-256 over the event ids: the same events always
/// make the same id.
pub fn batch_id(events: &[Envelope]) -> String {
    let mut h = Sha256::new();
    for e in events {
        h.update(e.id.as_str().as_bytes());
        h.update(b"\n");
    }
    format!("batch_{}", &hex::encode(h.finalize())[..26])
}

/// The headers of one attempt at `now`: Burstline's own, then the endpoint's static headers
/// (which can never name one of Burstline's; see [`burstline::receiver_headers`]).
pub fn headers(endpoint: &Endpoint, delivery: &Delivery, now: DateTime<Utc>) -> Vec<Header> {
    let ts = now.timestamp();
    let mut own = vec![
        ("content-type", "application/json".to_owned()),
        ("user-agent", USER_AGENT.to_owned()),
        ("webhook-id", delivery.webhook_id.clone()),
        ("webhook-timestamp", ts.to_string()),
        (
            "webhook-signature",
            signature_header(
                endpoint.signing_secrets(now),
                &delivery.webhook_id,
                ts,
                &delivery.body,
            ),
        ),
    ];
    if let Some(tp) = &delivery.traceparent {
        own.push(("traceparent", tp.to_string()));
    }
    own.into_iter()
        .map(|(name, value)| (Cow::Borrowed(name), value))
        .chain(
            endpoint
                .headers
                .iter()
                .map(|(name, value)| (Cow::Owned(name.to_owned()), value.to_owned())),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burstline::endpoint::{Batching, EndpointState, SecretVersion};
    use burstline::signing::{WebhookSecret, verify};

    fn endpoint(batching: Option<Batching>) -> Endpoint {
        let now = Utc::now();
        Endpoint {
            id: "ep_1".parse().unwrap(),
            tenant_id: "acme".parse().unwrap(),
            url: "https://x.example".into(),
            description: String::new(),
            filters: vec![],
            state: EndpointState::Enabled,
            secrets: vec![SecretVersion {
                secret: WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap(),
                created_at: now,
                expires_at: None,
            }],
            batching,
            headers: Default::default(),
            failing_since: None,
            breaker: Default::default(),
            rate_limit: None,
            max_in_flight: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    fn events(n: u64) -> Vec<Envelope> {
        (1..=n)
            .map(|i| Envelope {
                id: format!("evt_{i}").parse().unwrap(),
                event_type: "token.delta".parse().unwrap(),
                tenant_id: "acme".parse().unwrap(),
                task_id: "run".parse().unwrap(),
                seq: burstline::ids::Seq(i),
                time: Utc::now(),
                data: serde_json::json!({"i": i}),
                traceparent: None,
            })
            .collect()
    }

    fn traced(i: u64) -> Option<Traceparent> {
        Traceparent::parse(&format!(
            "00-4bf92f3577b34da6a3ce929d0e0e47{i:02}-00f067aa0ba902b7-01"
        ))
        .ok()
    }

    #[test]
    fn the_trace_context_travels_as_a_header_a_batch_takes_its_first() {
        let mut evs = events(3);
        evs[1].traceparent = traced(2);
        evs[2].traceparent = traced(3);
        let ep = endpoint(None);
        let single = deliveries(&ep, &evs);
        let header = |d: &Delivery| {
            headers(&ep, d, Utc::now())
                .into_iter()
                .find(|(n, _)| *n == "traceparent")
                .map(|(_, v)| v)
        };
        assert_eq!(header(&single[0]), None);
        assert_eq!(header(&single[1]), traced(2).map(|t| t.to_string()));
        let batched = deliveries(
            &endpoint(Some(Batching {
                max_events: 3,
                max_wait_ms: 0,
            })),
            &evs,
        );
        assert_eq!(header(&batched[0]), traced(2).map(|t| t.to_string()));
    }

    #[test]
    fn one_post_per_event_by_default() {
        let d = deliveries(&endpoint(None), &events(3));
        assert_eq!(d.len(), 3);
        assert_eq!(d[1].webhook_id, "evt_2");
        assert_eq!(d[1].seqs, [2]);
        let body: Envelope = serde_json::from_slice(&d[1].body).unwrap();
        assert_eq!(body.seq.0, 2);
    }

    #[test]
    fn batches_in_seq_order_with_stable_ids() {
        let ep = endpoint(Some(Batching {
            max_events: 4,
            max_wait_ms: 0,
        }));
        let d = deliveries(&ep, &events(10));
        assert_eq!(
            d.iter().map(|x| x.seqs.len()).collect::<Vec<_>>(),
            [4, 4, 2]
        );
        assert_eq!(d[0].seqs, [1, 2, 3, 4]);
        assert!(d[0].webhook_id.starts_with("batch_"));
        assert_eq!(d[0].webhook_id, deliveries(&ep, &events(10))[0].webhook_id);
        assert_ne!(d[0].webhook_id, d[1].webhook_id);
        let body: serde_json::Value = serde_json::from_slice(&d[2].body).unwrap();
        assert_eq!(body["events"][1]["seq"], 10);
    }

    #[test]
    fn static_headers_follow_burstlines_own() {
        let mut ep = endpoint(None);
        ep.headers = burstline::receiver_headers::StaticHeaders::from_pairs([(
            "Authorization",
            "Bearer t0k",
        )])
        .unwrap();
        let d = &deliveries(&ep, &events(1))[0];
        let h = headers(&ep, d, Utc::now());
        assert_eq!(h.len(), 6);
        assert_eq!(
            h[5],
            (Cow::Borrowed("authorization"), "Bearer t0k".to_owned())
        );
        assert_eq!(h[2].0, "webhook-id");
    }

    #[test]
    fn headers_are_signed_over_id_timestamp_and_body() {
        let ep = endpoint(None);
        let d = &deliveries(&ep, &events(1))[0];
        let now = Utc::now();
        let h = headers(&ep, d, now);
        let get = |k: &str| {
            h.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get("webhook-id"), "evt_1");
        assert!(get("user-agent").starts_with("Burstline/"));
        assert!(verify(
            &ep.secrets[0].secret,
            "evt_1",
            now.timestamp(),
            now.timestamp(),
            300,
            &d.body,
            &get("webhook-signature")
        ));
    }
}
