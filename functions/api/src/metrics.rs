//! api's metrics (see `burstline::metrics` for where they go and the dimension policy).
//!
//! | name | unit | dimensions | what |
//! |---|---|---|---|
//! | `RequestsRejected` | Count | `function`, `reason` | requests answered with an error; `reason` is the error code (`unauthorized`, `not_found`, `invalid_request`, …) |
//! | `EndpointsDisabled` | Count | `function`, `reason` | endpoints a tenant paused (`reason` `manual`: `PATCH {"enabled":false}`) |
//! | `EndpointsEnabled` | Count | `function` | disabled endpoints enabled again (`PATCH {"enabled":true}`, `/enable`) |

use burstline::endpoint::Endpoint;
use burstline::metrics::FUNCTION;
use metrics::{Unit, counter, describe_counter};

const NAME: &str = "api";
/// Requests refused, by error code.
pub const REQUESTS_REJECTED: &str = "RequestsRejected";
/// Endpoints paused by their tenant.
pub const ENDPOINTS_DISABLED: &str = "EndpointsDisabled";
/// Endpoints enabled again.
pub const ENDPOINTS_ENABLED: &str = "EndpointsEnabled";
/// Every metric this function emits.
pub const NAMES: &[&str] = &[REQUESTS_REJECTED, ENDPOINTS_DISABLED, ENDPOINTS_ENABLED];

/// Gives the installed recorder every metric's unit; call once after installing it.
pub fn describe() {
    describe_counter!(
        REQUESTS_REJECTED,
        Unit::Count,
        "requests refused, by error code"
    );
    describe_counter!(
        ENDPOINTS_DISABLED,
        Unit::Count,
        "endpoints paused by tenants"
    );
    describe_counter!(ENDPOINTS_ENABLED, Unit::Count, "endpoints enabled again");
}

/// A request was answered with the error `code`.
pub fn rejected(code: &'static str) {
    counter!(REQUESTS_REJECTED, FUNCTION => NAME, "reason" => code).increment(1);
}

/// An endpoint update landed; counts a change between enabled and disabled.
pub fn endpoint_updated(was_enabled: bool, now: &Endpoint) {
    match (was_enabled, now.is_enabled()) {
        (true, false) => {
            counter!(ENDPOINTS_DISABLED, FUNCTION => NAME, "reason" => "manual").increment(1);
        }
        (false, true) => counter!(ENDPOINTS_ENABLED, FUNCTION => NAME).increment(1),
        _ => {}
    }
}
