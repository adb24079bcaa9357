//! What `burstline dev` sets up on start: a demo tenant, an API key with every scope, and an
//! endpoint pointing at the built-in inspector. Idempotent on persistent backends: the tenant
//! and the inspector endpoint are reused (the endpoint's URL follows the current port).

use anyhow::Context;
use burstline::Error;
use burstline::apikey::{ApiKey, KeyRecord, Scope};
use burstline::endpoint::{Batching, Endpoint, EndpointState, MAX_BATCH_EVENTS};
use burstline::ids::TenantId;
use burstline::signing::WebhookSecret;
use burstline::tenant::Tenant;
use burstline::tenants::{EndpointStore, TenantStore};
use chrono::Utc;

/// The description that marks the inspector's endpoint, so a restart finds it again.
pub const INSPECTOR_DESCRIPTION: &str = "burstline dev: built-in webhook inspector";

/// How the inspector's endpoint receives events when it is created: batches of up to 100 of
/// a task's events per POST, sent at once. The inspector shows every event either way; one
/// POST per event would make the dev stack deliver every event twice over (once to the
/// inspector, once to the user's own endpoint), and those 44,000 extra signed POSTs in a
/// `simulate` seed burst competed on a small machine with the path being measured.
pub const INSPECTOR_BATCHING: Batching = Batching {
    max_events: MAX_BATCH_EVENTS,
    max_wait_ms: 0,
};

/// What was seeded.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// The demo tenant.
    pub tenant: TenantId,
    /// Its API key (ingest, stream, manage).
    pub key: ApiKey,
    /// The inspector's endpoint.
    pub endpoint: Endpoint,
}

/// Seeds `tenant` with `key` (or a new key) and an endpoint at `inspector_url`.
pub async fn seed(
    tenants: &dyn TenantStore,
    endpoints: &dyn EndpointStore,
    tenant: &TenantId,
    key: Option<ApiKey>,
    inspector_url: &str,
) -> anyhow::Result<Seeded> {
    let now = Utc::now();
    match tenants
        .create_tenant(&Tenant::new(tenant.clone(), now))
        .await
    {
        Ok(()) | Err(Error::AlreadyExists(_)) => {}
        Err(e) => return Err(e).context("creating the demo tenant"),
    }
    let key = match key {
        Some(k) => k,
        None => ApiKey::generate()?,
    };
    tenants
        .put_key(&KeyRecord {
            hash: key.hash(),
            tenant_id: tenant.clone(),
            scopes: vec![Scope::Ingest, Scope::Stream, Scope::Manage],
            prefix: key.display_prefix().to_owned(),
            created_at: now,
        })
        .await
        .context("storing the demo API key")?;
    let existing = endpoints
        .endpoints(tenant)
        .await
        .context("listing the demo tenant's endpoints")?
        .into_iter()
        .find(|e| e.description == INSPECTOR_DESCRIPTION);
    let endpoint = match existing {
        Some(mut ep) if ep.url != inspector_url || !ep.is_enabled() => {
            ep.url = inspector_url.to_owned();
            ep.state = EndpointState::Enabled;
            ep.failing_since = None;
            ep.version += 1;
            ep.updated_at = now;
            if !endpoints.update_endpoint(&ep).await? {
                anyhow::bail!("the inspector endpoint changed while it was being updated");
            }
            ep
        }
        Some(ep) => ep,
        None => {
            let mut ep = Endpoint::new(
                tenant.clone(),
                inspector_url.to_owned(),
                WebhookSecret::generate()?,
                now,
            );
            ep.description = INSPECTOR_DESCRIPTION.to_owned();
            // Only at creation: a batching setting changed over the API is kept on restart.
            ep.batching = Some(INSPECTOR_BATCHING);
            endpoints
                .create_endpoint(&ep)
                .await
                .context("creating the inspector endpoint")?;
            ep
        }
    };
    Ok(Seeded {
        tenant: tenant.clone(),
        key,
        endpoint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burstline::requests::RequestCounter;
    use burstline::tenants::memory::MemoryTenants;

    #[tokio::test]
    async fn seeding_twice_reuses_the_endpoint_and_follows_the_port() {
        let store = MemoryTenants::new(RequestCounter::default());
        let tenant = TenantId::parse("demo").unwrap();
        let first = seed(&store, &store, &tenant, None, "http://127.0.0.1:1/hook")
            .await
            .unwrap();
        let again = seed(&store, &store, &tenant, None, "http://127.0.0.1:2/hook")
            .await
            .unwrap();
        assert_eq!(first.endpoint.id, again.endpoint.id);
        assert_eq!(first.endpoint.batching, Some(INSPECTOR_BATCHING));
        assert_eq!(again.endpoint.url, "http://127.0.0.1:2/hook");
        assert_eq!(store.endpoints(&tenant).await.unwrap().len(), 1);
        // Both keys work: a restart doesn't lock out scripts holding the first.
        assert!(store.key(&first.key.hash()).await.unwrap().is_some());
        assert!(store.key(&again.key.hash()).await.unwrap().is_some());
    }
}
