//! Webhook delivery against a real in-process receiver on 127.0.0.1, on in-memory adapters
//! with a manual clock (schedules are advanced, never slept).

use burstline::apikey::{ApiKey, Scope};
use burstline::attempts::AttemptStatus;
use burstline::endpoint::{Batching, DisabledReason, Endpoint, EndpointState};
use burstline::redrive::redrive;
use burstline_tests::fixtures::*;
use burstline_tests::receiver::{Receiver, Reply, refused_url, reset_mid_response};
use burstline_tests::stack::Stack;
use deliver::http::HttpSender;
use deliver::{Deliver, Policy};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

struct World {
    stack: Stack,
    key: ApiKey,
    endpoint: Endpoint,
    deps: Deliver,
}

async fn world(url: &str, policy: Policy, tweak: impl FnOnce(&mut Endpoint)) -> World {
    world_with(url, policy, Duration::from_secs(2), true, tweak).await
}

async fn world_with(
    url: &str,
    policy: Policy,
    timeout: Duration,
    allow_private: bool,
    tweak: impl FnOnce(&mut Endpoint),
) -> World {
    let stack = Stack::memory();
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest]).await;
    let mut ep = endpoint("acme", url, &["*"]);
    tweak(&mut ep);
    stack.endpoints.create_endpoint(&ep).await.unwrap();
    let sender = Arc::new(HttpSender::new(timeout, allow_private).unwrap());
    let deps = stack.deliver(sender, policy);
    World {
        stack,
        key,
        endpoint: ep,
        deps,
    }
}

impl World {
    async fn send(&self, body: Value) {
        let resp = ingest::handle(&self.stack.ingest(), post_events(&self.key, &body)).await;
        assert_eq!(resp.status(), 202);
        drain(&self.stack, &self.stack.fanout(), 100).await;
    }

    async fn deliver(&self) -> usize {
        drain_deliveries(&self.stack, &self.deps).await
    }

    async fn attempts(&self) -> Vec<burstline::attempts::AttemptRecord> {
        let mut a = self
            .stack
            .attempts
            .list(&self.endpoint.tenant_id, &self.endpoint.id, 100, None)
            .await
            .unwrap()
            .attempts;
        a.reverse();
        a
    }

    async fn stored_endpoint(&self) -> Endpoint {
        self.stack
            .endpoints
            .endpoint(&self.endpoint.tenant_id, &self.endpoint.id)
            .await
            .unwrap()
            .unwrap()
    }
}

fn one(task: &str) -> Value {
    json!({"type": "tool_call.completed", "task_id": task, "data": {"ok": true}})
}

#[tokio::test]
async fn delivers_in_order_verified_by_an_independent_verifier() {
    let rx = Receiver::start().await;
    let w = world(&rx.url, Policy::default(), |_| {}).await;
    w.send(burst("run-1", 6)).await;
    w.deliver().await;
    let got = rx.received();
    assert_eq!(got.len(), 6);
    let verifier = standardwebhooks::Webhook::new(w.endpoint.secrets[0].secret.expose()).unwrap();
    for (i, r) in got.iter().enumerate() {
        verifier
            .verify(&r.body, &r.header_map())
            .expect("signature verifies independently");
        assert_eq!(r.json()["seq"], i as u64 + 1);
        assert_eq!(r.header("webhook-id"), r.json()["id"].as_str());
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(r.header("user-agent").unwrap().starts_with("Burstline/"));
    }
    let attempts = w.attempts().await;
    assert_eq!(attempts.len(), 6);
    assert!(
        attempts
            .iter()
            .all(|a| a.status == AttemptStatus::Delivered && a.http_status == Some(200))
    );
}

#[tokio::test]
async fn server_error_then_success_is_retried_on_schedule() {
    let rx = Receiver::start().await;
    rx.script([Reply::Status(500)]);
    let w = world(&rx.url, Policy::default(), |_| {}).await;
    w.send(one("run-1")).await;
    w.deliver().await;
    assert_eq!(rx.received().len(), 1);
    assert!(w.stored_endpoint().await.failing_since.is_some());
    // Not before the first delay (1 min − 20 %).
    w.stack.advance(Duration::from_secs(47));
    w.deliver().await;
    assert_eq!(rx.received().len(), 1);
    w.stack.advance(Duration::from_secs(26));
    w.deliver().await;
    let got = rx.received();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].header("webhook-id"),
        got[1].header("webhook-id"),
        "stable across retries"
    );
    let statuses: Vec<_> = w
        .attempts()
        .await
        .iter()
        .map(|a| (a.attempt, a.status, a.http_status))
        .collect();
    assert_eq!(
        statuses,
        [
            (1, AttemptStatus::Retrying, Some(500)),
            (2, AttemptStatus::Delivered, Some(200))
        ]
    );
    assert!(
        w.stored_endpoint().await.failing_since.is_none(),
        "success clears the failure run"
    );
    assert!(dead_letters(&w.stack).await.is_empty());
}

#[tokio::test]
async fn retry_after_is_honoured_within_the_window() {
    let rx = Receiver::start().await;
    rx.script([Reply::RetryAfter(429, "90".into())]);
    let w = world(&rx.url, Policy::default(), |_| {}).await;
    w.send(one("run-1")).await;
    w.deliver().await;
    w.stack.advance(Duration::from_secs(85));
    w.deliver().await;
    assert_eq!(
        rx.received().len(),
        1,
        "waits the 90 s asked for, not the ~60 s scheduled"
    );
    w.stack.advance(Duration::from_secs(6));
    w.deliver().await;
    assert_eq!(rx.received().len(), 2);
}

async fn failing_transport(url: &str, timeout: Duration, expected_error: &str) {
    let w = world_with(url, Policy::default(), timeout, true, |_| {}).await;
    w.send(one("run-1")).await;
    w.deliver().await;
    let attempts = w.attempts().await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status, AttemptStatus::Retrying);
    assert_eq!(attempts[0].error.as_deref(), Some(expected_error));
    assert!(
        dead_letters(&w.stack).await.is_empty(),
        "retried, not dead-lettered"
    );
    w.stack.advance(Duration::from_secs(73));
    w.deliver().await;
    assert_eq!(w.attempts().await.len(), 2, "and tried again on schedule");
}

#[tokio::test]
async fn timeouts_are_retried() {
    let rx = Receiver::start().await;
    rx.script([
        Reply::Slow(Duration::from_secs(2)),
        Reply::Slow(Duration::from_secs(2)),
    ]);
    failing_transport(&rx.url, Duration::from_millis(300), "timeout").await;
}

#[tokio::test]
async fn connection_refused_is_retried() {
    failing_transport(&refused_url(), Duration::from_secs(2), "connect").await;
}

#[tokio::test]
async fn a_reset_mid_response_is_retried() {
    let (url, _server) = reset_mid_response().await;
    failing_transport(&url, Duration::from_secs(2), "interrupted").await;
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_files_an_event() {
    let rx = Receiver::start().await;
    rx.script([Reply::Status(410)]);
    let w = world(&rx.url, Policy::default(), |_| {}).await;
    w.send(json!({"events": [one("run-1"), one("run-1")]}))
        .await;
    w.deliver().await;
    assert_eq!(
        rx.received().len(),
        1,
        "nothing more is sent to a gone endpoint"
    );
    assert!(matches!(
        w.stored_endpoint().await.state,
        EndpointState::Disabled {
            reason: DisabledReason::Gone,
            ..
        }
    ));
    let dead = dead_letters(&w.stack).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead[0].job.events.len(),
        2,
        "both undelivered events are kept"
    );
    assert!(dead[0].reason.contains("410"));
    drain(&w.stack, &w.stack.fanout(), 100).await;
    let log = stored(&w.stack, &task("acme", "burstline.endpoints")).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].event_type.as_str(), "burstline.endpoint.disabled");
    assert_eq!(log[0].data["endpoint_id"], w.endpoint.id.as_str());
}

#[tokio::test]
async fn other_client_errors_dead_letter_that_event_only() {
    let rx = Receiver::start().await;
    rx.script([Reply::Status(400)]);
    let w = world(&rx.url, Policy::default(), |_| {}).await;
    w.send(json!({"events": [one("run-1"), one("run-1")]}))
        .await;
    w.deliver().await;
    assert_eq!(rx.received().len(), 2, "the next event still goes out");
    let dead = dead_letters(&w.stack).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].job.events.len(), 1);
    assert_eq!(dead[0].job.events[0].seq.0, 1);
    assert_eq!(dead[0].reason, "HTTP 400: not retried");
    assert_eq!(dead[0].job.history[0].status, Some(400));
    w.stack.advance(Duration::from_secs(86_400 * 2));
    w.deliver().await;
    assert_eq!(rx.received().len(), 2, "never retried");
}

#[tokio::test]
async fn long_waits_chain_through_the_fifteen_minute_limit() {
    let rx = Receiver::start().await;
    rx.script([Reply::Status(503), Reply::Status(503)]);
    let policy = Policy {
        schedule: vec![Duration::from_secs(60), Duration::from_secs(3600)],
        ..Policy::default()
    };
    let w = world(&rx.url, policy, |_| {}).await;
    w.send(one("run-1")).await;
    w.deliver().await;
    w.stack.advance(Duration::from_secs(73));
    w.deliver().await;
    assert_eq!(rx.received().len(), 2);
    // The next attempt is 48–72 minutes away: SQS can hold it 15 minutes at a time.
    let mut hops = 0;
    for _ in 0..3 {
        w.stack.advance(Duration::from_secs(900));
        hops += w.deliver().await;
        assert_eq!(rx.received().len(), 2, "never early");
    }
    assert_eq!(hops, 3, "re-enqueued every 15 minutes until due");
    w.stack.advance(Duration::from_secs(900 * 2));
    w.deliver().await;
    assert_eq!(rx.received().len(), 3, "attempted once due");
    let attempts = w.attempts().await;
    assert_eq!(
        attempts.last().map(|a| a.status),
        Some(AttemptStatus::Delivered)
    );
}

#[tokio::test]
async fn exhausted_jobs_are_dead_lettered_then_redriven() {
    let rx = Receiver::start().await;
    rx.script([Reply::Status(500), Reply::Status(500)]);
    let policy = Policy {
        schedule: vec![Duration::from_secs(10)],
        ..Policy::default()
    };
    let w = world(&rx.url, policy, |_| {}).await;
    w.send(one("run-1")).await;
    w.deliver().await;
    w.stack.advance(Duration::from_secs(13));
    w.deliver().await;
    let dead = dead_letters(&w.stack).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason, "retries exhausted");
    assert_eq!(dead[0].url.as_deref(), Some(rx.url.as_str()));
    let history: Vec<_> = dead[0].job.history.iter().map(|h| h.status).collect();
    assert_eq!(history, [Some(500), Some(500)]);
    assert!(dead[0].job.history.iter().all(|h| h.latency_ms < 2000));

    let dry = redrive(
        w.stack.dlq_reader.as_ref(),
        w.stack.queue.as_ref(),
        None,
        true,
    )
    .await
    .unwrap();
    assert_eq!((dry.jobs.len(), dry.removed), (1, 0));
    assert_eq!(
        dead_letters(&w.stack).await.len(),
        1,
        "a dry run changes nothing"
    );
    let other = burstline::ids::EndpointId::generate();
    let none = redrive(
        w.stack.dlq_reader.as_ref(),
        w.stack.queue.as_ref(),
        Some(&other),
        false,
    )
    .await
    .unwrap();
    assert_eq!((none.removed, none.left), (0, 1));
    let done = redrive(
        w.stack.dlq_reader.as_ref(),
        w.stack.queue.as_ref(),
        Some(&w.endpoint.id),
        false,
    )
    .await
    .unwrap();
    assert_eq!(done.removed, 1);
    let again = redrive(
        w.stack.dlq_reader.as_ref(),
        w.stack.queue.as_ref(),
        None,
        false,
    )
    .await
    .unwrap();
    assert_eq!(again.removed, 0, "idempotent");
    w.stack.advance(Duration::from_secs(1));
    w.deliver().await;
    assert_eq!(rx.received().len(), 3);
    assert!(dead_letters(&w.stack).await.is_empty());
    assert_eq!(
        w.attempts().await.last().map(|a| a.status),
        Some(AttemptStatus::Delivered)
    );
}

#[tokio::test]
async fn rotation_signs_twice_during_the_overlap_then_once() {
    let rx = Receiver::start().await;
    let mut old = None;
    let w = world(&rx.url, Policy::default(), |ep| {
        old = Some(ep.secrets[0].secret.clone());
        ep.rotate(chrono::Utc::now(), chrono::Duration::hours(24))
            .unwrap();
    })
    .await;
    let old = old.unwrap();
    let new = w.endpoint.secrets[0].secret.clone();
    w.send(one("run-1")).await;
    w.deliver().await;
    w.stack.advance(Duration::from_secs(25 * 3600));
    w.send(one("run-2")).await;
    w.deliver().await;
    let got = rx.received();
    assert_eq!(got.len(), 2);
    let sigs = |r: &burstline_tests::receiver::Received| {
        r.header("webhook-signature").unwrap().split(' ').count()
    };
    assert_eq!(sigs(&got[0]), 2);
    assert_eq!(sigs(&got[1]), 1);
    for (r, secrets) in [(&got[0], vec![&old, &new]), (&got[1], vec![&new])] {
        for s in secrets {
            let v = standardwebhooks::Webhook::new(s.expose()).unwrap();
            // The independent verifier checks the timestamp against real time; the second
            // delivery's timestamp is from the advanced clock, so check it with our verifier.
            let ts: i64 = r.header("webhook-timestamp").unwrap().parse().unwrap();
            let ok = burstline::signing::verify(
                s,
                r.header("webhook-id").unwrap(),
                ts,
                ts,
                300,
                &r.body,
                r.header("webhook-signature").unwrap(),
            );
            assert!(ok);
            if sigs(r) == 2 {
                v.verify(&r.body, &r.header_map()).unwrap();
            }
        }
    }
    let ts: i64 = got[1].header("webhook-timestamp").unwrap().parse().unwrap();
    assert!(!burstline::signing::verify(
        &old,
        got[1].header("webhook-id").unwrap(),
        ts,
        ts,
        300,
        &got[1].body,
        got[1].header("webhook-signature").unwrap()
    ));
}

#[tokio::test]
async fn batching_endpoints_get_batches_in_seq_order() {
    let rx = Receiver::start().await;
    let w = world(&rx.url, Policy::default(), |ep| {
        ep.batching = Some(Batching {
            max_events: 5,
            max_wait_ms: 0,
        })
    })
    .await;
    w.send(burst("run-1", 12)).await;
    w.deliver().await;
    let got = rx.received();
    let sizes: Vec<usize> = got
        .iter()
        .map(|r| r.json()["events"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [5, 5, 2]);
    let seqs: Vec<u64> = got
        .iter()
        .flat_map(|r| {
            r.json()["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_u64().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(seqs, (1..=12).collect::<Vec<_>>());
    let verifier = standardwebhooks::Webhook::new(w.endpoint.secrets[0].secret.expose()).unwrap();
    for r in &got {
        assert!(r.header("webhook-id").unwrap().starts_with("batch_"));
        verifier.verify(&r.body, &r.header_map()).unwrap();
    }
}

#[tokio::test]
async fn endpoints_failing_for_days_are_disabled() {
    let rx = Receiver::start().await;
    rx.script([Reply::Status(500)]);
    let w = world(&rx.url, Policy::default(), |ep| {
        ep.failing_since = Some(chrono::Utc::now() - chrono::Duration::hours(73));
    })
    .await;
    w.send(one("run-1")).await;
    w.deliver().await;
    assert!(matches!(
        w.stored_endpoint().await.state,
        EndpointState::Disabled {
            reason: DisabledReason::Failing,
            ..
        }
    ));
    drain(&w.stack, &w.stack.fanout(), 100).await;
    let log = stored(&w.stack, &task("acme", "burstline.endpoints")).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].data["reason"], "failing");
    // The retry waiting in the queue goes to the DLQ instead of the disabled endpoint.
    w.stack.advance(Duration::from_secs(73));
    w.deliver().await;
    assert_eq!(rx.received().len(), 1);
    let dead = dead_letters(&w.stack).await;
    assert_eq!(dead.len(), 1);
    assert!(dead[0].reason.contains("disabled"));
}

#[tokio::test]
async fn private_and_loopback_targets_are_refused() {
    let rx = Receiver::start().await;
    let port = rx
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let targets = [
        "https://127.0.0.1/hook".to_owned(),
        "https://0.0.0.0/hook".to_owned(),
        "https://10.1.2.3/hook".to_owned(),
        "https://172.16.0.1/hook".to_owned(),
        "https://192.168.1.1/hook".to_owned(),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://100.64.0.1/hook".to_owned(),
        "https://[::1]/hook".to_owned(),
        "https://[::ffff:127.0.0.1]/hook".to_owned(),
        "https://[fd00::1]/hook".to_owned(),
        "https://[fe80::1]/hook".to_owned(),
        format!("https://localhost:{port}/hook"),
        format!("http://127.0.0.1:{port}/hook"),
    ];
    for url in targets {
        let w = world_with(
            &url,
            Policy::default(),
            Duration::from_secs(2),
            false,
            |_| {},
        )
        .await;
        w.send(one("run-1")).await;
        w.deliver().await;
        let attempts = w.attempts().await;
        assert_eq!(
            attempts[0].error.as_deref(),
            Some("refused_address"),
            "{url}"
        );
        let dead = dead_letters(&w.stack).await;
        assert_eq!(dead.len(), 1, "{url}");
    }
    assert!(
        rx.received().is_empty(),
        "nothing reached the loopback receiver"
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let target = Receiver::start().await;
    let rx = Receiver::start().await;
    rx.script([Reply::Redirect(target.url.clone())]);
    let w = world(&rx.url, Policy::default(), |_| {}).await;
    w.send(one("run-1")).await;
    w.deliver().await;
    assert_eq!(rx.received().len(), 1);
    assert!(
        target.received().is_empty(),
        "the redirect target was never contacted"
    );
    let dead = dead_letters(&w.stack).await;
    assert_eq!(dead[0].reason, "HTTP 302: not retried");
}

#[tokio::test]
async fn jobs_wait_for_their_commit_and_stale_refs_are_dropped() {
    use burstline::head::StreamPosition;
    use burstline::job::{DeliveryJob, EventRef};
    let rx = Receiver::start().await;
    let w = world(&rx.url, Policy::default(), |_| {}).await;
    // A job enqueued before its commit (as fanout does), for an assignment that then loses:
    // seq 1 of run-1 ends up holding another event.
    let early = DeliveryJob {
        tenant_id: "acme".parse().unwrap(),
        task_id: "run-1".parse().unwrap(),
        endpoint_id: w.endpoint.id.clone(),
        events: vec![EventRef {
            seq: burstline::ids::Seq(1),
            id: "lost-race".parse().unwrap(),
            event_type: "x".parse().unwrap(),
        }],
        through: StreamPosition::new(burstline::log::memory::SHARD_ID, format!("{:056}", 1)),
        attempt: 0,
        not_before: None,
        commit_waits: 0,
        history: Vec::new(),
        chain: None,
    };
    w.stack
        .queue
        .enqueue(&[early], Duration::ZERO)
        .await
        .unwrap();
    w.deliver().await;
    assert!(
        rx.received().is_empty(),
        "nothing is sent before the commit"
    );
    // The commit lands (fanout stores another event at seq 1 and enqueues its own job).
    w.send(one("run-1")).await;
    w.stack.advance(Duration::from_secs(6));
    w.deliver().await;
    let got = rx.received();
    assert_eq!(
        got.len(),
        1,
        "the real event once; the stale ref is dropped"
    );
    assert_ne!(got[0].json()["id"], "lost-race");
    assert!(dead_letters(&w.stack).await.is_empty());
}

/// A store whose first read of a task's events misses the newest `late` of them, as a Query
/// does when the task's last transaction commits between that Query and the head read.
struct LateCommitStore {
    inner: Arc<dyn burstline::store::EventStore>,
    late: usize,
    first: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl burstline::store::EventStore for LateCommitStore {
    async fn heads(
        &self,
        keys: &[burstline::ids::TaskKey],
    ) -> burstline::Result<
        std::collections::HashMap<burstline::ids::TaskKey, burstline::head::TaskHead>,
    > {
        self.inner.heads(keys).await
    }
    async fn commit(&self, chunks: &[burstline::sequence::CommitChunk]) -> burstline::Result<()> {
        self.inner.commit(chunks).await
    }
    async fn head(
        &self,
        key: &burstline::ids::TaskKey,
    ) -> burstline::Result<Option<burstline::head::TaskHead>> {
        self.inner.head(key).await
    }
    async fn events(
        &self,
        key: &burstline::ids::TaskKey,
        after: burstline::ids::Seq,
        limit: usize,
    ) -> burstline::Result<Vec<burstline::event::Envelope>> {
        let mut all = self.inner.events(key, after, limit).await?;
        if self.first.swap(false, std::sync::atomic::Ordering::SeqCst) {
            all.truncate(all.len().saturating_sub(self.late));
        }
        Ok(all)
    }
    async fn events_at(
        &self,
        key: &burstline::ids::TaskKey,
        seqs: &[burstline::ids::Seq],
    ) -> burstline::Result<Vec<burstline::event::Envelope>> {
        let mut all = self.inner.events_at(key, seqs).await?;
        if self.first.swap(false, std::sync::atomic::Ordering::SeqCst) {
            all.truncate(all.len().saturating_sub(self.late));
        }
        Ok(all)
    }
    async fn find_event(
        &self,
        tenant: &burstline::ids::TenantId,
        id: &burstline::ids::EventId,
    ) -> burstline::Result<Option<(burstline::ids::TaskId, burstline::ids::Seq)>> {
        self.inner.find_event(tenant, id).await
    }
}

#[tokio::test]
async fn a_commit_landing_between_the_events_read_and_the_head_read_loses_nothing() {
    let rx = Receiver::start().await;
    let mut w = world(&rx.url, Policy::default(), |_| {}).await;
    w.send(burst("run-1", 12)).await;
    w.deps.store = Arc::new(LateCommitStore {
        inner: w.stack.store.clone(),
        late: 4,
        first: std::sync::atomic::AtomicBool::new(true),
    });
    w.deliver().await;
    let seqs: Vec<u64> = rx
        .received()
        .iter()
        .map(|r| r.json()["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=12).collect::<Vec<_>>(),
        "events the first read missed are delivered, not dropped as stale"
    );
}
