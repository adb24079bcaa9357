//! api's error type.

/// Failures behind a route, before they become a JSON error response.
#[derive(Debug, thiserror::Error)]
pub enum ApiFnError {
    /// A port failed.
    #[error(transparent)]
    Port(#[from] burstline::Error),
}

impl ApiFnError {
    /// Whether the client may retry.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiFnError::Port(e) => e.is_retryable(),
        }
    }
}

impl From<ApiFnError> for burstline::api_error::ApiError {
    fn from(e: ApiFnError) -> Self {
        tracing::error!(error = %e, "request failed");
        if e.is_retryable() {
            Self::new(503, "unavailable", "a dependency is unavailable; retry")
        } else {
            Self::new(500, "internal", "internal error")
        }
    }
}
