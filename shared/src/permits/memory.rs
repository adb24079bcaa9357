//! In-memory [`PermitStore`]: the same condition as the DynamoDB adapter.

use super::PermitStore;
use crate::endpoint_limits::Permits;
use crate::error::{Error, Result};
use crate::ids::{EndpointId, TenantId};
use crate::requests::RequestCounter;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Key = (TenantId, EndpointId);

/// Permits held in memory. Cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct MemoryPermits {
    items: Arc<Mutex<HashMap<Key, (Permits, u64)>>>,
    requests: RequestCounter,
}

impl MemoryPermits {
    /// No permits, counting requests in `requests`.
    pub fn new(requests: RequestCounter) -> Self {
        Self {
            items: Arc::default(),
            requests,
        }
    }
}

#[async_trait]
impl PermitStore for MemoryPermits {
    async fn permits(&self, tenant: &TenantId, endpoint: &EndpointId) -> Result<(Permits, u64)> {
        self.requests.record("dynamodb:GetItem");
        let items = self
            .items
            .lock()
            .map_err(|_| Error::Internal("memory permits lock poisoned".into()))?;
        Ok(items
            .get(&(tenant.clone(), endpoint.clone()))
            .cloned()
            .unwrap_or_default())
    }

    async fn put_permits(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        permits: &Permits,
        expected: u64,
    ) -> Result<bool> {
        self.requests.record("dynamodb:UpdateItem");
        let mut items = self
            .items
            .lock()
            .map_err(|_| Error::Internal("memory permits lock poisoned".into()))?;
        let key = (tenant.clone(), endpoint.clone());
        let current = items.get(&key).map_or(0, |(_, v)| *v);
        if current != expected {
            return Ok(false);
        }
        items.insert(key, (permits.clone(), expected + 1));
        Ok(true)
    }
}
