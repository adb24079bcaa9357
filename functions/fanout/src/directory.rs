//! Tenants' subscriptions, cached for a short time across warm invocations.

use burstline::ids::TenantId;
use burstline::subscription::Subscription;
use burstline::tenants::SubscriptionStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// What fanout knows of a tenant.
pub type TenantRoute = Option<Arc<Vec<Subscription>>>;

/// A read-through cache over a [`SubscriptionStore`]. `None` means the tenant does not exist.
#[derive(Clone)]
pub struct Directory {
    store: Arc<dyn SubscriptionStore>,
    ttl: Duration,
    cache: Arc<Mutex<HashMap<TenantId, (Instant, TenantRoute)>>>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").field("ttl", &self.ttl).finish()
    }
}

impl Directory {
    /// A directory over `store`, reusing answers for `ttl`.
    pub fn new(store: Arc<dyn SubscriptionStore>, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            cache: Arc::default(),
        }
    }

    /// The tenant's subscriptions (`None`: unknown tenant).
    pub async fn route(&self, tenant: &TenantId) -> burstline::Result<TenantRoute> {
        if let Some(hit) = self.cache.lock().ok().and_then(|c| {
            c.get(tenant)
                .filter(|(at, _)| at.elapsed() < self.ttl)
                .map(|(_, r)| r.clone())
        }) {
            return Ok(hit);
        }
        let route = self.store.subscriptions(tenant).await?.map(Arc::new);
        if let Ok(mut c) = self.cache.lock() {
            c.insert(tenant.clone(), (Instant::now(), route.clone()));
        }
        Ok(route)
    }
}
