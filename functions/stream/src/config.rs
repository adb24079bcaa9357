//! stream's configuration, read once at cold start. Variable names match `template.yaml`.

use crate::poll::PollPolicy;
use burstline::Error;
use burstline::config::{Lookup, parsed, required};
use burstline::leases::MAX_LEASE_TTL;
use burstline::stream_token::{MIN_SECRET_BYTES, TokenSecret};
use std::time::Duration;

/// The longest `TASK_WAIT_SECONDS`: the wait happens before the response starts, and a client
/// (or a proxy) should not be kept without an answer for long.
pub const MAX_TASK_WAIT: Duration = Duration::from_secs(60);

/// Settings of the stream function.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// `EVENTS_TABLE`: events and task heads.
    pub events_table: String,
    /// `TENANTS_TABLE`: keys, tenants' `max_streams`, and stream slots.
    pub tenants_table: String,
    /// `STREAM_TOKEN_SECRET`: HS256 secret shared with the api (at least 32 bytes).
    pub token_secret: TokenSecret,
    /// `KEY_CACHE_SECONDS` (60): how long a warm function trusts a key lookup.
    pub key_cache: Duration,
    /// Timings and sizes of a stream.
    pub settings: StreamSettings,
    /// `METRICS_NAMESPACE` (`Burstline`): the CloudWatch namespace of its EMF metrics.
    pub metrics_namespace: String,
}

/// How a stream behaves once open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSettings {
    /// `STREAM_LIFETIME_SECONDS` (840): no response lasts longer, whatever the segment
    /// length, so every stream ends before Lambda's 15-minute limit.
    pub lifetime: Duration,
    /// `STREAM_SEGMENT_SECONDS` (55, at most the lifetime): a response ends cleanly after this
    /// even while events flow, with a `retry:` of `reconnect`, and the client resumes with
    /// `Last-Event-ID`. Lambda never learns that a client left, so this is what bounds an
    /// abandoned busy stream: 55 s keeps "its slot is free within 60 s" with room for the
    /// release call.
    pub segment: Duration,
    /// `STREAM_IDLE_SECONDS` (30): a response ends, as at a segment's end, once no event has
    /// been sent for this long; an abandoned quiet stream stops after it.
    pub idle: Duration,
    /// `RECONNECT_MS` (250): the `retry:` of the frame that ends a segment, so the client
    /// comes back at once instead of after `retry`.
    pub reconnect: Duration,
    /// `HEARTBEAT_SECONDS` (15, at most 15): longest silence before a `: ping`.
    pub heartbeat: Duration,
    /// `RETRY_MS` (1000): the `retry:` sent first, the client's reconnect delay.
    pub retry: Duration,
    /// `POLL_MIN_MS` (100) and `POLL_MAX_MS` (1000): the adaptive polling range.
    pub poll: PollPolicy,
    /// `MAX_READS_PER_SECOND` (10, at least 1): the most event reads one stream makes in any
    /// second, whether polling a burst, replaying full pages or retrying.
    pub max_reads_per_second: u32,
    /// `PAGE_SIZE` (100): events per replay query.
    pub page_size: usize,
    /// `LEASE_SECONDS` (90, at most 120): a crashed stream's slot frees itself after this.
    pub lease_ttl: Duration,
    /// `THROTTLE_RETRY_SECONDS` (10): `Retry-After` / `retry:` when over budget.
    pub throttle_retry: Duration,
    /// `RETENTION_DAYS` (7, as fanout's): older tasks may have lost events to TTL.
    pub retention: chrono::Duration,
    /// `TASK_WAIT_SECONDS` (10, at most 60): how long a request for a task with no committed
    /// event yet waits for fanout's first commit before answering 404.
    pub task_wait: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            lifetime: Duration::from_secs(14 * 60),
            segment: Duration::from_secs(55),
            idle: Duration::from_secs(30),
            reconnect: Duration::from_millis(250),
            heartbeat: Duration::from_secs(15),
            retry: Duration::from_secs(1),
            poll: PollPolicy::default(),
            max_reads_per_second: 10,
            page_size: 100,
            lease_ttl: Duration::from_secs(90),
            throttle_retry: Duration::from_secs(10),
            retention: chrono::Duration::days(7),
            task_wait: Duration::from_secs(10),
        }
    }
}

impl StreamConfig {
    /// Every variable this config reads.
    pub const VARS: [&'static str; 19] = [
        "EVENTS_TABLE",
        "TENANTS_TABLE",
        "STREAM_TOKEN_SECRET",
        "KEY_CACHE_SECONDS",
        "STREAM_LIFETIME_SECONDS",
        "STREAM_SEGMENT_SECONDS",
        "STREAM_IDLE_SECONDS",
        "RECONNECT_MS",
        "HEARTBEAT_SECONDS",
        "RETRY_MS",
        "POLL_MIN_MS",
        "POLL_MAX_MS",
        "MAX_READS_PER_SECOND",
        "PAGE_SIZE",
        "LEASE_SECONDS",
        "THROTTLE_RETRY_SECONDS",
        "RETENTION_DAYS",
        "METRICS_NAMESPACE",
        "TASK_WAIT_SECONDS",
    ];

    /// Reads the configuration, naming the variable at fault.
    pub fn from_env(env: Lookup<'_>) -> Result<Self, Error> {
        let d = StreamSettings::default();
        let secs =
            |var, default: Duration| parsed(env, var, default.as_secs()).map(Duration::from_secs);
        let millis = |var, default: Duration| {
            parsed(
                env,
                var,
                u64::try_from(default.as_millis()).unwrap_or(u64::MAX),
            )
            .map(Duration::from_millis)
        };
        let token_secret =
            TokenSecret::new(required(env, "STREAM_TOKEN_SECRET")?).ok_or(Error::Config {
                var: "STREAM_TOKEN_SECRET",
                message: format!("must be at least {MIN_SECRET_BYTES} bytes"),
            })?;
        let lifetime = secs("STREAM_LIFETIME_SECONDS", d.lifetime)?;
        Ok(Self {
            events_table: required(env, "EVENTS_TABLE")?,
            tenants_table: required(env, "TENANTS_TABLE")?,
            token_secret,
            key_cache: secs("KEY_CACHE_SECONDS", Duration::from_secs(60))?,
            metrics_namespace: burstline::metrics::namespace(env)?,
            settings: StreamSettings {
                lifetime,
                segment: secs("STREAM_SEGMENT_SECONDS", d.segment)?
                    .clamp(Duration::from_secs(1), lifetime.max(Duration::from_secs(1))),
                idle: secs("STREAM_IDLE_SECONDS", d.idle)?.max(Duration::from_secs(1)),
                reconnect: millis("RECONNECT_MS", d.reconnect)?,
                heartbeat: secs("HEARTBEAT_SECONDS", d.heartbeat)?
                    .clamp(Duration::from_secs(1), d.heartbeat),
                retry: millis("RETRY_MS", d.retry)?,
                poll: PollPolicy {
                    min: millis("POLL_MIN_MS", d.poll.min)?,
                    max: millis("POLL_MAX_MS", d.poll.max)?,
                },
                max_reads_per_second: parsed(env, "MAX_READS_PER_SECOND", d.max_reads_per_second)?
                    .max(1),
                page_size: parsed(env, "PAGE_SIZE", d.page_size)?.clamp(1, 1000),
                lease_ttl: secs("LEASE_SECONDS", d.lease_ttl)?
                    .clamp(Duration::from_secs(10), MAX_LEASE_TTL),
                throttle_retry: secs("THROTTLE_RETRY_SECONDS", d.throttle_retry)?,
                retention: chrono::Duration::days(parsed(env, "RETENTION_DAYS", 7i64)?),
                task_wait: secs("TASK_WAIT_SECONDS", d.task_wait)?.min(MAX_TASK_WAIT),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_clamps() {
        let env = |k: &str| match k {
            "EVENTS_TABLE" => Some("e".to_owned()),
            "TENANTS_TABLE" => Some("t".to_owned()),
            "STREAM_TOKEN_SECRET" => Some("x".repeat(32)),
            "HEARTBEAT_SECONDS" => Some("60".to_owned()),
            "LEASE_SECONDS" => Some("600".to_owned()),
            "TASK_WAIT_SECONDS" => Some("3600".to_owned()),
            "STREAM_LIFETIME_SECONDS" => Some("120".to_owned()),
            "STREAM_SEGMENT_SECONDS" => Some("600".to_owned()),
            _ => None,
        };
        let c = StreamConfig::from_env(&env).unwrap();
        assert_eq!(c.settings.task_wait, MAX_TASK_WAIT);
        assert_eq!(c.settings.heartbeat, Duration::from_secs(15));
        assert_eq!(c.settings.lease_ttl, MAX_LEASE_TTL);
        assert_eq!(c.settings.lifetime, Duration::from_secs(120));
        assert_eq!(
            c.settings.segment, c.settings.lifetime,
            "at most the lifetime"
        );
        assert_eq!(c.settings.idle, Duration::from_secs(30));
        assert_eq!(c.settings.reconnect, Duration::from_millis(250));
        assert_eq!(c.settings.poll, PollPolicy::default());
    }

    #[test]
    fn short_secrets_name_the_variable() {
        let env = |k: &str| match k {
            "EVENTS_TABLE" | "TENANTS_TABLE" => Some("x".to_owned()),
            "STREAM_TOKEN_SECRET" => Some("short".to_owned()),
            _ => None,
        };
        let err = StreamConfig::from_env(&env).unwrap_err().to_string();
        assert!(err.contains("STREAM_TOKEN_SECRET"), "{err}");
    }
}
