//! stream: `GET /v1/tasks/{task_id}/events` as Server-Sent Events (SPEC §6) from a
//! response-streaming Function URL. Replays a task's stored events after the resume point,
//! then tails new ones by polling adaptively; never skips a seq; ends after the terminal event
//! or at a bounded lifetime; holds one of the tenant's stream slots while open.
//!
//! # Layout
//! - [`config`]: `StreamConfig`, read once from the environment.
//! - [`iam`]: [`AWS_ACTIONS`], the IAM actions its ports call, per resource.
//! - Pure decisions: [`frame`] (the bytes of each SSE frame), [`resume`] (where to start),
//!   [`client`] (who "the same client" is, for its stream slot),
//!   [`order`] (what a page lets us send, and when missing seqs are gone), [`poll`] (adaptive
//!   poll interval, and the backoff after a failed read).
//! - [`task_wait`]: waiting, bounded, for a task's first commit before answering 404.
//! - [`handler`]: [`handle`]: routing, auth (API key or stream token), 204/404/429, and the
//!   response.
//! - [`session`]: the open stream: replay, tail, heartbeats, lease renewal, lifetime.
//! - [`body`]: the streaming response body, [`SseBody`].
//! - [`error`]: the crate error, [`StreamError`].

pub mod body;
pub mod client;
pub mod config;
pub mod error;
pub mod frame;
pub mod handler;
pub mod iam;
pub mod order;
pub mod poll;
pub mod resume;
pub mod session;
pub mod task_wait;

pub use body::SseBody;
pub use config::{StreamConfig, StreamSettings};
pub use error::StreamError;
pub use handler::{Streamer, handle};
pub use iam::AWS_ACTIONS;
