//! Sequence assignment (SPEC §4.1–4.2), as pure functions.
//!
//! Fanout reads each task's head, then [`plan_task`] decides deterministically which records are
//! new and which `seq` each gets. Because the plan depends only on the head and the records,
//! a replay after a crash anywhere produces the same assignment, and the conditional commit
//! (head version + absent id markers) makes the first commit the only one that lands.
//!
//! [`pack_transactions`] packs the plans of many tasks into as few DynamoDB transactions as the
//! limits allow; [`pack_one_event_each`] packs one event per transaction, to find the record
//! DynamoDB refuses. [`client_request_token`] names each transaction for DynamoDB's idempotency.

use crate::event::{Envelope, NewEvent};
use crate::head::{StreamPosition, TaskHead};
use crate::ids::{EventId, Seq, TaskKey};
use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// DynamoDB `TransactWriteItems` accepts at most this many actions.
pub const MAX_TRANSACTION_ITEMS: usize = crate::store::limits::MAX_ACTIONS;
/// DynamoDB caps a transaction at 4 MB ([`crate::store::limits::MAX_TOTAL_BYTES`]); packing
/// to this estimate stays clear of it.
pub const MAX_TRANSACTION_BYTES: usize = 3_500_000;
/// Bytes an event item and its id marker add beyond the serialized `data`.
const ITEM_OVERHEAD_BYTES: usize = 600;

/// A decoded Kinesis record: one event and where it sat in the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// Position of the record.
    pub position: StreamPosition,
    /// The event it carries.
    pub event: NewEvent,
}

/// An event with its assigned seq and the record it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Assigned {
    /// The stored envelope.
    pub envelope: Envelope,
    /// The record that carried it.
    pub position: StreamPosition,
}

/// What one task's slice of a batch will commit.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskPlan {
    /// The task.
    pub key: TaskKey,
    /// The head as read; the commit is conditional on it being unchanged (`None`: no head yet).
    pub base: Option<TaskHead>,
    /// New events, seqs `base.last_seq + 1 ..` in record order.
    pub events: Vec<Assigned>,
    /// Records after the head's position that are not stored: the excluded ones (duplicates,
    /// records set aside) and ids repeated within the task.
    pub skipped: Vec<StreamPosition>,
    /// The head once everything is committed.
    pub head: TaskHead,
}

/// Decides which of a task's records are new and assigns their seqs.
///
/// `records` are the task's records in stream order. Records at or before the head's position
/// were applied by an earlier invocation and are skipped; so are the records at the positions
/// in `excluded` (duplicates and records set aside, as fanout decided them for the whole
/// batch) and, as a safeguard, any id repeated within the task, so a plan never writes one id
/// marker twice. Excluded records still move the head's position past them. Returns `None`
/// when there is nothing to write, not even a head position to advance.
pub fn plan_task(
    key: &TaskKey,
    base: Option<&TaskHead>,
    records: &[Incoming],
    excluded: &HashSet<StreamPosition>,
    now: DateTime<Utc>,
) -> Option<TaskPlan> {
    let fresh: Vec<&Incoming> = records
        .iter()
        .filter(|r| !base.is_some_and(|h| h.has_applied(&r.position)))
        .collect();
    let last = fresh.last()?;
    let mut head = base
        .cloned()
        .unwrap_or_else(|| TaskHead::empty(key.clone(), now));
    let mut seen: HashSet<&EventId> = HashSet::new();
    let mut events = Vec::new();
    let mut skipped = Vec::new();
    for rec in &fresh {
        if excluded.contains(&rec.position) || !seen.insert(&rec.event.id) {
            skipped.push(rec.position.clone());
            continue;
        }
        let seq = head.last_seq.next();
        head.last_seq = seq;
        if let (false, Some(status)) = (
            head.status.is_terminal(),
            rec.event.event_type.terminal_status(),
        ) {
            head.status = status;
            head.terminal_seq = Some(seq);
        }
        events.push(Assigned {
            envelope: rec.event.clone().with_seq(seq),
            position: rec.position.clone(),
        });
    }
    head.position = Some(last.position.clone());
    head.updated_at = now;
    Some(TaskPlan {
        key: key.clone(),
        base: base.cloned(),
        events,
        skipped,
        head,
    })
}

/// Packs plans into transactions, in execution order, filling each up to DynamoDB's limits.
///
/// A plan that does not fit the room left is split: the part that fits goes into this
/// transaction with an intermediate head (its last event's seq and record), the rest into the
/// next. Each chunk's `base` is the previous chunk's head, so a task's chunks must commit in
/// order, and committing any prefix of them is a valid state: a crash between transactions
/// replays from the head the last one wrote. One transaction touches a task's head once.
pub fn pack_transactions(plans: Vec<TaskPlan>) -> Vec<Vec<CommitChunk>> {
    Packer::new(MAX_TRANSACTION_ITEMS).pack(plans)
}

/// Packs each plan's events one per transaction, chained as [`pack_transactions`] chains a
/// long task. Used to isolate the one record DynamoDB refuses: a transaction holding a single
/// event that is refused names its culprit, and every event before it can still commit.
pub fn pack_one_event_each(plans: Vec<TaskPlan>) -> Vec<Vec<CommitChunk>> {
    // A head, one event and its marker.
    Packer::new(3).pack(plans)
}

struct Packer {
    max_items: usize,
    done: Vec<Vec<CommitChunk>>,
    current: Vec<CommitChunk>,
    items: usize,
    bytes: usize,
}

impl Packer {
    fn new(max_items: usize) -> Self {
        Self {
            max_items,
            done: Vec::new(),
            current: Vec::new(),
            items: 0,
            bytes: 0,
        }
    }

    fn pack(mut self, plans: Vec<TaskPlan>) -> Vec<Vec<CommitChunk>> {
        for plan in plans {
            self.add(plan);
        }
        self.flush();
        self.done
    }

    fn flush(&mut self) {
        if !self.current.is_empty() {
            self.done.push(std::mem::take(&mut self.current));
        }
        (self.items, self.bytes) = (0, 0);
    }

    fn add(&mut self, plan: TaskPlan) {
        let TaskPlan {
            key,
            mut base,
            events,
            head: final_head,
            ..
        } = plan;
        let mut pending = events.into_iter().peekable();
        loop {
            // A chunk needs its head plus, if events remain, at least one event and marker.
            let needed = if pending.peek().is_some() { 3 } else { 1 };
            if self.items + needed > self.max_items {
                self.flush();
            }
            let mut taken: Vec<Assigned> = Vec::new();
            let mut bytes = ITEM_OVERHEAD_BYTES;
            while let Some(next) = pending.peek() {
                let size = event_bytes(&next.envelope);
                let items = self.items + 1 + 2 * (taken.len() + 1);
                let fits =
                    items <= self.max_items && self.bytes + bytes + size <= MAX_TRANSACTION_BYTES;
                // An empty transaction always takes one event: a single event is far below
                // the byte limit (data is capped at 350 KiB), so this cannot overflow.
                let first_in_empty_tx = taken.is_empty() && self.current.is_empty();
                if !fits && !first_in_empty_tx {
                    break;
                }
                bytes += size;
                taken.extend(pending.next());
            }
            if taken.is_empty() && pending.peek().is_some() {
                self.flush();
                continue;
            }
            let last = pending.peek().is_none();
            let version = base.as_ref().map_or(1, |b| b.version + 1);
            let mut head = if last {
                final_head.clone()
            } else {
                intermediate_head(&final_head, &taken)
            };
            head.version = version;
            self.items += 1 + 2 * taken.len();
            self.bytes += bytes;
            self.current.push(CommitChunk {
                key: key.clone(),
                base: base.take(),
                events: taken.into_iter().map(|a| a.envelope).collect(),
                head: head.clone(),
            });
            if last {
                return;
            }
            base = Some(head);
            self.flush();
        }
    }
}

/// The head after a non-final chunk: its last event's seq and record, status as of then, and
/// webhook chains ending no later than its last seq. A replay from this head re-plans the
/// rest, and its jobs chain from there: each still covers every wanted event of its span, which
/// is what lets deliver run overlapping jobs of the first plan and the re-plan in order
/// ([`crate::delivery_order`]). Chains ending at the final head's values would skip events.
fn intermediate_head(final_head: &TaskHead, events: &[Assigned]) -> TaskHead {
    let mut head = final_head.clone();
    if let Some(last) = events.last() {
        head.last_seq = last.envelope.seq;
        head.position = Some(last.position.clone());
        for end in head.chain_ends.values_mut() {
            *end = (*end).min(last.envelope.seq);
        }
        if final_head
            .terminal_seq
            .is_some_and(|t| t > last.envelope.seq)
        {
            head.status = crate::head::TaskStatus::Running;
            head.terminal_seq = None;
        }
    }
    head
}

fn event_bytes(e: &Envelope) -> usize {
    serde_json::to_vec(&e.data).map(|v| v.len()).unwrap_or(0) + ITEM_OVERHEAD_BYTES
}

/// Splits packed transactions into independent *lanes*: transactions that share a task (a long
/// task's chunks, and every transaction packed together with one of them) stay in one lane, in
/// their original order; transactions of unrelated tasks go to different lanes. Lanes may
/// commit concurrently, since no two lanes touch the same task head; within a lane the order
/// is the packer's, so a task's chunks still commit in order and any prefix is a valid state.
/// Lanes come in the order of their first transaction.
pub fn lanes(txs: Vec<Vec<CommitChunk>>) -> Vec<Vec<Vec<CommitChunk>>> {
    // Union-find over transaction indices, joined through the tasks they touch.
    let mut parent: Vec<usize> = (0..txs.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut last_tx_of: std::collections::HashMap<&TaskKey, usize> =
        std::collections::HashMap::new();
    for (i, tx) in txs.iter().enumerate() {
        for c in tx {
            if let Some(&j) = last_tx_of.get(&c.key) {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                // The earlier transaction's root stays the root: lanes keep first-seen order.
                parent[a.max(b)] = a.min(b);
            }
            last_tx_of.insert(&c.key, i);
        }
    }
    let roots: Vec<usize> = (0..txs.len()).map(|i| root(&mut parent, i)).collect();
    let mut lane_of_root: std::collections::HashMap<usize, usize> =
        std::collections::HashMap::new();
    let mut out: Vec<Vec<Vec<CommitChunk>>> = Vec::new();
    for (tx, r) in txs.into_iter().zip(roots) {
        let lane = *lane_of_root.entry(r).or_insert_with(|| {
            out.push(Vec::new());
            out.len() - 1
        });
        out[lane].push(tx);
    }
    out
}

/// One atomic write: some of a task's events, their id markers, and the task's new head,
/// conditional on the head still being `base`.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitChunk {
    /// The task.
    pub key: TaskKey,
    /// Expected current head (`None`: must not exist).
    pub base: Option<TaskHead>,
    /// Events to store, each with an id marker that must not already exist.
    pub events: Vec<Envelope>,
    /// Head to write.
    pub head: TaskHead,
}

impl CommitChunk {
    /// Transaction actions this chunk needs: event + marker per event, plus the head.
    pub fn items(&self) -> usize {
        self.events.len() * 2 + 1
    }
}

/// The `ClientRequestToken` of the transaction that commits `chunks`: 32 hex characters (the
/// API allows 36) hashed from each chunk's task, base version and new head (version, last seq,
/// position, `updated_at`) and its events' seqs and ids.
///
/// DynamoDB answers a repeat of a token it saw in the last 10 minutes with the first call's
/// success, so an SDK retry of a commit that landed (a timeout, a lost response) is not
/// mistaken for a conflict. Because the plan's time is part of the hash, every re-plan (another
/// round, a retried invocation) carries a new token: a token is never reused with different
/// content, which DynamoDB would refuse (`IdempotentParameterMismatch`).
pub fn client_request_token(chunks: &[CommitChunk]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    // Newline-separated fields: ids, versions and positions never contain a newline.
    let mut field = |v: &str| {
        hash.update(v.as_bytes());
        hash.update(b"\n");
    };
    for c in chunks {
        field(c.key.tenant_id.as_str());
        field(c.key.task_id.as_str());
        field(&c.base.as_ref().map_or(0, |b| b.version).to_string());
        field(&c.head.version.to_string());
        field(&c.head.last_seq.0.to_string());
        let position = c.head.position.as_ref();
        field(position.map_or("", |p| p.shard_id.as_str()));
        field(position.map_or("", |p| p.sequence_number.as_str()));
        field(
            &c.head
                .updated_at
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        );
        for e in &c.events {
            field(&e.seq.0.to_string());
            field(e.id.as_str());
        }
        field("");
    }
    hex::encode(&hash.finalize()[..16])
}

/// Seqs a commit expects to follow: for tests and assertions, `1..=last_seq` with no holes.
pub fn is_dense(seqs: &[Seq]) -> bool {
    seqs.iter().enumerate().all(|(i, s)| s.0 == i as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventType;
    use crate::head::TaskStatus;
    use crate::ids::{EndpointId, TaskId, TenantId};

    fn key() -> TaskKey {
        TaskKey::new(
            TenantId::parse("acme").unwrap(),
            TaskId::parse("run-1").unwrap(),
        )
    }

    fn rec(n: u64, id: &str, ty: &str) -> Incoming {
        Incoming {
            position: StreamPosition::new("s0", n.to_string()),
            event: NewEvent {
                id: EventId::parse(id).unwrap(),
                event_type: EventType::parse(ty).unwrap(),
                tenant_id: key().tenant_id,
                task_id: key().task_id,
                time: Utc::now(),
                data: serde_json::json!({"n": n}),
                traceparent: None,
            },
        }
    }

    fn seqs(plan: &TaskPlan) -> Vec<u64> {
        plan.events.iter().map(|a| a.envelope.seq.0).collect()
    }

    /// A head-only chunk of task `t` whose head version is `v` (to tell chunks apart).
    fn chunk(t: &str, v: u64) -> CommitChunk {
        let key = TaskKey::new(TenantId::parse("acme").unwrap(), TaskId::parse(t).unwrap());
        let mut head = TaskHead::empty(key.clone(), Utc::now());
        head.version = v;
        CommitChunk {
            key,
            base: None,
            events: Vec::new(),
            head,
        }
    }

    fn names(lanes: &[Vec<Vec<CommitChunk>>]) -> Vec<Vec<Vec<String>>> {
        lanes
            .iter()
            .map(|lane| {
                lane.iter()
                    .map(|tx| {
                        tx.iter()
                            .map(|c| format!("{}{}", c.key.task_id, c.head.version))
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn lanes_keep_a_tasks_chunks_in_order_and_separate_unrelated_tasks() {
        // tx0: a1 b1 | tx1: b2 | tx2: c1 | tx3: d1 | tx4: d2 e1 | tx5: e2 | tx6: f1
        let txs = vec![
            vec![chunk("a", 1), chunk("b", 1)],
            vec![chunk("b", 2)],
            vec![chunk("c", 1)],
            vec![chunk("d", 1)],
            vec![chunk("d", 2), chunk("e", 1)],
            vec![chunk("e", 2)],
            vec![chunk("f", 1)],
        ];
        let lanes = lanes(txs);
        assert_eq!(
            names(&lanes),
            vec![
                vec![vec!["a1", "b1"], vec!["b2"]],
                vec![vec!["c1"]],
                vec![vec!["d1"], vec!["d2", "e1"], vec!["e2"]],
                vec![vec!["f1"]],
            ]
        );
        // Lanes joined late keep first-seen order: x's chain links tx0 and tx2 through y.
        let txs = vec![
            vec![chunk("x", 1)],
            vec![chunk("y", 1)],
            vec![chunk("y", 2), chunk("x", 2)],
        ];
        assert_eq!(
            names(&super::lanes(txs)),
            vec![vec![vec!["x1"], vec!["y1"], vec!["y2", "x2"]]]
        );
        assert!(super::lanes(Vec::new()).is_empty());
    }

    #[test]
    fn assigns_dense_seqs_from_an_empty_head() {
        let recs = vec![rec(1, "a", "x"), rec(2, "b", "x"), rec(3, "c", "x")];
        let plan = plan_task(&key(), None, &recs, &HashSet::new(), Utc::now()).unwrap();
        assert_eq!(seqs(&plan), [1, 2, 3]);
        assert_eq!(plan.head.last_seq, Seq(3));
        assert_eq!(plan.head.position, Some(StreamPosition::new("s0", "3")));
        assert_eq!(plan.head.status, TaskStatus::Running);
    }

    #[test]
    fn replay_skips_applied_records_and_continues_the_sequence() {
        let recs = vec![
            rec(1, "a", "x"),
            rec(2, "b", "x"),
            rec(3, "c", "x"),
            rec(4, "d", "x"),
        ];
        let first = plan_task(&key(), None, &recs[..2], &HashSet::new(), Utc::now()).unwrap();
        // Lambda redelivers the whole batch after the first two were committed.
        let again = plan_task(
            &key(),
            Some(&first.head),
            &recs,
            &HashSet::new(),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(seqs(&again), [3, 4]);
        let ids: Vec<_> = again
            .events
            .iter()
            .map(|a| a.envelope.id.as_str())
            .collect();
        assert_eq!(ids, ["c", "d"]);
    }

    #[test]
    fn fully_applied_batch_plans_nothing() {
        let recs = vec![rec(1, "a", "x"), rec(2, "b", "x")];
        let first = plan_task(&key(), None, &recs, &HashSet::new(), Utc::now()).unwrap();
        assert!(
            plan_task(
                &key(),
                Some(&first.head),
                &recs,
                &HashSet::new(),
                Utc::now()
            )
            .is_none()
        );
    }

    #[test]
    fn same_input_same_plan() {
        let recs = vec![rec(1, "a", "x"), rec(2, "b", "task.completed")];
        let now = Utc::now();
        let a = plan_task(&key(), None, &recs, &HashSet::new(), now);
        let b = plan_task(&key(), None, &recs, &HashSet::new(), now);
        assert_eq!(a, b);
    }

    #[test]
    fn duplicates_are_skipped_without_gaps() {
        let recs = vec![
            rec(1, "a", "x"),
            rec(2, "a", "x"),
            rec(3, "b", "x"),
            rec(4, "c", "x"),
        ];
        // Record 3 is excluded (e.g. its id is stored); record 2 repeats an id in the task.
        let excluded: HashSet<StreamPosition> = [recs[2].position.clone()].into();
        let plan = plan_task(&key(), None, &recs, &excluded, Utc::now()).unwrap();
        assert_eq!(seqs(&plan), [1, 2]);
        let ids: Vec<_> = plan.events.iter().map(|a| a.envelope.id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(
            plan.skipped,
            [recs[1].position.clone(), recs[2].position.clone()]
        );
        // The head still moves past the duplicates so they are not re-examined.
        assert_eq!(plan.head.position, Some(StreamPosition::new("s0", "4")));
    }

    #[test]
    fn terminal_event_sets_status_once() {
        let recs = vec![
            rec(1, "a", "x"),
            rec(2, "b", "task.failed"),
            rec(3, "c", "task.completed"),
        ];
        let plan = plan_task(&key(), None, &recs, &HashSet::new(), Utc::now()).unwrap();
        assert_eq!(plan.head.status, TaskStatus::Failed);
        assert_eq!(plan.head.terminal_seq, Some(Seq(2)));
        assert_eq!(plan.head.last_seq, Seq(3));
    }

    fn task_plan(task: &str, n: u64) -> TaskPlan {
        let k = TaskKey::new(
            TenantId::parse("acme").unwrap(),
            TaskId::parse(task).unwrap(),
        );
        let recs: Vec<Incoming> = (1..=n)
            .map(|i| {
                let ty = if i == n { "task.completed" } else { "x" };
                let mut r = rec(i, &format!("{task}-{i}"), ty);
                r.event.task_id = k.task_id.clone();
                r
            })
            .collect();
        plan_task(&k, None, &recs, &HashSet::new(), Utc::now()).unwrap()
    }

    fn check_invariants(txs: &[Vec<CommitChunk>]) {
        for tx in txs {
            assert!(tx.iter().map(CommitChunk::items).sum::<usize>() <= MAX_TRANSACTION_ITEMS);
            let mut keys: Vec<_> = tx.iter().map(|c| c.key.clone()).collect();
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), tx.len(), "a transaction touches each head once");
        }
        // Per task, chunks chain base -> head and seqs are dense.
        let mut by_task: std::collections::BTreeMap<TaskKey, Vec<&CommitChunk>> =
            Default::default();
        for c in txs.iter().flatten() {
            by_task.entry(c.key.clone()).or_default().push(c);
        }
        for chunks in by_task.values() {
            let mut prev: Option<&TaskHead> = None;
            let mut seqs = Vec::new();
            for c in chunks {
                assert_eq!(c.base.as_ref(), prev);
                assert_eq!(c.head.version, prev.map_or(1, |h| h.version + 1));
                seqs.extend(c.events.iter().map(|e| e.seq));
                assert_eq!(c.head.last_seq, *seqs.last().unwrap());
                prev = Some(&c.head);
            }
            assert!(is_dense(&seqs));
        }
    }

    #[test]
    fn a_long_task_is_chained_across_transactions() {
        let txs = pack_transactions(vec![task_plan("big", 120)]);
        assert_eq!(txs.len(), 3);
        check_invariants(&txs);
        let first = &txs[0][0];
        assert_eq!(first.head.last_seq, Seq(49));
        assert_eq!(first.head.status, TaskStatus::Running);
        assert_eq!(first.head.position, Some(StreamPosition::new("s0", "49")));
        let last = &txs[2][0];
        assert_eq!(last.head.last_seq, Seq(120));
        assert_eq!(last.head.status, TaskStatus::Completed);
        assert_eq!(last.head.terminal_seq, Some(Seq(120)));
    }

    #[test]
    fn intermediate_heads_end_webhook_chains_at_their_last_seq() {
        let mut plan = task_plan("big", 120);
        let (ep_all, ep_early) = (EndpointId::generate(), EndpointId::generate());
        plan.head.chain_ends.insert(ep_all.clone(), Seq(120));
        plan.head.chain_ends.insert(ep_early.clone(), Seq(10));
        let txs = pack_transactions(vec![plan]);
        let first = &txs[0][0].head;
        assert_eq!(
            first.chain_ends[&ep_all],
            Seq(49),
            "a re-plan continues from 49"
        );
        assert_eq!(first.chain_ends[&ep_early], Seq(10));
        assert_eq!(txs[2][0].head.chain_ends[&ep_all], Seq(120));
    }

    #[test]
    fn many_small_tasks_fill_transactions() {
        // 25 tasks × 20 events = 1,000 event+marker items and 25+ heads: 11 transactions.
        let plans: Vec<_> = (0..25).map(|i| task_plan(&format!("t{i}"), 20)).collect();
        let txs = pack_transactions(plans);
        check_invariants(&txs);
        assert_eq!(txs.len(), 11);
        assert!(
            txs[..10]
                .iter()
                .all(|tx| tx.iter().map(CommitChunk::items).sum::<usize>() >= 99)
        );
    }

    #[test]
    fn big_payloads_split_by_bytes() {
        let mut plan = task_plan("fat", 20);
        for a in &mut plan.events {
            a.envelope.data = serde_json::json!("x".repeat(300_000));
        }
        let txs = pack_transactions(vec![plan]);
        assert!(txs.len() >= 2);
        check_invariants(&txs);
    }

    #[test]
    fn one_event_each_isolates_every_event_in_order() {
        let plans = vec![task_plan("a", 3), task_plan("b", 1)];
        let txs = pack_one_event_each(plans);
        check_invariants(&txs);
        assert_eq!(txs.len(), 4);
        assert!(
            txs.iter()
                .all(|tx| tx.len() == 1 && tx[0].events.len() == 1)
        );
        let last_of_a = &txs[2][0];
        assert_eq!(last_of_a.head.last_seq, Seq(3));
        assert_eq!(last_of_a.head.status, TaskStatus::Completed);
    }

    #[test]
    fn request_tokens_are_short_deterministic_and_follow_the_content() {
        let txs = pack_transactions(vec![task_plan("a", 3), task_plan("b", 2)]);
        let token = client_request_token(&txs[0]);
        assert_eq!(token.len(), 32);
        assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(token, client_request_token(&txs[0].clone()), "same content");
        // Another set of chunks, another base, another re-plan time, other events: new token.
        assert_ne!(token, client_request_token(&txs[0][..1]));
        let mut based = txs[0].clone();
        based[0].base = Some(based[0].head.clone());
        assert_ne!(token, client_request_token(&based));
        let mut later = txs[0].clone();
        later[0].head.updated_at += chrono::Duration::milliseconds(1);
        assert_ne!(token, client_request_token(&later));
        let mut fewer = txs[0].clone();
        fewer[0].events.pop();
        assert_ne!(token, client_request_token(&fewer));
    }

    #[test]
    fn a_duplicate_only_plan_still_advances_the_head() {
        let first = task_plan("t", 2);
        let recs = vec![rec(9, "t-1", "x")];
        let dup: HashSet<StreamPosition> = [recs[0].position.clone()].into();
        let plan = plan_task(&first.key, Some(&first.head), &recs, &dup, Utc::now()).unwrap();
        assert!(plan.events.is_empty());
        let txs = pack_transactions(vec![plan]);
        assert_eq!(txs.len(), 1);
        assert_eq!(txs[0][0].items(), 1);
        assert_eq!(
            txs[0][0].head.position,
            Some(StreamPosition::new("s0", "9"))
        );
    }
}
