//! fanout: the Kinesis event-source handler that turns accepted events into the stored,
//! sequenced log and enqueues their webhook jobs.
//!
//! # Layout
//! - [`config`]: `FanoutConfig`, read once from the environment.
//! - [`iam`]: [`AWS_ACTIONS`], the IAM actions its ports call, per resource.
//! - [`decode`]: Kinesis record → [`burstline::sequence::Incoming`], or a poison verdict.
//! - [`directory`]: per-tenant subscriptions with a short cache for warm invocations.
//! - [`metrics`]: the metrics it emits (EMF on Lambda).
//! - [`claims`]: who owns an event id, decided per tenant across the batch (pure).
//! - [`rejection`]: records set aside and the `burstline.event.rejected` events filed for them.
//! - [`enqueued`]: the jobs an invocation has enqueued, so a re-plan does not repeat them.
//! - [`handler`]: [`handle`], the batch contract; [`round`]: one plan → file → enqueue →
//!   commit round.
//! - [`error`]: the crate's error type, [`FanoutError`].

pub mod claims;
pub mod config;
pub mod decode;
pub mod directory;
pub mod enqueued;
pub mod error;
pub mod handler;
pub mod iam;
pub mod metrics;
pub mod rejection;
pub mod round;

pub use config::FanoutConfig;
pub use error::FanoutError;
pub use handler::{Fanout, Outcome, handle};
pub use iam::AWS_ACTIONS;
