//! deliver: the SQS event-source handler that signs (Standard Webhooks) and POSTs webhook
//! jobs to tenant endpoints, retries on a delayed schedule, and dead-letters what cannot be
//! delivered — never drops it.
//!
//! # Layout
//! - [`config`]: `DeliverConfig`, read once from the environment.
//! - [`iam`]: [`AWS_ACTIONS`], the IAM actions its ports call, per resource.
//! - [`outcome`]: what a status code or failure means (pure).
//! - [`request`]: events → signed POSTs, one per event or batched (pure).
//! - [`http`]: the [`http::WebhookSender`] port and its SSRF-safe reqwest adapter.
//! - [`handler`]: [`handle`], the batch contract, retries, dead letters and endpoint health.
//! - `batch`: a batch's jobs grouped by endpoint × task, run in chain order, settled per message.
//! - `ordered`: one job in its turn on the endpoint × task cursor (claim, deliver, advance).
//! - [`error`]: the crate's error type, [`DeliverError`].

mod batch;
pub mod config;
pub mod error;
pub mod handler;
pub mod http;
pub mod iam;
mod ordered;
pub mod outcome;
pub mod request;

pub use config::DeliverConfig;
pub use error::DeliverError;
pub use handler::{Deliver, Policy, handle};
pub use iam::AWS_ACTIONS;
