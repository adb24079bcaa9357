//! Items past `expires_at` that DynamoDB's TTL has not deleted yet (TTL runs within days):
//! `head`, `events` and `find_event` ignore them, while `heads` and conditional commits still
//! see them, so fanout can continue an expired task. The same scenario on the in-memory store
//! and on moto through the real SDK (moto stores `expires_at` and never deletes by TTL).
//! Calendar time is a [`ManualClock`] the stores write and read by.

use burstline::clock::ManualClock;
use burstline::event::{Envelope, EventType};
use burstline::head::TaskHead;
use burstline::ids::{EventId, Seq, TaskKey};
use burstline::requests::RequestCounter;
use burstline::sequence::CommitChunk;
use burstline::store::EventStore;
use burstline::store::dynamodb::DynamoStore;
use burstline::store::memory::MemoryStore;
use burstline_tests::fixtures::task;
use burstline_tests::moto::Moto;
use burstline_tests::stack::Stack;
use chrono::{Duration, Utc};
use std::sync::Arc;

const DAY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Commits events with ids `ids` to `key` on top of `base`, as fanout would.
async fn commit(
    store: &dyn EventStore,
    clock: &ManualClock,
    key: &TaskKey,
    base: Option<TaskHead>,
    ids: &[&str],
) {
    store.commit(&[chunk(clock, key, base, ids)]).await.unwrap();
}

/// The chunk fanout would commit for events with ids `ids` on top of `base`.
fn chunk(clock: &ManualClock, key: &TaskKey, base: Option<TaskHead>, ids: &[&str]) -> CommitChunk {
    use burstline::clock::Clock;
    let now = clock.now();
    let mut head = base
        .clone()
        .unwrap_or_else(|| TaskHead::empty(key.clone(), now));
    let mut events = Vec::new();
    for id in ids {
        head.last_seq = head.last_seq.next();
        events.push(Envelope {
            id: EventId::parse(id).unwrap(),
            event_type: EventType::parse("tool_call.completed").unwrap(),
            tenant_id: key.tenant_id.clone(),
            task_id: key.task_id.clone(),
            seq: head.last_seq,
            time: now,
            data: serde_json::Value::Null,
            traceparent: None,
        });
    }
    head.version += 1;
    head.updated_at = now;
    CommitChunk {
        key: key.clone(),
        base,
        events,
        head,
    }
}

fn seqs(events: &[Envelope]) -> Vec<u64> {
    events.iter().map(|e| e.seq.0).collect()
}

/// Retention is 7 days. `long` gets events at day 0 and day 5 (which refreshes its head);
/// `short` gets one event at day 0. At day 8, `long`'s day-0 events and all of `short` are
/// past `expires_at` but still stored.
async fn scenario(store: Arc<dyn EventStore>, clock: ManualClock) {
    let long = task("acme", "long");
    let short = task("acme", "short");
    commit(store.as_ref(), &clock, &long, None, &["l-1", "l-2"]).await;
    commit(store.as_ref(), &clock, &short, None, &["s-1"]).await;
    clock.advance(5 * DAY);
    let base = store.head(&long).await.unwrap();
    commit(store.as_ref(), &clock, &long, base, &["l-3", "l-4"]).await;
    clock.advance(3 * DAY);

    // Reads that answer clients skip what expired.
    let head = store
        .head(&long)
        .await
        .unwrap()
        .expect("refreshed at day 5");
    assert_eq!(head.last_seq, Seq(4));
    assert_eq!(
        seqs(&store.events(&long, Seq(0), 10).await.unwrap()),
        [3, 4]
    );
    assert_eq!(seqs(&store.events(&long, Seq(0), 1).await.unwrap()), [3]);
    assert_eq!(
        seqs(
            &store
                .events_at(&long, &[Seq(1), Seq(2), Seq(3), Seq(4)])
                .await
                .unwrap()
        ),
        [3, 4],
        "events_at skips expired events like events"
    );
    let acme = long.tenant_id.clone();
    let find = |id: &str| {
        let (store, acme, id) = (store.clone(), acme.clone(), EventId::parse(id).unwrap());
        async move { store.find_event(&acme, &id).await.unwrap() }
    };
    assert_eq!(find("l-1").await, None);
    assert_eq!(find("s-1").await, None);
    assert_eq!(find("l-3").await, Some((long.task_id.clone(), Seq(3))));
    assert_eq!(store.head(&short).await.unwrap(), None);
    assert!(store.events(&short, Seq(0), 10).await.unwrap().is_empty());
    assert!(store.events_at(&short, &[Seq(1)]).await.unwrap().is_empty());

    // fanout plans from `heads`, which still sees the expired head: the commit conditional on
    // its version succeeds (a hidden head would make it conflict forever) and continues the
    // sequence; the refreshed head is visible again, its expired event still is not.
    let heads = store.heads(std::slice::from_ref(&short)).await.unwrap();
    let expired = heads
        .get(&short)
        .cloned()
        .expect("heads sees expired heads");
    assert_eq!(expired.last_seq, Seq(1));
    commit(store.as_ref(), &clock, &short, Some(expired), &["s-2"]).await;
    let head = store.head(&short).await.unwrap().expect("refreshed");
    assert_eq!(head.last_seq, Seq(2));
    assert_eq!(seqs(&store.events(&short, Seq(0), 10).await.unwrap()), [2]);

    // An expired id marker frees its id for the commit too, as `find_event` reports it: were
    // the commit to see it, fanout would take "l-1" for new and conflict on it every round.
    let reused = task("acme", "reused");
    commit(store.as_ref(), &clock, &reused, None, &["l-1"]).await;
    assert_eq!(find("l-1").await, Some((reused.task_id.clone(), Seq(1))));
    // A marker still live keeps its id: reusing "l-3" is a conflict that names it.
    let err = store
        .commit(&[chunk(&clock, &task("acme", "late"), None, &["l-3"])])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, burstline::Error::CommitConflict { duplicates, .. }
            if duplicates.iter().any(|(_, id)| id.as_str() == "l-3")),
        "{err}"
    );
}

fn eight_days_ago() -> ManualClock {
    ManualClock::new(Utc::now() - Duration::days(8))
}

#[tokio::test]
async fn reads_ignore_expired_items_in_memory() {
    let clock = eight_days_ago();
    let store = MemoryStore::with_clock(
        RequestCounter::default(),
        Duration::days(7),
        Arc::new(clock.clone()),
    );
    scenario(Arc::new(store), clock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_ignore_expired_items_on_dynamodb() {
    let stack = Stack::moto("expiry").await;
    let names = &stack.provisioned.as_ref().unwrap().names;
    let config = Moto::shared().sdk_config().await;
    let clock = eight_days_ago();
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        &names.events_table,
        Duration::days(7),
        RequestCounter::default(),
    )
    .with_clock(Arc::new(clock.clone()));
    scenario(Arc::new(store), clock).await;
}
