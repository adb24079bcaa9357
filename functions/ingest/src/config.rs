//! ingest's configuration, read once at cold start. Variable names match `template.yaml`.

use burstline::Error;
use burstline::config::{Lookup, parsed, required};
use burstline::validate::Limits;
use std::time::Duration;

/// Settings of the ingest function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    /// `EVENT_STREAM_NAME`: the Kinesis stream.
    pub stream_name: String,
    /// `TENANTS_TABLE`: API keys.
    pub tenants_table: String,
    /// `MAX_DATA_BYTES` (65536, at most 358400), `MAX_EVENTS_PER_REQUEST` (500) and
    /// `MAX_BODY_BYTES` (5242880).
    pub limits: Limits,
    /// `KEY_CACHE_SECONDS` (60): how long a warm function trusts a key lookup.
    pub key_cache: Duration,
    /// `PUT_ATTEMPTS` (4): attempts per record when Kinesis rejects part of a batch.
    pub put_attempts: u32,
    /// `METRICS_NAMESPACE` (`Burstline`): the CloudWatch namespace of its EMF metrics.
    pub metrics_namespace: String,
}

impl IngestConfig {
    /// Every variable this config reads.
    pub const VARS: [&'static str; 8] = [
        "EVENT_STREAM_NAME",
        "TENANTS_TABLE",
        "MAX_DATA_BYTES",
        "MAX_EVENTS_PER_REQUEST",
        "MAX_BODY_BYTES",
        "KEY_CACHE_SECONDS",
        "PUT_ATTEMPTS",
        "METRICS_NAMESPACE",
    ];

    /// Reads the configuration, naming the variable at fault.
    pub fn from_env(env: Lookup<'_>) -> Result<Self, Error> {
        let d = Limits::default();
        Ok(Self {
            stream_name: required(env, "EVENT_STREAM_NAME")?,
            tenants_table: required(env, "TENANTS_TABLE")?,
            limits: Limits {
                max_data_bytes: parsed(env, "MAX_DATA_BYTES", d.max_data_bytes)?,
                max_events: parsed(env, "MAX_EVENTS_PER_REQUEST", d.max_events)?,
                max_body_bytes: parsed(env, "MAX_BODY_BYTES", d.max_body_bytes)?,
            }
            .clamped(),
            key_cache: Duration::from_secs(parsed(env, "KEY_CACHE_SECONDS", 60)?),
            put_attempts: parsed(env, "PUT_ATTEMPTS", 4u32)?.max(1),
            metrics_namespace: burstline::metrics::namespace(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_clamped_to_the_item_ceiling() {
        let env = |k: &str| match k {
            "EVENT_STREAM_NAME" => Some("s".to_owned()),
            "TENANTS_TABLE" => Some("t".to_owned()),
            "MAX_DATA_BYTES" => Some("10000000".to_owned()),
            _ => None,
        };
        let c = IngestConfig::from_env(&env).unwrap();
        assert_eq!(
            c.limits.max_data_bytes,
            burstline::validate::HARD_MAX_DATA_BYTES
        );
        assert_eq!(c.limits.max_events, 500);
        assert_eq!(c.put_attempts, 4);
    }
}
