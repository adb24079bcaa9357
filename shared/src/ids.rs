//! Newtype identifiers. Each constructor enforces the pattern from SPEC §2, so a value of
//! these types is always safe to embed in a DynamoDB key or a Kinesis partition key.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Characters allowed in producer-chosen ids (`task_id`, event `id`): `[A-Za-z0-9_.:-]`.
fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')
}

/// A producer-chosen id: 1..=`max` chars of `[A-Za-z0-9_.:-]`.
fn parse_producer_id(s: &str, max: usize) -> Result<String, IdError> {
    if !s.is_empty() && s.len() <= max && s.chars().all(is_id_char) {
        Ok(s.to_owned())
    } else {
        Err(IdError(format!(
            "must be 1-{max} characters of [A-Za-z0-9_.:-]"
        )))
    }
}

/// Why an identifier was refused; the caller names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdError(pub String);

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for IdError {}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
    };
}

id_type!(
    /// A tenant: 1–64 chars of `[a-z0-9-]`, starting with a letter or digit.
    TenantId
);
id_type!(
    /// A producer-chosen task id: 1–128 chars of `[A-Za-z0-9_.:-]`.
    TaskId
);
id_type!(
    /// An event id: producer-chosen (≤ 64 chars of `[A-Za-z0-9_.:-]`) or `evt_` + ULID.
    EventId
);
id_type!(
    /// A webhook endpoint id: `ep_` + ULID.
    EndpointId
);

impl TenantId {
    /// Parses a tenant id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError(
                "must be 1-64 characters of [a-z0-9-], not starting with '-'".into(),
            ))
        }
    }
}

impl TaskId {
    /// Longest task id accepted.
    pub const MAX_LEN: usize = 128;

    /// Parses a task id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        parse_producer_id(s, Self::MAX_LEN).map(Self)
    }
}

impl EventId {
    /// Longest event id accepted.
    pub const MAX_LEN: usize = 64;

    /// Parses a producer-supplied event id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        parse_producer_id(s, Self::MAX_LEN).map(Self)
    }

    /// A fresh ingest-assigned id: `evt_` + ULID (time-ordered, 80 random bits).
    pub fn generate() -> Self {
        Self::from_ulid(ulid::Ulid::new())
    }

    /// An ingest-assigned id from a given 128-bit value: `evt_` + its 26 Crockford base32
    /// characters, the shape of [`EventId::generate`]'s ids.
    pub(crate) fn from_ulid(value: ulid::Ulid) -> Self {
        Self(format!("evt_{value}"))
    }
}

impl EndpointId {
    /// Parses an endpoint id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = s.len() > 3 && s.len() <= 64 && s.starts_with("ep_") && s.chars().all(is_id_char);
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError("must be 'ep_' followed by [A-Za-z0-9_.:-]".into()))
        }
    }

    /// A fresh endpoint id: `ep_` + ULID.
    pub fn generate() -> Self {
        Self(format!("ep_{}", ulid::Ulid::new()))
    }
}

/// A task's dense sequence number: 1, 2, 3, … assigned once by fanout. `Seq(0)` means
/// "nothing yet" (a head with no events, or a reader at the start).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct Seq(pub u64);

impl Seq {
    /// The number following this one.
    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A task within its tenant: the unit of ordering.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskKey {
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Task within the tenant.
    pub task_id: TaskId,
}

impl TaskKey {
    /// Builds a key.
    pub fn new(tenant_id: TenantId, task_id: TaskId) -> Self {
        Self { tenant_id, task_id }
    }

    /// The Kinesis partition key: tenant and task joined by `/`, which neither id may contain,
    /// so every event of a task lands on one shard, in order.
    pub fn partition_key(&self) -> String {
        format!("{}/{}", self.tenant_id, self.task_id)
    }
}

impl fmt::Display for TaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tenant_id, self.task_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_follow_the_pattern() {
        assert!(TenantId::parse("acme").is_ok());
        assert!(TenantId::parse("acme-2").is_ok());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse("Acme").is_err());
        assert!(TenantId::parse("-acme").is_err());
        assert!(TenantId::parse("a/b").is_err());
        assert!(TenantId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn task_ids_allow_the_spec_characters_only() {
        assert!(TaskId::parse("run-42").is_ok());
        assert!(TaskId::parse("A.b_c:d-1").is_ok());
        assert!(TaskId::parse(&"x".repeat(128)).is_ok());
        assert!(TaskId::parse(&"x".repeat(129)).is_err());
        assert!(TaskId::parse("run 42").is_err());
        assert!(TaskId::parse("run/42").is_err());
        assert!(TaskId::parse("run#42").is_err());
        assert!(TaskId::parse("").is_err());
    }

    #[test]
    fn generated_event_ids_are_valid_and_distinct() {
        let a = EventId::generate();
        let b = EventId::generate();
        assert!(a.as_str().starts_with("evt_"));
        assert_eq!(a.as_str().len(), 30);
        assert!(EventId::parse(a.as_str()).is_ok());
        assert_ne!(a, b);
    }

    #[test]
    fn ids_deserialize_through_validation() {
        let ok: Result<TaskId, _> = serde_json::from_str("\"run-1\"");
        assert!(ok.is_ok());
        let bad: Result<TaskId, _> = serde_json::from_str("\"run 1\"");
        assert!(bad.is_err());
    }

    #[test]
    fn partition_key_joins_tenant_and_task() {
        let key = TaskKey::new(
            TenantId::parse("acme").unwrap(),
            TaskId::parse("run-1").unwrap(),
        );
        assert_eq!(key.partition_key(), "acme/run-1");
    }
}
