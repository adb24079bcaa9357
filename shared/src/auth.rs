//! Authenticating `Authorization: Bearer` API keys, with a short-lived cache so a warm Lambda
//! does not read the tenants table on every request.

use crate::api_error::ApiError;
use crate::apikey::{KeyHash, KeyRecord, Scope, bearer};
use crate::tenants::TenantStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Unknown keys are remembered only briefly, so a key created a moment ago starts working
/// quickly while a client hammering with a bad key still costs no reads.
const NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// Entries beyond this are dropped wholesale; the cache only needs the warm working set.
const MAX_ENTRIES: usize = 10_000;

/// Cached lookups: when each was made, and what it found.
type KeyCache = HashMap<KeyHash, (Instant, Option<KeyRecord>)>;

/// Checks keys against the tenant store, caching lookups for `ttl`. Revoking a key therefore
/// takes up to `ttl` to reach warm functions.
#[derive(Clone)]
pub struct Authenticator {
    store: Arc<dyn TenantStore>,
    ttl: Duration,
    cache: Arc<Mutex<KeyCache>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl Authenticator {
    /// An authenticator over `store` caching for `ttl`.
    pub fn new(store: Arc<dyn TenantStore>, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            cache: Arc::default(),
        }
    }

    /// The key record for an `Authorization` header value, if it grants `scope`.
    /// 401 when the key is missing, malformed or unknown; 403 when it lacks the scope;
    /// 503 when the key store cannot be read.
    pub async fn authenticate(
        &self,
        header: Option<&str>,
        scope: Scope,
    ) -> Result<KeyRecord, ApiError> {
        let key = bearer(header).ok_or_else(|| {
            ApiError::unauthorized("send 'Authorization: Bearer <api key>' with a bl_… key")
        })?;
        let hash = key.hash();
        let record = match self.cached(&hash) {
            Some(found) => found,
            None => {
                let found = self.store.key(&hash).await.map_err(|e| {
                    tracing::error!(error = %e, "key lookup failed");
                    ApiError::new(
                        503,
                        "unavailable",
                        "cannot check the API key right now; retry",
                    )
                })?;
                self.remember(hash, found.clone());
                found
            }
        };
        let record = record.ok_or_else(|| ApiError::unauthorized("unknown API key"))?;
        if !record.allows(scope) {
            return Err(ApiError::forbidden(
                "insufficient_scope",
                format!("this key lacks the '{scope}' scope"),
            ));
        }
        Ok(record)
    }

    fn cached(&self, hash: &KeyHash) -> Option<Option<KeyRecord>> {
        let cache = self.cache.lock().ok()?;
        let (at, record) = cache.get(hash)?;
        let ttl = if record.is_some() {
            self.ttl
        } else {
            NEGATIVE_TTL.min(self.ttl)
        };
        (at.elapsed() < ttl).then(|| record.clone())
    }

    fn remember(&self, hash: KeyHash, record: Option<KeyRecord>) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_ENTRIES {
                cache.clear();
            }
            cache.insert(hash, (Instant::now(), record));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apikey::ApiKey;
    use crate::ids::TenantId;
    use crate::requests::RequestCounter;
    use crate::tenants::memory::MemoryTenants;

    async fn setup(scopes: Vec<Scope>) -> (Authenticator, ApiKey, RequestCounter) {
        let requests = RequestCounter::default();
        let store = MemoryTenants::new(requests.clone());
        let key = ApiKey::generate().unwrap();
        store
            .put_key(&KeyRecord {
                hash: key.hash(),
                tenant_id: TenantId::parse("acme").unwrap(),
                scopes,
                prefix: key.display_prefix().into(),
                created_at: chrono::Utc::now(),
            })
            .await
            .unwrap();
        requests.reset();
        (
            Authenticator::new(Arc::new(store), Duration::from_secs(60)),
            key,
            requests,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn valid_keys_pass_and_are_cached_for_the_ttl() {
        let (auth, key, requests) = setup(vec![Scope::Ingest]).await;
        let header = format!("Bearer {}", key.expose());
        for _ in 0..3 {
            let rec = auth
                .authenticate(Some(&header), Scope::Ingest)
                .await
                .unwrap();
            assert_eq!(rec.tenant_id.as_str(), "acme");
        }
        assert_eq!(requests.total(), 1);
        tokio::time::advance(Duration::from_secs(61)).await;
        auth.authenticate(Some(&header), Scope::Ingest)
            .await
            .unwrap();
        assert_eq!(requests.total(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn missing_unknown_and_unscoped_keys_are_refused() {
        let (auth, key, _) = setup(vec![Scope::Stream]).await;
        let e = auth.authenticate(None, Scope::Ingest).await.unwrap_err();
        assert_eq!((e.status, e.code), (401, "unauthorized"));
        let other = ApiKey::generate().unwrap();
        let e = auth
            .authenticate(Some(&format!("Bearer {}", other.expose())), Scope::Ingest)
            .await
            .unwrap_err();
        assert_eq!(e.status, 401);
        let e = auth
            .authenticate(Some(&format!("Bearer {}", key.expose())), Scope::Ingest)
            .await
            .unwrap_err();
        assert_eq!((e.status, e.code), (403, "insufficient_scope"));
    }
}
