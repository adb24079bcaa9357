//! stream: `GET /v1/tasks/{task_id}/events` as Server-Sent Events (SPEC §6) from a
//! response-streaming Function URL. Replays a task's stored events after the resume point,
//! then tails new ones by polling adaptively (at most `MAX_READS_PER_SECOND` reads a second);
//! never skips a seq; ends after the terminal event, or at the end of a bounded segment (its
//! length, or an idle cutoff) with a `retry:` that brings the client straight back; holds one
//! of the tenant's stream slots while open (the same client's reconnect takes it over), and
//! frees it before the response ends.
//!
//! # Layout
//! - [`config`]: `StreamConfig`, read once from the environment.
//! - [`iam`]: [`AWS_ACTIONS`], the IAM actions its ports call, per resource.
//! - Pure decisions: [`frame`] (the bytes of each SSE frame), [`resume`] (where to start),
//!   [`client`] (who "the same client" is, for its stream slot),
//!   [`order`] (what a page lets us send, and when missing seqs are gone), [`poll`] (adaptive
//!   poll interval, the backoff after a failed read, the read cap).
//! - [`task_wait`]: waiting, bounded, for a task's first commit before answering 404.
//! - [`metrics`]: the metrics it emits (EMF on Lambda).
//! - [`handler`]: [`handle`]: routing (through [`ROUTES`]), auth (API key or stream token),
//!   204/404/429, and the response.
//! - [`session`]: the open stream: replay, tail, heartbeats, lease renewal, segments.
//! - [`body`]: the streaming response body, [`SseBody`].
//! - [`error`]: the crate error, [`StreamError`].

pub mod body;
pub mod client;
pub mod config;
pub mod error;
pub mod frame;
pub mod handler;
pub mod iam;
pub mod metrics;
pub mod order;
pub mod poll;
pub mod resume;
pub mod session;
pub mod task_wait;

pub use body::SseBody;
pub use config::{StreamConfig, StreamSettings};
pub use error::StreamError;
pub use handler::{ROUTES, Streamer, handle};
pub use iam::AWS_ACTIONS;
