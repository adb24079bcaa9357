//! The stream function and its lease store against moto, through the real AWS SDK: slots are
//! strict under concurrent claims and expire; replay, resume and budgets work on DynamoDB.
//! Real time here (moto is a real server), with short settings.

use burstline::apikey::Scope;
use burstline::ids::TenantId;
use burstline::leases::{Claim, Renewal};
use burstline_tests::fixtures::task;
use burstline_tests::stack::Stack;
use burstline_tests::streams::{
    SseClient, append, bearer, events, get_events, ids, leases, streamer, tenant,
};
use chrono::Utc;
use std::collections::BTreeSet;
use std::time::Duration;
use stream::StreamSettings;

const ALL: &[Scope] = &[Scope::Stream];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_are_strict_under_50_concurrent_claims_and_expire() {
    let stack = Stack::moto("leases").await;
    let store = leases(&stack).await;
    let acme = TenantId::parse("acme").unwrap();
    let now = Utc::now();
    let ttl = Duration::from_secs(90);
    let claims = (0..50).map(|_| {
        let (store, acme) = (store.clone(), acme.clone());
        tokio::spawn(async move { store.acquire(&acme, None, 10, now, ttl).await.unwrap() })
    });
    let claims: Vec<Claim> = futures_util::future::join_all(claims)
        .await
        .into_iter()
        .map(|c| c.unwrap())
        .collect();
    let granted: Vec<_> = claims
        .iter()
        .filter_map(|c| match c {
            Claim::Granted(l) => Some(l.clone()),
            Claim::Full => None,
        })
        .collect();
    assert_eq!(granted.len(), 10, "exactly the budget");
    let slots: BTreeSet<u32> = granted.iter().map(|l| l.slot).collect();
    assert_eq!(slots, (0..10).collect());
    assert_eq!(
        store.acquire(&acme, None, 10, now, ttl).await.unwrap(),
        Claim::Full
    );

    // Renewed leases survive their first expiry; released slots are free at once.
    let later = now + chrono::Duration::seconds(60);
    let Renewal::Renewed(kept) = store.renew(&granted[0], later, ttl).await.unwrap() else {
        panic!("renewal refused");
    };
    store.release(&granted[1]).await.unwrap();
    let Claim::Granted(reused) = store.acquire(&acme, None, 10, later, ttl).await.unwrap() else {
        panic!("a released slot is free");
    };
    assert_eq!(reused.slot, granted[1].slot);

    // The rest crash: 91 s on, their slots are free again, the renewed one is not.
    let after = now + chrono::Duration::seconds(91);
    let mut reclaimed = BTreeSet::new();
    while let Claim::Granted(l) = store.acquire(&acme, None, 10, after, ttl).await.unwrap() {
        reclaimed.insert(l.slot);
    }
    assert_eq!(reclaimed.len(), 8);
    assert!(!reclaimed.contains(&kept.slot) && !reclaimed.contains(&reused.slot));
    // A crashed holder whose slot was taken over has lost it.
    assert_eq!(
        store.renew(&granted[2], after, ttl).await.unwrap(),
        Renewal::Lost
    );
    // Other tenants have their own budget.
    let globex = TenantId::parse("globex").unwrap();
    assert!(matches!(
        store.acquire(&globex, None, 10, after, ttl).await.unwrap(),
        Claim::Granted(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_and_resume_at_every_cut_point_on_dynamodb() {
    let stack = Stack::moto("sse-resume").await;
    let key = tenant(&stack, "acme", 100, ALL).await;
    let settings = StreamSettings {
        page_size: 7,
        ..StreamSettings::default()
    };
    let deps = streamer(&stack, stack.store.clone(), settings).await;
    let stored = append(
        stack.store.as_ref(),
        &task("acme", "t"),
        &events(30, true),
        None,
    )
    .await;
    let auth = bearer(&key);
    let want: Vec<u64> = (1..=30).collect();
    let whole = SseClient::new(
        stream::handle(&deps, get_events("t", "", &[("authorization", &auth)])).await,
    )
    .rest()
    .await;
    assert_eq!(ids(&whole), want);
    let first: burstline::event::Envelope = serde_json::from_str(&whole[0].data).unwrap();
    assert_eq!(first, stored[0]);
    for k in 0..=30usize {
        let mut seen: Vec<_> = whole[..k].to_vec();
        let last = seen.last().map_or("0".to_owned(), |e| e.id.clone());
        let r = stream::handle(
            &deps,
            get_events(
                "t",
                "",
                &[("authorization", &auth), ("last-event-id", &last)],
            ),
        )
        .await;
        if k == 30 {
            assert_eq!(r.status(), 204);
            continue;
        }
        seen.extend(SseClient::new(r).rest().await);
        assert_eq!(ids(&seen), want, "cut after {k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_tail_and_budget_on_dynamodb() {
    let stack = Stack::moto("sse-live").await;
    let key = tenant(&stack, "acme", 10, ALL).await;
    let deps = streamer(&stack, stack.store.clone(), StreamSettings::default()).await;
    let k = task("acme", "live");
    append(stack.store.as_ref(), &k, &events(1, false), None).await;
    let auth = bearer(&key);
    let opens =
        (0..50).map(|_| stream::handle(&deps, get_events("live", "", &[("authorization", &auth)])));
    let responses = futures_util::future::join_all(opens).await;
    let ok = responses.iter().filter(|r| r.status() == 200).count();
    let limited = responses.iter().filter(|r| r.status() == 429).count();
    assert_eq!((ok, limited), (10, 40));
    let mut clients: Vec<SseClient> = responses
        .into_iter()
        .filter(|r| r.status() == 200)
        .map(SseClient::new)
        .collect();
    for c in &mut clients {
        assert_eq!(c.next().await.unwrap().id, "1");
    }
    append(stack.store.as_ref(), &k, &events(3, true), None).await;
    for c in &mut clients {
        let got = tokio::time::timeout(Duration::from_secs(10), c.rest())
            .await
            .unwrap();
        assert_eq!(ids(&got), vec![2, 3, 4]);
    }
    // Ended streams released their slots.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let k2 = task("acme", "next");
    append(stack.store.as_ref(), &k2, &events(1, false), None).await;
    let again =
        (0..10).map(|_| stream::handle(&deps, get_events("next", "", &[("authorization", &auth)])));
    let again = futures_util::future::join_all(again).await;
    assert!(again.iter().all(|r| r.status() == 200));
}
