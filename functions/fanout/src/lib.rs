//! fanout: the Kinesis event-source handler that turns accepted events into the stored,
//! sequenced log and enqueues their webhook jobs.
//!
//! # Layout
//! - [`config`]: `FanoutConfig`, read once from the environment.
//! - [`iam`]: [`AWS_ACTIONS`], the IAM actions its ports call, per resource.
//! - [`decode`]: Kinesis record → [`burstline::sequence::Incoming`], or a poison verdict.
//! - [`directory`]: per-tenant subscriptions with a short cache for warm invocations.
//! - [`metrics`]: the metrics it emits (EMF on Lambda).
//! - [`handler`]: [`handle`], the batch contract, and the decide/act loop.
//! - [`error`]: the crate's error type, [`FanoutError`].

pub mod config;
pub mod decode;
pub mod directory;
pub mod error;
pub mod handler;
pub mod iam;
pub mod metrics;

pub use config::FanoutConfig;
pub use error::FanoutError;
pub use handler::{Fanout, Outcome, handle};
pub use iam::AWS_ACTIONS;
