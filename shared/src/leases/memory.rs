//! In-memory [`LeaseStore`]: the same slots and conditions as the DynamoDB adapter, counted
//! as the same requests.

use super::{
    Claim, ClientKey, HeldSlot, Lease, LeaseStore, Renewal, candidates, lease_expiry, new_holder,
};
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::requests::RequestCounter;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A held slot: holder, expiry, client.
type Slot = (String, DateTime<Utc>, Option<ClientKey>);
/// Slots by tenant.
type Slots = HashMap<TenantId, HashMap<u32, Slot>>;

/// Leases held in memory. Cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct MemoryLeases {
    slots: Arc<Mutex<Slots>>,
    requests: RequestCounter,
}

impl MemoryLeases {
    /// No leases, counting requests in `requests`.
    pub fn new(requests: RequestCounter) -> Self {
        Self {
            slots: Arc::default(),
            requests,
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Slots>> {
        self.slots
            .lock()
            .map_err(|_| Error::Internal("memory leases lock poisoned".into()))
    }
}

#[async_trait]
impl LeaseStore for MemoryLeases {
    async fn acquire(
        &self,
        tenant: &TenantId,
        client: Option<&ClientKey>,
        max: u32,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Claim> {
        self.requests.record("dynamodb:Query");
        let (holder, start) = new_holder();
        let mut slots = self.lock()?;
        let tenant_slots = slots.entry(tenant.clone()).or_default();
        let held: Vec<HeldSlot> = tenant_slots
            .iter()
            .map(|(slot, (_, expires_at, client))| HeldSlot {
                slot: *slot,
                expires_at: *expires_at,
                client: client.clone(),
            })
            .collect();
        let Some(slot) = candidates(&held, client, max, now, start).first().copied() else {
            return Ok(Claim::Full);
        };
        self.requests.record("dynamodb:PutItem");
        let expires_at = lease_expiry(now, ttl);
        tenant_slots.insert(slot, (holder.clone(), expires_at, client.cloned()));
        Ok(Claim::Granted(Lease {
            tenant_id: tenant.clone(),
            slot,
            client: client.cloned(),
            holder,
            expires_at,
        }))
    }

    async fn renew(&self, lease: &Lease, now: DateTime<Utc>, ttl: Duration) -> Result<Renewal> {
        self.requests.record("dynamodb:UpdateItem");
        let mut slots = self.lock()?;
        let Some(entry) = slots
            .get_mut(&lease.tenant_id)
            .and_then(|t| t.get_mut(&lease.slot))
            .filter(|(holder, _, _)| *holder == lease.holder)
        else {
            return Ok(Renewal::Lost);
        };
        entry.1 = lease_expiry(now, ttl);
        Ok(Renewal::Renewed(Lease {
            expires_at: entry.1,
            ..lease.clone()
        }))
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        self.requests.record("dynamodb:DeleteItem");
        let mut slots = self.lock()?;
        if let Some(t) = slots.get_mut(&lease.tenant_id)
            && t.get(&lease.slot)
                .is_some_and(|(h, _, _)| *h == lease.holder)
        {
            t.remove(&lease.slot);
        }
        Ok(())
    }
}
