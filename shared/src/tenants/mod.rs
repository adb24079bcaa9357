//! Tenants, their API keys, and the subscription read side of their webhook endpoints.
//! One DynamoDB table holds all three; see `docs/architecture.md`.

pub mod dynamodb;
pub mod memory;

use crate::apikey::{KeyHash, KeyRecord};
use crate::error::Result;
use crate::ids::TenantId;
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

/// Which endpoints of a tenant want which events.
#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// The tenant's subscriptions with one request, or `None` when the tenant does not exist.
    async fn subscriptions(&self, tenant: &TenantId) -> Result<Option<Vec<Subscription>>>;
    /// Creates or replaces one endpoint's subscription.
    async fn put_subscription(&self, tenant: &TenantId, subscription: &Subscription) -> Result<()>;
}
