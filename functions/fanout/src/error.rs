//! fanout's error type.

/// Why a record or an invocation could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    /// The record is not a Burstline event: retrying cannot help, so it is skipped.
    #[error("undecodable record: {0}")]
    Undecodable(String),
    /// The record's tenant does not exist (deleted, or forged upstream): skipped.
    #[error("unknown tenant {0}")]
    UnknownTenant(String),
    /// A port failed.
    #[error(transparent)]
    Store(#[from] burstline::Error),
}

impl FanoutError {
    /// Whether processing the record again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            FanoutError::Undecodable(_) | FanoutError::UnknownTenant(_) => false,
            FanoutError::Store(e) => e.is_retryable(),
        }
    }
}
