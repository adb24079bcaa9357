//! Webhook order per endpoint × task (SPEC §4.5), as pure decisions.
//!
//! Every webhook job of a task for one endpoint carries a [`Chain`]: the cursor value it needs
//! before it may run (`after`) and the one it leaves once done (`upto`). fanout chains a task's
//! jobs per endpoint through the task head, which records where each endpoint's chain ends
//! (committed with the events, so the chain of committed plans is gap-free); a replay chains
//! its jobs from the seq it rewinds the cursor to. deliver keeps one [`Cursor`] per endpoint ×
//! task ([`crate::cursor`]) and runs a job only in its turn.
//!
//! The invariant that makes this safe: a job's refs are every event the endpoint wants in
//! `(after, upto]` (a replay's last job may also cover events the cursor had already passed).
//! So whenever `after ≤ cursor < upto`, sending the job's refs above the cursor and moving the
//! cursor to `upto` skips nothing, whichever plan, retry or duplicate the job came from; a job
//! whose span is behind the cursor is already done; one ahead of it waits. The cursor moves
//! only under a lease, so one run at a time sends to an endpoint × task, in seq order.

use crate::ids::Seq;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::time::Duration;

/// SQS delays a message at most this long (`DelaySeconds` ≤ 900).
pub const MAX_WAIT: Duration = Duration::from_secs(900);
/// Waits at 1 s before a waiting job backs off (see [`turn`]): 5 looks cover a job ahead that
/// is mid-delivery, at one `ReceiveMessage` share a second.
pub const PROMPT_WAITS: u32 = 5;
/// A replay job whose rewind has not landed this long after it first waited is abandoned: the
/// api rewinds within the request that enqueued it, or answers with an error.
pub const REWIND_GRACE: chrono::Duration = chrono::Duration::minutes(15);

/// How long jobs wait for their turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitLimits {
    /// Longest pause between looks while another run holds the lease or a replay's rewind is
    /// due (10 s).
    pub busy: Duration,
    /// Longest pause between looks while an earlier job of the chain has not run yet (60 s),
    /// unless it is a retry due later.
    pub behind: Duration,
    /// A job whose predecessor shows no sign of life this long runs anyway (6 h). Must exceed
    /// the time a crashing job takes to reach the DLQ through the queue's redrive policy
    /// (`maxReceiveCount` 20 × visibility 720 s = 4 h).
    pub stall_after: chrono::Duration,
}

impl Default for WaitLimits {
    fn default() -> Self {
        Self {
            busy: Duration::from_secs(10),
            behind: Duration::from_secs(60),
            stall_after: chrono::Duration::hours(6),
        }
    }
}

/// A job's place in its endpoint × task order: it covers the cursor span `(after, upto]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    /// The cursor value required before it may run: the previous job's `upto`, or where the
    /// chain starts (0: the endpoint's first job of the task).
    pub after: Seq,
    /// The cursor value once it is done.
    pub upto: Seq,
    /// The cursor epoch it needs: a replay's jobs need the replay's rewind (0: any).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub epoch: u64,
    /// Times it found that its turn had not come and was re-enqueued (no attempt spent).
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub waits: u32,
    /// When it first waited for its turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<DateTime<Utc>>,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

impl Chain {
    /// A chain link that has not waited yet.
    pub fn new(after: Seq, upto: Seq, epoch: u64) -> Self {
        Self {
            after,
            upto,
            epoch,
            waits: 0,
            waiting_since: None,
        }
    }

    /// What a claim for this job needs.
    pub fn span(&self) -> Span {
        Span {
            after: self.after,
            upto: self.upto,
            epoch: self.epoch,
        }
    }

    /// The same link after one more wait that started at `now`.
    pub fn waited(&self, now: DateTime<Utc>) -> Chain {
        Chain {
            waits: self.waits.saturating_add(1),
            waiting_since: Some(self.waiting_since.unwrap_or(now)),
            ..self.clone()
        }
    }
}

/// The cursor span a run claims: it may start anywhere in `[after, upto)` at an epoch of at
/// least `epoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Lowest cursor value the run may start from.
    pub after: Seq,
    /// The cursor value it leaves; a cursor at or past it means the run is done.
    pub upto: Seq,
    /// Lowest cursor epoch it may run at.
    pub epoch: u64,
}

/// A held claim on a cursor: only its holder may advance the cursor or release it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorLease {
    /// Random id of the run holding it.
    pub holder: String,
    /// When it frees itself if its holder died: longer than an invocation can run.
    pub until: DateTime<Utc>,
}

/// Where one endpoint × task stands. An absent cursor reads as [`Cursor::start`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Every event of the task up to this seq that the endpoint wants has been delivered or
    /// dead-lettered.
    pub seq: Seq,
    /// Bumped by each replay rewind; a run claimed at an older epoch cannot advance.
    pub epoch: u64,
    /// The run sending now, if any.
    pub lease: Option<CursorLease>,
    /// When the cursor last changed (`None`: never written).
    pub updated_at: Option<DateTime<Utc>>,
    /// When the job holding the order back (re-enqueued for a retry) is due again.
    pub resume_at: Option<DateTime<Utc>>,
}

impl Cursor {
    /// A cursor nothing has gone through yet.
    pub fn start() -> Self {
        Self {
            seq: Seq(0),
            epoch: 0,
            lease: None,
            updated_at: None,
            resume_at: None,
        }
    }

    /// Whether an unexpired lease is held at `now`.
    pub fn leased(&self, now: DateTime<Utc>) -> bool {
        self.lease.as_ref().is_some_and(|l| l.until > now)
    }
}

/// The claim condition both cursor adapters enforce: no unexpired lease, `after ≤ seq < upto`,
/// and the epoch reached. `None` is an absent cursor.
pub fn may_claim(span: &Span, cursor: Option<&Cursor>, now: DateTime<Utc>) -> bool {
    let start = Cursor::start();
    let c = cursor.unwrap_or(&start);
    !c.leased(now) && span.after <= c.seq && c.seq < span.upto && c.epoch >= span.epoch
}

/// Why a job is not run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    /// Another run holds the lease.
    Busy,
    /// An earlier job of the chain has not run yet (not received, retrying, or waiting for its
    /// commit).
    Behind,
    /// A replay job whose rewind has not landed yet.
    Rewind,
}

/// What to do with a job whose claim was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Everything it covers is behind the cursor: already delivered or dead-lettered.
    Done,
    /// Not its turn: re-enqueue it after `delay`, no attempt spent.
    Wait {
        /// Why.
        why: WaitReason,
        /// How long.
        delay: Duration,
    },
    /// Its predecessor has shown no sign of life for the stall limit (it can only have been
    /// moved to the DLQ by the queue's redrive policy after repeated crashes): claim from the
    /// cursor as it is, skipping the missing events, which the DLQ holds.
    Jump {
        /// The cursor value to claim from.
        from: Seq,
    },
    /// A replay job whose rewind never landed: drop it.
    Abandon,
}

/// Decides what a job whose claim was refused does, given the cursor as the claim saw it.
pub fn turn(
    chain: &Chain,
    cursor: Option<&Cursor>,
    now: DateTime<Utc>,
    limits: &WaitLimits,
) -> Turn {
    let start = Cursor::start();
    let c = cursor.unwrap_or(&start);
    let waited = now - chain.waiting_since.unwrap_or(now);
    if c.epoch < chain.epoch {
        if waited >= REWIND_GRACE {
            return Turn::Abandon;
        }
        return wait(chain, WaitReason::Rewind, c, now, limits);
    }
    if c.seq >= chain.upto {
        return Turn::Done;
    }
    if c.leased(now) {
        return wait(chain, WaitReason::Busy, c, now, limits);
    }
    if c.seq < chain.after {
        let last_sign = [chain.waiting_since, c.updated_at, c.resume_at]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(now);
        if now - last_sign >= limits.stall_after {
            return Turn::Jump { from: c.seq };
        }
        return wait(chain, WaitReason::Behind, c, now, limits);
    }
    // Claimable now: the claim lost a race that has settled since. Look again soon.
    wait(chain, WaitReason::Busy, c, now, limits)
}

/// Looks again every second for the first [`PROMPT_WAITS`] waits — in a live task the job
/// ahead is usually being delivered right now, and each second added here is webhook latency
/// — then backs off, doubling up to a cap per reason; a job behind a retrying one sleeps until
/// that one is due (never past [`MAX_WAIT`]).
fn wait(
    chain: &Chain,
    why: WaitReason,
    c: &Cursor,
    now: DateTime<Utc>,
    limits: &WaitLimits,
) -> Turn {
    let cap = match why {
        WaitReason::Busy | WaitReason::Rewind => limits.busy,
        WaitReason::Behind => limits.behind,
    };
    let doublings = chain.waits.saturating_sub(PROMPT_WAITS - 1).min(10);
    let backoff = Duration::from_secs(1u64 << doublings).min(cap);
    let until_due = match why {
        WaitReason::Behind => c
            .resume_at
            .and_then(|at| (at - now).to_std().ok())
            .unwrap_or_default(),
        WaitReason::Busy | WaitReason::Rewind => Duration::ZERO,
    };
    Turn::Wait {
        why,
        delay: backoff.max(until_due).min(MAX_WAIT),
    }
}

/// Where the cursor goes after a run: to `upto` when every event was delivered or
/// dead-lettered, or to just before the first event re-enqueued for a retry (the retry then
/// runs from there).
pub fn progress(chain: &Chain, first_requeued: Option<Seq>) -> Seq {
    match first_requeued {
        Some(seq) => Seq(seq.0.saturating_sub(1)).max(chain.after),
        None => chain.upto,
    }
}

/// Splits a run of refs, by their ascending `seqs` (all above `after`), into jobs of at most
/// `max` events chained from `after`: each job starts where the previous one ends, and the last
/// ends at `upto` (or at its last seq, if later). Returns each job's index range and chain.
pub fn chain_runs(
    after: Seq,
    seqs: &[Seq],
    upto: Seq,
    epoch: u64,
    max: usize,
) -> Vec<(Range<usize>, Chain)> {
    let mut out = Vec::new();
    let mut prev = after;
    let mut start = 0;
    while start < seqs.len() {
        let end = (start + max.max(1)).min(seqs.len());
        let last_seq = seqs[end - 1];
        let mut end_at = last_seq.max(prev);
        if end == seqs.len() {
            end_at = end_at.max(upto);
        }
        out.push((start..end, Chain::new(prev, end_at, epoch)));
        prev = end_at;
        start = end;
    }
    out
}

/// How a replay enters the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayPlan {
    /// The replay's events are the wanted ones in `(start, to]`; its first job's `after`.
    pub start: Seq,
    /// Its last job's `upto`: where live traffic resumes.
    pub upto: Seq,
    /// The epoch its jobs need.
    pub epoch: u64,
    /// Rewind the cursor to `start` after enqueuing, if it still is at this `(seq, epoch)`
    /// (`Some(None)`: create it, it must be absent). `None`: the cursor stays.
    pub rewind: Option<Option<(Seq, u64)>>,
}

/// Plans a replay of `[from, to]` given the endpoint × task cursor and whether any live job of
/// this endpoint was ever chained for the task (the head records where its chain ends).
///
/// - Behind the cursor: the replay rewinds it to `from − 1` and runs up to the old cursor
///   (its last job ends there), so it goes out in order and live traffic resumes after it.
/// - Beyond the cursor: events between the cursor and `from` have not been sent yet; they go
///   first (order), so the replay starts at the cursor and the cursor stays.
/// - No cursor and no chain ever: nothing is in flight, so the replay starts a fresh chain at
///   `from − 1`.
pub fn plan_replay(from: Seq, to: Seq, cursor: Option<&Cursor>, chained: bool) -> ReplayPlan {
    let wanted = Seq(from.0.saturating_sub(1));
    if cursor.is_none() && !chained && wanted > Seq(0) {
        return ReplayPlan {
            start: wanted,
            upto: to,
            epoch: 1,
            rewind: Some(None),
        };
    }
    let start = Cursor::start();
    let c = cursor.unwrap_or(&start);
    if wanted < c.seq {
        ReplayPlan {
            start: wanted,
            upto: to.max(c.seq),
            epoch: c.epoch + 1,
            rewind: Some(Some((c.seq, c.epoch))),
        }
    } else {
        ReplayPlan {
            start: c.seq,
            upto: to,
            epoch: c.epoch,
            rewind: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
    }

    fn secs(n: i64) -> chrono::Duration {
        chrono::Duration::seconds(n)
    }

    fn at(seq: u64) -> Cursor {
        Cursor {
            seq: Seq(seq),
            updated_at: Some(t0()),
            ..Cursor::start()
        }
    }

    fn chain(after: u64, upto: u64) -> Chain {
        Chain::new(Seq(after), Seq(upto), 0)
    }

    const STALL: chrono::Duration = chrono::Duration::hours(6);

    fn limits() -> WaitLimits {
        WaitLimits::default()
    }

    #[test]
    fn a_claim_needs_the_cursor_in_the_span_unleased_at_the_epoch() {
        let span = chain(100, 200).span();
        let now = t0();
        assert!(may_claim(&span, Some(&at(100)), now));
        assert!(
            may_claim(&span, Some(&at(150)), now),
            "overlap: runs the rest"
        );
        assert!(!may_claim(&span, Some(&at(200)), now), "done");
        assert!(!may_claim(&span, Some(&at(99)), now), "ahead");
        assert!(!may_claim(&span, None, now), "absent reads as 0");
        assert!(may_claim(&chain(0, 100).span(), None, now));
        let mut leased = at(100);
        leased.lease = Some(CursorLease {
            holder: "h".into(),
            until: now + secs(1),
        });
        assert!(!may_claim(&span, Some(&leased), now));
        assert!(
            may_claim(&span, Some(&leased), now + secs(1)),
            "an expired lease is free"
        );
        let replay = Chain::new(Seq(100), Seq(200), 3).span();
        let mut c = at(100);
        c.epoch = 2;
        assert!(!may_claim(&replay, Some(&c), now), "rewind not landed");
        c.epoch = 4;
        assert!(may_claim(&replay, Some(&c), now), "a later epoch is fine");
    }

    #[test]
    fn refused_jobs_are_done_wait_or_jump() {
        let now = t0() + secs(5);
        let job = chain(100, 200);
        assert_eq!(turn(&job, Some(&at(200)), now, &limits()), Turn::Done);
        assert_eq!(turn(&job, Some(&at(350)), now, &limits()), Turn::Done);
        assert_eq!(
            turn(&job, Some(&at(50)), now, &limits()),
            Turn::Wait {
                why: WaitReason::Behind,
                delay: Duration::from_secs(1)
            }
        );
        let mut busy = at(120);
        busy.lease = Some(CursorLease {
            holder: "other".into(),
            until: now + secs(100),
        });
        assert!(matches!(
            turn(&job, Some(&busy), now, &limits()),
            Turn::Wait {
                why: WaitReason::Busy,
                ..
            }
        ));
        // Behind for longer than the stall limit, with no sign of life: jump.
        let mut long = job.waited(t0());
        long.waits = 40;
        let later = t0() + STALL + secs(1);
        assert_eq!(
            turn(&long, Some(&at(50)), later, &limits()),
            Turn::Jump { from: Seq(50) }
        );
        assert_eq!(
            turn(&long, None, later, &limits()),
            Turn::Jump { from: Seq(0) }
        );
        // A retrying predecessor due later is a sign of life.
        let mut retrying = at(50);
        retrying.resume_at = Some(later);
        assert!(matches!(
            turn(&long, Some(&retrying), later, &limits()),
            Turn::Wait {
                why: WaitReason::Behind,
                ..
            }
        ));
    }

    #[test]
    fn waits_back_off_and_sleep_until_a_retrying_predecessor_is_due() {
        let now = t0();
        let mut job = chain(100, 200);
        let delay = |job: &Chain, c: &Cursor| match turn(job, Some(c), now, &limits()) {
            Turn::Wait { delay, .. } => delay,
            other => panic!("{other:?}"),
        };
        let behind = at(50);
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.push(delay(&job, &behind).as_secs());
            job = job.waited(now);
        }
        assert_eq!(seen, [1, 1, 1, 1, 1, 2, 4, 8]);
        for _ in 0..5 {
            job = job.waited(now);
        }
        assert_eq!(delay(&job, &behind).as_secs(), 60, "capped");
        let mut retrying = at(50);
        retrying.resume_at = Some(now + secs(300));
        assert_eq!(delay(&job, &retrying), Duration::from_secs(300));
        retrying.resume_at = Some(now + secs(5000));
        assert_eq!(delay(&job, &retrying), MAX_WAIT, "SQS's limit");
        let mut busy = at(150);
        busy.lease = Some(CursorLease {
            holder: "x".into(),
            until: now + secs(100),
        });
        assert_eq!(delay(&job, &busy), limits().busy);
    }

    #[test]
    fn replay_jobs_wait_for_their_rewind_then_give_up() {
        let job = Chain::new(Seq(49), Seq(200), 1).waited(t0());
        assert!(matches!(
            turn(&job, Some(&at(200)), t0(), &limits()),
            Turn::Wait {
                why: WaitReason::Rewind,
                ..
            }
        ));
        assert_eq!(
            turn(&job, Some(&at(200)), t0() + REWIND_GRACE, &limits()),
            Turn::Abandon
        );
    }

    #[test]
    fn progress_stops_before_a_retry() {
        let job = chain(100, 200);
        assert_eq!(progress(&job, None), Seq(200));
        assert_eq!(progress(&job, Some(Seq(150))), Seq(149));
        assert_eq!(progress(&job, Some(Seq(101))), Seq(100));
    }

    #[test]
    fn runs_chain_from_after_to_upto() {
        let seqs: Vec<Seq> = (101..=350).map(Seq).collect();
        let runs = chain_runs(Seq(100), &seqs, Seq(360), 0, 100);
        let spans: Vec<(Range<usize>, u64, u64)> = runs
            .into_iter()
            .map(|(r, c)| (r, c.after.0, c.upto.0))
            .collect();
        assert_eq!(
            spans,
            [
                (0..100, 100, 200),
                (100..200, 200, 300),
                (200..250, 300, 360)
            ]
        );
        assert!(chain_runs(Seq(7), &[], Seq(9), 0, 100).is_empty());
        // Filtered refs: the chain covers the gaps between them.
        let sparse = [Seq(3), Seq(9)];
        let runs = chain_runs(Seq(0), &sparse, Seq(9), 0, 1);
        assert_eq!(runs[0].1.span(), chain(0, 3).span());
        assert_eq!(runs[1].1.span(), chain(3, 9).span());
        // Refs below `after` (a plan replayed after a partial commit): never a backward span.
        let runs = chain_runs(Seq(150), &[Seq(101), Seq(120)], Seq(120), 0, 100);
        assert_eq!(runs[0].1.span(), chain(150, 150).span());
    }

    #[test]
    fn replays_rewind_behind_the_cursor_and_extend_back_to_it_ahead() {
        let mut c = at(200);
        c.epoch = 2;
        // Behind: rewind to from − 1, run to the old cursor.
        assert_eq!(
            plan_replay(Seq(50), Seq(150), Some(&c), true),
            ReplayPlan {
                start: Seq(49),
                upto: Seq(200),
                epoch: 3,
                rewind: Some(Some((Seq(200), 2)))
            }
        );
        assert_eq!(
            plan_replay(Seq(50), Seq(250), Some(&c), true).upto,
            Seq(250)
        );
        // Ahead: start at the cursor, no rewind.
        assert_eq!(
            plan_replay(Seq(260), Seq(300), Some(&c), true),
            ReplayPlan {
                start: Seq(200),
                upto: Seq(300),
                epoch: 2,
                rewind: None
            }
        );
        // No cursor, but live jobs chained: they are pending, so start at 0.
        assert_eq!(plan_replay(Seq(50), Seq(60), None, true).start, Seq(0));
        // Nothing ever chained: a fresh chain at from − 1.
        assert_eq!(
            plan_replay(Seq(50), Seq(60), None, false),
            ReplayPlan {
                start: Seq(49),
                upto: Seq(60),
                epoch: 1,
                rewind: Some(None)
            }
        );
        assert_eq!(plan_replay(Seq(1), Seq(60), None, false).rewind, None);
    }
}
