//! [`Policy`]: deliver's retry, health, commit-wait, paging, ordering and deadline settings.

use crate::deadline::SETTLE_TIME;
use crate::paging::PageBounds;
use burstline::breaker::BreakerPolicy;
use burstline::delivery_order::WaitLimits;
use std::time::Duration;

/// Retry and health policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Delays after the first attempt; exhausted → DLQ.
    pub schedule: Vec<Duration>,
    /// An endpoint failing continuously this long is disabled.
    pub disable_after: chrono::Duration,
    /// First pause before looking again for events not yet committed; each further look waits
    /// twice as long, up to SQS's 15-minute delay (see [`crate::commit_wait`]).
    pub commit_wait: Duration,
    /// How long, in all, a job waits for its events' commit before it is dead-lettered.
    pub commit_patience: Duration,
    /// Jobs attempted concurrently per invocation.
    pub concurrency: usize,
    /// How many events a job holds in memory at a time (see [`crate::paging`]).
    pub pages: PageBounds,
    /// How long a run's claim on an endpoint × task cursor lasts if the run dies: longer than
    /// an invocation can last (deliver's timeout is 120 s).
    pub lease: Duration,
    /// How long jobs wait for their turn in the endpoint × task order.
    pub order: WaitLimits,
    /// No POST starts once less than this is left before the invocation's deadline: one
    /// request timeout plus [`SETTLE_TIME`] (see [`crate::deadline`]).
    pub deadline_margin: Duration,
    /// When an endpoint's circuit breaker pauses it, and for how long.
    pub breaker: BreakerPolicy,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            schedule: burstline::schedule::default_schedule(),
            disable_after: chrono::Duration::days(3),
            commit_wait: Duration::from_secs(5),
            commit_patience: Duration::from_secs(3600),
            concurrency: 32,
            pages: PageBounds::default(),
            lease: Duration::from_secs(180),
            order: WaitLimits::default(),
            // The default webhook timeout (`WEBHOOK_TIMEOUT_SECONDS`, 10 s).
            deadline_margin: Duration::from_secs(10) + SETTLE_TIME,
            breaker: BreakerPolicy::default(),
        }
    }
}
