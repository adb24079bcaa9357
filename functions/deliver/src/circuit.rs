//! The endpoint's circuit breaker, acted on: asking it before each request and telling it what
//! the request said. The decisions are [`burstline::breaker`]'s; this module writes them with
//! the endpoint (one conditional write, re-read and re-applied when another writer won), and
//! carries the health rule's failure run (`failing_since`) in the same write, so the 3-day
//! disable rule keeps working beside the breaker.
//!
//! Costs: nothing for a healthy endpoint (no write while the breaker is clear and
//! `failing_since` unset); one write per failed attempt; one write to take a probe.

use crate::handler::Deliver;
use crate::health::disable;
use crate::outcome::Verdict;
use burstline::breaker::{Admit, PROBE_WAIT, Signal, admit as breaker_admit, after, with_probe};
use burstline::cursor::new_holder;
use burstline::endpoint::{DisabledReason, Endpoint};
use chrono::{DateTime, Utc};
use tracing::{info, warn};

/// Conditional writes tried before giving up on recording a signal (the next attempt will).
const WRITE_TRIES: usize = 3;

/// Whether a request may go now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pass {
    /// Send.
    Go,
    /// Send one request: the probe that decides whether the paused endpoint resumes. If it
    /// fails, the job is deferred to the next probe without spending an attempt: the probe
    /// tests the endpoint, not the job.
    Probe,
    /// The endpoint is paused (or another run is probing it): defer the job to then.
    Defer(DateTime<Utc>),
}

/// What an attempt's verdict says about the endpoint; `None` for 410 Gone (the endpoint is
/// disabled instead). Any retried answer carrying `Retry-After` (a `429`, a `503`) pauses the
/// whole endpoint; a 4xx that is not retried shows it alive.
pub(crate) fn signal_of(verdict: &Verdict) -> Option<Signal> {
    match verdict {
        Verdict::Delivered | Verdict::Reject => Some(Signal::Alive),
        Verdict::Retry {
            retry_after: Some(d),
        } => Some(Signal::SlowDown(*d)),
        Verdict::Retry { retry_after: None } => Some(Signal::Failed),
        Verdict::Gone => None,
    }
}

/// Asks the breaker whether a request may go at `now`. When a probe is due, takes the probe
/// lease with a conditional write: the winner sends, a loser defers for a moment.
pub(crate) async fn admit(deps: &Deliver, endpoint: &mut Endpoint, now: DateTime<Utc>) -> Pass {
    match breaker_admit(&endpoint.breaker, now) {
        Admit::Go => Pass::Go,
        Admit::Defer(until) => Pass::Defer(until),
        Admit::Probe => {
            let mut next = endpoint.clone();
            next.breaker = with_probe(&endpoint.breaker, &new_holder(), now, &deps.policy.breaker);
            if write(deps, &mut next, now).await {
                info!(endpoint_id = %endpoint.id, "probing a paused endpoint");
                *endpoint = next;
                Pass::Probe
            } else {
                Pass::Defer(now + chrono::Duration::from_std(PROBE_WAIT).unwrap_or_default())
            }
        }
    }
}

/// Records what an attempt started at `now` said (`delivered`: it was a 2xx). Returns the end
/// of the pause this attempt began, if it paused the endpoint. Disables the endpoint once it has
/// failed continuously for `Policy::disable_after`.
pub(crate) async fn report(
    deps: &Deliver,
    endpoint: &mut Endpoint,
    signal: Signal,
    delivered: bool,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let failed = matches!(signal, Signal::Failed | Signal::SlowDown(_));
    let mut paused = None;
    for _ in 0..WRITE_TRIES {
        let breaker = after(&endpoint.breaker, signal, now, &deps.policy.breaker);
        let failing_since = match (failed, delivered) {
            (true, _) => endpoint.failing_since.or(Some(now)),
            (false, true) => None,
            (false, false) => endpoint.failing_since,
        };
        if breaker.is_none() && failing_since == endpoint.failing_since {
            break;
        }
        let mut next = endpoint.clone();
        next.failing_since = failing_since;
        if let Some(b) = breaker {
            next.breaker = b;
        }
        if write(deps, &mut next, now).await {
            if endpoint.failing_since.is_none() && next.failing_since.is_some() {
                crate::metrics::endpoint_failing();
            }
            if next.breaker.paused_until != endpoint.breaker.paused_until {
                paused = next.breaker.paused_until;
                warn!(endpoint_id = %next.id, until = ?paused, reason = ?next.breaker.reason, "endpoint paused");
                if paused.is_some() {
                    crate::metrics::endpoint_paused(next.breaker.reason);
                }
            }
            *endpoint = next;
            break;
        }
        // Another writer won: apply the signal to what it wrote.
        match deps
            .endpoints
            .endpoint(&endpoint.tenant_id, &endpoint.id)
            .await
        {
            Ok(Some(fresh)) if fresh.is_enabled() => *endpoint = fresh,
            _ => return None,
        }
    }
    if failed
        && endpoint
            .failing_since
            .is_some_and(|since| now - since >= deps.policy.disable_after)
    {
        disable(deps, endpoint.clone(), DisabledReason::Failing, now).await;
    }
    paused
}

/// A conditional write of `next` (version bumped); false when another writer won.
async fn write(deps: &Deliver, next: &mut Endpoint, now: DateTime<Utc>) -> bool {
    next.version += 1;
    next.updated_at = now;
    match deps.endpoints.update_endpoint(next).await {
        Ok(written) => written,
        Err(e) => {
            warn!(error = %e, endpoint_id = %next.id, "endpoint update failed");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn verdicts_become_breaker_signals() {
        assert_eq!(signal_of(&Verdict::Delivered), Some(Signal::Alive));
        assert_eq!(signal_of(&Verdict::Reject), Some(Signal::Alive));
        assert_eq!(
            signal_of(&Verdict::Retry { retry_after: None }),
            Some(Signal::Failed)
        );
        assert_eq!(
            signal_of(&Verdict::Retry {
                retry_after: Some(Duration::from_secs(30))
            }),
            Some(Signal::SlowDown(Duration::from_secs(30)))
        );
        assert_eq!(signal_of(&Verdict::Gone), None);
    }
}
