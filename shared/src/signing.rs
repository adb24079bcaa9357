//! Standard Webhooks v1 signing (SPEC §5): `webhook-signature: v1,<base64 HMAC-SHA256(key,
//! "{id}.{timestamp}.{body}")>`, where key is the base64-decoded part of a `whsec_…` secret.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;

const PREFIX: &str = "whsec_";
/// Random bytes in a generated secret (192 bits).
const SECRET_BYTES: usize = 24;

/// A signing secret. `Debug` redacts it; it is shown to the tenant once, at creation or
/// rotation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookSecret {
    text: String,
    key: Vec<u8>,
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(whsec_…)")
    }
}

impl WebhookSecret {
    /// Parses `whsec_<base64>`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let b64 = s.strip_prefix(PREFIX).ok_or("must start with whsec_")?;
        let key = STANDARD
            .decode(b64)
            .map_err(|e| format!("not base64 after whsec_: {e}"))?;
        if key.is_empty() {
            return Err("empty secret".into());
        }
        Ok(Self {
            text: s.to_owned(),
            key,
        })
    }

    /// A fresh random secret.
    pub fn generate() -> Result<Self, crate::Error> {
        let mut key = vec![0u8; SECRET_BYTES];
        getrandom::fill(&mut key).map_err(|e| crate::Error::Internal(format!("getrandom: {e}")))?;
        Ok(Self {
            text: format!("{PREFIX}{}", STANDARD.encode(&key)),
            key,
        })
    }

    /// The `whsec_…` text, for showing once and for storage.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// `v1,<signature>` of one message.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC accepts keys of any length; this cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl From<WebhookSecret> for String {
    fn from(s: WebhookSecret) -> String {
        s.text
    }
}

impl TryFrom<String> for WebhookSecret {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

/// The `webhook-signature` header: one signature per valid secret, space-separated (during a
/// rotation both the new and the old secret sign).
pub fn signature_header<'a>(
    secrets: impl IntoIterator<Item = &'a WebhookSecret>,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .into_iter()
        .map(|s| s.sign(msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Verifies a `webhook-signature` header the way a receiver would: true when any `v1`
/// signature matches, compared in constant time. Also checks the timestamp is within
/// `tolerance_secs` of `now`.
pub fn verify(
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp: i64,
    now: i64,
    tolerance_secs: i64,
    body: &[u8],
    header: &str,
) -> bool {
    if (now - timestamp).abs() > tolerance_secs {
        return false;
    }
    let expected = secret.sign(msg_id, timestamp, body);
    header
        .split(' ')
        .filter(|s| s.starts_with("v1,"))
        .any(|candidate| constant_time_eq(candidate.as_bytes(), expected.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TS: i64 = 1_649_367_553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;

    #[test]
    fn golden_vector_from_the_spec() {
        let s = WebhookSecret::parse(SECRET).unwrap();
        assert_eq!(
            s.sign(ID, TS, BODY),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn rotation_sends_one_signature_per_secret() {
        let old = WebhookSecret::parse(SECRET).unwrap();
        let new = WebhookSecret::generate().unwrap();
        let header = signature_header([&new, &old], ID, TS, BODY);
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(verify(&old, ID, TS, TS, 300, BODY, &header));
        assert!(verify(&new, ID, TS, TS, 300, BODY, &header));
    }

    #[test]
    fn verify_rejects_tampering_and_stale_timestamps() {
        let s = WebhookSecret::parse(SECRET).unwrap();
        let header = s.sign(ID, TS, BODY);
        assert!(verify(&s, ID, TS, TS + 10, 300, BODY, &header));
        assert!(!verify(&s, ID, TS, TS, 300, b"{}", &header));
        assert!(!verify(&s, "msg_other", TS, TS, 300, BODY, &header));
        assert!(!verify(&s, ID, TS, TS + 301, 300, BODY, &header));
    }

    #[test]
    fn secrets_parse_generate_and_redact() {
        assert!(WebhookSecret::parse("nope").is_err());
        assert!(WebhookSecret::parse("whsec_!!!").is_err());
        let g = WebhookSecret::generate().unwrap();
        assert!(g.expose().starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(g.expose()).unwrap(), g);
        assert!(!format!("{g:?}").contains(&g.expose()[6..]));
    }
}
