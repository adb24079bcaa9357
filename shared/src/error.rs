//! The shared crate's one error type, grouped by what the caller must do about it.

use crate::ids::{EventId, TaskKey, TenantId};

/// Every failure the shared ports and domain can report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An AWS call failed. `retryable` is true for throttling, timeouts, network and 5xx
    /// failures: the same call may succeed later.
    #[error("{operation} failed: {message}")]
    Aws {
        /// The SDK operation, e.g. `TransactWriteItems`.
        operation: &'static str,
        /// The error with its service code.
        message: String,
        /// Whether trying again may help.
        retryable: bool,
    },

    /// A conditional commit lost: some event ids already exist, or a task head moved under us.
    /// The caller re-plans with this knowledge; it is not an outage.
    #[error("commit conflict: {} duplicate ids, {} moved heads", duplicates.len(), moved_heads.len())]
    CommitConflict {
        /// Event ids that are already stored in their tenant.
        duplicates: Vec<(TenantId, EventId)>,
        /// Tasks whose head was not what the plan expected.
        moved_heads: Vec<TaskKey>,
    },

    /// The service refuses the request as it stands: it breaks a documented limit (too many
    /// actions, entries or records; an item, message or record too large; the same item twice
    /// in one transaction; a delay too long). Sending it again can never succeed; the caller
    /// must split, shrink or set aside what it sends. The AWS adapters map the services'
    /// validation errors to this, and the in-memory adapters refuse exactly the same requests.
    #[error("{operation} refused: {reason}")]
    Refused {
        /// The SDK operation, e.g. `TransactWriteItems`.
        operation: &'static str,
        /// Which limit the request breaks.
        reason: String,
    },

    /// A create found the item already there.
    #[error("already exists: {0}")]
    AlreadyExists(String),

    /// Stored or received data could not be decoded; retrying will not fix it.
    #[error("invalid data: {0}")]
    InvalidData(String),

    /// A required setting is missing or malformed; names the variable.
    #[error("configuration: {var}: {message}")]
    Config {
        /// The environment variable.
        var: &'static str,
        /// What is wrong with it.
        message: String,
    },

    /// A sealed secret cannot be opened for this endpoint: its encryption context (tenant and
    /// endpoint) does not match, it was tampered with, or it was sealed under another key.
    /// Fails closed: nothing falls back to plaintext, and retrying will not fix it.
    #[error("sealed secrets of {context} cannot be opened: {reason}")]
    Unsealable {
        /// The endpoint and tenant it was opened for.
        context: String,
        /// Why.
        reason: String,
    },

    /// A fault injected by a test harness to simulate a crash or outage.
    #[error("injected fault: {0}")]
    Injected(String),

    /// A bug or an impossible state.
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    /// Whether the same operation may succeed if tried again.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Aws { retryable, .. } => *retryable,
            Error::Injected(_) => true,
            Error::CommitConflict { .. }
            | Error::Refused { .. }
            | Error::AlreadyExists(_)
            | Error::InvalidData(_)
            | Error::Config { .. }
            | Error::Unsealable { .. }
            | Error::Internal(_) => false,
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryability_follows_the_variant() {
        let aws = |retryable| Error::Aws {
            operation: "PutRecords",
            message: "x".into(),
            retryable,
        };
        assert!(aws(true).is_retryable());
        assert!(!aws(false).is_retryable());
        assert!(!Error::InvalidData("x".into()).is_retryable());
        let refused = Error::Refused {
            operation: "PutRecords",
            reason: "501 records".into(),
        };
        assert!(!refused.is_retryable());
        assert!(
            !Error::CommitConflict {
                duplicates: vec![],
                moved_heads: vec![]
            }
            .is_retryable()
        );
    }
}
