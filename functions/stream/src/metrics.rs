//! stream's metrics (see `burstline::metrics` for where they go and the dimension policy).
//!
//! | name | unit | dimensions | what |
//! |---|---|---|---|
//! | `StreamsOpened` | Count | `function`; `function`, `tenant_id` | streams that got a slot and started |
//! | `StreamsThrottled` | Count | `function`, `client` | connects over the tenant's budget: `key` (answered 429) or `token` (`event: throttled`) |
//! | `StreamsEnded` | Count | `function`, `reason` | `terminal` (task finished), `segment` (`STREAM_SEGMENT_SECONDS`), `idle` (`STREAM_IDLE_SECONDS` without an event), `client_gone`, `failed` (reads or the lease failed; the client resumes) |
//! | `StreamDuration` | Seconds | `function` | how long each ended stream was open |
//! | `RequestsRejected` | Count | `function`, `reason` | requests answered with a JSON error, by code (`unauthorized`, `not_found`, `too_many_streams`, …) |
//!
//! A stream ends after its invocation's handler returned, so [`ended`] flushes the EMF
//! documents itself.

use crate::session::Ending;
use burstline::ids::TenantId;
use burstline::metrics::{FUNCTION, TENANT, observe};
use metrics::{Unit, counter, describe_counter, describe_histogram, histogram};
use std::time::Duration;

const NAME: &str = "stream";
/// Streams started.
pub const STREAMS_OPENED: &str = "StreamsOpened";
/// Connects over budget.
pub const STREAMS_THROTTLED: &str = "StreamsThrottled";
/// Streams ended, by reason.
pub const STREAMS_ENDED: &str = "StreamsEnded";
/// How long streams were open.
pub const STREAM_DURATION: &str = "StreamDuration";
/// Requests refused, by error code.
pub const REQUESTS_REJECTED: &str = "RequestsRejected";
/// Every metric this function emits.
pub const NAMES: &[&str] = &[
    STREAMS_OPENED,
    STREAMS_THROTTLED,
    STREAMS_ENDED,
    STREAM_DURATION,
    REQUESTS_REJECTED,
];

/// Gives the installed recorder every metric's unit; call once after installing it.
pub fn describe() {
    describe_counter!(STREAMS_OPENED, Unit::Count, "streams started");
    describe_counter!(STREAMS_THROTTLED, Unit::Count, "connects over budget");
    describe_counter!(STREAMS_ENDED, Unit::Count, "streams ended, by reason");
    describe_histogram!(STREAM_DURATION, Unit::Seconds, "how long streams were open");
    describe_counter!(
        REQUESTS_REJECTED,
        Unit::Count,
        "requests refused, by error code"
    );
}

/// A stream of `tenant` got a slot.
pub fn opened(tenant: &TenantId) {
    counter!(STREAMS_OPENED, FUNCTION => NAME).increment(1);
    counter!(STREAMS_OPENED, FUNCTION => NAME, TENANT => tenant.to_string()).increment(1);
}

/// A connect found the budget full; `client` is `key` or `token`.
pub fn throttled(client: &'static str) {
    counter!(STREAMS_THROTTLED, FUNCTION => NAME, "client" => client).increment(1);
}

/// A request was answered with the error `code`.
pub fn rejected(code: &'static str) {
    counter!(REQUESTS_REJECTED, FUNCTION => NAME, "reason" => code).increment(1);
}

/// A stream ended after `open`; flushes, as no invocation end follows.
pub fn ended(ending: &Ending, open: Duration) {
    let reason = match ending {
        Ending::Terminal => "terminal",
        Ending::Segment => "segment",
        Ending::Idle => "idle",
        Ending::ClientGone => "client_gone",
        Ending::Failed(_) => "failed",
    };
    counter!(STREAMS_ENDED, FUNCTION => NAME, "reason" => reason).increment(1);
    observe(
        histogram!(STREAM_DURATION, FUNCTION => NAME),
        open.as_secs_f64(),
    );
    burstline::metrics::flush();
}
