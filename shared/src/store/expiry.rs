//! Items past `expires_at`: DynamoDB's TTL deletes them only eventually (typically within a
//! few days), so until then they are still in the table. Pure.
//!
//! The rule, in both adapters:
//! - **Reads that answer a client** ([`EventStore::head`], [`EventStore::events`],
//!   [`EventStore::find_event`], used by stream, api and deliver) ignore an expired item, as
//!   if TTL had already deleted it: what a client sees does not depend on when TTL ran.
//! - **What a conditional write is checked against** ([`EventStore::heads`] and the conditions
//!   inside [`EventStore::commit`]) sees the item as it really is. fanout plans a commit from
//!   `heads` and makes it conditional on the head's `version` (or on its absence). DynamoDB
//!   evaluates that condition against the stored item, expired or not, so a `heads` that hid an
//!   expired head would make fanout plan "no head yet" while the condition still finds one: the
//!   commit would fail, be re-planned from the same view, and fail forever. Seeing the real
//!   item, fanout continues the task's sequence and the commit refreshes `expires_at`.
//!
//! [`EventStore::head`]: super::EventStore::head
//! [`EventStore::events`]: super::EventStore::events
//! [`EventStore::find_event`]: super::EventStore::find_event
//! [`EventStore::heads`]: super::EventStore::heads
//! [`EventStore::commit`]: super::EventStore::commit

use chrono::{DateTime, Utc};

/// Whether an item whose `expires_at` (unix seconds) is `expires_at` is past it at `now`.
/// DynamoDB's TTL deletes items whose attribute is older than the current time, so an item
/// is expired once its second has passed.
pub fn is_expired(expires_at: i64, now: DateTime<Utc>) -> bool {
    expires_at < now.timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_once_its_second_has_passed() {
        let now = DateTime::from_timestamp(1_000, 0).unwrap();
        assert!(is_expired(999, now));
        assert!(!is_expired(1_000, now));
        assert!(!is_expired(1_001, now));
    }
}
