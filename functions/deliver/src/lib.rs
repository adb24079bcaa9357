//! deliver: the SQS event-source handler that signs (Standard Webhooks) and POSTs webhook
//! jobs to tenant endpoints, retries on a delayed schedule, and dead-letters what cannot be
//! delivered — never drops it.
//!
//! # Layout
//! - [`config`]: `DeliverConfig`, read once from the environment.
//! - [`policy`]: [`Policy`], the retry, health, commit-wait, paging and deadline settings.
//! - [`iam`]: [`AWS_ACTIONS`], the IAM actions its ports call, per resource.
//! - [`outcome`]: what a status code or failure means (pure).
//! - [`request`]: events → signed POSTs, one per event or batched (pure).
//! - [`record`]: a POST's summary and attempt-log record (pure).
//! - [`http`]: the [`http::WebhookSender`] port and its SSRF-safe reqwest adapter.
//! - [`deadline`]: when to stop starting POSTs before the invocation's deadline (pure).
//! - [`commit_wait`]: the backoff while a job's events are not committed yet (pure).
//! - [`paging`]: how a job's events are cut into bounded pages and read (pure).
//! - [`load`]: reading one page from the store; late commits versus stale refs.
//! - `circuit`: the endpoint's circuit breaker, asked before each request and told what it
//!   said (pauses, probes, the failure run).
//! - [`health`]: disabling an endpoint (3 days failing, 410 Gone).
//! - `followup`: what a job leaves behind: retries, deferrals, hand-backs, dead letters.
//! - [`metrics`]: the metrics it emits (EMF on Lambda).
//! - [`handler`]: [`handle`] / [`handle_until`], the batch contract, one job's pages, retries
//!   and dead letters.
//! - `batch`: a batch's jobs grouped by endpoint × task, run in chain order until the deadline,
//!   settled per message.
//! - `ordered`: one job in its turn on the endpoint × task cursor (claim, deliver, advance).
//! - [`throttle`]: per-endpoint `rate_limit` and `max_in_flight`, leased from a shared item.
//! - [`error`]: the crate's error type, [`DeliverError`].

mod batch;
mod circuit;
pub mod commit_wait;
pub mod config;
pub mod deadline;
pub mod error;
mod followup;
pub mod handler;
pub mod health;
pub mod http;
pub mod iam;
pub mod load;
pub mod metrics;
mod ordered;
pub mod outcome;
pub mod paging;
pub mod policy;
pub mod record;
pub mod request;
pub mod throttle;

pub use config::DeliverConfig;
pub use error::DeliverError;
pub use handler::{Deliver, handle, handle_until};
pub use iam::AWS_ACTIONS;
pub use policy::Policy;
pub use throttle::Throttle;
