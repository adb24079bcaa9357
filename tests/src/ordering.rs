//! Webhook order per endpoint × task (SPEC §4.5) under concurrency, run unchanged on in-memory
//! adapters and on moto: several jobs per task (300-event bursts, jobs of 100) from several
//! fanout batches, fanout and three SQS pollers invoking deliver at once, a receiver answering
//! 503 to its third POST, and a replay racing live traffic.

use crate::fixtures::*;
use crate::receiver::{Receiver, Reply};
use crate::stack::Stack;
use burstline::apikey::Scope;
use burstline::cursor::{Claim, CursorKey, CursorLease, DeliveryCursors, Span};
use burstline::delivery_order::WaitLimits;
use burstline::ids::Seq;
use burstline::mapping::sqs::{SqsDriver, SqsMapping};
use deliver::Policy;
use deliver::http::HttpSender;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const POLLERS: usize = 3;

/// How big the scenario is.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Tasks, each sent as one request.
    pub tasks: usize,
    /// Events per task (jobs hold at most 100).
    pub events: u64,
    /// Records per fanout batch: a task's jobs come from several batches.
    pub fanout_batch: usize,
    /// run-0's seqs replayed…
    pub replay: (u64, u64),
    /// …once the receiver has seen run-0's event with this seq.
    pub replay_when_seen: u64,
    /// How long it may take to settle.
    pub settle: Duration,
}

impl Shape {
    /// The reported reproduction: 5 tasks × 300 events, fanout batches of 250.
    pub const MEMORY: Shape = Shape {
        tasks: 5,
        events: 300,
        fanout_batch: 250,
        replay: (50, 150),
        replay_when_seen: 160,
        settle: Duration::from_secs(180),
    };
    /// Smaller for moto, which is slow on a busy machine: 2 tasks × 150 events in fanout
    /// batches of 100 (jobs of 100 + 50 and 50 + 100).
    pub const MOTO: Shape = Shape {
        tasks: 2,
        events: 150,
        fanout_batch: 100,
        replay: (20, 60),
        replay_when_seen: 110,
        settle: Duration::from_secs(900),
    };
}

/// Seqs per task, in the order the receiver got them.
fn arrivals(rx: &Receiver) -> BTreeMap<String, Vec<u64>> {
    let mut by_task: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in rx.received() {
        let v = r.json();
        if let (Some(task), Some(seq)) = (v["task_id"].as_str(), v["seq"].as_u64()) {
            by_task.entry(task.to_owned()).or_default().push(seq);
        }
    }
    by_task
}

/// Checks one task's arrivals: never a gap (a seq beyond everything delivered + 1); a step
/// back only as a repeat of the run just sent (a retry, or a run redone: at least once, at most
/// one job of 100 back) or to the start of the replay; every seq `1..=n` present.
pub fn check_in_order(task: &str, seqs: &[u64], n: u64, replay_from: Option<u64>) {
    let (mut max, mut prev, mut run_start) = (0u64, 0u64, 1u64);
    for (i, &s) in seqs.iter().enumerate() {
        let context = || format!("{task}: #{i} seq {s} after {prev} (max {max}): {seqs:?}");
        assert!(s <= max + 1, "gap: {}", context());
        if s <= prev {
            let repeat = s >= run_start && s + 100 > prev;
            if !repeat {
                assert_eq!(Some(s), replay_from, "out of order: {}", context());
                run_start = s;
            }
        } else if s != prev + 1 {
            // Forward within what was delivered already: live traffic resuming after a replay.
            run_start = s;
        }
        prev = s;
        max = max.max(s);
    }
    let mut all = seqs.to_vec();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all, (1..=n).collect::<Vec<_>>(), "{task}: missing events");
}

/// The scenario. Panics on any order violation or loss, or if it does not settle in time.
pub async fn webhooks_in_order_under_concurrency(stack: Stack, shape: Shape) {
    let Shape {
        tasks: n_tasks,
        events,
        replay: replay_range,
        ..
    } = shape;
    let rx = Receiver::start().await;
    rx.script([Reply::Status(200), Reply::Status(200), Reply::Status(503)]);
    let key = tenant_with_key(&stack, "acme", &[Scope::Ingest, Scope::Manage]).await;
    let ep = endpoint("acme", &rx.url, &["*"]);
    stack.endpoints.create_endpoint(&ep).await.unwrap();
    for t in 0..n_tasks {
        let body = burst(&format!("run-{t}"), events as usize);
        let resp = ingest::handle(&stack.ingest(), post_events(&key, &body)).await;
        assert_eq!(resp.status(), 202);
    }
    let quick = Duration::from_secs(1);
    let policy = Policy {
        schedule: vec![Duration::from_secs(2); 5],
        // The memory clock runs 50 × faster than the runs it times: keep leases clear of that.
        lease: Duration::from_secs(600),
        order: WaitLimits {
            busy: quick,
            behind: quick,
            ..WaitLimits::default()
        },
        ..Policy::default()
    };
    let deps = stack.deliver(
        Arc::new(HttpSender::new(Duration::from_secs(5), true).unwrap()),
        policy,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let last_activity = Arc::new(Mutex::new(Instant::now()));
    // Memory: queue delays and leases follow a manual clock; move it 1 s every 20 ms.
    let idle = if stack.manual_clock.is_some() {
        Duration::from_millis(5)
    } else {
        Duration::from_millis(100)
    };
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(clock) = stack.manual_clock.clone() {
        let stop = stop.clone();
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(20)).await;
                clock.advance(Duration::from_secs(1));
            }
        });
    }
    // fanout in batches smaller than a task: each task's jobs come from several batches.
    {
        let stack = stack.clone();
        tasks.spawn(async move {
            let stats = drain(&stack, &stack.fanout(), shape.fanout_batch).await;
            assert_eq!((stats.function_errors, stats.discarded), (0, 0));
        });
    }
    for _ in 0..POLLERS {
        let (stack, deps, stop) = (stack.clone(), deps.clone(), stop.clone());
        let last_activity = last_activity.clone();
        tasks.spawn(async move {
            let driver = SqsDriver::new(stack.queue_reader.clone(), SqsMapping::default());
            let handler = |ev, deadline| {
                let deps = deps.clone();
                async move { Ok(deliver::handle_until(&deps, ev, deadline).await) }
            };
            while !stop.load(Ordering::Relaxed) {
                let stats = driver.poll_once(&handler).await.unwrap();
                if stats.received > 0 {
                    *last_activity.lock().unwrap() = Instant::now();
                } else {
                    tokio::time::sleep(idle).await;
                }
            }
        });
    }

    let started = Instant::now();
    let mut replayed = false;
    loop {
        // A poller or fanout that failed fails the test now, with its own message.
        if let Some(joined) = tasks.try_join_next() {
            joined.unwrap();
        }
        if started.elapsed() > shape.settle {
            let mut state = Vec::new();
            for t in 0..n_tasks {
                let k = task("acme", &format!("run-{t}"));
                let head = stack.store.head(&k).await.unwrap();
                let cursor = stack
                    .cursors
                    .cursor(&CursorKey {
                        tenant_id: k.tenant_id.clone(),
                        endpoint_id: ep.id.clone(),
                        task_id: k.task_id.clone(),
                    })
                    .await
                    .unwrap();
                state.push(format!(
                    "{}: stored {}, chain ends {:?}, cursor {cursor:?}",
                    k.task_id,
                    head.as_ref().map_or(0, |h| h.last_seq.0),
                    head.map(|h| h.chain_ends)
                ));
            }
            panic!(
                "deliveries did not settle: {:?}\n{}",
                arrivals(&rx)
                    .iter()
                    .map(|(t, s)| (t.clone(), s.len()))
                    .collect::<Vec<_>>(),
                state.join("\n")
            );
        }
        let seen = arrivals(&rx);
        if !replayed
            && seen
                .get("run-0")
                .is_some_and(|s| s.contains(&shape.replay_when_seen))
        {
            let (status, v) = replay(&stack, &key, ep.id.as_str(), replay_range).await;
            assert_eq!(status, 202, "{v}");
            replayed = true;
        }
        let complete = seen.len() == n_tasks
            && seen.values().all(|s| (1..=events).all(|n| s.contains(&n)))
            && seen["run-0"]
                .iter()
                .filter(|s| **s == replay_range.1)
                .count()
                >= 2;
        let quiet = last_activity.lock().unwrap().elapsed() > Duration::from_secs(3);
        if replayed && complete && quiet {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap();
    }

    let seen = arrivals(&rx);
    for (task, seqs) in &seen {
        let replay_from = (task == "run-0").then_some(replay_range.0);
        check_in_order(task, seqs, events, replay_from);
    }
    let run0 = &seen["run-0"];
    assert!(
        (replay_range.0..=replay_range.1).all(|s| run0.iter().filter(|x| **x == s).count() >= 2),
        "the replay went out whole"
    );
    let posts = rx.received().len();
    let replayed_posts = (replay_range.1 - replay_range.0 + 1) as usize;
    assert!(
        posts > n_tasks * events as usize + replayed_posts,
        "the 503 was retried"
    );
    assert!(
        dead_letters(&stack).await.is_empty(),
        "nothing was dead-lettered"
    );
}

async fn replay(
    stack: &Stack,
    key: &burstline::apikey::ApiKey,
    endpoint: &str,
    (from, to): (u64, u64),
) -> (u16, Value) {
    let auth = format!("Bearer {}", key.expose());
    let body = json!({"task_id": "run-0", "from_seq": from, "to_seq": to}).to_string();
    let req = request(
        "POST",
        &format!("/v1/endpoints/{endpoint}/replay"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    );
    let resp = api::handle(&stack.api(), req).await;
    let status = resp.status().as_u16();
    (
        status,
        serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null),
    )
}

/// The [`DeliveryCursors`] contract, for the in-memory and the DynamoDB adapter alike: claims
/// are exclusive and only in the span, advances need the lease at its epoch, rewinds need the
/// cursor unchanged.
pub async fn cursor_contract(cursors: Arc<dyn DeliveryCursors>) {
    let key = CursorKey {
        tenant_id: "acme".parse().unwrap(),
        endpoint_id: burstline::ids::EndpointId::generate(),
        task_id: "run-1".parse().unwrap(),
    };
    let now = chrono::Utc::now();
    let lease = |holder: &str, secs: i64| CursorLease {
        holder: holder.to_owned(),
        until: now + chrono::Duration::seconds(secs),
    };
    let span = |after: u64, upto: u64, epoch: u64| Span {
        after: Seq(after),
        upto: Seq(upto),
        epoch,
    };
    let granted = |c: Claim| match c {
        Claim::Granted(at) => at,
        Claim::Refused(c) => panic!("refused at {c:?}"),
    };
    let refused = |c: Claim| match c {
        Claim::Refused(c) => c,
        Claim::Granted(at) => panic!("granted at {at:?}"),
    };
    assert_eq!(cursors.cursor(&key).await.unwrap(), None);
    // An absent cursor reads as 0: only a chain's first job may claim it.
    assert_eq!(
        refused(
            cursors
                .claim(&key, &span(100, 200, 0), &lease("a", 60), now)
                .await
                .unwrap()
        ),
        None
    );
    let at = granted(
        cursors
            .claim(&key, &span(0, 100, 0), &lease("a", 60), now)
            .await
            .unwrap(),
    );
    assert_eq!((at.seq, at.epoch), (Seq(0), 0));
    // Exclusive while the lease lasts, even for a job whose span fits.
    let busy = refused(
        cursors
            .claim(&key, &span(0, 100, 0), &lease("b", 60), now)
            .await
            .unwrap(),
    )
    .expect("the cursor exists once claimed");
    assert_eq!(busy.lease.as_ref().map(|l| l.holder.as_str()), Some("a"));
    assert!(
        !cursors
            .advance(&key, "b", 0, Seq(100), None, now)
            .await
            .unwrap()
    );
    assert!(
        cursors
            .advance(&key, "a", 0, Seq(100), None, now)
            .await
            .unwrap()
    );
    let c = cursors.cursor(&key).await.unwrap().unwrap();
    assert_eq!((c.seq, c.lease.is_none()), (Seq(100), true));
    assert!(c.updated_at.is_some());
    // Behind the cursor and ahead of it: refused, with the cursor as it stands.
    assert_eq!(
        refused(
            cursors
                .claim(&key, &span(0, 100, 0), &lease("c", 60), now)
                .await
                .unwrap()
        )
        .map(|c| c.seq),
        Some(Seq(100))
    );
    refused(
        cursors
            .claim(&key, &span(150, 200, 0), &lease("c", 60), now)
            .await
            .unwrap(),
    );
    // Overlapping: from anywhere in [after, upto).
    granted(
        cursors
            .claim(&key, &span(50, 200, 0), &lease("c", 1), now)
            .await
            .unwrap(),
    );
    // An expired lease is free; the old holder can no longer advance.
    let later = now + chrono::Duration::seconds(2);
    let d = CursorLease {
        holder: "d".into(),
        until: later + chrono::Duration::seconds(60),
    };
    granted(
        cursors
            .claim(&key, &span(50, 200, 0), &d, later)
            .await
            .unwrap(),
    );
    assert!(
        !cursors
            .advance(&key, "c", 0, Seq(200), None, later)
            .await
            .unwrap()
    );
    let due = later + chrono::Duration::seconds(90);
    assert!(
        cursors
            .advance(&key, "d", 0, Seq(150), Some(due), later)
            .await
            .unwrap()
    );
    let c = cursors.cursor(&key).await.unwrap().unwrap();
    assert_eq!(c.seq, Seq(150));
    assert_eq!(
        c.resume_at.map(|t| t.timestamp_millis()),
        Some(due.timestamp_millis())
    );
    // A rewind needs the cursor unchanged, bumps the epoch, and a run in flight cannot advance.
    granted(
        cursors
            .claim(&key, &span(150, 200, 0), &d, later)
            .await
            .unwrap(),
    );
    assert!(
        !cursors
            .rewind(&key, Some((Seq(149), 0)), Seq(49), later)
            .await
            .unwrap()
    );
    assert!(
        cursors
            .rewind(&key, Some((Seq(150), 0)), Seq(49), later)
            .await
            .unwrap()
    );
    assert!(
        !cursors
            .advance(&key, "d", 0, Seq(200), None, later)
            .await
            .unwrap()
    );
    let c = cursors.cursor(&key).await.unwrap().unwrap();
    assert_eq!((c.seq, c.epoch, c.resume_at), (Seq(49), 1, None));
    // The lease stays held until its run lets go.
    refused(
        cursors
            .claim(&key, &span(49, 150, 1), &lease("e", 60), later)
            .await
            .unwrap(),
    );
    cursors.release(&key, "d").await.unwrap();
    refused(
        cursors
            .claim(&key, &span(49, 150, 2), &lease("e", 60), later)
            .await
            .unwrap(),
    );
    let at = granted(
        cursors
            .claim(&key, &span(49, 150, 1), &lease("e", 60), later)
            .await
            .unwrap(),
    );
    assert_eq!((at.seq, at.epoch), (Seq(49), 1));
    cursors.release(&key, "someone else").await.unwrap();
    refused(
        cursors
            .claim(&key, &span(49, 150, 1), &lease("f", 60), later)
            .await
            .unwrap(),
    );
    // A fresh chain: created only where none exists.
    let fresh = CursorKey {
        task_id: "run-2".parse().unwrap(),
        ..key.clone()
    };
    assert!(cursors.rewind(&fresh, None, Seq(9), now).await.unwrap());
    assert!(!cursors.rewind(&fresh, None, Seq(9), now).await.unwrap());
    let c = cursors.cursor(&fresh).await.unwrap().unwrap();
    assert_eq!((c.seq, c.epoch), (Seq(9), 1));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checker_accepts_retries_and_the_replay_and_nothing_else() {
        let mut ok: Vec<u64> = (1..=3).collect();
        ok.push(3); // the 503'd POST, retried
        ok.extend(4..=10);
        ok.extend(5..=8); // the replay
        ok.extend(9..=12); // live traffic resuming
        check_in_order("t", &ok, 12, Some(5));
        let jumped = std::panic::catch_unwind(|| check_in_order("t", &[1, 3, 2], 3, None));
        assert!(jumped.is_err(), "a gap");
        let back = std::panic::catch_unwind(|| {
            check_in_order("t", &[101, 1], 101, None);
        });
        assert!(back.is_err());
        let swapped: Vec<u64> = (101..=200).chain(1..=100).collect();
        let swapped = std::panic::catch_unwind(|| check_in_order("t", &swapped, 200, None));
        assert!(swapped.is_err(), "a later job first");
    }
}
