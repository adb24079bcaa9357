//! The `Idempotency-Key` header of `POST /v1/events` (SPEC §3): what a valid key is, and the
//! event ids it derives. Pure.
//!
//! A producer that gives its events ids is already idempotent (an id is an idempotency key
//! within its tenant). The header covers the events it sends *without* ids: instead of a fresh
//! random id, event `i` of the request gets an id derived from (tenant, key, `i`), so retrying
//! a request whose 202 was lost (same key, same body) resubmits the same ids, and fanout stores
//! nothing new. Only minted ids depend on the key; producer ids are used as given.
//!
//! Reusing a key for a *different* body is not detected: event `i` of the new request gets the
//! same id as event `i` of the first one, so it counts as a resubmission of that event and is
//! not stored (the 202 lists the id, which names the first request's event); events at indexes
//! the first request did not have are new. Keys are remembered as long as the id markers they
//! produced: `RetentionDays`.

use crate::api_error::ApiError;
use crate::ids::{EventId, TenantId};
use sha2::{Digest, Sha256};

/// The header's name, as the SPEC's error shape names it in `field`.
pub const HEADER: &str = "Idempotency-Key";

/// Longest key accepted (Stripe's limit too).
pub const MAX_LEN: usize = 255;

/// A validated `Idempotency-Key`: 1–255 visible ASCII characters (`!` to `~`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses the header's raw bytes; 400 `invalid_request` with `field: "Idempotency-Key"`
    /// when they are not 1–255 visible ASCII characters.
    pub fn parse(raw: &[u8]) -> Result<Self, ApiError> {
        let visible = raw.iter().all(|b| (0x21..=0x7e).contains(b));
        if raw.is_empty() || raw.len() > MAX_LEN || !visible {
            return Err(invalid(format!(
                "must be 1-{MAX_LEN} visible ASCII characters (no spaces)"
            )));
        }
        // Every byte is ASCII, so this cannot fail.
        String::from_utf8(raw.to_vec())
            .map(Self)
            .map_err(|_| invalid("must be ASCII".into()))
    }

    /// Reads the key from the request's values of the header: none is fine, one must be
    /// valid, several are refused (a proxy that merged two retries should not pick one).
    pub fn from_header_values<'a>(
        mut values: impl Iterator<Item = &'a [u8]>,
    ) -> Result<Option<Self>, ApiError> {
        let Some(first) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(invalid("send at most one".into()));
        }
        Self::parse(first).map(Some)
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id minted for the event at `index` (0-based, in request order) of a request of
    /// `tenant` carrying this key: `evt_` + 26 Crockford base32 characters, like a generated
    /// id, taken from SHA-256 over the three, so it is the same on every retry and differs
    /// across tenants, keys and positions.
    pub fn event_id(&self, tenant: &TenantId, index: usize) -> EventId {
        let mut h = Sha256::new();
        // Domain-separated and length-prefixed, so no two inputs share a preimage.
        h.update(b"burstline idempotency-key v1\0");
        for part in [tenant.as_str().as_bytes(), self.0.as_bytes()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.update((index as u64).to_be_bytes());
        let digest = h.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        EventId::from_ulid(ulid::Ulid(u128::from_be_bytes(first)))
    }
}

fn invalid(message: String) -> ApiError {
    ApiError::new(400, "invalid_request", message).at(HEADER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> IdempotencyKey {
        IdempotencyKey::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn keys_are_one_to_255_visible_ascii_characters() {
        assert!(IdempotencyKey::parse(b"a").is_ok());
        assert!(IdempotencyKey::parse(b"order-42:retry/ok~!").is_ok());
        assert!(IdempotencyKey::parse("k".repeat(255).as_bytes()).is_ok());
        for bad in [
            &b""[..],
            "k".repeat(256).as_bytes(),
            b"has space",
            b"tab\there",
            b"new\nline",
            "caf\u{e9}".as_bytes(),
            b"\x7f",
        ] {
            let e = IdempotencyKey::parse(bad).unwrap_err();
            assert_eq!(
                (e.status, e.code, e.field.as_deref()),
                (400, "invalid_request", Some("Idempotency-Key")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn one_header_at_most() {
        let none: [&[u8]; 0] = [];
        assert_eq!(
            IdempotencyKey::from_header_values(none.into_iter()),
            Ok(None)
        );
        assert_eq!(
            IdempotencyKey::from_header_values([&b"k1"[..]].into_iter()),
            Ok(Some(key("k1")))
        );
        let two = IdempotencyKey::from_header_values([&b"k1"[..], b"k2"].into_iter());
        assert_eq!(two.unwrap_err().field.as_deref(), Some(HEADER));
    }

    #[test]
    fn minted_ids_are_stable_shaped_like_generated_ones_and_distinct() {
        let acme = TenantId::parse("acme").unwrap();
        let other = TenantId::parse("other").unwrap();
        let id = key("k1").event_id(&acme, 0);
        assert_eq!(id, key("k1").event_id(&acme, 0), "same inputs, same id");
        let generated = EventId::generate();
        assert_eq!(id.as_str().len(), generated.as_str().len());
        assert!(id.as_str().starts_with("evt_"));
        assert!(
            id.as_str()[4..]
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        assert!(id.as_str()[4..].parse::<ulid::Ulid>().is_ok(), "{id}");
        assert!(EventId::parse(id.as_str()).is_ok());
        for other_id in [
            key("k1").event_id(&acme, 1),
            key("k2").event_id(&acme, 0),
            key("k1").event_id(&other, 0),
        ] {
            assert_ne!(id, other_id);
        }
        // Pinned (computed independently): changing the derivation would turn a retry that
        // spans a deploy into new events.
        assert_eq!(id.as_str(), "evt_7JEKEEXBK9151XR8VMDTFF660J");
    }
}
