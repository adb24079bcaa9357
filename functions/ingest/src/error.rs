//! ingest's error type.

/// Why a request's events did not all reach the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// Kinesis still rejected some records (or failed whole calls) after every retry.
    /// `accepted[i]` tells whether event `i` of the request is durably in the stream.
    #[error("{} of {} events were not accepted by the stream", .accepted.iter().filter(|a| !**a).count(), .accepted.len())]
    NotAccepted {
        /// Per event, in request order.
        accepted: Vec<bool>,
    },
}

impl IngestError {
    /// Whether the client may retry the same request (with the same event ids) later.
    pub fn is_retryable(&self) -> bool {
        match self {
            IngestError::NotAccepted { .. } => true,
        }
    }
}
