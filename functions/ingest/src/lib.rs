//! ingest: `POST /v1/events` (SPEC §3). Authenticates the key, validates the whole request,
//! and writes the events to Kinesis; 202 means every event is durably in the stream.
//!
//! # Layout
//! - [`config`]: `IngestConfig`, read once from the environment.
//! - [`iam`]: [`AWS_ACTIONS`], the IAM actions its ports call, per resource.
//! - [`publish`]: writing records with retries of partial failures.
//! - [`metrics`]: the metrics it emits (EMF on Lambda).
//! - [`handler`]: [`handle`], routing (through [`ROUTES`]), auth and the responses.
//! - [`error`]: the crate's error type, [`IngestError`].

pub mod config;
pub mod error;
pub mod handler;
pub mod iam;
pub mod metrics;
pub mod publish;

pub use config::IngestConfig;
pub use error::IngestError;
pub use handler::{Ingest, ROUTES, handle};
pub use iam::AWS_ACTIONS;
