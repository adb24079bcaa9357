//! api's configuration, read once at cold start. Variable names match `template.yaml`.

use burstline::Error;
use burstline::config::{Lookup, parsed, required};
use std::time::Duration;

/// Settings of the api function.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `EVENTS_TABLE`: stored events and task heads (replay).
    pub events_table: String,
    /// `TENANTS_TABLE`: keys and endpoints.
    pub tenants_table: String,
    /// `DELIVERIES_TABLE`: the attempt log.
    pub deliveries_table: String,
    /// `DELIVERY_QUEUE_URL`: where replays are enqueued.
    pub delivery_queue_url: String,
    /// `KEY_CACHE_SECONDS` (60).
    pub key_cache: Duration,
    /// `SECRET_ROTATION_OVERLAP_HOURS` (24): how long the old secret keeps signing.
    pub rotation_overlap: chrono::Duration,
    /// `ALLOW_PRIVATE_NETWORKS` (false): accept `http` and private endpoint URLs. UNSAFE:
    /// local development only.
    pub allow_private_networks: bool,
    /// `SEALING_KEY_ARN`: the KMS key endpoint secrets are sealed under.
    pub sealing_key_arn: String,
    /// `STREAM_URL`, `STREAM_TOKEN_SECRET`, `STREAM_TOKEN_TTL_SECONDS`: the task routes.
    pub tasks: crate::task_config::TaskConfig,
    /// `METRICS_NAMESPACE` (`Burstline`): the CloudWatch namespace of its EMF metrics.
    pub metrics_namespace: String,
}

impl ApiConfig {
    /// Every variable this config reads.
    pub const VARS: [&'static str; 12] = [
        "STREAM_URL",
        "STREAM_TOKEN_SECRET",
        "STREAM_TOKEN_TTL_SECONDS",
        "EVENTS_TABLE",
        "TENANTS_TABLE",
        "DELIVERIES_TABLE",
        "DELIVERY_QUEUE_URL",
        "KEY_CACHE_SECONDS",
        "SECRET_ROTATION_OVERLAP_HOURS",
        "ALLOW_PRIVATE_NETWORKS",
        "METRICS_NAMESPACE",
        "SEALING_KEY_ARN",
    ];

    /// Reads the configuration, naming the variable at fault.
    pub fn from_env(env: Lookup<'_>) -> Result<Self, Error> {
        Ok(Self {
            events_table: required(env, "EVENTS_TABLE")?,
            tenants_table: required(env, "TENANTS_TABLE")?,
            deliveries_table: required(env, "DELIVERIES_TABLE")?,
            delivery_queue_url: required(env, "DELIVERY_QUEUE_URL")?,
            key_cache: Duration::from_secs(parsed(env, "KEY_CACHE_SECONDS", 60)?),
            rotation_overlap: chrono::Duration::hours(parsed(
                env,
                "SECRET_ROTATION_OVERLAP_HOURS",
                24,
            )?),
            allow_private_networks: parsed(env, "ALLOW_PRIVATE_NETWORKS", false)?,
            sealing_key_arn: required(env, "SEALING_KEY_ARN")?,
            tasks: crate::task_config::TaskConfig::from_env(env)?,
            metrics_namespace: burstline::metrics::namespace(env)?,
        })
    }
}
