//! api: the buffered Function URL for webhook endpoints (and, with the streaming issue, task
//! status and stream tokens). Every route is tenant-scoped by the API key.
//!
//! # Layout
//! - [`config`]: `ApiConfig`, read once from the environment.
//! - [`http`]: request parsing and JSON responses shared by the routes.
//! - [`endpoints`]: `/v1/endpoints…` (CRUD, rotate-secret, enable, deliveries, replay).
//! - [`router`]: [`handle`], which routes a request.
//! - [`error`]: the crate's error type, [`ApiFnError`].

pub mod config;
pub mod endpoints;
pub mod error;
pub mod http;
pub mod router;

pub use config::ApiConfig;
pub use error::ApiFnError;
pub use router::{Api, handle};
