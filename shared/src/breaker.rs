//! The circuit breaker of one endpoint, as pure decisions: when an endpoint that keeps failing
//! stops receiving requests, and how one probe at a time decides to resume.
//!
//! - A run of [`BreakerPolicy::trip_after`] failed attempts in a row (408, 429, 5xx, timeouts,
//!   connection failures), across jobs, tasks and invocations, **pauses** the endpoint for
//!   [`BreakerPolicy::first_pause`], doubling with each pause in a row up to
//!   [`BreakerPolicy::max_pause`].
//! - A `429` with `Retry-After` pauses it at once until then (at most
//!   [`BreakerPolicy::max_retry_after`]), whatever the run.
//! - While paused, every job of the endpoint is deferred to the pause's end without a request
//!   and without spending an attempt of its own schedule.
//! - Once the pause is over, the first job to take the **probe** lease (a conditional write)
//!   sends one request; the others wait for the probe. A success closes the breaker; a failure
//!   pauses again, longer.
//! - Any answer that shows the endpoint alive (2xx, or a 4xx that is not retried) closes it.
//!
//! The 3-day disable rule (`failing_since`) and `410 Gone` are the health rules beside this one
//! and do not change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Breaker thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Failed attempts in a row that pause the endpoint.
    pub trip_after: u32,
    /// The first pause; each further pause in a row doubles it.
    pub first_pause: Duration,
    /// The longest pause between probes.
    pub max_pause: Duration,
    /// How long a probe holds its lease: a request timeout plus a margin, so a probe whose
    /// invocation died frees the endpoint by itself.
    pub probe_lease: Duration,
    /// The longest pause a `Retry-After` may ask for.
    pub max_retry_after: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            trip_after: 5,
            first_pause: Duration::from_secs(5),
            max_pause: Duration::from_secs(30),
            probe_lease: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

/// Why an endpoint is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// A run of failed attempts.
    Failing,
    /// It answered `429` with `Retry-After`.
    RetryAfter,
}

/// The probe lease: which run may send the one request that decides to resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// The run holding it.
    pub holder: String,
    /// When it lapses if the run never reports.
    pub until: DateTime<Utc>,
}

/// An endpoint's breaker as stored with the endpoint. The default is closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breaker {
    /// Failed attempts in a row.
    #[serde(default)]
    pub failures: u32,
    /// Paused until then (then a probe decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_until: Option<DateTime<Utc>>,
    /// Why, while paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<PauseReason>,
    /// Pauses in a row without a success (the backoff's exponent).
    #[serde(default)]
    pub pauses: u32,
    /// The probe in flight, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
}

/// What one attempt said about the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// It answered: 2xx, or a 4xx that is not retried.
    Alive,
    /// 408, 429 without `Retry-After`, 5xx, a timeout or a connection failure.
    Failed,
    /// `429` with `Retry-After`.
    SlowDown(Duration),
}

/// May a job of the endpoint send now?
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admit {
    /// Closed: send.
    Go,
    /// The pause is over and no probe is in flight: take the probe lease, then send one
    /// request.
    Probe,
    /// Paused (or a probe is in flight): defer the job to this time, spending no attempt.
    Defer(DateTime<Utc>),
}

/// Longest a job waits for another run's probe before it looks again.
pub const PROBE_WAIT: Duration = Duration::from_secs(5);

impl Breaker {
    /// Whether it is closed with nothing to forget.
    pub fn is_clear(&self) -> bool {
        *self == Breaker::default()
    }

    /// Whether requests are held back at `now` (paused, or waiting for a probe).
    pub fn is_paused(&self) -> bool {
        self.paused_until.is_some()
    }
}

/// May a job send at `now`?
pub fn admit(b: &Breaker, now: DateTime<Utc>) -> Admit {
    match b.paused_until {
        None => Admit::Go,
        Some(until) if now < until => Admit::Defer(until),
        Some(_) => match &b.probe {
            Some(p) if p.until > now => Admit::Defer(p.until.min(now + chrono_of(PROBE_WAIT))),
            _ => Admit::Probe,
        },
    }
}

/// The breaker with `holder` holding the probe lease from `now`.
pub fn with_probe(
    b: &Breaker,
    holder: &str,
    now: DateTime<Utc>,
    policy: &BreakerPolicy,
) -> Breaker {
    Breaker {
        probe: Some(Probe {
            holder: holder.to_owned(),
            until: now + chrono_of(policy.probe_lease),
        }),
        ..b.clone()
    }
}

/// The breaker after an attempt that sent `signal` at `now`; `None` when nothing changes (so
/// a healthy endpoint costs no write).
pub fn after(
    b: &Breaker,
    signal: Signal,
    now: DateTime<Utc>,
    policy: &BreakerPolicy,
) -> Option<Breaker> {
    let next = match signal {
        Signal::Alive => Breaker::default(),
        Signal::SlowDown(asked) => {
            let until = now + chrono_of(asked.min(policy.max_retry_after));
            Breaker {
                failures: b.failures.saturating_add(1),
                paused_until: Some(b.paused_until.map_or(until, |p| p.max(until))),
                reason: Some(PauseReason::RetryAfter),
                pauses: b.pauses,
                probe: None,
            }
        }
        Signal::Failed => {
            let failures = b.failures.saturating_add(1);
            match b.paused_until {
                // A request sent before the pause began ends failing: the pause stands.
                Some(until) if now < until => Breaker {
                    failures,
                    ..b.clone()
                },
                // The probe (or a request in the probe's window) failed: pause again, longer.
                Some(_) => pause(b, failures, now, policy),
                None if failures >= policy.trip_after => pause(b, failures, now, policy),
                None => Breaker {
                    failures,
                    ..b.clone()
                },
            }
        }
    };
    (next != *b).then_some(next)
}

fn pause(b: &Breaker, failures: u32, now: DateTime<Utc>, policy: &BreakerPolicy) -> Breaker {
    let pauses = b.pauses.saturating_add(1);
    let length = policy
        .first_pause
        .saturating_mul(1u32 << (pauses - 1).min(16))
        .min(policy.max_pause);
    Breaker {
        failures,
        paused_until: Some(now + chrono_of(length)),
        reason: Some(PauseReason::Failing),
        pauses,
        probe: None,
    }
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn fail(b: &Breaker, t: i64) -> Breaker {
        after(b, Signal::Failed, at(t), &BreakerPolicy::default()).unwrap_or_else(|| b.clone())
    }

    #[test]
    fn a_run_of_failures_pauses_then_one_probe_decides() {
        let policy = BreakerPolicy::default();
        let mut b = Breaker::default();
        for _ in 0..4 {
            b = fail(&b, 0);
            assert_eq!(admit(&b, at(0)), Admit::Go, "under the threshold");
        }
        b = fail(&b, 0);
        assert_eq!(b.paused_until, Some(at(5)));
        assert_eq!(b.reason, Some(PauseReason::Failing));
        assert_eq!(admit(&b, at(3)), Admit::Defer(at(5)));
        // A request that was already in flight fails: the pause stands as it is.
        assert_eq!(fail(&b, 3).paused_until, Some(at(5)));
        // The pause is over: one probe, the others wait for it (at most PROBE_WAIT).
        assert_eq!(admit(&b, at(5)), Admit::Probe);
        let probing = with_probe(&b, "run-1", at(5), &policy);
        assert_eq!(admit(&probing, at(6)), Admit::Defer(at(11)));
        // The probe fails: paused again, twice as long, up to the cap.
        let again = fail(&probing, 7);
        assert_eq!(again.paused_until, Some(at(17)));
        assert_eq!(again.probe, None);
        let mut b = again;
        for t in [17, 37, 67, 97] {
            b = fail(&with_probe(&b, "r", at(t), &policy), t);
        }
        assert_eq!(b.paused_until, Some(at(127)), "capped at 30 s");
        // A probe that lapses (its run died) lets another one go.
        let lapsed = with_probe(&b, "dead", at(127), &policy);
        assert_eq!(admit(&lapsed, at(147)), Admit::Probe);
        // A success closes it and forgets the run.
        let closed = after(&lapsed, Signal::Alive, at(148), &policy).unwrap();
        assert!(closed.is_clear());
        assert_eq!(admit(&closed, at(148)), Admit::Go);
    }

    #[test]
    fn retry_after_pauses_the_whole_endpoint_at_once() {
        let policy = BreakerPolicy::default();
        let b = after(
            &Breaker::default(),
            Signal::SlowDown(Duration::from_secs(30)),
            at(0),
            &policy,
        )
        .unwrap();
        assert_eq!(b.reason, Some(PauseReason::RetryAfter));
        assert_eq!(admit(&b, at(29)), Admit::Defer(at(30)));
        assert_eq!(admit(&b, at(30)), Admit::Probe);
        // A shorter Retry-After never shortens a pause; an absurd one is capped.
        let b2 = after(&b, Signal::SlowDown(Duration::from_secs(5)), at(1), &policy).unwrap();
        assert_eq!(b2.paused_until, Some(at(30)));
        let long = after(
            &Breaker::default(),
            Signal::SlowDown(Duration::from_secs(86_400)),
            at(0),
            &policy,
        )
        .unwrap();
        assert_eq!(long.paused_until, Some(at(3600)));
    }

    #[test]
    fn a_healthy_endpoint_costs_no_write() {
        let policy = BreakerPolicy::default();
        assert_eq!(
            after(&Breaker::default(), Signal::Alive, at(0), &policy),
            None
        );
        let one = fail(&Breaker::default(), 0);
        assert_eq!(one.failures, 1);
        assert_eq!(
            after(&one, Signal::Alive, at(1), &policy),
            Some(Breaker::default()),
            "a success resets the run"
        );
    }
}
