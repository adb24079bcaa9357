//! Static receiver headers: fixed headers an endpoint's owner asks Burstline to send with every
//! webhook (for example `authorization: Bearer …` for a receiver behind an auth proxy).
//!
//! Contracts:
//! - Names are HTTP tokens, stored lower-cased; values are visible ASCII and spaces (never CR
//!   or LF), so they cannot split or inject headers.
//! - Names Burstline sets itself (the Standard Webhooks `webhook-*` headers, `content-type`,
//!   `content-length`, `host`, `user-agent`, `traceparent`, hop-by-hop headers) are refused, so
//!   a static header can never override a signature or the body framing.
//! - At most [`MAX_HEADERS`] headers, each value at most [`MAX_VALUE_BYTES`], all names and
//!   values together at most [`MAX_TOTAL_BYTES`].
//! - Values are write-only: `Debug` shows names only, the api shows names only, and they are
//!   sealed at rest like signing secrets.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Most static headers per endpoint.
pub const MAX_HEADERS: usize = 10;
/// Longest accepted header name.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest accepted header value.
pub const MAX_VALUE_BYTES: usize = 2048;
/// Most bytes of all names and values together.
pub const MAX_TOTAL_BYTES: usize = 4096;

/// Header names Burstline sets (or HTTP owns) and a static header may not replace.
const RESERVED: &[&str] = &[
    "content-type",
    "content-length",
    "content-encoding",
    "host",
    "user-agent",
    "traceparent",
    "tracestate",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "proxy-authorization",
];

/// The prefix of the Standard Webhooks headers (`webhook-id`, `-timestamp`, `-signature`).
const RESERVED_PREFIX: &str = "webhook-";

/// An endpoint's static headers: lower-cased name → value. `Debug` never shows values.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StaticHeaders(BTreeMap<String, String>);

impl fmt::Debug for StaticHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Why a static header was refused: which one (`headers.<name>`, or `headers`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError {
    /// The JSON path at fault.
    pub field: String,
    /// For a human.
    pub message: String,
}

fn refused(field: impl Into<String>, message: impl Into<String>) -> HeaderError {
    HeaderError {
        field: field.into(),
        message: message.into(),
    }
}

impl StaticHeaders {
    /// No headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The names, sorted: what the api shows.
    pub fn names(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }

    /// Name and value pairs, sorted by name: what deliver sends.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Builds a set from `pairs`, checking every rule of the module doc.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, HeaderError> {
        let mut out = Self::default();
        for (name, value) in pairs {
            out.set(name, value)?;
        }
        out.check_totals()?;
        Ok(out)
    }

    /// Applies a patch: `Some(value)` sets or replaces that header, `None` removes it; other
    /// headers stay. The result is checked as a whole.
    pub fn patched<'a>(
        &self,
        changes: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<Self, HeaderError> {
        let mut out = self.clone();
        for (name, value) in changes {
            match value {
                Some(v) => out.set(name, v)?,
                None => {
                    out.0.remove(&name.to_ascii_lowercase());
                }
            }
        }
        out.check_totals()?;
        Ok(out)
    }

    fn set(&mut self, name: &str, value: &str) -> Result<(), HeaderError> {
        let lower = name.to_ascii_lowercase();
        check_name(&lower).map_err(|m| refused(format!("headers.{name}"), m))?;
        check_value(value).map_err(|m| refused(format!("headers.{name}"), m))?;
        self.0.insert(lower, value.to_owned());
        Ok(())
    }

    fn check_totals(&self) -> Result<(), HeaderError> {
        if self.0.len() > MAX_HEADERS {
            return Err(refused("headers", format!("at most {MAX_HEADERS} headers")));
        }
        let total: usize = self.0.iter().map(|(k, v)| k.len() + v.len()).sum();
        if total > MAX_TOTAL_BYTES {
            return Err(refused(
                "headers",
                format!("names and values together must be at most {MAX_TOTAL_BYTES} bytes"),
            ));
        }
        Ok(())
    }
}

/// An RFC 9110 token of at most [`MAX_NAME_BYTES`], not reserved.
fn check_name(lower: &str) -> Result<(), String> {
    if lower.is_empty() || lower.len() > MAX_NAME_BYTES {
        return Err(format!(
            "a header name must be 1 to {MAX_NAME_BYTES} characters"
        ));
    }
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if !lower.chars().all(token) {
        return Err("not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)".into());
    }
    if RESERVED.contains(&lower) || lower.starts_with(RESERVED_PREFIX) {
        return Err(format!(
            "{lower} is set by Burstline and cannot be overridden"
        ));
    }
    Ok(())
}

/// Visible ASCII, spaces and tabs, at most [`MAX_VALUE_BYTES`]; never CR or LF.
fn check_value(value: &str) -> Result<(), String> {
    if value.contains(['\r', '\n']) {
        return Err("a header value must not contain CR or LF".into());
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "a header value must be at most {MAX_VALUE_BYTES} bytes"
        ));
    }
    if value.trim().is_empty() {
        return Err("a header value must not be empty".into());
    }
    if !value.chars().all(|c| c == '\t' || (' '..='~').contains(&c)) {
        return Err("a header value must be visible ASCII characters and spaces".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(r: Result<StaticHeaders, HeaderError>) -> String {
        r.expect_err("refused").field
    }

    #[test]
    fn names_are_lower_cased_and_values_kept() {
        let h = StaticHeaders::from_pairs([("Authorization", "Bearer abc"), ("X-Team", "ops")])
            .unwrap();
        assert_eq!(h.names(), ["authorization", "x-team"]);
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("authorization", "Bearer abc"), ("x-team", "ops")]
        );
    }

    #[test]
    fn header_injection_and_bad_names_are_refused() {
        for (name, value) in [
            ("x-a", "ok\r\nx-evil: 1"),
            ("x-a", "line\nbreak"),
            ("x-a", ""),
            ("x-a", "caf\u{e9}"),
            ("x a", "v"),
            ("x:a", "v"),
            ("", "v"),
        ] {
            assert_eq!(
                field_of(StaticHeaders::from_pairs([(name, value)])),
                format!("headers.{name}"),
                "{name:?}: {value:?}"
            );
        }
        let long = "x".repeat(MAX_VALUE_BYTES + 1);
        assert!(StaticHeaders::from_pairs([("x-a", long.as_str())]).is_err());
    }

    #[test]
    fn headers_burstline_sets_cannot_be_overridden() {
        for name in [
            "webhook-signature",
            "Webhook-Id",
            "webhook-timestamp",
            "Content-Type",
            "content-length",
            "host",
            "traceparent",
            "user-agent",
            "transfer-encoding",
        ] {
            let err = StaticHeaders::from_pairs([(name, "v")]).expect_err(name);
            assert!(err.message.contains("set by Burstline"), "{name}: {err:?}");
        }
    }

    #[test]
    fn count_and_total_size_are_capped() {
        let names: Vec<String> = (0..=MAX_HEADERS).map(|i| format!("x-h{i}")).collect();
        let many = StaticHeaders::from_pairs(names.iter().map(|n| (n.as_str(), "v")));
        assert_eq!(field_of(many), "headers");
        let big = "v".repeat(MAX_VALUE_BYTES);
        let too_big =
            StaticHeaders::from_pairs([("x-a", big.as_str()), ("x-b", big.as_str()), ("x-c", "v")]);
        assert_eq!(field_of(too_big), "headers");
    }

    #[test]
    fn patches_set_replace_and_remove_one_header_at_a_time() {
        let h =
            StaticHeaders::from_pairs([("authorization", "Bearer 1"), ("x-team", "ops")]).unwrap();
        let p = h
            .patched([("Authorization", Some("Bearer 2")), ("x-team", None)])
            .unwrap();
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            [("authorization", "Bearer 2")]
        );
        assert!(h.patched([("host", Some("x"))]).is_err());
    }

    #[test]
    fn debug_shows_names_never_values() {
        let h = StaticHeaders::from_pairs([("authorization", "Bearer sekrit")]).unwrap();
        let shown = format!("{h:?}");
        assert!(shown.contains("authorization") && !shown.contains("sekrit"));
    }
}
