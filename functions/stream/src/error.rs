//! stream's error type: why an open stream stopped early.

use burstline::Error as StoreError;

/// Failures while serving an open stream. Whatever the cause, the stream ends and the client
/// resumes from its `Last-Event-ID`: nothing is lost, only delayed.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Reading events or heads, or renewing the lease, failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Another stream holds our slot: our lease expired while we were stalled.
    #[error("stream slot lost")]
    LeaseLost,
}

impl StreamError {
    /// Whether the same read may succeed if tried again.
    pub fn is_retryable(&self) -> bool {
        match self {
            StreamError::Store(e) => e.is_retryable(),
            StreamError::LeaseLost => false,
        }
    }
}
