//! Tenants: the owners of keys, endpoints, tasks and events.

use crate::ids::TenantId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Default per-tenant cap on open SSE streams (SPEC §6).
pub const DEFAULT_MAX_STREAMS: u32 = 100;

/// A tenant and its settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Tenant id.
    pub id: TenantId,
    /// Most SSE streams the tenant may hold open at once.
    pub max_streams: u32,
    /// When the tenant was created.
    pub created_at: DateTime<Utc>,
}

impl Tenant {
    /// A new tenant with default settings.
    pub fn new(id: TenantId, now: DateTime<Utc>) -> Self {
        Self {
            id,
            max_streams: DEFAULT_MAX_STREAMS,
            created_at: now,
        }
    }
}
