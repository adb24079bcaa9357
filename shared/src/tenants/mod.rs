//! Tenants, their API keys, and their webhook endpoints (with the subscription read side).
//! One DynamoDB table holds all three; see `docs/architecture.md`. Endpoint secrets are sealed
//! at rest ([`sealed_doc`]).

pub mod dynamodb;
pub mod memory;
pub mod sealed_doc;

pub use sealed_doc::Sealing;

use crate::apikey::{KeyHash, KeyRecord};
use crate::endpoint::Endpoint;
use crate::error::Result;
use crate::ids::{EndpointId, TenantId};
use crate::subscription::Subscription;
use crate::tenant::Tenant;
use async_trait::async_trait;

/// Tenants and keys.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates a tenant; [`crate::Error::AlreadyExists`] if the id is taken.
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()>;
    /// A tenant by id.
    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>>;
    /// Stores a key record (hash only).
    async fn put_key(&self, key: &KeyRecord) -> Result<()>;
    /// Looks a key up by its hash.
    async fn key(&self, hash: &KeyHash) -> Result<Option<KeyRecord>>;
}

/// Which endpoints of a tenant want which events: the read side of [`EndpointStore`].
#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// The tenant's subscriptions with one request, or `None` when the tenant does not exist.
    async fn subscriptions(&self, tenant: &TenantId) -> Result<Option<Vec<Subscription>>>;
}

/// Webhook endpoints, stored beside their tenant.
#[async_trait]
pub trait EndpointStore: Send + Sync {
    /// Creates an endpoint; [`crate::Error::AlreadyExists`] if the id is taken.
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<()>;
    /// One endpoint of a tenant (strongly consistent).
    async fn endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<Option<Endpoint>>;
    /// Every endpoint of a tenant.
    async fn endpoints(&self, tenant: &TenantId) -> Result<Vec<Endpoint>>;
    /// Replaces an endpoint whose stored version is `endpoint.version - 1`. Returns `false`
    /// (writing nothing) when it changed meanwhile or no longer exists: re-read and retry.
    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<bool>;
    /// Deletes an endpoint; `false` when there was none.
    async fn delete_endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<bool>;
}
