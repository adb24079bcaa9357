//! W3C Trace Context `traceparent` (<https://www.w3.org/TR/trace-context/>): carried from the
//! producer's request, through the stored event, to webhook deliveries and SSE envelopes, so
//! a producer's trace continues into the tenant's receiver. Burstline does not take part in
//! the trace (it adds no span of its own): it forwards the value unchanged.
//!
//! Validation follows the spec's parsing rules: `version-trace_id-parent_id-flags`, lowercase
//! hex, version `ff` invalid, all-zero trace or parent ids invalid; version `00` is exactly
//! 55 characters, and a later version may carry more after a `-`. Where the value arrives
//! decides what an invalid one does: the spec tells receivers to ignore an invalid
//! `traceparent` header (ingest does), while a per-event `traceparent` field is part of the
//! JSON body we define, so an invalid one is refused with 422 like any other field.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A valid `traceparent` value, kept exactly as received.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Traceparent(String);

/// The length of a version-00 `traceparent`.
const LEN: usize = 55;

impl Traceparent {
    /// Parses a `traceparent`, returning why it is refused.
    pub fn parse(s: &str) -> Result<Self, String> {
        let b = s.as_bytes();
        let hex = |range: std::ops::Range<usize>| {
            b[range]
                .iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        };
        let zeros = |range: std::ops::Range<usize>| b[range].iter().all(|c| *c == b'0');
        let shape = b.len() >= LEN
            && b[2] == b'-'
            && b[35] == b'-'
            && b[52] == b'-'
            && hex(0..2)
            && hex(3..35)
            && hex(36..52)
            && hex(53..55);
        if !shape {
            return Err("must be a W3C traceparent: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>, lowercase".into());
        }
        let version = &s[..2];
        if version == "ff" {
            return Err("version ff is invalid".into());
        }
        if version == "00" && b.len() != LEN {
            return Err("a version-00 traceparent is exactly 55 characters".into());
        }
        if b.len() > LEN && b[LEN] != b'-' {
            return Err("fields after the flags must follow a '-'".into());
        }
        if zeros(3..35) || zeros(36..52) {
            return Err("trace id and parent id must not be all zeros".into());
        }
        Ok(Self(s.to_owned()))
    }

    /// The value as received.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Traceparent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Traceparent> for String {
    fn from(t: Traceparent) -> String {
        t.0
    }
}

impl std::str::FromStr for Traceparent {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Traceparent {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

/// The trace context of a request's `traceparent` header: `None` when absent or invalid,
/// which the spec says to ignore (the events then carry none, or their own).
pub fn from_header(value: Option<&str>) -> Option<Traceparent> {
    value.and_then(|v| Traceparent::parse(v.trim()).ok())
}

/// Gives every event without a `traceparent` of its own the request's header value.
pub fn apply_header(events: &mut [crate::event::NewEvent], header: Option<&str>) {
    if let Some(tp) = from_header(header) {
        for e in events.iter_mut().filter(|e| e.traceparent.is_none()) {
            e.traceparent = Some(tp.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn accepts_the_spec_example_and_later_versions() {
        assert_eq!(Traceparent::parse(VALID).unwrap().as_str(), VALID);
        let future =
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what-the-future-holds";
        assert_eq!(Traceparent::parse(future).unwrap().as_str(), future);
    }

    #[test]
    fn refuses_what_the_spec_calls_invalid() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ] {
            assert!(Traceparent::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_invalid_header_is_ignored_and_an_event_keeps_its_own() {
        assert_eq!(from_header(Some("garbage")), None);
        assert_eq!(from_header(None), None);
        assert_eq!(from_header(Some(VALID)).unwrap().as_str(), VALID);
    }
}
