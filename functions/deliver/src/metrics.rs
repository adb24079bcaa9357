//! deliver's metrics (see `burstline::metrics` for where they go and the dimension policy).
//!
//! | name | unit | dimensions | what |
//! |---|---|---|---|
//! | `WebhookAttempts` | Count | `function`, `outcome`; `function`, `tenant_id`, `outcome` | POSTs made; `outcome` is the attempt log's status: `delivered` (2xx), `retrying`, `failed` (dead-lettered) |
//! | `DeliveryLatency` | Milliseconds | `function` | one POST, request to response (or failure), as the attempt log records it |
//! | `DeadLetters` | Count | `function`; `function`, `tenant_id` | jobs written to the dead-letter queue |
//! | `EndpointsDisabled` | Count | `function`, `reason` | endpoints deliver disabled: `gone` (410) or `failing` (failing for `DISABLE_AFTER_HOURS`) |
//! | `EndpointsFailing` | Count | `function` | endpoints that started a failure run (their first failed attempt after a success) |
//! | `EndpointsPaused` | Count | `function`, `reason` | pauses the circuit breaker began: `failing` (a run of failed attempts) or `retry_after` (a `Retry-After` answer) |

use burstline::attempts::{AttemptRecord, AttemptStatus};
use burstline::breaker::PauseReason;
use burstline::endpoint::DisabledReason;
use burstline::job::DeadLetter;
use burstline::metrics::{FUNCTION, TENANT, observe};
use metrics::{Unit, counter, describe_counter, describe_histogram, histogram};

const NAME: &str = "deliver";
/// POSTs by outcome.
pub const WEBHOOK_ATTEMPTS: &str = "WebhookAttempts";
/// Duration of one POST.
pub const DELIVERY_LATENCY: &str = "DeliveryLatency";
/// Jobs dead-lettered.
pub const DEAD_LETTERS: &str = "DeadLetters";
/// Endpoints disabled by deliver.
pub const ENDPOINTS_DISABLED: &str = "EndpointsDisabled";
/// Endpoints entering a failure run.
pub const ENDPOINTS_FAILING: &str = "EndpointsFailing";
/// Pauses begun by the circuit breaker.
pub const ENDPOINTS_PAUSED: &str = "EndpointsPaused";
/// Every metric this function emits.
pub const NAMES: &[&str] = &[
    WEBHOOK_ATTEMPTS,
    DELIVERY_LATENCY,
    DEAD_LETTERS,
    ENDPOINTS_DISABLED,
    ENDPOINTS_FAILING,
    ENDPOINTS_PAUSED,
];

/// Gives the installed recorder every metric's unit; call once after installing it.
pub fn describe() {
    describe_counter!(WEBHOOK_ATTEMPTS, Unit::Count, "webhook POSTs by outcome");
    describe_histogram!(DELIVERY_LATENCY, Unit::Milliseconds, "one webhook POST");
    describe_counter!(DEAD_LETTERS, Unit::Count, "jobs dead-lettered");
    describe_counter!(ENDPOINTS_DISABLED, Unit::Count, "endpoints disabled");
    describe_counter!(ENDPOINTS_FAILING, Unit::Count, "endpoints starting to fail");
    describe_counter!(ENDPOINTS_PAUSED, Unit::Count, "endpoint pauses begun");
}

/// The attempts one message's jobs made.
pub fn attempts(records: &[AttemptRecord]) {
    for r in records {
        let outcome = match r.status {
            AttemptStatus::Delivered => "delivered",
            AttemptStatus::Retrying => "retrying",
            AttemptStatus::Failed => "failed",
        };
        counter!(WEBHOOK_ATTEMPTS, FUNCTION => NAME, "outcome" => outcome).increment(1);
        counter!(WEBHOOK_ATTEMPTS, FUNCTION => NAME, TENANT => r.tenant_id.to_string(), "outcome" => outcome)
            .increment(1);
        observe(
            histogram!(DELIVERY_LATENCY, FUNCTION => NAME),
            r.latency_ms as f64,
        );
    }
}

/// Dead letters durably written to the DLQ.
pub fn dead_letters(dead: &[DeadLetter]) {
    counter!(DEAD_LETTERS, FUNCTION => NAME).increment(dead.len() as u64);
    for d in dead {
        counter!(DEAD_LETTERS, FUNCTION => NAME, TENANT => d.job.tenant_id.to_string())
            .increment(1);
    }
}

/// deliver disabled an endpoint.
pub fn endpoint_disabled(reason: DisabledReason) {
    let reason = match reason {
        DisabledReason::Manual => "manual",
        DisabledReason::Gone => "gone",
        DisabledReason::Failing => "failing",
    };
    counter!(ENDPOINTS_DISABLED, FUNCTION => NAME, "reason" => reason).increment(1);
}

/// The circuit breaker paused an endpoint.
pub fn endpoint_paused(reason: Option<PauseReason>) {
    let reason = match reason {
        Some(PauseReason::RetryAfter) => "retry_after",
        Some(PauseReason::Failing) | None => "failing",
    };
    counter!(ENDPOINTS_PAUSED, FUNCTION => NAME, "reason" => reason).increment(1);
}

/// An endpoint started a failure run.
pub fn endpoint_failing() {
    counter!(ENDPOINTS_FAILING, FUNCTION => NAME).increment(1);
}
