//! api: the buffered Function URL for webhook endpoints, task status and stream tokens. Every
//! route is tenant-scoped by the API key.
//!
//! # Layout
//! - [`config`]: `ApiConfig`, read once from the environment.
//! - [`iam`]: [`AWS_ACTIONS`], the IAM actions its ports call, per resource.
//! - [`http`]: request parsing and JSON responses shared by the routes.
//! - [`endpoints`]: `/v1/endpoints…` (CRUD, rotate-secret, enable, deliveries).
//! - [`replay`]: `POST /v1/endpoints/{id}/replay`, in order with live deliveries.
//! - [`tasks`]: `/v1/tasks/{id}`, `/result`, `/stream-tokens`; [`task_config`] its settings.
//! - [`metrics`]: the metrics it emits (EMF on Lambda).
//! - [`router`]: [`ROUTES`], the route table, and [`handle`], which routes a request through it.
//! - [`error`]: the crate's error type, [`ApiFnError`].

pub mod config;
pub mod endpoints;
pub mod error;
pub mod http;
pub mod iam;
pub mod metrics;
pub mod replay;
pub mod router;
pub mod task_config;
pub mod tasks;

pub use config::ApiConfig;
pub use error::ApiFnError;
pub use iam::AWS_ACTIONS;
pub use router::{Api, ROUTES, handle};
