//! Webhook endpoints: a tenant's URL, signing secrets, event-type filters, batching and health.
//! The [`Subscription`] fanout reads is a projection of the same stored item.

use crate::breaker::Breaker;
use crate::ids::{EndpointId, TenantId};
use crate::receiver_headers::StaticHeaders;
use crate::signing::WebhookSecret;
use crate::ssrf::is_public;
use crate::subscription::{EventFilter, Subscription};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Most events one batched POST may carry.
pub const MAX_BATCH_EVENTS: u32 = 100;
/// Longest batching wait accepted: batches form in fanout from one Kinesis batch, whose
/// batching window (1 s in `template.yaml`) is the bound on the latency batching adds.
pub const MAX_BATCH_WAIT_MS: u32 = 1000;

/// Why an endpoint receives nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisabledReason {
    /// The tenant disabled it.
    Manual,
    /// It answered 410 Gone.
    Gone,
    /// It failed continuously for longer than the configured limit.
    Failing,
}

/// Whether an endpoint takes deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EndpointState {
    /// Deliveries flow.
    Enabled,
    /// Deliveries stop; pending jobs go to the DLQ for redrive.
    Disabled {
        /// Why.
        reason: DisabledReason,
        /// Since when.
        at: DateTime<Utc>,
    },
}

/// One signing secret and how long it stays valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretVersion {
    /// The secret.
    pub secret: WebhookSecret,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops signing (set on the old secret at rotation).
    pub expires_at: Option<DateTime<Utc>>,
}

/// Opt-in batching: one POST carries up to `max_events` events of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batching {
    /// Events per POST, 1..=100.
    pub max_events: u32,
    /// Longest a batch may wait to fill, 0..=1000 ms.
    pub max_wait_ms: u32,
}

/// A webhook endpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Id.
    pub id: EndpointId,
    /// Owner.
    pub tenant_id: TenantId,
    /// Where to POST.
    pub url: String,
    /// Free text.
    pub description: String,
    /// Event types it wants.
    pub filters: Vec<EventFilter>,
    /// Enabled or why not.
    pub state: EndpointState,
    /// Newest first; all unexpired ones sign.
    pub secrets: Vec<SecretVersion>,
    /// Batching, if opted in.
    pub batching: Option<Batching>,
    /// Static headers sent with every webhook (write-only: the api shows names only).
    #[serde(default, skip_serializing_if = "StaticHeaders::is_empty")]
    pub headers: StaticHeaders,
    /// Start of the current run of failures, if failing.
    pub failing_since: Option<DateTime<Utc>>,
    /// The circuit breaker: failures in a row, and a pause while paused ([`crate::breaker`]).
    #[serde(default, skip_serializing_if = "Breaker::is_clear")]
    pub breaker: Breaker,
    /// Most requests per second it receives, across every deliver invocation; `None`: the
    /// default ([`crate::endpoint_limits`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<u32>,
    /// Most requests in flight to it at once, across every deliver invocation; `None`: the
    /// default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Bumped on every write; writes are conditional on it.
    pub version: u64,
}

impl Endpoint {
    /// A new enabled endpoint of `tenant_id` at `url`, wanting every event, signed with
    /// `secret`. Callers set the optional parts (description, filters, batching) after.
    pub fn new(
        tenant_id: TenantId,
        url: String,
        secret: WebhookSecret,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: EndpointId::generate(),
            tenant_id,
            url,
            description: String::new(),
            filters: vec![EventFilter::all()],
            state: EndpointState::Enabled,
            secrets: vec![SecretVersion {
                secret,
                created_at: now,
                expires_at: None,
            }],
            batching: None,
            headers: StaticHeaders::default(),
            failing_since: None,
            breaker: Breaker::default(),
            rate_limit: None,
            max_in_flight: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// Whether deliveries flow.
    pub fn is_enabled(&self) -> bool {
        self.state == EndpointState::Enabled
    }

    /// The secrets that sign at `now`, newest first.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&WebhookSecret> {
        self.secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|e| e > now))
            .map(|s| &s.secret)
            .collect()
    }

    /// The read side fanout uses.
    pub fn subscription(&self) -> Subscription {
        Subscription {
            endpoint_id: self.id.clone(),
            filters: self.filters.clone(),
            enabled: self.is_enabled(),
        }
    }

    /// Adds a new secret; the previous ones keep signing for `overlap`. Returns the new secret.
    pub fn rotate(
        &mut self,
        now: DateTime<Utc>,
        overlap: chrono::Duration,
    ) -> Result<WebhookSecret, crate::Error> {
        let fresh = WebhookSecret::generate()?;
        for s in &mut self.secrets {
            let until = now + overlap;
            s.expires_at = Some(s.expires_at.map_or(until, |e| e.min(until)));
        }
        self.secrets
            .retain(|s| s.expires_at.is_none_or(|e| e > now));
        self.secrets.insert(
            0,
            SecretVersion {
                secret: fresh.clone(),
                created_at: now,
                expires_at: None,
            },
        );
        Ok(fresh)
    }
}

/// Checks an endpoint URL: `https` with a host and no private literal address. Plain `http`
/// and private addresses only when `allow_private` (local development; unsafe).
pub fn validate_url(raw: &str, allow_private: bool) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("not a valid URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => return Err("must use https".into()),
        other => return Err(format!("scheme {other} is not allowed; use https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials".into());
    }
    let host = match url.host() {
        None => return Err("must have a host".into()),
        Some(h) => h,
    };
    let literal: Option<IpAddr> = match host {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if !allow_private
                && (d == "localhost" || d.ends_with(".localhost") || d.ends_with(".internal"))
            {
                return Err(format!("host {d} is not public"));
            }
            None
        }
    };
    if let Some(ip) = literal
        && !allow_private
        && !is_public(ip)
    {
        return Err(format!("address {ip} is not public"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_public_https() {
        assert!(validate_url("https://hooks.example.com/x", false).is_ok());
        for bad in [
            "http://hooks.example.com",
            "ftp://x.example",
            "https://127.0.0.1/",
            "https://10.0.0.1/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://169.254.169.254/latest",
            "https://localhost/",
            "https://user:pw@hooks.example.com/",
            "not a url",
        ] {
            assert!(validate_url(bad, false).is_err(), "{bad}");
        }
        assert!(validate_url("http://127.0.0.1:8080/hook", true).is_ok());
    }

    #[test]
    fn rotation_keeps_the_old_secret_for_the_overlap() {
        let now = Utc::now();
        let first = WebhookSecret::generate().unwrap();
        let mut ep = Endpoint::new(
            "acme".parse().unwrap(),
            "https://x.example".into(),
            first.clone(),
            now,
        );
        let fresh = ep.rotate(now, chrono::Duration::hours(24)).unwrap();
        assert_eq!(ep.signing_secrets(now), vec![&fresh, &first]);
        let later = now + chrono::Duration::hours(25);
        assert_eq!(ep.signing_secrets(later), vec![&fresh]);
        // A second rotation after the overlap drops the expired secret.
        ep.rotate(later, chrono::Duration::hours(24)).unwrap();
        assert_eq!(ep.secrets.len(), 2);
    }
}
