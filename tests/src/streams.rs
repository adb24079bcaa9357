//! Streams under test: the stream function's dependencies on a [`Stack`], tasks appended
//! straight into the store, a store wrapper that hides seqs, and an SSE client that parses with
//! `eventsource-stream` (an independent, spec-following parser) while keeping the raw chunks.

use crate::fixtures::request;
use crate::moto::Moto;
use crate::stack::Stack;
use async_trait::async_trait;
use burstline::apikey::{ApiKey, Scope};
use burstline::auth::Authenticator;
use burstline::clock::TokioClock;
use burstline::event::{Envelope, EventType};
use burstline::head::TaskHead;
use burstline::ids::{EventId, Seq, TaskId, TaskKey, TenantId};
use burstline::leases::LeaseStore;
use burstline::leases::dynamodb::DynamoLeases;
use burstline::leases::memory::MemoryLeases;
use burstline::sequence::CommitChunk;
use burstline::store::EventStore;
use burstline::stream_token::{StreamGrant, TokenSecret, mint};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use eventsource_stream::{Event, Eventsource};
use futures_util::{Stream, StreamExt};
use http_body_util::BodyDataStream;
use lambda_http::http::HeaderMap;
use lambda_http::{Request, Response};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stream::{SseBody, StreamSettings, Streamer};
use tokio::time::Instant;

/// The stream-token secret every test deployment shares.
pub const SECRET: &[u8] = b"test-stream-token-secret-0123456789";

/// The token secret.
pub fn secret() -> TokenSecret {
    TokenSecret::new(SECRET.to_vec()).unwrap()
}

/// The lease store of a stack: in memory, or the tenants table on moto.
pub async fn leases(stack: &Stack) -> Arc<dyn LeaseStore> {
    match &stack.provisioned {
        None => Arc::new(MemoryLeases::new(stack.requests.clone())),
        Some(p) => {
            let config = Moto::shared().sdk_config().await;
            Arc::new(DynamoLeases::new(
                aws_sdk_dynamodb::Client::new(&config),
                &p.names.tenants_table,
                stack.requests.clone(),
            ))
        }
    }
}

/// stream's dependencies on `stack`, reading events through `store` (the stack's, or a
/// wrapper), with tokio-driven wall time.
pub async fn streamer(
    stack: &Stack,
    store: Arc<dyn EventStore>,
    settings: StreamSettings,
) -> Streamer {
    Streamer {
        store,
        tenants: stack.tenants.clone(),
        leases: leases(stack).await,
        auth: Authenticator::new(stack.tenants.clone(), Duration::from_secs(60)),
        tokens: secret(),
        clock: Arc::new(TokioClock::starting_at(Utc::now())),
        settings,
    }
}

/// Creates `tenant` with `max_streams` and a key with `scopes`.
pub async fn tenant(stack: &Stack, tenant: &str, max_streams: u32, scopes: &[Scope]) -> ApiKey {
    crate::fixtures::tenant_with(stack, tenant, max_streams, scopes).await
}

/// A token for `tenant`'s `task`, valid for `ttl` from `now`.
pub fn token(tenant: &str, task: &str, now: DateTime<Utc>, ttl: chrono::Duration) -> String {
    mint(
        &secret(),
        &StreamGrant {
            tenant_id: TenantId::parse(tenant).unwrap(),
            task_id: TaskId::parse(task).unwrap(),
            expires_at: now + ttl,
        },
    )
}

/// Appends events `(type, data)` to a task as fanout would (one conditional commit of the
/// events and the new head), returning them with their seqs. `created_at` backdates a new
/// task's head.
pub async fn append(
    store: &dyn EventStore,
    key: &TaskKey,
    events: &[(&str, Value)],
    created_at: Option<DateTime<Utc>>,
) -> Vec<Envelope> {
    // Envelope times travel with millisecond precision.
    let now = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
    let mut out = Vec::new();
    // 40 events + 40 id markers + the head fit one transaction.
    for chunk in events.chunks(40) {
        let base = store.head(key).await.unwrap();
        let mut head = base
            .clone()
            .unwrap_or_else(|| TaskHead::empty(key.clone(), created_at.unwrap_or(now)));
        let mut committed = Vec::new();
        for (ty, data) in chunk {
            head.last_seq = head.last_seq.next();
            let event_type = EventType::parse(ty).unwrap();
            if let Some(status) = event_type.terminal_status() {
                head.status = status;
                head.terminal_seq = Some(head.last_seq);
            }
            committed.push(Envelope {
                id: EventId::generate(),
                event_type,
                tenant_id: key.tenant_id.clone(),
                task_id: key.task_id.clone(),
                seq: head.last_seq,
                time: now,
                data: data.clone(),
                traceparent: None,
            });
        }
        head.updated_at = now;
        head.version += 1;
        store
            .commit(&[CommitChunk {
                key: key.clone(),
                base,
                events: committed.clone(),
                head,
            }])
            .await
            .unwrap();
        out.extend(committed);
    }
    out
}

/// `n` events of a task, the last one `task.completed` when `finished`.
pub fn events(n: usize, finished: bool) -> Vec<(&'static str, Value)> {
    (1..=n)
        .map(|i| {
            let ty = if finished && i == n {
                "task.completed"
            } else {
                "tool_call.completed"
            };
            (ty, serde_json::json!({"i": i}))
        })
        .collect()
}

/// An [`EventStore`] that hides chosen seqs from event reads until they are revealed: a
/// store where seqs become visible out of order, or have expired.
#[derive(Clone)]
pub struct Hiding {
    inner: Arc<dyn EventStore>,
    hidden: Arc<Mutex<BTreeSet<u64>>>,
}

impl std::fmt::Debug for Hiding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hiding").finish_non_exhaustive()
    }
}

impl Hiding {
    /// Wraps `inner`, hiding nothing yet.
    pub fn new(inner: Arc<dyn EventStore>) -> Self {
        Self {
            inner,
            hidden: Arc::default(),
        }
    }

    /// Hides `seqs`.
    pub fn hide(&self, seqs: impl IntoIterator<Item = u64>) {
        self.hidden.lock().unwrap().extend(seqs);
    }

    /// Makes `seq` visible.
    pub fn reveal(&self, seq: u64) {
        self.hidden.lock().unwrap().remove(&seq);
    }
}

#[async_trait]
impl EventStore for Hiding {
    async fn heads(&self, keys: &[TaskKey]) -> burstline::Result<HashMap<TaskKey, TaskHead>> {
        self.inner.heads(keys).await
    }
    async fn commit(&self, chunks: &[CommitChunk]) -> burstline::Result<()> {
        self.inner.commit(chunks).await
    }
    async fn head(&self, key: &TaskKey) -> burstline::Result<Option<TaskHead>> {
        self.inner.head(key).await
    }
    async fn events(
        &self,
        key: &TaskKey,
        after: Seq,
        limit: usize,
    ) -> burstline::Result<Vec<Envelope>> {
        let page = self.inner.events(key, after, limit).await?;
        let hidden = self.hidden.lock().unwrap().clone();
        Ok(page
            .into_iter()
            .filter(|e| !hidden.contains(&e.seq.0))
            .collect())
    }
    async fn events_at(&self, key: &TaskKey, seqs: &[Seq]) -> burstline::Result<Vec<Envelope>> {
        let page = self.inner.events_at(key, seqs).await?;
        let hidden = self.hidden.lock().unwrap().clone();
        Ok(page
            .into_iter()
            .filter(|e| !hidden.contains(&e.seq.0))
            .collect())
    }
    async fn find_event(
        &self,
        tenant: &TenantId,
        id: &EventId,
    ) -> burstline::Result<Option<(TaskId, Seq)>> {
        self.inner.find_event(tenant, id).await
    }
}

/// An [`EventStore`] whose next event reads fail, each after a delay: a table that times out
/// (the SDK's own retries make one failed call take seconds) and then recovers.
#[derive(Clone)]
pub struct FailingReads {
    inner: Arc<dyn EventStore>,
    left: Arc<Mutex<u32>>,
    latency: Duration,
}

impl std::fmt::Debug for FailingReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailingReads").finish_non_exhaustive()
    }
}

impl FailingReads {
    /// Wraps `inner`; the next `n` event reads each fail after `latency`.
    pub fn new(inner: Arc<dyn EventStore>, n: u32, latency: Duration) -> Self {
        Self {
            inner,
            left: Arc::new(Mutex::new(n)),
            latency,
        }
    }
}

#[async_trait]
impl EventStore for FailingReads {
    async fn heads(&self, keys: &[TaskKey]) -> burstline::Result<HashMap<TaskKey, TaskHead>> {
        self.inner.heads(keys).await
    }
    async fn commit(&self, chunks: &[CommitChunk]) -> burstline::Result<()> {
        self.inner.commit(chunks).await
    }
    async fn head(&self, key: &TaskKey) -> burstline::Result<Option<TaskHead>> {
        self.inner.head(key).await
    }
    async fn events(
        &self,
        key: &TaskKey,
        after: Seq,
        limit: usize,
    ) -> burstline::Result<Vec<Envelope>> {
        let fail = {
            let mut left = self.left.lock().unwrap();
            let fail = *left > 0;
            *left = left.saturating_sub(1);
            fail
        };
        if fail {
            tokio::time::sleep(self.latency).await;
            return Err(burstline::Error::Aws {
                operation: "Query",
                message: "RequestTimeout after retries".into(),
                retryable: true,
            });
        }
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

/// `GET /v1/tasks/{task}/events?{query}` with `headers`.
pub fn get_events(task: &str, query: &str, headers: &[(&str, &str)]) -> Request {
    let path = if query.is_empty() {
        format!("/v1/tasks/{task}/events")
    } else {
        format!("/v1/tasks/{task}/events?{query}")
    };
    request("GET", &path, headers, b"")
}

/// The `Authorization` header value for `key`.
pub fn bearer(key: &ApiKey) -> String {
    format!("Bearer {}", key.expose())
}

type Events = Pin<
    Box<dyn Stream<Item = Result<Event, eventsource_stream::EventStreamError<Infallible>>> + Send>,
>;

/// A client reading one response: status, headers, parsed events, and every raw chunk with
/// when it arrived.
pub struct SseClient {
    /// Response status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    raw: Arc<Mutex<Vec<(Instant, Bytes)>>>,
    events: Events,
}

impl std::fmt::Debug for SseClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseClient")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl SseClient {
    /// Starts reading `response`.
    pub fn new(response: Response<SseBody>) -> Self {
        let (parts, body) = response.into_parts();
        let raw: Arc<Mutex<Vec<(Instant, Bytes)>>> = Arc::default();
        let log = raw.clone();
        let chunks = BodyDataStream::new(body).inspect(move |chunk| {
            if let Ok(bytes) = chunk {
                log.lock().unwrap().push((Instant::now(), bytes.clone()));
            }
        });
        Self {
            status: parts.status.as_u16(),
            headers: parts.headers,
            raw,
            events: Box::pin(chunks.eventsource()),
        }
    }

    /// The next event, or `None` when the response ended.
    pub async fn next(&mut self) -> Option<Event> {
        self.events.next().await.map(|e| e.unwrap())
    }

    /// The next event if one arrives within `wait`; `Err` if none did.
    pub async fn next_within(&mut self, wait: Duration) -> Result<Option<Event>, ()> {
        tokio::time::timeout(wait, self.next())
            .await
            .map_err(|_| ())
    }

    /// Every remaining event until the response ends.
    pub async fn rest(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some(e) = self.next().await {
            out.push(e);
        }
        out
    }

    /// The raw chunks received so far, with their arrival times.
    pub fn raw(&self) -> Vec<(Instant, Bytes)> {
        self.raw.lock().unwrap().clone()
    }

    /// Everything received so far as text.
    pub fn text(&self) -> String {
        self.raw()
            .iter()
            .map(|(_, b)| String::from_utf8(b.to_vec()).unwrap())
            .collect()
    }
}

/// Reads a whole (short) body as text, e.g. a JSON error.
pub async fn body_text(response: Response<SseBody>) -> (u16, HeaderMap, String) {
    let mut c = SseClient::new(response);
    while c.next().await.is_some() {}
    (c.status, c.headers.clone(), c.text())
}

/// The seqs of `events` (their SSE ids).
pub fn ids(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.id.parse().unwrap()).collect()
}

/// A clock for minting tokens in tests.
pub fn clock_now(deps: &Streamer) -> DateTime<Utc> {
    deps.clock.now()
}
