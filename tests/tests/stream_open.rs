//! Opening a stream in as few round trips as it can: the tenant's budget is read while the
//! task's head is, and the first page while the slot is claimed, so a deployed stream (every
//! call a network round trip) sends its first frame after two round trips instead of four.
//! A refused claim still sends no event. Every call here takes one second of paused time.

use async_trait::async_trait;
use burstline::apikey::{KeyHash, KeyRecord, Scope};
use burstline::event::Envelope;
use burstline::head::TaskHead;
use burstline::ids::{EventId, Seq, TaskId, TaskKey, TenantId};
use burstline::leases::{Claim, ClientKey, Lease, LeaseStore, Renewal};
use burstline::sequence::CommitChunk;
use burstline::store::EventStore;
use burstline::tenant::Tenant;
use burstline::tenants::TenantStore;
use burstline_tests::fixtures::task;
use burstline_tests::stack::Stack;
use burstline_tests::streams::{SseClient, append, bearer, events, get_events, ids, streamer};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use stream::StreamSettings;
use tokio::time::Instant;

const ROUND_TRIP: Duration = Duration::from_secs(1);

/// Head and event reads each take a round trip.
struct SlowStore(Arc<dyn EventStore>);

#[async_trait]
impl EventStore for SlowStore {
    async fn heads(&self, keys: &[TaskKey]) -> burstline::Result<HashMap<TaskKey, TaskHead>> {
        self.0.heads(keys).await
    }
    async fn commit(&self, chunks: &[CommitChunk]) -> burstline::Result<()> {
        self.0.commit(chunks).await
    }
    async fn head(&self, key: &TaskKey) -> burstline::Result<Option<TaskHead>> {
        tokio::time::sleep(ROUND_TRIP).await;
        self.0.head(key).await
    }
    async fn events(
        &self,
        key: &TaskKey,
        after: Seq,
        limit: usize,
    ) -> burstline::Result<Vec<Envelope>> {
        tokio::time::sleep(ROUND_TRIP).await;
        self.0.events(key, after, limit).await
    }
    async fn events_at(&self, key: &TaskKey, seqs: &[Seq]) -> burstline::Result<Vec<Envelope>> {
        self.0.events_at(key, seqs).await
    }
    async fn find_event(
        &self,
        tenant: &TenantId,
        id: &EventId,
    ) -> burstline::Result<Option<(TaskId, Seq)>> {
        self.0.find_event(tenant, id).await
    }
}

/// The tenant read takes a round trip.
struct SlowTenants(Arc<dyn TenantStore>);

#[async_trait]
impl TenantStore for SlowTenants {
    async fn create_tenant(&self, tenant: &Tenant) -> burstline::Result<()> {
        self.0.create_tenant(tenant).await
    }
    async fn tenant(&self, id: &TenantId) -> burstline::Result<Option<Tenant>> {
        tokio::time::sleep(ROUND_TRIP).await;
        self.0.tenant(id).await
    }
    async fn put_key(&self, key: &KeyRecord) -> burstline::Result<()> {
        self.0.put_key(key).await
    }
    async fn key(&self, hash: &KeyHash) -> burstline::Result<Option<KeyRecord>> {
        self.0.key(hash).await
    }
}

/// A claim takes a round trip.
struct SlowLeases(Arc<dyn LeaseStore>);

#[async_trait]
impl LeaseStore for SlowLeases {
    async fn acquire(
        &self,
        tenant: &TenantId,
        client: Option<&ClientKey>,
        max: u32,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> burstline::Result<Claim> {
        tokio::time::sleep(ROUND_TRIP).await;
        self.0.acquire(tenant, client, max, now, ttl).await
    }
    async fn renew(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> burstline::Result<Renewal> {
        self.0.renew(lease, now, ttl).await
    }
    async fn release(&self, lease: &Lease) -> burstline::Result<()> {
        self.0.release(lease).await
    }
}

#[tokio::test(start_paused = true)]
async fn the_first_frame_comes_after_two_round_trips_and_a_refused_claim_sends_none() {
    let stack = Stack::memory();
    let key = burstline_tests::streams::tenant(&stack, "acme", 1, &[Scope::Stream]).await;
    let mut deps = streamer(
        &stack,
        Arc::new(SlowStore(stack.store.clone())),
        StreamSettings::default(),
    )
    .await;
    deps.tenants = Arc::new(SlowTenants(deps.tenants.clone()));
    deps.leases = Arc::new(SlowLeases(deps.leases.clone()));
    append(
        stack.store.as_ref(),
        &task("acme", "t"),
        &events(3, false),
        None,
    )
    .await;
    let auth = bearer(&key);

    let asked = Instant::now();
    let mut first = SseClient::new(
        stream::handle(&deps, get_events("t", "", &[("authorization", &auth)])).await,
    );
    let frame = first.next().await.expect("the first event");
    let took = asked.elapsed();
    assert_eq!(ids(&[frame]), vec![1]);
    // Head ∥ tenant, then claim ∥ first page: two round trips. One after another (head,
    // tenant, claim, page) they took four.
    assert!(
        took >= 2 * ROUND_TRIP && took < 3 * ROUND_TRIP,
        "first frame after {took:?}"
    );

    // The only slot is held: the second open read a page while claiming, and sends none of it.
    let refused = stream::handle(&deps, get_events("t", "", &[("authorization", &auth)])).await;
    assert_eq!(refused.status(), 429);
    let body = refused.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("too_many_streams"), "{body}");
    assert!(!body.contains("task.started"), "{body}");
}
