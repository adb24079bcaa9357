//! deliver: the SQS event-source handler that signs and POSTs webhooks (Standard Webhooks), retries on a delayed schedule and dead-letters what cannot be delivered.
//!
//! Not built yet: this crate reserves the function's place in the workspace and the
//! deployment; its behaviour arrives with its own issue.
