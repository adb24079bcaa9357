//! The small per-item ports under the model: [`LeaseStore`] (`DynamoLeases`), [`AttemptLog`]
//! (`DynamoAttempts`), [`DeliveryCursors`] (`DynamoCursors`) and [`PermitStore`]
//! (`DynamoPermits`), each call the one or two requests its adapter makes.

use super::Modeled;
use super::latency::{chunk_sizes, pause};
use crate::attempts::{AttemptLog, AttemptPage, AttemptRecord};
use crate::cursor::{Claim as CursorClaim, Cursor, CursorKey, CursorLease, DeliveryCursors, Span};
use crate::endpoint_limits::Permits;
use crate::error::Result;
use crate::ids::{EndpointId, Seq, TenantId};
use crate::leases::{Claim, ClientKey, Lease, LeaseStore, Renewal};
use crate::permits::PermitStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Items one `BatchWriteItem` takes.
const BATCH_WRITE_ITEMS: usize = 25;

#[async_trait]
impl<T: LeaseStore + ?Sized> LeaseStore for Modeled<T> {
    /// A `Query` of the tenant's slots, then a conditional `PutItem` claiming one.
    async fn acquire(
        &self,
        tenant: &TenantId,
        client: Option<&ClientKey>,
        max: u32,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Claim> {
        pause(self.model.request("dynamodb:Query", 0)).await;
        let out = self.inner.acquire(tenant, client, max, now, ttl).await;
        pause(self.model.request("dynamodb:PutItem", 1)).await;
        out
    }
    async fn renew(&self, lease: &Lease, now: DateTime<Utc>, ttl: Duration) -> Result<Renewal> {
        let out = self.inner.renew(lease, now, ttl).await;
        pause(self.model.request("dynamodb:UpdateItem", 1)).await;
        out
    }
    async fn release(&self, lease: &Lease) -> Result<()> {
        let out = self.inner.release(lease).await;
        pause(self.model.request("dynamodb:DeleteItem", 1)).await;
        out
    }
}

#[async_trait]
impl<T: AttemptLog + ?Sized> AttemptLog for Modeled<T> {
    /// `BatchWriteItem`s of 25, one after another.
    async fn record(&self, attempts: &[AttemptRecord]) -> Result<()> {
        let out = self.inner.record(attempts).await;
        let batches = chunk_sizes(attempts.len(), BATCH_WRITE_ITEMS);
        pause(self.model.in_turn("dynamodb:BatchWriteItem", &batches)).await;
        out
    }
    async fn list(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<AttemptPage> {
        let out = self.inner.list(tenant, endpoint, limit, cursor).await;
        let items = out.as_ref().map_or(0, |p| p.attempts.len());
        pause(self.model.request("dynamodb:Query", items)).await;
        out
    }
}

#[async_trait]
impl<T: DeliveryCursors + ?Sized> DeliveryCursors for Modeled<T> {
    async fn cursor(&self, key: &CursorKey) -> Result<Option<Cursor>> {
        let out = self.inner.cursor(key).await;
        pause(self.model.request("dynamodb:GetItem", 1)).await;
        out
    }
    async fn claim(
        &self,
        key: &CursorKey,
        span: &Span,
        lease: &CursorLease,
        now: DateTime<Utc>,
    ) -> Result<CursorClaim> {
        let out = self.inner.claim(key, span, lease, now).await;
        pause(self.model.request("dynamodb:UpdateItem", 1)).await;
        out
    }
    async fn advance(
        &self,
        key: &CursorKey,
        holder: &str,
        epoch: u64,
        to: Seq,
        resume_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let out = self
            .inner
            .advance(key, holder, epoch, to, resume_at, now)
            .await;
        pause(self.model.request("dynamodb:UpdateItem", 1)).await;
        out
    }
    async fn release(&self, key: &CursorKey, holder: &str) -> Result<()> {
        let out = self.inner.release(key, holder).await;
        pause(self.model.request("dynamodb:UpdateItem", 1)).await;
        out
    }
    async fn rewind(
        &self,
        key: &CursorKey,
        expected: Option<(Seq, u64)>,
        to: Seq,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let out = self.inner.rewind(key, expected, to, now).await;
        pause(self.model.request("dynamodb:UpdateItem", 1)).await;
        out
    }
}

#[async_trait]
impl<T: PermitStore + ?Sized> PermitStore for Modeled<T> {
    async fn permits(&self, tenant: &TenantId, endpoint: &EndpointId) -> Result<(Permits, u64)> {
        let out = self.inner.permits(tenant, endpoint).await;
        pause(self.model.request("dynamodb:GetItem", 1)).await;
        out
    }
    async fn put_permits(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        permits: &Permits,
        expected: u64,
    ) -> Result<bool> {
        let out = self
            .inner
            .put_permits(tenant, endpoint, permits, expected)
            .await;
        pause(self.model.request("dynamodb:UpdateItem", 1)).await;
        out
    }
}
