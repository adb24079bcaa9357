//! In-memory [`TenantStore`] and [`SubscriptionStore`].

use super::{EndpointStore, SubscriptionStore, TenantStore};
use crate::apikey::{KeyHash, KeyRecord};
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::ids::{EndpointId, TenantId};
use crate::requests::RequestCounter;
use crate::subscription::Subscription;
use crate::tenant::Tenant;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Inner {
    tenants: HashMap<TenantId, Tenant>,
    keys: HashMap<KeyHash, KeyRecord>,
    endpoints: HashMap<TenantId, BTreeMap<EndpointId, Endpoint>>,
}

/// Tenants, keys and subscriptions in memory. Cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct MemoryTenants {
    inner: Arc<Mutex<Inner>>,
    requests: RequestCounter,
}

impl MemoryTenants {
    /// An empty directory counting requests in `requests`.
    pub fn new(requests: RequestCounter) -> Self {
        Self {
            inner: Arc::default(),
            requests,
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>> {
        self.inner
            .lock()
            .map_err(|_| Error::Internal("memory tenants lock poisoned".into()))
    }
}

#[async_trait]
impl TenantStore for MemoryTenants {
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()> {
        self.requests.record("dynamodb:PutItem");
        let mut inner = self.lock()?;
        if inner.tenants.contains_key(&tenant.id) {
            return Err(Error::AlreadyExists(format!("tenant {}", tenant.id)));
        }
        inner.tenants.insert(tenant.id.clone(), tenant.clone());
        Ok(())
    }

    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>> {
        self.requests.record("dynamodb:GetItem");
        Ok(self.lock()?.tenants.get(id).cloned())
    }

    async fn put_key(&self, key: &KeyRecord) -> Result<()> {
        self.requests.record("dynamodb:PutItem");
        self.lock()?.keys.insert(key.hash.clone(), key.clone());
        Ok(())
    }

    async fn key(&self, hash: &KeyHash) -> Result<Option<KeyRecord>> {
        self.requests.record("dynamodb:GetItem");
        Ok(self.lock()?.keys.get(hash).cloned())
    }
}

#[async_trait]
impl SubscriptionStore for MemoryTenants {
    async fn subscriptions(&self, tenant: &TenantId) -> Result<Option<Vec<Subscription>>> {
        self.requests.record("dynamodb:Query");
        let inner = self.lock()?;
        if !inner.tenants.contains_key(tenant) {
            return Ok(None);
        }
        Ok(Some(
            inner
                .endpoints
                .get(tenant)
                .map(|m| m.values().map(Endpoint::subscription).collect())
                .unwrap_or_default(),
        ))
    }
}

#[async_trait]
impl EndpointStore for MemoryTenants {
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<()> {
        self.requests.record("dynamodb:PutItem");
        let mut inner = self.lock()?;
        let map = inner
            .endpoints
            .entry(endpoint.tenant_id.clone())
            .or_default();
        if map.contains_key(&endpoint.id) {
            return Err(Error::AlreadyExists(format!("endpoint {}", endpoint.id)));
        }
        map.insert(endpoint.id.clone(), endpoint.clone());
        Ok(())
    }

    async fn endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<Option<Endpoint>> {
        self.requests.record("dynamodb:GetItem");
        Ok(self
            .lock()?
            .endpoints
            .get(tenant)
            .and_then(|m| m.get(id))
            .cloned())
    }

    async fn endpoints(&self, tenant: &TenantId) -> Result<Vec<Endpoint>> {
        self.requests.record("dynamodb:Query");
        Ok(self
            .lock()?
            .endpoints
            .get(tenant)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<bool> {
        self.requests.record("dynamodb:PutItem");
        let mut inner = self.lock()?;
        let Some(current) = inner
            .endpoints
            .get_mut(&endpoint.tenant_id)
            .and_then(|m| m.get_mut(&endpoint.id))
        else {
            return Ok(false);
        };
        if current.version + 1 != endpoint.version {
            return Ok(false);
        }
        *current = endpoint.clone();
        Ok(true)
    }

    async fn delete_endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<bool> {
        self.requests.record("dynamodb:DeleteItem");
        Ok(self
            .lock()?
            .endpoints
            .get_mut(tenant)
            .is_some_and(|m| m.remove(id).is_some()))
    }
}
