//! deliver within its limits, on in-memory adapters with tokio's paused clock and fake
//! senders (nothing sleeps for real): the invocation's deadline, bounded loading of a job's
//! events, and the backoff while a job waits for its commit.

use async_trait::async_trait;
use burstline::apikey::{ApiKey, Scope};
use burstline::attempts::AttemptStatus;
use burstline::endpoint::Endpoint;
use burstline::event::Envelope;
use burstline::head::{StreamPosition, TaskHead};
use burstline::ids::{EventId, Seq, TaskId, TaskKey, TenantId};
use burstline::job::{DeliveryJob, EventRef};
use burstline::mapping::sqs::{SqsDriver, SqsMapping};
use burstline::sequence::CommitChunk;
use burstline::store::EventStore;
use burstline_tests::fixtures::*;
use burstline_tests::stack::Stack;
use deliver::Policy;
use deliver::http::{Sent, WebhookSender};
use deliver::outcome::Observed;
use deliver::request::Header;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// A receiver that answers 200 after `latency`, recording `(task, seq)` of every event POSTed.
#[derive(Default)]
struct FakeReceiver {
    latency: Duration,
    got: Mutex<Vec<(String, u64)>>,
}

impl FakeReceiver {
    fn taking(latency: Duration) -> Arc<Self> {
        Arc::new(Self {
            latency,
            got: Mutex::default(),
        })
    }

    fn got(&self) -> Vec<(String, u64)> {
        self.got.lock().unwrap().clone()
    }

    /// Seqs received per task, in arrival order.
    fn by_task(&self) -> BTreeMap<String, Vec<u64>> {
        let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for (task, seq) in self.got() {
            out.entry(task).or_default().push(seq);
        }
        out
    }
}

#[async_trait]
impl WebhookSender for FakeReceiver {
    async fn post(&self, _url: &str, _headers: &[Header], body: Vec<u8>) -> Sent {
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let events = match v.get("events") {
            Some(batch) => batch.as_array().unwrap().clone(),
            None => vec![v],
        };
        for e in events {
            self.got.lock().unwrap().push((
                e["task_id"].as_str().unwrap().to_owned(),
                e["seq"].as_u64().unwrap(),
            ));
        }
        tokio::time::sleep(self.latency).await;
        Sent {
            observed: Observed::Response {
                status: 200,
                retry_after: None,
            },
            latency: self.latency,
        }
    }
}

async fn world() -> (Stack, ApiKey, Endpoint) {
    let stack = Stack::memory();
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    let ep = endpoint("acme", "https://hooks.example.com/in", &["*"]);
    stack.endpoints.create_endpoint(&ep).await.unwrap();
    (stack, key, ep)
}

async fn send(stack: &Stack, key: &ApiKey, body: &serde_json::Value) {
    let resp = ingest::handle(&stack.ingest(), post_events(key, body)).await;
    assert_eq!(resp.status(), 202);
    drain(stack, &stack.fanout(), 500).await;
}

/// Jobs in the delivery queue (consumed), with their events' seqs.
async fn queued(stack: &Stack) -> Vec<DeliveryJob> {
    let mut jobs = drain_jobs(stack).await;
    jobs.sort_by_key(|j| (j.events.len(), j.task_id.to_string()));
    jobs
}

#[tokio::test(start_paused = true)]
async fn near_its_deadline_deliver_hands_back_what_it_did_not_attempt() {
    let (stack, key, ep) = world().await;
    for task in ["run-a", "run-b", "run-c"] {
        send(&stack, &key, &burst(task, 100)).await;
    }
    // A receiver taking 2 s per request; two jobs at a time; a 60 s invocation with the
    // default margin (10 s request timeout + 10 s to settle): POSTs start until t = 40 s.
    let rx = FakeReceiver::taking(Duration::from_secs(2));
    let policy = Policy {
        concurrency: 2,
        ..Policy::default()
    };
    let deps = stack.deliver(rx.clone(), policy);
    let driver = SqsDriver::new(
        stack.queue_reader.clone(),
        SqsMapping {
            timeout: Some(Duration::from_secs(60)),
            ..SqsMapping::default()
        },
    );
    let handler = |ev, deadline| {
        let deps = deps.clone();
        async move { Ok(deliver::handle_until(&deps, ev, deadline).await) }
    };
    let start = Instant::now();
    let stats = driver.poll_once(&handler).await.unwrap();
    assert!(stats.received > 0);
    assert_eq!(
        stats.failed, 0,
        "every message acknowledged, none timed out"
    );
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(40),
        "returned well before 60 s"
    );
    let first = rx.by_task();
    assert_eq!(first.len(), 2, "two jobs started");
    for seqs in first.values() {
        assert_eq!(
            *seqs,
            (1..=20).collect::<Vec<_>>(),
            "each POSTed until the cutoff"
        );
    }

    // What was not attempted is back in the queue at once, spending no attempt.
    let jobs = queued(&stack).await;
    let shape: Vec<(usize, u64)> = jobs
        .iter()
        .map(|j| (j.events.len(), j.events[0].seq.0))
        .collect();
    assert_eq!(
        shape,
        [(80, 21), (80, 21), (100, 1)],
        "the rest of both started jobs, and the third untouched"
    );
    assert!(!first.contains_key(jobs[2].task_id.as_str()));
    for j in &jobs {
        assert_eq!(j.attempt, 0, "no attempt spent");
        assert!(j.history.is_empty());
        assert_eq!(j.commit_waits, 0);
        assert_eq!(j.not_before, None);
    }

    // Nothing lost, nothing twice: later invocations take up where this one stopped.
    stack.queue.enqueue(&jobs, Duration::ZERO).await.unwrap();
    while driver.poll_once(&handler).await.unwrap().received > 0 {}
    let all = rx.by_task();
    assert_eq!(all.len(), 3);
    for seqs in all.values() {
        assert_eq!(*seqs, (1..=100).collect::<Vec<_>>(), "each once, in order");
    }
    let attempts = stack
        .attempts
        .list(&ep.tenant_id, &ep.id, 1000, None)
        .await
        .unwrap()
        .attempts;
    assert_eq!(attempts.len(), 300);
    assert!(
        attempts
            .iter()
            .all(|a| a.attempt == 1 && a.status == AttemptStatus::Delivered),
        "every POST was its job's first attempt"
    );
}

/// An [`EventStore`] counting the events each read returns.
struct CountingStore {
    inner: Arc<dyn EventStore>,
    largest_read: AtomicUsize,
    total: AtomicUsize,
}

impl CountingStore {
    fn note(&self, events: &[Envelope]) {
        self.largest_read.fetch_max(events.len(), Ordering::SeqCst);
        self.total.fetch_add(events.len(), Ordering::SeqCst);
    }
}

#[async_trait]
impl EventStore for CountingStore {
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
        let events = self.inner.events(key, after, limit).await?;
        self.note(&events);
        Ok(events)
    }
    async fn events_at(&self, key: &TaskKey, seqs: &[Seq]) -> burstline::Result<Vec<Envelope>> {
        let events = self.inner.events_at(key, seqs).await?;
        self.note(&events);
        Ok(events)
    }
    async fn find_event(
        &self,
        tenant: &TenantId,
        id: &EventId,
    ) -> burstline::Result<Option<(TaskId, Seq)>> {
        self.inner.find_event(tenant, id).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_sparse_replay_loads_only_its_events_a_page_at_a_time() {
    let (stack, key, ep) = world().await;
    for _ in 0..4 {
        let events: Vec<serde_json::Value> = (0..500)
            .map(
                |i| serde_json::json!({"type": "token.delta", "task_id": "long", "data": {"i": i}}),
            )
            .collect();
        send(&stack, &key, &serde_json::json!({ "events": events })).await;
    }
    drain_jobs(&stack).await;
    let task = task("acme", "long");
    let stored = stored(&stack, &task).await;
    assert_eq!(stored.len(), 2000);
    // A replay of one event type over the whole span: 100 refs, 20 seqs apart.
    let job = DeliveryJob {
        chain: None,
        tenant_id: ep.tenant_id.clone(),
        task_id: task.task_id.clone(),
        endpoint_id: ep.id.clone(),
        events: stored
            .iter()
            .step_by(20)
            .map(|e| EventRef {
                seq: e.seq,
                id: e.id.clone(),
                event_type: e.event_type.clone(),
            })
            .collect(),
        through: stack
            .store
            .head(&task)
            .await
            .unwrap()
            .unwrap()
            .position
            .unwrap(),
        attempt: 0,
        not_before: None,
        commit_waits: 0,
        history: Vec::new(),
    };
    stack.queue.enqueue(&[job], Duration::ZERO).await.unwrap();
    let rx = FakeReceiver::taking(Duration::ZERO);
    let mut deps = stack.deliver(rx.clone(), Policy::default());
    let counting = Arc::new(CountingStore {
        inner: stack.store.clone(),
        largest_read: AtomicUsize::new(0),
        total: AtomicUsize::new(0),
    });
    deps.store = counting.clone();
    drain_deliveries(&stack, &deps).await;
    let seqs: Vec<u64> = rx.got().iter().map(|(_, s)| *s).collect();
    assert_eq!(seqs, (1..=2000).step_by(20).collect::<Vec<u64>>());
    let bound = Policy::default().pages.max_events;
    assert!(
        counting.largest_read.load(Ordering::SeqCst) <= bound,
        "at most {bound} events held per read, not the 2,000-seq span"
    );
    assert_eq!(
        counting.total.load(Ordering::SeqCst),
        100,
        "only the events the job sends are read"
    );
}

#[tokio::test(start_paused = true)]
async fn waiting_for_a_commit_backs_off_then_dead_letters_after_an_hour() {
    let (stack, _key, ep) = world().await;
    // A job whose events never get committed.
    let job = DeliveryJob {
        chain: None,
        tenant_id: ep.tenant_id.clone(),
        task_id: "never".parse().unwrap(),
        endpoint_id: ep.id.clone(),
        events: vec![EventRef {
            seq: Seq(1),
            id: "e-1".parse().unwrap(),
            event_type: "x".parse().unwrap(),
        }],
        through: StreamPosition::new(burstline::log::memory::SHARD_ID, format!("{:056}", 1)),
        attempt: 0,
        not_before: None,
        commit_waits: 0,
        history: Vec::new(),
    };
    stack.queue.enqueue(&[job], Duration::ZERO).await.unwrap();
    let rx = FakeReceiver::taking(Duration::ZERO);
    let deps = stack.deliver(rx.clone(), Policy::default());
    let step = Duration::from_secs(5);
    let mut looks = 0;
    let mut waited = Duration::ZERO;
    while dead_letters(&stack).await.is_empty() {
        assert!(waited < Duration::from_secs(7200), "gave up in time");
        looks += drain_deliveries(&stack, &deps).await;
        stack.advance(step);
        waited += step;
    }
    assert_eq!(looks, 12, "a dozen looks, not one every 5 s");
    assert!(
        waited >= Duration::from_secs(3600) && waited <= Duration::from_secs(3600) + 2 * step,
        "an hour of patience: {waited:?}"
    );
    assert_eq!(
        dead_letters(&stack).await[0].reason,
        "events were never committed"
    );
    assert!(rx.got().is_empty());
}
