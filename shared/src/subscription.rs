//! The read side of webhook endpoints: which endpoints of a tenant want which event types.

use crate::event::EventType;
use crate::ids::EndpointId;
use serde::{Deserialize, Serialize};

/// An event-type filter: a type, or a glob where `*` matches any run of characters
/// (`*`, `tool_call.*`, `*.completed`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventFilter(String);

impl EventFilter {
    /// Parses a filter: like an event type, with `*` allowed anywhere.
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= EventType::MAX_LEN
            && s.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '*')
            });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err("must be an event type, optionally with '*' wildcards".into())
        }
    }

    /// The filter matching every type.
    pub fn all() -> Self {
        Self("*".into())
    }

    /// The filter text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `event_type` passes the filter.
    pub fn matches(&self, event_type: &EventType) -> bool {
        glob_match(self.0.as_bytes(), event_type.as_str().as_bytes())
    }
}

impl From<EventFilter> for String {
    fn from(f: EventFilter) -> String {
        f.0
    }
}

impl TryFrom<String> for EventFilter {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

/// Iterative wildcard matching with single-star backtracking: linear in practice, no recursion.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// One endpoint's interest in a tenant's events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// Types it wants; an event matching any filter is sent.
    pub filters: Vec<EventFilter>,
    /// Disabled endpoints (by the tenant or auto-disable) get no new jobs.
    pub enabled: bool,
}

impl Subscription {
    /// Whether this endpoint should receive `event_type`.
    pub fn wants(&self, event_type: &EventType) -> bool {
        self.enabled && self.filters.iter().any(|f| f.matches(event_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(filter: &str, ty: &str) -> bool {
        EventFilter::parse(filter)
            .unwrap()
            .matches(&EventType::parse(ty).unwrap())
    }

    #[test]
    fn globs_match_types() {
        assert!(m("*", "token.delta"));
        assert!(m("tool_call.*", "tool_call.started"));
        assert!(!m("tool_call.*", "tool_call"));
        assert!(m("*.completed", "task.completed"));
        assert!(m("*.completed", "tool_call.completed"));
        assert!(!m("*.completed", "task.failed"));
        assert!(m("token.delta", "token.delta"));
        assert!(!m("token.delta", "token.deltas"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
    }

    #[test]
    fn filters_are_validated() {
        assert!(EventFilter::parse("Tool.*").is_err());
        assert!(EventFilter::parse("").is_err());
        assert!(EventFilter::parse("a b").is_err());
    }

    #[test]
    fn disabled_endpoints_want_nothing() {
        let mut s = Subscription {
            endpoint_id: EndpointId::generate(),
            filters: vec![EventFilter::all()],
            enabled: true,
        };
        let ty = EventType::parse("x").unwrap();
        assert!(s.wants(&ty));
        s.enabled = false;
        assert!(!s.wants(&ty));
    }
}
