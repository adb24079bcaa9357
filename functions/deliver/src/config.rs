//! deliver's configuration, read once at cold start. Variable names match `template.yaml`.

use crate::deadline::SETTLE_TIME;
use crate::policy::Policy;
use burstline::Error;
use burstline::config::{Lookup, parsed, required};
use burstline::schedule::{default_schedule, parse_schedule};
use std::time::Duration;

/// Settings of the deliver function.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverConfig {
    /// `EVENTS_TABLE`: stored events and task heads.
    pub events_table: String,
    /// `TENANTS_TABLE`: endpoints.
    pub tenants_table: String,
    /// `DELIVERIES_TABLE`: the attempt log.
    pub deliveries_table: String,
    /// `DELIVERY_QUEUE_URL`: where retries are re-enqueued.
    pub delivery_queue_url: String,
    /// `DELIVERY_DLQ_URL`: dead letters.
    pub delivery_dlq_url: String,
    /// `EVENT_STREAM_NAME`: for `burstline.endpoint.disabled` events.
    pub stream_name: String,
    /// `RETRY_SCHEDULE` (`1m,5m,30m,2h,8h,24h`), `DISABLE_AFTER_HOURS` (72); the deadline
    /// margin follows `WEBHOOK_TIMEOUT_SECONDS`.
    pub policy: Policy,
    /// `WEBHOOK_TIMEOUT_SECONDS` (10): connect and total timeout per POST.
    pub timeout: Duration,
    /// `ATTEMPT_LOG_DAYS` (30): how long attempts are kept.
    pub attempt_log_days: u32,
    /// `ALLOW_PRIVATE_NETWORKS` (false): lets webhooks reach plain http and private
    /// addresses. UNSAFE: local development only (`burstline dev`, tests).
    pub allow_private_networks: bool,
    /// `METRICS_NAMESPACE` (`Burstline`): the CloudWatch namespace of its EMF metrics.
    pub metrics_namespace: String,
    /// `SEALING_KEY_ARN`: the KMS key endpoint secrets are sealed under (deliver only opens).
    pub sealing_key_arn: String,
}

impl DeliverConfig {
    /// Every variable this config reads.
    pub const VARS: [&'static str; 13] = [
        "EVENTS_TABLE",
        "TENANTS_TABLE",
        "DELIVERIES_TABLE",
        "DELIVERY_QUEUE_URL",
        "DELIVERY_DLQ_URL",
        "EVENT_STREAM_NAME",
        "RETRY_SCHEDULE",
        "DISABLE_AFTER_HOURS",
        "WEBHOOK_TIMEOUT_SECONDS",
        "ATTEMPT_LOG_DAYS",
        "ALLOW_PRIVATE_NETWORKS",
        "METRICS_NAMESPACE",
        "SEALING_KEY_ARN",
    ];

    /// Reads the configuration, naming the variable at fault.
    pub fn from_env(env: Lookup<'_>) -> Result<Self, Error> {
        let schedule = match env("RETRY_SCHEDULE").filter(|s| !s.trim().is_empty()) {
            None => default_schedule(),
            Some(s) => parse_schedule(&s).map_err(|message| Error::Config {
                var: "RETRY_SCHEDULE",
                message,
            })?,
        };
        let hours: i64 = parsed(env, "DISABLE_AFTER_HOURS", 72)?;
        let timeout = Duration::from_secs(parsed(env, "WEBHOOK_TIMEOUT_SECONDS", 10)?);
        Ok(Self {
            events_table: required(env, "EVENTS_TABLE")?,
            tenants_table: required(env, "TENANTS_TABLE")?,
            deliveries_table: required(env, "DELIVERIES_TABLE")?,
            delivery_queue_url: required(env, "DELIVERY_QUEUE_URL")?,
            delivery_dlq_url: required(env, "DELIVERY_DLQ_URL")?,
            stream_name: required(env, "EVENT_STREAM_NAME")?,
            policy: Policy {
                schedule,
                disable_after: chrono::Duration::hours(hours),
                // A POST that starts before the deadline margin ends before the deadline.
                deadline_margin: timeout + SETTLE_TIME,
                ..Policy::default()
            },
            timeout,
            attempt_log_days: parsed(env, "ATTEMPT_LOG_DAYS", 30)?,
            allow_private_networks: parsed(env, "ALLOW_PRIVATE_NETWORKS", false)?,
            metrics_namespace: burstline::metrics::namespace(env)?,
            sealing_key_arn: required(env, "SEALING_KEY_ARN")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors() {
        let env = |k: &str| match k {
            "EVENTS_TABLE" | "TENANTS_TABLE" | "DELIVERIES_TABLE" | "EVENT_STREAM_NAME"
            | "SEALING_KEY_ARN" => Some("x".to_owned()),
            "DELIVERY_QUEUE_URL" | "DELIVERY_DLQ_URL" => Some("http://q".to_owned()),
            _ => None,
        };
        let c = DeliverConfig::from_env(&env).unwrap();
        assert_eq!(c.policy.schedule, default_schedule());
        assert_eq!(c.policy.disable_after, chrono::Duration::hours(72));
        assert_eq!(c.policy.deadline_margin, Duration::from_secs(20));
        assert_eq!(c.policy, Policy::default(), "the defaults agree");
        assert!(!c.allow_private_networks);
        let bad = |k: &str| {
            if k == "RETRY_SCHEDULE" {
                Some("soon".to_owned())
            } else {
                env(k)
            }
        };
        assert!(
            DeliverConfig::from_env(&bad)
                .unwrap_err()
                .to_string()
                .contains("RETRY_SCHEDULE")
        );
    }
}
