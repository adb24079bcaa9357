//! The delivery attempt log: every webhook attempt with its outcome, kept for a while (TTL)
//! so tenants can see what happened (`GET /v1/endpoints/{id}/deliveries`).

pub mod dynamodb;
pub mod memory;

use crate::error::Result;
use crate::ids::{EndpointId, TaskId, TenantId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    /// 2xx.
    Delivered,
    /// Will be retried.
    Retrying,
    /// Dead-lettered (permanent failure or retries exhausted).
    Failed,
}

/// One attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// Tenant.
    pub tenant_id: TenantId,
    /// Endpoint.
    pub endpoint_id: EndpointId,
    /// The `webhook-id` sent.
    pub webhook_id: String,
    /// Task of the event(s).
    pub task_id: TaskId,
    /// Seqs carried.
    pub seqs: Vec<u64>,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it started.
    pub at: DateTime<Utc>,
    /// Outcome.
    pub status: AttemptStatus,
    /// HTTP status, if a response came.
    pub http_status: Option<u16>,
    /// Time to response or failure.
    pub latency_ms: u64,
    /// Error class when there was no usable response.
    pub error: Option<String>,
    /// Set when this attempt paused the endpoint (its circuit breaker tripped, or it answered
    /// `429`/`503` with `Retry-After`): no request goes to it before then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_until: Option<DateTime<Utc>>,
}

/// A page of attempts, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttemptPage {
    /// The attempts.
    pub attempts: Vec<AttemptRecord>,
    /// Pass back to get the next page.
    pub cursor: Option<String>,
}

/// Recording and listing attempts.
#[async_trait]
pub trait AttemptLog: Send + Sync {
    /// Stores attempts (25 per `BatchWriteItem`).
    async fn record(&self, attempts: &[AttemptRecord]) -> Result<()>;
    /// An endpoint's attempts, newest first, `limit` per page.
    async fn list(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<AttemptPage>;
}

/// Sort key: time first so pages come newest first, then what makes it unique.
pub(crate) fn sort_key(a: &AttemptRecord) -> String {
    format!(
        "{}#{}#{}",
        crate::event::format_time(&a.at),
        a.webhook_id,
        a.attempt
    )
}
