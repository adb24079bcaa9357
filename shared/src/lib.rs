//! Burstline's core library: the domain model, pure decisions, and the ports every function
//! talks through, each with an AWS adapter and an in-memory adapter side by side.
//!
//! # Layout
//! - Domain: [`ids`], [`event`] (envelope), [`traceparent`] (W3C trace context), [`head`]
//!   (task head), [`tenant`], [`apikey`], [`subscription`], [`job`] (webhook jobs), [`error`].
//! - Pure decisions: [`validate`] (ingest bodies), [`idempotency`] (ids minted under an
//!   `Idempotency-Key`), [`sequence`] (seq assignment and commit packing), [`delivery_order`]
//!   (webhook order per endpoint × task), [`api_error`] (the JSON error body), [`route`]
//!   (route tables and matching), [`receiver_headers`] (an endpoint's static headers and
//!   their rules).
//! - Ports and adapters: [`log`] (Kinesis), [`store`] (DynamoDB events, heads, id markers),
//!   [`tenants`] (tenants, keys, subscriptions), [`queue`] (SQS), [`cursor`] (delivery
//!   cursors), [`seal`] (endpoint secrets sealed at rest: KMS or a local key). Each port is a
//!   narrow async trait in `mod.rs`, with `memory.rs` (or `local.rs`) and the AWS adapter
//!   beside it. SDK types never leave an adapter.
//! - Running: [`mapping`] (Kinesis and SQS event-source emulation), [`provision`] (create
//!   resources), [`aws`] (SDK configuration), [`config`] (environment), [`requests`] (request
//!   counting and billing units), [`meter`] (modeled AWS cost: units, GB-seconds, prices,
//!   bills), [`metrics`] (where the functions' metrics go: EMF on Lambda, totals in dev).
//! - Streams: [`stream_token`] (HS256 stream tokens), [`leases`] (the per-tenant stream
//!   budget, a port), [`clock`] (injected wall time).

pub mod api_error;
pub mod apikey;
pub mod attempts;
mod attrs;
pub mod auth;
pub mod aws;
pub mod breaker;
pub mod clock;
pub mod config;
pub mod cursor;
pub mod delivery_order;
pub mod endpoint;
pub mod endpoint_limits;
pub mod error;
pub mod event;
pub mod head;
pub mod iam;
pub mod idempotency;
pub mod ids;
pub mod job;
pub mod leases;
pub mod log;
pub mod mapping;
pub mod meter;
pub mod metrics;
pub mod model;
pub mod permits;
pub mod provision;
pub mod queue;
pub mod receiver_headers;
pub mod redrive;
pub mod requests;
pub mod route;
pub mod schedule;
pub mod seal;
pub mod sequence;
pub mod signing;
pub mod ssrf;
pub mod store;
pub mod stream_token;
pub mod subscription;
pub mod tenant;
pub mod tenants;
pub mod traceparent;
pub mod validate;

pub use error::{Error, Result};
