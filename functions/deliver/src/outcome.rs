//! What an attempt's result means (SPEC §5), as a pure function.

use std::time::Duration;

/// Why no usable response came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No response within the timeout.
    Timeout,
    /// Connecting failed (refused, reset, TLS, DNS).
    Connect,
    /// The connection broke while reading the response.
    Interrupted,
    /// The host resolves only to addresses webhooks may not reach (SSRF policy).
    RefusedAddress,
}

impl Failure {
    /// The class recorded in attempt logs and dead letters.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::Connect => "connect",
            Failure::Interrupted => "interrupted",
            Failure::RefusedAddress => "refused_address",
        }
    }
}

/// The result of one POST, as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// A response arrived.
    Response {
        /// Status code.
        status: u16,
        /// `Retry-After`, parsed.
        retry_after: Option<Duration>,
    },
    /// No usable response.
    Failed(Failure),
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: done.
    Delivered,
    /// 408, 429, 5xx, timeouts, connection and TLS errors: try again later.
    Retry {
        /// The endpoint's `Retry-After`, honoured within the schedule's window.
        retry_after: Option<Duration>,
    },
    /// 410 Gone: disable the endpoint.
    Gone,
    /// Any other status (4xx, and 3xx since redirects are not followed), or an address the
    /// SSRF policy refuses: dead-letter without retrying.
    Reject,
}

/// Classifies an observed result.
pub fn classify(observed: &Observed) -> Verdict {
    match observed {
        Observed::Response { status, .. } if (200..300).contains(status) => Verdict::Delivered,
        Observed::Response { status: 410, .. } => Verdict::Gone,
        Observed::Response {
            status,
            retry_after,
        } if *status == 408 || *status == 429 || *status >= 500 => Verdict::Retry {
            retry_after: *retry_after,
        },
        Observed::Response { .. } => Verdict::Reject,
        Observed::Failed(Failure::RefusedAddress) => Verdict::Reject,
        Observed::Failed(_) => Verdict::Retry { retry_after: None },
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - now).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: u16) -> Verdict {
        classify(&Observed::Response {
            status: s,
            retry_after: None,
        })
    }

    #[test]
    fn the_spec_outcome_table() {
        assert_eq!(status(200), Verdict::Delivered);
        assert_eq!(status(204), Verdict::Delivered);
        for s in [408, 429, 500, 502, 503, 504] {
            assert_eq!(status(s), Verdict::Retry { retry_after: None }, "{s}");
        }
        assert_eq!(status(410), Verdict::Gone);
        for s in [301, 302, 400, 401, 403, 404, 413, 422] {
            assert_eq!(status(s), Verdict::Reject, "{s}");
        }
        for f in [Failure::Timeout, Failure::Connect, Failure::Interrupted] {
            assert_eq!(
                classify(&Observed::Failed(f)),
                Verdict::Retry { retry_after: None }
            );
        }
        assert_eq!(
            classify(&Observed::Failed(Failure::RefusedAddress)),
            Verdict::Reject
        );
    }

    #[test]
    fn retry_after_forms() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 10:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
