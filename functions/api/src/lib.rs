//! api: the Function URL for endpoints, stream tokens and task status.
//!
//! Not built yet: this crate reserves the function's place in the workspace and the
//! deployment; its behaviour arrives with its own issue.

pub mod task_config;
pub mod tasks;
