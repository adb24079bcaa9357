//! fanout's configuration, read once at cold start. Variable names match `template.yaml`.

use burstline::Error;
use burstline::config::{Lookup, parsed, required};
use std::time::Duration;

/// Settings of the fanout function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanoutConfig {
    /// `EVENTS_TABLE`: events, task heads and id markers.
    pub events_table: String,
    /// `TENANTS_TABLE`: tenants and their endpoints (subscriptions).
    pub tenants_table: String,
    /// `DELIVERY_QUEUE_URL`: where webhook jobs go.
    pub delivery_queue_url: String,
    /// `EVENT_STREAM_NAME`: the tenants' log, for `burstline.event.rejected` events.
    pub stream_name: String,
    /// `RETENTION_DAYS` (default 7): stored events expire after this.
    pub retention_days: u32,
    /// `SUBSCRIPTION_CACHE_SECONDS` (default 10): how long a warm function reuses a tenant's
    /// endpoint list, and so how long a new endpoint may miss events.
    pub subscription_cache: Duration,
    /// `METRICS_NAMESPACE` (`Burstline`): the CloudWatch namespace of its EMF metrics.
    pub metrics_namespace: String,
}

impl FanoutConfig {
    /// Every variable this config reads.
    pub const VARS: [&'static str; 7] = [
        "EVENTS_TABLE",
        "TENANTS_TABLE",
        "DELIVERY_QUEUE_URL",
        "EVENT_STREAM_NAME",
        "RETENTION_DAYS",
        "SUBSCRIPTION_CACHE_SECONDS",
        "METRICS_NAMESPACE",
    ];

    /// Reads the configuration, naming the variable at fault.
    pub fn from_env(env: Lookup<'_>) -> Result<Self, Error> {
        Ok(Self {
            events_table: required(env, "EVENTS_TABLE")?,
            tenants_table: required(env, "TENANTS_TABLE")?,
            delivery_queue_url: required(env, "DELIVERY_QUEUE_URL")?,
            stream_name: required(env, "EVENT_STREAM_NAME")?,
            retention_days: parsed(env, "RETENTION_DAYS", 7)?,
            subscription_cache: Duration::from_secs(parsed(env, "SUBSCRIPTION_CACHE_SECONDS", 10)?),
            metrics_namespace: burstline::metrics::namespace(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_required_and_defaults() {
        let env = |k: &str| match k {
            "EVENTS_TABLE" => Some("ev".to_owned()),
            "TENANTS_TABLE" => Some("tn".to_owned()),
            "DELIVERY_QUEUE_URL" => Some("http://q".to_owned()),
            "EVENT_STREAM_NAME" => Some("events".to_owned()),
            _ => None,
        };
        let c = FanoutConfig::from_env(&env).unwrap();
        assert_eq!(c.retention_days, 7);
        assert_eq!(c.stream_name, "events");
        assert_eq!(c.subscription_cache, Duration::from_secs(10));
        let err = FanoutConfig::from_env(&|_| None).unwrap_err().to_string();
        assert!(err.contains("EVENTS_TABLE"), "{err}");
    }
}
