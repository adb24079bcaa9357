//! Port contracts: what AWS refuses, pinned on every adapter. Each scenario runs unchanged on a
//! memory [`Stack`] and a moto one (`tests/tests/contracts.rs`), so the fast in-memory tests
//! fail where AWS would.
//!
//! Every scenario says who enforces the limit on moto: **moto** (the emulator refuses the
//! request as AWS does, and the AWS adapter maps the refusal to [`Error::Refused`]) or **the
//! adapter** (moto does not check it; the AWS adapter checks before sending, or clamps, as
//! it must on AWS too). On memory the in-memory adapter enforces AWS's documented limit.

use crate::fixtures::task;
use crate::stack::Stack;
use burstline::Error;
use burstline::event::{Envelope, EventType};
use burstline::head::{StreamPosition, TaskHead};
use burstline::ids::{EndpointId, EventId, Seq, TaskKey};
use burstline::job::{DeadLetter, DeliveryJob, EventRef, pack_messages};
use burstline::log::{LogRecord, PutResult, put_batches};
use burstline::queue::ReceivedMessage;
use burstline::sequence::CommitChunk;
use chrono::{SubsecRound, Utc};
use serde_json::Value;
use std::time::Duration;

/// Asserts `result` is a refusal of `operation`, never retryable.
#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: burstline::Result<T>, operation: &str) {
    match result {
        Err(e @ Error::Refused { .. }) => {
            assert!(!e.is_retryable(), "{e}");
            let Error::Refused { operation: op, .. } = &e else {
                unreachable!()
            };
            assert_eq!(*op, operation, "{e}");
        }
        other => panic!("expected {operation} to be refused, got {other:?}"),
    }
}

// --- DynamoDB TransactWriteItems (EventStore::commit) ----------------------------------------

/// A new task's first chunk: `events` events whose `data` is a string of `data_bytes` bytes,
/// with ids `{id_prefix}{n}`.
fn chunk(key: &TaskKey, id_prefix: &str, events: usize, data_bytes: usize) -> CommitChunk {
    // Stored times keep milliseconds.
    let now = Utc::now().trunc_subsecs(3);
    let envelopes: Vec<Envelope> = (1..=events as u64)
        .map(|n| Envelope {
            id: EventId::parse(&format!("{id_prefix}{n}")).unwrap(),
            event_type: EventType::parse("step.done").unwrap(),
            tenant_id: key.tenant_id.clone(),
            task_id: key.task_id.clone(),
            seq: Seq(n),
            time: now,
            data: Value::String("x".repeat(data_bytes)),
            traceparent: None,
        })
        .collect();
    let mut head = TaskHead::empty(key.clone(), now);
    head.last_seq = Seq(events as u64);
    head.position = Some(StreamPosition::new("shardId-000000000000", "1"));
    head.version = 1;
    CommitChunk {
        key: key.clone(),
        base: None,
        events: envelopes,
        head,
    }
}

/// Asserts nothing of `chunks` was written: no head, no event, no id marker.
async fn assert_nothing_written(stack: &Stack, chunks: &[CommitChunk]) {
    for c in chunks {
        assert_eq!(stack.store.head(&c.key).await.unwrap(), None, "{}", c.key);
        assert!(
            stack
                .store
                .events(&c.key, Seq(0), 10)
                .await
                .unwrap()
                .is_empty()
        );
        for e in &c.events {
            assert_eq!(
                stack.store.find_event(&e.tenant_id, &e.id).await.unwrap(),
                None
            );
        }
    }
}

/// At most 100 actions per transaction; a chunk takes its head plus two per event (event and
/// id marker), so 49 events fit and 50 do not. Enforced on moto by: **moto**.
/// Failed before the fix on memory: the 101-action commit was accepted.
pub async fn commit_takes_at_most_100_actions(stack: Stack) {
    let fits = chunk(&task("acme", "fits"), "f-", 49, 10);
    assert_eq!(fits.items(), 99);
    stack
        .store
        .commit(std::slice::from_ref(&fits))
        .await
        .unwrap();
    assert_eq!(stack.store.head(&fits.key).await.unwrap(), Some(fits.head));

    let over = vec![chunk(&task("acme", "over"), "o-", 50, 10)];
    assert_eq!(over[0].items(), 101);
    assert_refused(stack.store.commit(&over).await, "TransactWriteItems");
    assert_nothing_written(&stack, &over).await;
}

/// One item may appear once per transaction: two tasks of a tenant carrying the same new event
/// id write its id marker twice, and one task twice writes its head twice. Both are refused
/// whole, not treated as a conflict to re-plan. Enforced on moto by: **moto** (its
/// `ValidationException`, as AWS answers).
/// Failed before the fix on memory: both commits were accepted (the second marker overwrote
/// the first).
pub async fn commit_refuses_one_item_twice(stack: Stack) {
    let shared_id = vec![
        chunk(&task("acme", "a"), "step-", 1, 10),
        chunk(&task("acme", "b"), "step-", 1, 10),
    ];
    assert_refused(stack.store.commit(&shared_id).await, "TransactWriteItems");
    assert_nothing_written(&stack, &shared_id).await;

    let same_task = vec![
        chunk(&task("acme", "c"), "c1-", 1, 10),
        chunk(&task("acme", "c"), "c2-", 1, 10),
    ];
    assert_refused(stack.store.commit(&same_task).await, "TransactWriteItems");
    assert_nothing_written(&stack, &same_task).await;

    // The same id in two tenants is two items.
    let two_tenants = vec![
        chunk(&task("acme", "d"), "step-", 1, 10),
        chunk(&task("globex", "d"), "step-", 1, 10),
    ];
    stack.store.commit(&two_tenants).await.unwrap();
}

/// An item holds at most 400 KB, attribute names and values counted. An event of 400 000
/// bytes of data fits; one of 410 000 does not, and takes its whole transaction with it.
/// Enforced on moto by: **moto** (it refuses items over 405 000 bytes; AWS's limit is
/// 409 600, which the in-memory store applies; the sizes here are clear of both).
/// Failed before the fix on memory: the 410 000-byte event was stored.
pub async fn commit_refuses_items_over_400_kb(stack: Stack) {
    let fits = chunk(&task("acme", "fits"), "f-", 1, 400_000);
    stack
        .store
        .commit(std::slice::from_ref(&fits))
        .await
        .unwrap();
    let stored = stack.store.events(&fits.key, Seq(0), 10).await.unwrap();
    // Compared in parts: a failing assert would print 400 KB.
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, fits.events[0].id);
    assert!(
        stored[0].data == fits.events[0].data,
        "the data came back changed"
    );

    let over = vec![
        chunk(&task("acme", "small"), "s-", 1, 10),
        chunk(&task("acme", "big"), "b-", 1, 410_000),
    ];
    assert_refused(stack.store.commit(&over).await, "TransactWriteItems");
    assert_nothing_written(&stack, &over).await;
}

/// A transaction's items total at most 4 MB: ten events of 400 000 bytes fit, eleven of
/// 390 000 do not. Enforced on moto by: **the adapter** (moto has no total limit; the DynamoDB
/// adapter sums the items it would send and refuses before sending, as AWS would refuse).
/// Failed before the fix on memory: the 4.3 MB commit was accepted.
pub async fn commit_refuses_over_4_mb(stack: Stack) {
    let fits = chunk(&task("acme", "fits"), "f-", 10, 400_000);
    stack
        .store
        .commit(std::slice::from_ref(&fits))
        .await
        .unwrap();
    assert_eq!(stack.store.head(&fits.key).await.unwrap(), Some(fits.head));

    let over = chunk(&task("acme", "over"), "o-", 11, 390_000);
    assert_refused(
        stack.store.commit(std::slice::from_ref(&over)).await,
        "TransactWriteItems",
    );
    assert_nothing_written(&stack, &[over]).await;
}

/// `heads` reads any number of keys: `BatchGetItem` takes 100 per request, so 151 keys take
/// two. Enforced on moto by: **moto** (it refuses more than 100 keys); both adapters chunk.
/// A pin of the chunking: this passed before the fix too.
pub async fn heads_read_in_batches_of_100(stack: Stack) {
    let chunks: Vec<CommitChunk> = (0..150)
        .map(|t| chunk(&task("acme", &format!("t{t}")), &format!("t{t}-"), 1, 10))
        .collect();
    for tx in chunks.chunks(33) {
        stack.store.commit(tx).await.unwrap();
    }
    let mut keys: Vec<TaskKey> = chunks.iter().map(|c| c.key.clone()).collect();
    keys.push(task("acme", "absent"));
    stack.requests.reset();
    let heads = stack.store.heads(&keys).await.unwrap();
    assert_eq!(heads.len(), 150);
    assert_eq!(
        stack.requests.snapshot().get("dynamodb:BatchGetItem"),
        Some(&2)
    );
}

// --- SQS SendMessageBatch (DeliveryQueue, DeadLetterSink) ------------------------------------

/// A job for `endpoint` whose message body (alone) is at least `bytes` long.
fn job_of_size(endpoint: &EndpointId, bytes: usize) -> DeliveryJob {
    let long_id = |n: u64| EventId::parse(&format!("{n:0>60}")).unwrap();
    let mut job = DeliveryJob {
        tenant_id: "acme".parse().unwrap(),
        task_id: "big".parse().unwrap(),
        endpoint_id: endpoint.clone(),
        events: Vec::new(),
        through: StreamPosition::new("shardId-000000000000", "1"),
        attempt: 0,
        not_before: None,
        commit_waits: 0,
        history: Vec::new(),
        chain: None,
    };
    let per_ref = serde_json::to_string(&EventRef {
        seq: Seq(1_000_000),
        id: long_id(1),
        event_type: EventType::parse("x").unwrap(),
    })
    .unwrap()
    .len();
    let refs = (bytes / per_ref + 1) as u64;
    job.events = (1..=refs)
        .map(|n| EventRef {
            seq: Seq(1_000_000 + n),
            id: long_id(n),
            event_type: EventType::parse("x").unwrap(),
        })
        .collect();
    assert!(pack_messages(std::slice::from_ref(&job))[0].len() >= bytes);
    job
}

/// Receives until the queue has nothing visible, deleting what it got.
async fn receive_all(stack: &Stack) -> Vec<ReceivedMessage> {
    let mut all = Vec::new();
    loop {
        let got = stack
            .queue_reader
            .receive(10, Duration::ZERO)
            .await
            .unwrap();
        if got.is_empty() {
            return all;
        }
        assert!(got.len() <= 10);
        let handles: Vec<String> = got.iter().map(|m| m.receipt_handle.clone()).collect();
        stack.queue_reader.delete(&handles).await.unwrap();
        all.extend(got);
    }
}

/// The queues take messages of at most 256 KiB (their `MaximumMessageSize`, set by the
/// template and by provisioning). An enqueue packs messages into batches of at most 10 and
/// 256 KiB, so many large jobs all arrive; a single job over the limit is refused, and so is a
/// dead letter over it. Enforced on moto by: **moto** (the queue's `MaximumMessageSize`).
/// Failed before the fix on memory: the oversized job and dead letter were enqueued.
pub async fn enqueue_refuses_messages_over_256_kib(stack: Stack) {
    // Twelve endpoints, one ~60 KiB message each: 720 KiB in several requests.
    let jobs: Vec<DeliveryJob> = (0..12)
        .map(|_| job_of_size(&EndpointId::generate(), 60 * 1024))
        .collect();
    stack.requests.reset();
    stack.queue.enqueue(&jobs, Duration::ZERO).await.unwrap();
    let sends = stack.requests.snapshot()["sqs:SendMessageBatch"];
    assert!(sends >= 3, "{sends} requests for 720 KiB");
    let got = receive_all(&stack).await;
    assert_eq!(got.len(), 12);

    let endpoint = EndpointId::generate();
    let near = job_of_size(&endpoint, 250 * 1024);
    stack
        .queue
        .enqueue(std::slice::from_ref(&near), Duration::ZERO)
        .await
        .unwrap();
    let got = receive_all(&stack).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        burstline::job::unpack_message(&got[0].body).unwrap(),
        vec![near]
    );

    let over = job_of_size(&endpoint, 256 * 1024 + 1);
    assert_refused(
        stack
            .queue
            .enqueue(std::slice::from_ref(&over), Duration::ZERO)
            .await,
        "SendMessageBatch",
    );
    assert!(receive_all(&stack).await.is_empty());

    let letter = DeadLetter {
        job: over,
        reason: "retries exhausted".into(),
        url: None,
        dead_at: Utc::now(),
    };
    assert_refused(
        stack.dead_letters.dead_letter(&[letter]).await,
        "SendMessageBatch",
    );
}

/// SQS delays a message at most 15 minutes (`DelaySeconds` ≤ 900): a longer delay is refused,
/// not shortened. Enforced on moto by: **moto** (it fails each entry for the sender's fault;
/// the adapter maps that to a refusal instead of resending).
/// Failed before the fix on memory: the delay was clamped to 900 s and the job enqueued.
pub async fn enqueue_refuses_delays_over_15_minutes(stack: Stack) {
    let job = job_of_size(&EndpointId::generate(), 100);
    stack
        .queue
        .enqueue(std::slice::from_ref(&job), Duration::from_secs(900))
        .await
        .unwrap();
    assert_refused(
        stack.queue.enqueue(&[job], Duration::from_secs(901)).await,
        "SendMessageBatch",
    );
}

/// Every job message and dead letter carries `MessageGroupId` = its tenant (SQS fair queues on
/// a standard queue), and the queue hands it back on receive. Decided on moto by: **moto** (a
/// standard queue accepts the attribute and returns it as a system attribute, as SQS does).
/// Failed before the fix: messages were sent without a group.
pub async fn job_messages_are_grouped_by_tenant(stack: Stack) {
    let mut a = job_of_size(&EndpointId::generate(), 100);
    a.tenant_id = "tenant-a".parse().unwrap();
    let mut b = job_of_size(&EndpointId::generate(), 100);
    b.tenant_id = "tenant-b".parse().unwrap();
    stack
        .queue
        .enqueue(&[a.clone(), b.clone()], Duration::ZERO)
        .await
        .unwrap();
    let mut groups: Vec<(Option<String>, String)> = receive_all(&stack)
        .await
        .into_iter()
        .map(|m| {
            let jobs = burstline::job::unpack_message(&m.body).unwrap();
            (m.group, jobs[0].tenant_id.to_string())
        })
        .collect();
    groups.sort();
    assert_eq!(
        groups,
        [
            (Some("tenant-a".to_owned()), "tenant-a".to_owned()),
            (Some("tenant-b".to_owned()), "tenant-b".to_owned()),
        ]
    );
    let letter = DeadLetter {
        job: b,
        reason: "test".into(),
        url: None,
        dead_at: Utc::now(),
    };
    stack.dead_letters.dead_letter(&[letter]).await.unwrap();
    let dead = stack.dlq_reader.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].group.as_deref(), Some("tenant-b"));
}

/// The permits item of an endpoint's limits is written only at the version read: of two
/// invocations that read the same version, exactly one write lands, so their grants never sum
/// past the limits. Decided on moto by: **moto** (DynamoDB's condition expression).
pub async fn permits_are_written_only_at_the_version_read(stack: Stack) {
    use burstline::endpoint_limits::{Limits, grant};
    let tenant: burstline::ids::TenantId = "acme".parse().unwrap();
    let ep = EndpointId::generate();
    let (empty, v0) = stack.permits.permits(&tenant, &ep).await.unwrap();
    assert_eq!(v0, 0);
    let limits = Limits::of(Some(10), Some(2));
    let now = Utc::now();
    let (a, _) = grant(&empty, limits, "a", 10, 2, now);
    let (b, _) = grant(&empty, limits, "b", 10, 2, now);
    assert!(
        stack
            .permits
            .put_permits(&tenant, &ep, &a, v0)
            .await
            .unwrap()
    );
    assert!(
        !stack
            .permits
            .put_permits(&tenant, &ep, &b, v0)
            .await
            .unwrap(),
        "the second writer of version 0 loses"
    );
    let (read, v1) = stack.permits.permits(&tenant, &ep).await.unwrap();
    assert_eq!((read.clone(), v1), (a, 1));
    let (b, g) = grant(&read, limits, "b", 10, 2, now);
    assert_eq!(
        (g.tokens, g.slots),
        (0, 0),
        "nothing left for b this second"
    );
    assert!(
        stack
            .permits
            .put_permits(&tenant, &ep, &b, v1)
            .await
            .unwrap()
    );
    assert!(
        !stack
            .permits
            .put_permits(&tenant, &ep, &b, v1)
            .await
            .unwrap()
    );
}

/// An endpoint's circuit breaker as deliver keeps it: the pause that five failures start is
/// stored with the endpoint and read back as written, and when two invocations find its probe
/// due at once, exactly one wins the probe with its conditional write (the other defers). The
/// breaker's only shared state is this item. Enforced on moto by: **DynamoDB** (the condition
/// on the version read).
pub async fn breaker_pause_is_stored_and_one_writer_wins_the_probe(stack: Stack) {
    use burstline::breaker::{BreakerPolicy, Signal, after, with_probe};
    let policy = BreakerPolicy::default();
    let ep = crate::fixtures::endpoint("acme", "https://acme.example.com/in", &["*"]);
    stack.endpoints.create_endpoint(&ep).await.unwrap();
    let now = Utc::now().trunc_subsecs(3);
    let mut tripped = ep.clone();
    for _ in 0..policy.trip_after {
        if let Some(b) = after(&tripped.breaker, Signal::Failed, now, &policy) {
            tripped.breaker = b;
        }
    }
    assert!(tripped.breaker.is_paused(), "five failures pause it");
    tripped.version += 1;
    assert!(stack.endpoints.update_endpoint(&tripped).await.unwrap());
    let read = stack
        .endpoints
        .endpoint(&ep.tenant_id, &ep.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        read.breaker, tripped.breaker,
        "the pause reads back as written"
    );

    // Past the pause two invocations each take the probe from the same version.
    let due = tripped.breaker.paused_until.unwrap() + chrono::Duration::seconds(1);
    let probe = |holder: &str| {
        let mut next = read.clone();
        next.breaker = with_probe(&read.breaker, holder, due, &policy);
        next.version += 1;
        next
    };
    let (a, b) = (probe("a"), probe("b"));
    let (won_a, won_b) = futures_util::future::join(
        stack.endpoints.update_endpoint(&a),
        stack.endpoints.update_endpoint(&b),
    )
    .await;
    let (won_a, won_b) = (won_a.unwrap(), won_b.unwrap());
    assert!(won_a ^ won_b, "exactly one probe wins: {won_a} {won_b}");
    let holder = stack
        .endpoints
        .endpoint(&ep.tenant_id, &ep.id)
        .await
        .unwrap()
        .unwrap()
        .breaker
        .probe
        .map(|p| p.holder);
    assert_eq!(holder.as_deref(), Some(if won_a { "a" } else { "b" }));
}

/// Deleting handles in any number: `DeleteMessageBatch` takes 10 per request, so 25 take
/// three. Enforced on moto by: **the adapter** (moto accepts larger batches; both adapters
/// chunk). A pin of the chunking: this passed before the fix too.
pub async fn delete_in_batches_of_10(stack: Stack) {
    let jobs: Vec<DeliveryJob> = (0..25)
        .map(|_| job_of_size(&EndpointId::generate(), 100))
        .collect();
    stack.queue.enqueue(&jobs, Duration::ZERO).await.unwrap();
    let mut handles = Vec::new();
    loop {
        let got = stack
            .queue_reader
            .receive(10, Duration::ZERO)
            .await
            .unwrap();
        if got.is_empty() {
            break;
        }
        handles.extend(got.into_iter().map(|m| m.receipt_handle));
    }
    assert_eq!(handles.len(), 25);
    stack.requests.reset();
    stack.queue_reader.delete(&handles).await.unwrap();
    assert_eq!(
        stack.requests.snapshot().get("sqs:DeleteMessageBatch"),
        Some(&3)
    );
}

// --- Kinesis PutRecords and GetRecords (EventLog, ShardReader) --------------------------------

fn record(key: &str, data_bytes: usize) -> LogRecord {
    LogRecord {
        partition_key: key.into(),
        data: vec![b'x'; data_bytes],
    }
}

/// Every record in the stream's shards.
async fn records_in_stream(stack: &Stack) -> usize {
    let mut n = 0;
    for shard in stack.shards.shards().await.unwrap() {
        let mut after: Option<String> = None;
        loop {
            let page = stack
                .shards
                .read(&shard, after.as_deref(), 10_000)
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.sequence_number.clone());
            n += page.len();
        }
    }
    n
}

fn assert_all_accepted(results: &[PutResult], n: usize) {
    assert_eq!(results.len(), n);
    assert!(results.iter().all(|r| matches!(r, PutResult::Accepted(_))));
}

/// `PutRecords` takes at most 500 records. Enforced on moto by: **moto**.
/// Failed before the fix on memory: 501 records were appended.
pub async fn put_takes_at_most_500_records(stack: Stack) {
    let full: Vec<LogRecord> = (0..500).map(|_| record("acme/t", 10)).collect();
    assert_all_accepted(&stack.log.put(&full).await.unwrap(), 500);
    let over: Vec<LogRecord> = (0..501).map(|_| record("acme/t", 10)).collect();
    assert_refused(stack.log.put(&over).await, "PutRecords");
    assert_eq!(records_in_stream(&stack).await, 500);
}

/// A record is at most 1 MiB, data and partition key together; a request at most 5 MiB.
/// [`put_batches`] splits what callers write into requests Kinesis accepts. Enforced on moto
/// by: **moto**.
/// Failed before the fix on memory: the oversized record and request were appended.
pub async fn put_refuses_records_over_1_mib_and_requests_over_5_mib(stack: Stack) {
    let key = "acme/t";
    let exact = record(key, 1024 * 1024 - key.len());
    assert_all_accepted(&stack.log.put(&[exact]).await.unwrap(), 1);
    let over = record(key, 1024 * 1024 - key.len() + 1);
    assert_refused(stack.log.put(&[over]).await, "PutRecords");

    let six: Vec<LogRecord> = (0..6).map(|_| record(key, 1_000_000)).collect();
    assert_refused(stack.log.put(&six).await, "PutRecords");
    assert_eq!(records_in_stream(&stack).await, 1);
    let ranges = put_batches(&six);
    assert_eq!(ranges, vec![0..5, 5..6]);
    for range in ranges {
        let n = range.len();
        assert_all_accepted(&stack.log.put(&six[range]).await.unwrap(), n);
    }
    assert_eq!(records_in_stream(&stack).await, 7);
}

/// A partition key is at most 256 characters. Enforced on moto by: **moto** (it checks each
/// record as it writes it, so the long key goes alone).
/// Failed before the fix on memory: the record with a 257-character key was appended.
pub async fn put_refuses_partition_keys_over_256_characters(stack: Stack) {
    let ok = record(&"k".repeat(256), 1);
    assert_all_accepted(&stack.log.put(&[ok]).await.unwrap(), 1);
    let long = record(&"k".repeat(257), 1);
    assert_refused(stack.log.put(&[long]).await, "PutRecords");
    assert_eq!(records_in_stream(&stack).await, 1);
}

/// One read returns at most 10 000 records, whatever limit is asked (`GetRecords` refuses a
/// larger `Limit`). Enforced on moto by: **the adapter** (it clamps the limit it sends).
/// Failed before the fix on memory: the read returned all 10 001 records.
pub async fn reads_return_at_most_10_000_records(stack: Stack) {
    let records: Vec<LogRecord> = (0..10_001).map(|_| record("acme/t", 1)).collect();
    for range in put_batches(&records) {
        let n = range.len();
        assert_all_accepted(&stack.log.put(&records[range]).await.unwrap(), n);
    }
    let shards = stack.shards.shards().await.unwrap();
    assert_eq!(shards.len(), 1);
    let first = stack.shards.read(&shards[0], None, 20_000).await.unwrap();
    assert_eq!(first.len(), 10_000);
    let rest = stack
        .shards
        .read(&shards[0], Some(&first[9_999].sequence_number), 20_000)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
}

// --- Billing units (the meter) ----------------------------------------------------------------

/// `unit` booked so far for `operation`.
fn units(stack: &Stack, operation: &str, unit: burstline::requests::Unit) -> u64 {
    stack
        .requests
        .by_operation()
        .get(operation)
        .and_then(|u| u.units.get(&unit).copied())
        .unwrap_or(0)
}

/// A sample commit, its reads, an enqueue and receive, and a put and read book the same billing
/// units on every adapter, by each service's rules: DynamoDB write units per started KB of each
/// item (× 2 in a transaction) and strongly consistent read units per started 4 KB (a query
/// page summed, a missing key billed as one), SQS one request per started 64 KB of payload,
/// Kinesis each written record rounded up to 1 KB. Failed before the meter: no units at all.
pub async fn billing_units_are_the_same_on_every_adapter(stack: Stack) {
    use burstline::requests::Unit::*;
    let key = task("acme", "billed");
    // Three events of ~1.6 KB (2 write units each), their markers and the head (1 each).
    let c = chunk(&key, "billed-", 3, 1500);
    stack.requests.reset();
    stack.store.commit(std::slice::from_ref(&c)).await.unwrap();
    assert_eq!(
        units(&stack, "dynamodb:TransactWriteItems", WriteRequestUnits),
        2 * (3 * 2 + 3 + 1)
    );

    stack.requests.reset();
    // One page of ~4.8 KB: two 4 KB steps, strongly consistent (4 halves).
    assert_eq!(stack.store.events(&key, Seq(0), 10).await.unwrap().len(), 3);
    assert_eq!(units(&stack, "dynamodb:Query", ReadRequestHalfUnits), 4);
    // The head and an id marker: one step each; three events and a missing seq: one each.
    stack.store.head(&key).await.unwrap().unwrap();
    stack
        .store
        .find_event(&key.tenant_id, &c.events[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(units(&stack, "dynamodb:GetItem", ReadRequestHalfUnits), 4);
    let seqs = [Seq(1), Seq(2), Seq(3), Seq(9)];
    assert_eq!(stack.store.events_at(&key, &seqs).await.unwrap().len(), 3);
    assert_eq!(
        units(&stack, "dynamodb:BatchGetItem", ReadRequestHalfUnits),
        4 * 2
    );

    // One ~100 KB job: two 64 KB chunks to send and two to receive.
    stack.requests.reset();
    let job = job_of_size(&EndpointId::generate(), 100_000);
    stack
        .queue
        .enqueue(std::slice::from_ref(&job), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(units(&stack, "sqs:SendMessageBatch", SqsBilledRequests), 2);
    assert_eq!(receive_all(&stack).await.len(), 1);
    assert_eq!(
        units(&stack, "sqs:ReceiveMessage", SqsBilledRequests),
        2 + 1
    );

    // Two records of 1,506 bytes (data and key): 2 KB each written; read unrounded.
    stack.requests.reset();
    let records = vec![record("acme/t", 1500), record("acme/t", 1500)];
    assert_all_accepted(&stack.log.put(&records).await.unwrap(), 2);
    assert_eq!(
        units(&stack, "kinesis:PutRecords", KinesisBilledBytesIn),
        4096
    );
    assert_eq!(units(&stack, "kinesis:PutRecords", KinesisRecordsIn), 2);
    // Reads book their bytes unrounded; the moto stack counts the mapping's reads apart
    // (Lambda's requests, not the functions'), so only the bytes' rule is checked here.
    let shards = stack.shards.shards().await.unwrap();
    let read = stack.shards.read(&shards[0], None, 10).await.unwrap();
    assert_eq!(read.len(), 2);
    let out: usize = read
        .iter()
        .map(|r| r.data.len() + r.partition_key.len())
        .sum();
    assert_eq!(out, 2 * 1506);
}
