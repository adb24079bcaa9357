//! deliver's error type.

/// Failures that stop deliver from starting or processing.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Client(#[from] reqwest::Error),
    /// A port failed.
    #[error(transparent)]
    Port(#[from] burstline::Error),
}

impl DeliverError {
    /// Whether trying again may help.
    pub fn is_retryable(&self) -> bool {
        match self {
            DeliverError::Client(_) => false,
            DeliverError::Port(e) => e.is_retryable(),
        }
    }
}
