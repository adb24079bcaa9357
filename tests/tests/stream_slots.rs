//! Stream slots as Lambda needs them: the same client reconnecting (a reload, a blip) takes
//! over its own slot instead of a second one, on memory and on DynamoDB (moto); the slot is
//! released before the response ends; a long replay renews its lease.

use burstline::apikey::Scope;
use burstline::ids::TenantId;
use burstline::leases::{Claim, ClientKey, Renewal};
use burstline_tests::fixtures::task;
use burstline_tests::slow::{Delays, Slow};
use burstline_tests::stack::Stack;
use burstline_tests::streams::{
    SseClient, append, bearer, clock_now, events, get_events, ids, streamer, tenant, token,
};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use stream::StreamSettings;

const ALL: &[Scope] = &[Scope::Stream];

/// An EventSource reconnecting after a blip (its own URL: the same token, no `client_id`), and
/// a tab that reloads (a new token, the same `client_id`), each while its old response runs
/// on: each takes over its own slot, so another tab still fits in a budget of three; the old
/// responses lose their slots at their next renewal and end.
async fn first_event(c: &mut SseClient) -> (String, String) {
    let e = c.next().await.unwrap();
    (e.event, e.id)
}

async fn a_reload_takes_over_its_own_slot(stack: Stack) {
    tenant(&stack, "acme", 3, ALL).await;
    let settings = StreamSettings {
        lease_ttl: Duration::from_secs(3),
        ..StreamSettings::default()
    };
    let deps = streamer(&stack, stack.store.clone(), settings).await;
    append(
        stack.store.as_ref(),
        &task("acme", "t"),
        &events(1, false),
        None,
    )
    .await;
    let now = clock_now(&deps);
    // Tokens minted at different moments differ, as a reload's new token does.
    let tok = |minutes| token("acme", "t", now, chrono::Duration::minutes(minutes));
    let open = |query: String| {
        let deps = deps.clone();
        async move { SseClient::new(stream::handle(&deps, get_events("t", &query, &[])).await) }
    };
    let one = ("tool_call.completed".to_owned(), "1".to_owned());
    let url = format!("token={}", tok(4));
    let mut before_blip = open(url.clone()).await;
    assert_eq!(first_event(&mut before_blip).await, one);
    let mut after_blip = open(url).await;
    assert_eq!(first_event(&mut after_blip).await, one);
    let mut first = open(format!("token={}&client_id=tab-1", tok(5))).await;
    assert_eq!(first_event(&mut first).await, one);
    let mut reloaded = open(format!("token={}&client_id=tab-1", tok(6))).await;
    assert_eq!(first_event(&mut reloaded).await, one);
    let mut other = open(format!("token={}&client_id=tab-2", tok(7))).await;
    assert_eq!(
        first_event(&mut other).await,
        one,
        "neither reconnect took a second slot"
    );
    let mut fourth = open(format!("token={}&client_id=tab-3", tok(8))).await;
    assert_eq!(
        fourth.rest().await[0].event,
        "throttled",
        "the budget is three"
    );
    // The old responses find their slots taken at their next renewal (every second here) and
    // end.
    for old in [&mut before_blip, &mut first] {
        let rest = tokio::time::timeout(Duration::from_secs(10), old.rest())
            .await
            .expect("a replaced response ends");
        assert!(rest.is_empty());
    }
    // The new ones keep theirs.
    for kept in [&mut after_blip, &mut reloaded, &mut other] {
        assert!(kept.next_within(Duration::from_millis(10)).await.is_err());
    }
}

#[tokio::test(start_paused = true)]
async fn a_reload_takes_over_its_own_slot_in_memory() {
    a_reload_takes_over_its_own_slot(Stack::memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_takes_over_its_own_slot_on_dynamodb() {
    a_reload_takes_over_its_own_slot(Stack::moto("slots-takeover").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_is_a_conditional_write_on_dynamodb() {
    let stack = Stack::moto("slots-client").await;
    let store = burstline_tests::streams::leases(&stack).await;
    let acme = TenantId::parse("acme").unwrap();
    let (now, ttl) = (Utc::now(), Duration::from_secs(90));
    let me = ClientKey::derive(&["token", "t", "tab-1"]);
    let other = ClientKey::derive(&["token", "t", "tab-2"]);
    let Claim::Granted(old) = store.acquire(&acme, Some(&me), 1, now, ttl).await.unwrap() else {
        panic!("an empty budget grants");
    };
    assert_eq!(
        store
            .acquire(&acme, Some(&other), 1, now, ttl)
            .await
            .unwrap(),
        Claim::Full
    );
    assert_eq!(
        store.acquire(&acme, None, 1, now, ttl).await.unwrap(),
        Claim::Full
    );
    let Claim::Granted(new) = store.acquire(&acme, Some(&me), 1, now, ttl).await.unwrap() else {
        panic!("the same client takes its slot over");
    };
    assert_eq!(new.slot, old.slot);
    assert_ne!(new.holder, old.holder);
    assert_eq!(store.renew(&old, now, ttl).await.unwrap(), Renewal::Lost);
    // The old holder's release leaves the new holder's slot alone.
    store.release(&old).await.unwrap();
    assert_eq!(
        store
            .acquire(&acme, Some(&other), 1, now, ttl)
            .await
            .unwrap(),
        Claim::Full
    );
    assert!(matches!(
        store.renew(&new, now, ttl).await.unwrap(),
        Renewal::Renewed(_)
    ));
}

#[tokio::test(start_paused = true)]
async fn the_slot_is_free_before_the_response_ends() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 1, ALL).await;
    let settings = StreamSettings {
        segment: Duration::from_secs(2),
        ..StreamSettings::default()
    };
    let mut deps = streamer(&stack, stack.store.clone(), settings).await;
    // Release takes a second, like a slow DynamoDB call.
    let slow_release = Delays {
        release: Duration::from_secs(1),
        ..Delays::default()
    };
    deps.leases = Arc::new(Slow::new(deps.leases.clone(), slow_release));
    append(
        stack.store.as_ref(),
        &task("acme", "t"),
        &events(1, false),
        None,
    )
    .await;
    let auth = bearer(&key);
    let mut client = SseClient::new(
        stream::handle(&deps, get_events("t", "", &[("authorization", &auth)])).await,
    );
    assert_eq!(ids(&client.rest().await), vec![1]);
    // The body has ended: on Lambda the sandbox may freeze now. The slot must be free already.
    let claim = deps
        .leases
        .acquire(
            &TenantId::parse("acme").unwrap(),
            None,
            1,
            clock_now(&deps),
            deps.settings.lease_ttl,
        )
        .await
        .unwrap();
    assert!(matches!(claim, Claim::Granted(_)), "{claim:?}");
}

#[tokio::test(start_paused = true)]
async fn a_long_replay_renews_its_lease() {
    let stack = Stack::memory();
    let key = tenant(&stack, "acme", 1, ALL).await;
    let d = StreamSettings::default();
    // Full pages all the way: the replay never waits between reads. 150 reads of a second
    // each outlast the 90 s lease.
    let settings = StreamSettings {
        page_size: 1,
        segment: d.lifetime,
        idle: d.lifetime,
        ..d
    };
    // Event reads each take a second: a long replay of a big task.
    let slow_reads = Delays {
        events: Duration::from_secs(1),
        ..Delays::default()
    };
    let deps = streamer(
        &stack,
        Arc::new(Slow::new(stack.store.clone(), slow_reads)),
        settings,
    )
    .await;
    let k = task("acme", "big");
    append(stack.store.as_ref(), &k, &events(1, false), None).await;
    let auth = bearer(&key);
    let mut replay = SseClient::new(
        stream::handle(&deps, get_events("big", "", &[("authorization", &auth)])).await,
    );
    // Committed after the open, so every page read finds the next seq right behind it.
    append(stack.store.as_ref(), &k, &events(149, true), None).await;
    let reader = tokio::spawn(async move { replay.rest().await });
    tokio::time::sleep(Duration::from_secs(120)).await;
    let second = stream::handle(&deps, get_events("big", "", &[("authorization", &auth)])).await;
    assert_eq!(
        second.status(),
        429,
        "the replaying stream still holds the only slot"
    );
    assert_eq!(ids(&reader.await.unwrap()), (1..=150).collect::<Vec<_>>());
}
