//! Ports whose calls a stream makes take a set time: a slow DynamoDB, in (usually paused) test
//! time. Only the calls named in [`Delays`] wait; every other call goes straight through.

use async_trait::async_trait;
use burstline::apikey::{KeyHash, KeyRecord};
use burstline::event::Envelope;
use burstline::head::TaskHead;
use burstline::ids::{EventId, Seq, TaskId, TaskKey, TenantId};
use burstline::leases::{Claim, ClientKey, Lease, LeaseStore, Renewal};
use burstline::sequence::CommitChunk;
use burstline::store::EventStore;
use burstline::tenant::Tenant;
use burstline::tenants::TenantStore;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How long each slowed call takes before it is made; zero for the rest.
#[derive(Debug, Clone, Copy, Default)]
pub struct Delays {
    /// [`EventStore::head`].
    pub head: Duration,
    /// [`EventStore::events`].
    pub events: Duration,
    /// [`TenantStore::tenant`].
    pub tenant: Duration,
    /// [`LeaseStore::acquire`].
    pub acquire: Duration,
    /// [`LeaseStore::release`].
    pub release: Duration,
}

/// A port whose calls wait for their [`Delays`] first.
pub struct Slow<T: ?Sized> {
    inner: Arc<T>,
    delays: Delays,
}

impl<T: ?Sized> Slow<T> {
    /// `inner` behind `delays`.
    pub fn new(inner: Arc<T>, delays: Delays) -> Self {
        Self { inner, delays }
    }
}

async fn wait(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

#[async_trait]
impl EventStore for Slow<dyn EventStore> {
    async fn heads(&self, keys: &[TaskKey]) -> burstline::Result<HashMap<TaskKey, TaskHead>> {
        self.inner.heads(keys).await
    }
    async fn commit(&self, chunks: &[CommitChunk]) -> burstline::Result<()> {
        self.inner.commit(chunks).await
    }
    async fn head(&self, key: &TaskKey) -> burstline::Result<Option<TaskHead>> {
        wait(self.delays.head).await;
        self.inner.head(key).await
    }
    async fn events(
        &self,
        key: &TaskKey,
        after: Seq,
        limit: usize,
    ) -> burstline::Result<Vec<Envelope>> {
        wait(self.delays.events).await;
        self.inner.events(key, after, limit).await
    }
    async fn events_at(&self, key: &TaskKey, seqs: &[Seq]) -> burstline::Result<Vec<Envelope>> {
        self.inner.events_at(key, seqs).await
    }
    async fn find_event(
        &self,
        tenant: &TenantId,
        id: &EventId,
    ) -> burstline::Result<Option<(TaskId, Seq)>> {
        self.inner.find_event(tenant, id).await
    }
}

#[async_trait]
impl TenantStore for Slow<dyn TenantStore> {
    async fn create_tenant(&self, tenant: &Tenant) -> burstline::Result<()> {
        self.inner.create_tenant(tenant).await
    }
    async fn tenant(&self, id: &TenantId) -> burstline::Result<Option<Tenant>> {
        wait(self.delays.tenant).await;
        self.inner.tenant(id).await
    }
    async fn put_key(&self, key: &KeyRecord) -> burstline::Result<()> {
        self.inner.put_key(key).await
    }
    async fn key(&self, hash: &KeyHash) -> burstline::Result<Option<KeyRecord>> {
        self.inner.key(hash).await
    }
}

#[async_trait]
impl LeaseStore for Slow<dyn LeaseStore> {
    async fn acquire(
        &self,
        tenant: &TenantId,
        client: Option<&ClientKey>,
        max: u32,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> burstline::Result<Claim> {
        wait(self.delays.acquire).await;
        self.inner.acquire(tenant, client, max, now, ttl).await
    }
    async fn renew(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> burstline::Result<Renewal> {
        self.inner.renew(lease, now, ttl).await
    }
    async fn release(&self, lease: &Lease) -> burstline::Result<()> {
        wait(self.delays.release).await;
        self.inner.release(lease).await
    }
}
