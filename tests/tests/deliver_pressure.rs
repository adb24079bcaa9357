//! Webhooks under pressure (issue 13), on in-memory adapters whose clocks all follow tokio's
//! paused clock: simulated minutes pass as fast as the work allows, nothing sleeps for real.
//! The endpoints are fake senders answering by simulated time.

use async_trait::async_trait;
use burstline::apikey::{ApiKey, Scope};
use burstline::endpoint::Endpoint;
use burstline::endpoint_limits::Permits;
use burstline::ids::{EndpointId, TenantId};
use burstline::mapping::sqs::{SqsDriver, SqsMapping};
use burstline::permits::PermitStore;
use burstline_tests::fixtures::*;
use burstline_tests::stack::Stack;
use deliver::http::{Sent, WebhookSender};
use deliver::outcome::{Failure, Observed};
use deliver::request::Header;
use deliver::{Deliver, Policy};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How a fake endpoint answers a POST arriving `elapsed` into the test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Status(u16),
    /// `429` with `Retry-After: n` seconds.
    TooMany(u64),
    /// No answer: the POST times out after 10 s.
    Hang,
    /// 200 after this many milliseconds.
    Slow(u64),
}

/// One POST as the endpoint saw it.
#[derive(Debug, Clone)]
struct Post {
    at: Duration,
    /// The unix second, on the stack's clock (deliver's), it started in.
    second: i64,
    /// Requests in flight when it arrived, itself included.
    in_flight: usize,
    /// `(task, seq)` of each event carried.
    events: Vec<(String, u64)>,
    answer: Answer,
}

/// A fake endpoint on tokio's clock.
struct FakeEndpoint {
    start: Instant,
    clock: Option<Arc<dyn burstline::clock::Clock>>,
    in_flight: std::sync::atomic::AtomicUsize,
    answer: Box<dyn Fn(Duration, usize) -> Answer + Send + Sync>,
    posts: Mutex<Vec<Post>>,
}

impl FakeEndpoint {
    fn new(answer: impl Fn(Duration, usize) -> Answer + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            clock: None,
            in_flight: Default::default(),
            answer: Box::new(answer),
            posts: Mutex::default(),
        })
    }

    fn on_clock(
        clock: Arc<dyn burstline::clock::Clock>,
        answer: impl Fn(Duration, usize) -> Answer + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            clock: Some(clock),
            in_flight: Default::default(),
            answer: Box::new(answer),
            posts: Mutex::default(),
        })
    }

    fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }

    /// Per task, the seqs it accepted (2xx), in arrival order.
    fn delivered(&self) -> BTreeMap<String, Vec<u64>> {
        let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for p in self.posts() {
            if matches!(p.answer, Answer::Status(200) | Answer::Slow(_)) {
                for (task, seq) in p.events {
                    out.entry(task).or_default().push(seq);
                }
            }
        }
        out
    }
}

#[async_trait]
impl WebhookSender for FakeEndpoint {
    async fn post(&self, _url: &str, _headers: &[Header], body: Vec<u8>) -> Sent {
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let events = match v.get("events") {
            Some(batch) => batch.as_array().unwrap().clone(),
            None => vec![v],
        };
        use std::sync::atomic::Ordering::SeqCst;
        let at = self.start.elapsed();
        let second = self.clock.as_ref().map_or(0, |c| c.now().timestamp());
        let in_flight = self.in_flight.fetch_add(1, SeqCst) + 1;
        let answer = {
            let mut posts = self.posts.lock().unwrap();
            let answer = (self.answer)(at, posts.len());
            posts.push(Post {
                at,
                second,
                in_flight,
                events: events
                    .iter()
                    .map(|e| {
                        (
                            e["task_id"].as_str().unwrap().to_owned(),
                            e["seq"].as_u64().unwrap(),
                        )
                    })
                    .collect(),
                answer,
            });
            answer
        };
        let observed = match answer {
            Answer::Status(status) => Observed::Response {
                status,
                retry_after: None,
            },
            Answer::TooMany(secs) => Observed::Response {
                status: 429,
                retry_after: Some(Duration::from_secs(secs)),
            },
            Answer::Hang => {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Observed::Failed(Failure::Timeout)
            }
            Answer::Slow(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Observed::Response {
                    status: 200,
                    retry_after: None,
                }
            }
        };
        self.in_flight.fetch_sub(1, SeqCst);
        Sent {
            observed,
            latency: Duration::ZERO,
        }
    }
}

/// A tenant with an ingest key and one endpoint wanting every event.
async fn tenant(stack: &Stack, name: &str) -> (ApiKey, Endpoint) {
    let key = tenant_with_key(stack, name, &[Scope::Ingest]).await;
    let ep = endpoint(name, &format!("https://{name}.example.com/in"), &["*"]);
    stack.endpoints.create_endpoint(&ep).await.unwrap();
    (key, ep)
}

/// Ingests `tasks` × `per_task` events (500 per request) and runs fanout over them.
async fn ingest(stack: &Stack, key: &ApiKey, prefix: &str, tasks: usize, per_task: usize) {
    let all: Vec<serde_json::Value> = (0..tasks)
        .flat_map(|t| {
            (1..=per_task).map(move |i| {
                serde_json::json!({"type": "tool_call.completed", "task_id": format!("{prefix}-{t}"), "data": {"i": i}})
            })
        })
        .collect();
    for chunk in all.chunks(500) {
        let body = serde_json::json!({ "events": chunk });
        let resp = ingest::handle(&stack.ingest(), post_events(key, &body)).await;
        assert_eq!(resp.status(), 202);
    }
    drain(stack, &stack.fanout(), 500).await;
}

/// Polls the delivery queue as an event-source mapping would (one invocation at a time, a
/// 120 s timeout), idling 250 ms when it is empty, until `done` or `limit` simulated time.
async fn deliver_until(
    stack: &Stack,
    deps: &Deliver,
    limit: Duration,
    done: impl Fn() -> bool,
) -> Duration {
    let start = Instant::now();
    let driver = SqsDriver::new(
        stack.queue_reader.clone(),
        SqsMapping {
            timeout: Some(Duration::from_secs(120)),
            ..SqsMapping::default()
        },
    );
    let handler = |ev, deadline| {
        let deps = deps.clone();
        async move { Ok(deliver::handle_until(&deps, ev, deadline).await) }
    };
    while !done() && start.elapsed() < limit {
        let stats = driver.poll_once(&handler).await.unwrap();
        if stats.received == 0 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    start.elapsed()
}

fn in_order(delivered: &BTreeMap<String, Vec<u64>>, tasks: usize, per_task: usize) {
    assert_eq!(delivered.len(), tasks, "every task delivered");
    for (task, seqs) in delivered {
        assert_eq!(
            *seqs,
            (1..=per_task as u64).collect::<Vec<_>>(),
            "{task}: each event once, in seq order"
        );
    }
}

/// Retry storm: an endpoint answering 503 for the first 5 simulated minutes of a burst over
/// many tasks receives a handful of requests during the outage (one job's attempts until the
/// breaker trips, then one probe at a time), not one per job per schedule step; once it
/// recovers, everything arrives in order within 2 minutes, nothing dead-lettered.
#[tokio::test(start_paused = true)]
async fn a_retry_storm_is_held_back_by_the_breaker() {
    const TASKS: usize = 1000;
    const PER_TASK: usize = 20;
    let outage = Duration::from_secs(300);
    let stack = Stack::memory_on_tokio_time();
    let (key, ep) = tenant(&stack, "acme").await;
    ingest(&stack, &key, "run", TASKS, PER_TASK).await;
    let rx = FakeEndpoint::new(move |at, _| {
        if at < outage {
            Answer::Status(503)
        } else {
            Answer::Status(200)
        }
    });
    let deps = stack.deliver(rx.clone(), Policy::default());
    let total = TASKS * PER_TASK;
    let count = || rx.delivered().values().map(Vec::len).sum::<usize>();
    deliver_until(&stack, &deps, Duration::from_secs(1800), || {
        count() >= total
    })
    .await;

    let posts = rx.posts();
    let during = posts.iter().filter(|p| p.at < outage).count();
    eprintln!(
        "{} POSTs in all, {during} during the outage, last at {:?}",
        posts.len(),
        posts.iter().map(|p| p.at).max()
    );
    assert!(
        during <= 100,
        "{during} POSTs during the outage (today: ~1,000 per schedule step)"
    );
    in_order(&rx.delivered(), TASKS, PER_TASK);
    let last = posts.iter().map(|p| p.at).max().unwrap();
    assert!(
        last <= outage + Duration::from_secs(120),
        "all delivered {last:?} into the test, within 2 minutes of recovery"
    );
    assert!(
        dead_letters(&stack).await.is_empty(),
        "nothing dead-lettered"
    );
    let now = stack
        .endpoints
        .endpoint(&ep.tenant_id, &ep.id)
        .await
        .unwrap()
        .unwrap();
    assert!(now.breaker.is_clear(), "closed again: {:?}", now.breaker);
    assert_eq!(now.failing_since, None);
}

/// `429 Retry-After: 30` to one job pauses the whole endpoint: no request of any job for 30 s,
/// and the pause shows in the endpoint and in the attempt that caused it.
#[tokio::test(start_paused = true)]
async fn retry_after_pauses_the_whole_endpoint() {
    let stack = Stack::memory_on_tokio_time();
    let (key, ep) = tenant(&stack, "acme").await;
    ingest(&stack, &key, "run", 20, 5).await;
    let rx = FakeEndpoint::new(|_, n| {
        if n == 3 {
            Answer::TooMany(30)
        } else {
            Answer::Status(200)
        }
    });
    let deps = stack.deliver(rx.clone(), Policy::default());
    let observed = Arc::new(Mutex::new(None));
    {
        // Look at the endpoint right after the 429, before anything else is sent.
        let stack = stack.clone();
        let ep = ep.clone();
        let observed = observed.clone();
        let rx = rx.clone();
        tokio::spawn(async move {
            while rx.posts().len() < 4 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let now = stack
                .endpoints
                .endpoint(&ep.tenant_id, &ep.id)
                .await
                .unwrap();
            *observed.lock().unwrap() = now;
        });
    }
    deliver_until(&stack, &deps, Duration::from_secs(600), || {
        rx.delivered().values().map(Vec::len).sum::<usize>() >= 100
    })
    .await;
    let posts = rx.posts();
    let slow_down = posts[3].at;
    let next = posts[4].at;
    assert!(
        next >= slow_down + Duration::from_secs(30),
        "nothing for 30 s after the 429: next POST {next:?} after {slow_down:?}"
    );
    assert!(
        next <= slow_down + Duration::from_secs(40),
        "then it resumes"
    );
    in_order(&rx.delivered(), 20, 5);
    let paused = observed.lock().unwrap().clone().unwrap();
    assert!(paused.breaker.is_paused(), "the endpoint shows the pause");
    let view = api::endpoints::view(&paused);
    assert_eq!(view["paused"]["reason"], "retry_after");
    let log = stack
        .attempts
        .list(&ep.tenant_id, &ep.id, 200, None)
        .await
        .unwrap()
        .attempts;
    let marked: Vec<_> = log.iter().filter(|a| a.paused_until.is_some()).collect();
    assert_eq!(marked.len(), 1, "the 429 attempt records the pause");
    assert_eq!(marked[0].http_status, Some(429));
}

/// Rate limit: an endpoint limited to 50 requests/s and 4 in flight, fed by two concurrent
/// deliver invocations (two processes sharing only the permits item), never sees more than
/// that — counted by the receiver per second of the clock deliver runs on — and still gets
/// every event in order, with no attempt spent on waiting.
#[tokio::test(start_paused = true)]
async fn limits_hold_across_two_concurrent_invocations() {
    const TASKS: usize = 40;
    const PER_TASK: usize = 25;
    let stack = Stack::memory_on_tokio_time();
    let (key, mut ep) = tenant(&stack, "acme").await;
    ep.rate_limit = Some(50);
    ep.max_in_flight = Some(4);
    ep.version += 1;
    assert!(stack.endpoints.update_endpoint(&ep).await.unwrap());
    ingest(&stack, &key, "run", TASKS, PER_TASK).await;
    let rx = FakeEndpoint::on_clock(stack.clock.clone(), |_, _| Answer::Slow(20));
    let total = TASKS * PER_TASK;
    let done = || rx.delivered().values().map(Vec::len).sum::<usize>() >= total;
    let one = stack.deliver(rx.clone(), Policy::default());
    let two = stack.deliver(rx.clone(), Policy::default());
    tokio::join!(
        deliver_until(&stack, &one, Duration::from_secs(600), done),
        deliver_until(&stack, &two, Duration::from_secs(600), done),
    );
    in_order(&rx.delivered(), TASKS, PER_TASK);
    let posts = rx.posts();
    let mut per_second: BTreeMap<i64, usize> = BTreeMap::new();
    for p in &posts {
        *per_second.entry(p.second).or_default() += 1;
    }
    let busiest = per_second.values().max().copied().unwrap_or(0);
    assert!(busiest <= 50, "{busiest} requests in one second");
    assert!(busiest >= 40, "the limit is used, not starved: {busiest}");
    let widest = posts.iter().map(|p| p.in_flight).max().unwrap_or(0);
    assert!(widest <= 4, "{widest} requests in flight");
    let log = stack
        .attempts
        .list(&ep.tenant_id, &ep.id, 200, None)
        .await
        .unwrap()
        .attempts;
    assert!(
        log.iter().all(|a| a.attempt == 1),
        "waiting spent no attempt"
    );
    assert!(dead_letters(&stack).await.is_empty());
}

/// Counts what reaches the permits item, for the cost of limits.
struct CountingPermits {
    inner: Arc<dyn PermitStore>,
    reads: std::sync::atomic::AtomicUsize,
    writes: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl PermitStore for CountingPermits {
    async fn permits(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
    ) -> burstline::Result<(Permits, u64)> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.permits(tenant, endpoint).await
    }

    async fn put_permits(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        permits: &Permits,
        expected: u64,
    ) -> burstline::Result<bool> {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner
            .put_permits(tenant, endpoint, permits, expected)
            .await
    }
}

/// Limits cost: an endpoint that sets no limit is sent to without any shared-state request
/// (at most one invocation's 32 job slots at once); one that sets limits pays a read and a write per
/// lease, far fewer than one per POST.
#[tokio::test(start_paused = true)]
async fn limits_cost_nothing_unless_set_and_far_less_than_a_write_per_post() {
    const TASKS: usize = 40;
    const PER_TASK: usize = 25;
    let mut stack = Stack::memory_on_tokio_time();
    let counting = Arc::new(CountingPermits {
        inner: stack.permits.clone(),
        reads: Default::default(),
        writes: Default::default(),
    });
    stack.permits = counting.clone();
    let (key, mut ep) = tenant(&stack, "acme").await;
    let total = TASKS * PER_TASK;

    ingest(&stack, &key, "free", TASKS, PER_TASK).await;
    let rx = FakeEndpoint::on_clock(stack.clock.clone(), |_, _| Answer::Slow(20));
    let done = || rx.delivered().values().map(Vec::len).sum::<usize>() >= total;
    let one = stack.deliver(rx.clone(), Policy::default());
    deliver_until(&stack, &one, Duration::from_secs(600), done).await;
    in_order(&rx.delivered(), TASKS, PER_TASK);
    let widest = rx.posts().iter().map(|p| p.in_flight).max().unwrap_or(0);
    assert!(
        (2..=32).contains(&widest),
        "one invocation sends an unlimited endpoint at most its 32 job slots at once: {widest}"
    );
    let requests = |c: &CountingPermits| {
        (
            c.reads.load(std::sync::atomic::Ordering::SeqCst),
            c.writes.load(std::sync::atomic::Ordering::SeqCst),
        )
    };
    assert_eq!(requests(&counting), (0, 0), "no limit set: no shared state");

    ep.rate_limit = Some(1000);
    ep.max_in_flight = Some(8);
    ep.version += 1;
    assert!(stack.endpoints.update_endpoint(&ep).await.unwrap());
    ingest(&stack, &key, "limited", TASKS, PER_TASK).await;
    let rx = FakeEndpoint::on_clock(stack.clock.clone(), |_, _| Answer::Slow(20));
    let done = || rx.delivered().values().map(Vec::len).sum::<usize>() >= total;
    let two = stack.deliver(rx.clone(), Policy::default());
    deliver_until(&stack, &two, Duration::from_secs(600), done).await;
    in_order(&rx.delivered(), TASKS, PER_TASK);
    let (reads, writes) = requests(&counting);
    let posts = rx.posts().len();
    eprintln!("limits set: {posts} POSTs, {reads} permit reads, {writes} permit writes");
    assert!(writes > 0, "set limits are shared");
    assert!(
        writes * 10 <= posts,
        "amortised: {writes} writes for {posts} POSTs"
    );
}

/// Endpoints without limits share an invocation's 32 job slots: two endpoints of one tenant,
/// each with 64 tasks' jobs in every batch, get 16 slots each, and the jobs beyond them wait
/// in turn: all go out without any job handed back to the queue (a starved job used to be
/// deferred after 100 ms while others took every freed slot). Alone, an endpoint gets all 32.
#[tokio::test(start_paused = true)]
async fn endpoints_share_the_slots_and_jobs_beyond_their_share_wait_in_turn() {
    const TASKS: usize = 64;
    const PER_TASK: usize = 10;
    let stack = Stack::memory_on_tokio_time();
    let (key, ep_a) = tenant(&stack, "acme").await;
    let ep_b = endpoint("acme", "https://acme-two.example.com/in", &["*"]);
    stack.endpoints.create_endpoint(&ep_b).await.unwrap();
    ingest(&stack, &key, "turn", TASKS, PER_TASK).await;
    let sends_before = stack
        .requests
        .snapshot()
        .get("sqs:SendMessageBatch")
        .copied();
    let a = FakeEndpoint::on_clock(stack.clock.clone(), |_, _| Answer::Slow(20));
    let b = FakeEndpoint::on_clock(stack.clock.clone(), |_, _| Answer::Slow(20));
    let router = Arc::new(Router {
        routes: vec![
            (ep_a.url.clone(), a.clone() as Arc<dyn WebhookSender>),
            (ep_b.url.clone(), b.clone() as Arc<dyn WebhookSender>),
        ],
    });
    let total = |rx: &FakeEndpoint| rx.delivered().values().map(Vec::len).sum::<usize>();
    let done = || total(&a) + total(&b) >= 2 * TASKS * PER_TASK;
    let one = stack.deliver(router, Policy::default());
    deliver_until(&stack, &one, Duration::from_secs(600), done).await;
    in_order(&a.delivered(), TASKS, PER_TASK);
    in_order(&b.delivered(), TASKS, PER_TASK);
    let sends_after = stack
        .requests
        .snapshot()
        .get("sqs:SendMessageBatch")
        .copied();
    assert_eq!(
        sends_after, sends_before,
        "no job was handed back to the queue"
    );
    let widest = |rx: &FakeEndpoint| rx.posts().iter().map(|p| p.in_flight).max().unwrap_or(0);
    assert_eq!(
        (widest(&a), widest(&b)),
        (16, 16),
        "each endpoint uses its share of the 32 slots, and no more"
    );

    // Alone in its batches, an endpoint uses every slot.
    stack
        .endpoints
        .delete_endpoint(&ep_b.tenant_id, &ep_b.id)
        .await
        .unwrap();
    ingest(&stack, &key, "alone", TASKS, PER_TASK).await;
    let c = FakeEndpoint::on_clock(stack.clock.clone(), |_, _| Answer::Slow(20));
    let done = || total(&c) >= TASKS * PER_TASK;
    let only_a = stack.deliver(c.clone(), Policy::default());
    deliver_until(&stack, &only_a, Duration::from_secs(600), done).await;
    assert_eq!(widest(&c), 32, "alone: every slot");
}

/// Noisy neighbour: tenant A's endpoint never answers (each POST times out after 10 s) with
/// 2,000 events over 100 tasks queued first; tenant B's healthy endpoint gets 200 tasks × 10
/// events meanwhile. With four invocations polling, A holds at most its fair share of each
/// batch's 32 job slots that B's jobs share (half), until its breaker pauses it, so B's events
/// go out within 2 s of being enqueued and no B POST starts later than 2 s after the test began
/// (none waits behind an A timeout).
#[tokio::test(start_paused = true)]
async fn a_hanging_endpoint_does_not_hold_back_another_tenant() {
    let stack = Stack::memory_on_tokio_time();
    let (key_a, ep_a) = tenant(&stack, "tenant-a").await;
    let (key_b, ep_b) = tenant(&stack, "tenant-b").await;
    ingest(&stack, &key_a, "a", 100, 20).await;
    ingest(&stack, &key_b, "b", 200, 10).await;
    let rx = FakeEndpoint::new(|_, _| Answer::Status(200));
    let hang = FakeEndpoint::new(|_, _| Answer::Hang);
    let router = Arc::new(Router {
        routes: vec![
            (ep_a.url.clone(), hang.clone() as Arc<dyn WebhookSender>),
            (ep_b.url.clone(), rx.clone() as Arc<dyn WebhookSender>),
        ],
    });
    let done = || rx.delivered().values().map(Vec::len).sum::<usize>() >= 2000;
    let invocations: Vec<Deliver> = (0..4)
        .map(|_| stack.deliver(router.clone(), Policy::default()))
        .collect();
    futures_util::future::join_all(
        invocations
            .iter()
            .map(|d| deliver_until(&stack, d, Duration::from_secs(120), done)),
    )
    .await;
    let mut hist: BTreeMap<u64, usize> = BTreeMap::new();
    for p in rx.posts() {
        *hist.entry(p.at.as_secs()).or_default() += 1;
    }
    eprintln!(
        "B POSTs per second: {hist:?}; A POSTs {}, at most {} at once",
        hang.posts().len(),
        hang.posts().iter().map(|p| p.in_flight).max().unwrap_or(0)
    );
    in_order(&rx.delivered(), 200, 10);
    let b_last = rx.posts().iter().map(|p| p.at).max().unwrap();
    assert!(
        b_last <= Duration::from_secs(2),
        "every B event out within 2 s of enqueue (all were enqueued at 0): last at {b_last:?}"
    );
    let a_widest = hang.posts().iter().map(|p| p.in_flight).max().unwrap_or(0);
    assert!(
        a_widest <= 32,
        "across four invocations A never held more than one invocation's 32 job slots \
         (its fair share beside B's jobs, then its breaker): {a_widest}"
    );
    let _ = ep_b;
}

/// Sends each POST to the fake endpoint registered for its URL.
struct Router {
    routes: Vec<(String, Arc<dyn WebhookSender>)>,
}

#[async_trait]
impl WebhookSender for Router {
    async fn post(&self, url: &str, headers: &[Header], body: Vec<u8>) -> Sent {
        let (_, to) = self.routes.iter().find(|(u, _)| u == url).unwrap();
        to.post(url, headers, body).await
    }
}
