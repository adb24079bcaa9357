//! In-memory [`AttemptLog`].

use super::{AttemptLog, AttemptPage, AttemptRecord, sort_key};
use crate::error::{Error, Result};
use crate::ids::{EndpointId, TenantId};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

type Key = (TenantId, EndpointId);

/// Attempts held in memory. Cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct MemoryAttempts(Arc<Mutex<HashMap<Key, BTreeMap<String, AttemptRecord>>>>);

impl MemoryAttempts {
    /// Every attempt recorded, for tests.
    pub fn all(&self) -> Vec<AttemptRecord> {
        self.0
            .lock()
            .map(|m| m.values().flat_map(|b| b.values().cloned()).collect())
            .unwrap_or_default()
    }
}

#[async_trait]
impl AttemptLog for MemoryAttempts {
    async fn record(&self, attempts: &[AttemptRecord]) -> Result<()> {
        let mut map = self
            .0
            .lock()
            .map_err(|_| Error::Internal("attempts lock poisoned".into()))?;
        for a in attempts {
            map.entry((a.tenant_id.clone(), a.endpoint_id.clone()))
                .or_default()
                .insert(sort_key(a), a.clone());
        }
        Ok(())
    }

    async fn list(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<AttemptPage> {
        let map = self
            .0
            .lock()
            .map_err(|_| Error::Internal("attempts lock poisoned".into()))?;
        let Some(entries) = map.get(&(tenant.clone(), endpoint.clone())) else {
            return Ok(AttemptPage::default());
        };
        let page: Vec<(&String, &AttemptRecord)> = entries
            .iter()
            .rev()
            .filter(|(k, _)| cursor.is_none_or(|c| k.as_str() < c))
            .take(limit + 1)
            .collect();
        let more = page.len() > limit;
        let attempts: Vec<AttemptRecord> =
            page.iter().take(limit).map(|(_, a)| (*a).clone()).collect();
        let cursor = more.then(|| page[limit - 1].0.clone());
        Ok(AttemptPage { attempts, cursor })
    }
}
