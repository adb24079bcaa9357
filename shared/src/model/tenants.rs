//! [`TenantStore`], [`SubscriptionStore`] and [`EndpointStore`] under the model, as
//! `DynamoTenants` makes its requests (one item per call; a tenant's endpoints in one `Query`).

use super::Modeled;
use super::latency::pause;
use crate::apikey::{KeyHash, KeyRecord};
use crate::endpoint::Endpoint;
use crate::error::Result;
use crate::ids::{EndpointId, TenantId};
use crate::subscription::Subscription;
use crate::tenant::Tenant;
use crate::tenants::{EndpointStore, SubscriptionStore, TenantStore};
use async_trait::async_trait;

impl<T: ?Sized> Modeled<T> {
    async fn one(&self, operation: &str) {
        pause(self.model.request(operation, 1)).await;
    }
}

#[async_trait]
impl<T: TenantStore + ?Sized> TenantStore for Modeled<T> {
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()> {
        let out = self.inner.create_tenant(tenant).await;
        self.one("dynamodb:PutItem").await;
        out
    }
    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>> {
        let out = self.inner.tenant(id).await;
        self.one("dynamodb:GetItem").await;
        out
    }
    async fn put_key(&self, key: &KeyRecord) -> Result<()> {
        let out = self.inner.put_key(key).await;
        self.one("dynamodb:PutItem").await;
        out
    }
    async fn key(&self, hash: &KeyHash) -> Result<Option<KeyRecord>> {
        let out = self.inner.key(hash).await;
        self.one("dynamodb:GetItem").await;
        out
    }
}

#[async_trait]
impl<T: SubscriptionStore + ?Sized> SubscriptionStore for Modeled<T> {
    async fn subscriptions(&self, tenant: &TenantId) -> Result<Option<Vec<Subscription>>> {
        let out = self.inner.subscriptions(tenant).await;
        // The tenant item and its endpoints.
        let items = out
            .as_ref()
            .ok()
            .and_then(Option::as_ref)
            .map_or(1, |s| s.len() + 1);
        pause(self.model.request("dynamodb:Query", items)).await;
        out
    }
}

#[async_trait]
impl<T: EndpointStore + ?Sized> EndpointStore for Modeled<T> {
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<()> {
        let out = self.inner.create_endpoint(endpoint).await;
        self.one("dynamodb:PutItem").await;
        out
    }
    async fn endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<Option<Endpoint>> {
        let out = self.inner.endpoint(tenant, id).await;
        self.one("dynamodb:GetItem").await;
        out
    }
    async fn endpoints(&self, tenant: &TenantId) -> Result<Vec<Endpoint>> {
        let out = self.inner.endpoints(tenant).await;
        let items = out.as_ref().map_or(1, |e| e.len() + 1);
        pause(self.model.request("dynamodb:Query", items)).await;
        out
    }
    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<bool> {
        let out = self.inner.update_endpoint(endpoint).await;
        self.one("dynamodb:PutItem").await;
        out
    }
    async fn delete_endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<bool> {
        let out = self.inner.delete_endpoint(tenant, id).await;
        self.one("dynamodb:DeleteItem").await;
        out
    }
}
