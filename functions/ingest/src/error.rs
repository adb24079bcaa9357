//! ingest's error type.

/// Failures while publishing to the stream.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Some records were still rejected after every retry.
    #[error("{rejected} of {total} events were not accepted by the stream")]
    Partial {
        /// Events not written.
        rejected: usize,
        /// Events in the request.
        total: usize,
    },
    /// A port failed.
    #[error(transparent)]
    Port(#[from] burstline::Error),
}

impl IngestError {
    /// Whether the client may retry the same request (with the same event ids) later.
    pub fn is_retryable(&self) -> bool {
        match self {
            IngestError::Partial { .. } => true,
            IngestError::Port(e) => e.is_retryable(),
        }
    }
}
