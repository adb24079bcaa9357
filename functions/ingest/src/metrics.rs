//! ingest's metrics (see `burstline::metrics` for where they go and the dimension policy).
//!
//! | name | unit | dimensions | what |
//! |---|---|---|---|
//! | `EventsAccepted` | Count | `function`; `function`, `tenant_id` | events durably written to the stream (also the accepted part of a 503) |
//! | `RequestsRejected` | Count | `function`, `reason` | requests answered with an error; `reason` is the SPEC error code (`invalid_event`, `unauthorized`, `stream_unavailable`, …) |

use burstline::ids::TenantId;
use burstline::metrics::{FUNCTION, TENANT};
use metrics::{Unit, counter, describe_counter};

const NAME: &str = "ingest";
/// Events durably written to the stream.
pub const EVENTS_ACCEPTED: &str = "EventsAccepted";
/// Requests refused, by error code.
pub const REQUESTS_REJECTED: &str = "RequestsRejected";
/// Every metric this function emits.
pub const NAMES: &[&str] = &[EVENTS_ACCEPTED, REQUESTS_REJECTED];

/// Gives the installed recorder every metric's unit; call once after installing it.
pub fn describe() {
    describe_counter!(EVENTS_ACCEPTED, Unit::Count, "events written to the stream");
    describe_counter!(
        REQUESTS_REJECTED,
        Unit::Count,
        "requests refused, by error code"
    );
}

/// `n` events of `tenant` are durably in the stream.
pub fn accepted(tenant: &TenantId, n: usize) {
    let n = n as u64;
    counter!(EVENTS_ACCEPTED, FUNCTION => NAME).increment(n);
    counter!(EVENTS_ACCEPTED, FUNCTION => NAME, TENANT => tenant.to_string()).increment(n);
}

/// A request was answered with the error `code`.
pub fn rejected(code: &'static str) {
    counter!(REQUESTS_REJECTED, FUNCTION => NAME, "reason" => code).increment(1);
}
