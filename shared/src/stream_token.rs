//! Stream tokens (SPEC §6): short-lived JWTs, HS256, naming one tenant's one task, so a browser
//! `EventSource` (which cannot send headers) can open that stream with `?token=`.
//!
//! Minted by the api, verified by stream, both with the secret from their config. Only `HS256`
//! is accepted (a token claiming `none` or any other algorithm is refused before its signature
//! is looked at), the signature is compared in constant time, and the expiry is checked
//! against an injected `now`.

use crate::ids::{TaskId, TenantId};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;

/// The JOSE header of every token we mint.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
/// Shortest secret accepted: HS256 wants a key of at least the hash size.
pub const MIN_SECRET_BYTES: usize = 32;

/// The signing secret. `Debug` redacts it.
#[derive(Clone)]
pub struct TokenSecret(Vec<u8>);

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(…)")
    }
}

impl TokenSecret {
    /// A secret from configuration; `None` when shorter than [`MIN_SECRET_BYTES`].
    pub fn new(secret: impl Into<Vec<u8>>) -> Option<Self> {
        let secret = secret.into();
        (secret.len() >= MIN_SECRET_BYTES).then_some(Self(secret))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length; this cannot fail.
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length")
    }
}

/// What a token grants: one task of one tenant, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamGrant {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The one task the token opens.
    pub task_id: TaskId,
    /// When the token stops working (second precision).
    pub expires_at: DateTime<Utc>,
}

/// The JWT claims as they travel.
#[derive(Serialize, Deserialize)]
struct Claims {
    tenant_id: TenantId,
    task_id: TaskId,
    exp: i64,
}

/// Why a token was refused. Every variant is a 401 to the client; the variant is for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts of JSON, or not our claims.
    #[error("malformed token")]
    Malformed,
    /// An algorithm other than HS256.
    #[error("unsupported token algorithm")]
    Algorithm,
    /// The signature does not match.
    #[error("bad token signature")]
    Signature,
    /// Past its expiry.
    #[error("token expired")]
    Expired,
}

/// Signs `grant` into a compact JWT.
pub fn mint(secret: &TokenSecret, grant: &StreamGrant) -> String {
    let claims = Claims {
        tenant_id: grant.tenant_id.clone(),
        task_id: grant.task_id.clone(),
        exp: grant.expires_at.timestamp(),
    };
    // Serializing two validated ids and an integer cannot fail.
    let payload = serde_json::to_vec(&claims).unwrap_or_default();
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(HEADER),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let mut mac = secret.mac();
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Checks a token's algorithm, signature and expiry, returning what it grants.
pub fn verify(
    secret: &TokenSecret,
    token: &str,
    now: DateTime<Utc>,
) -> Result<StreamGrant, TokenError> {
    let (signing_input, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (header, payload) = signing_input
        .split_once('.')
        .filter(|(_, payload)| !payload.contains('.'))
        .ok_or(TokenError::Malformed)?;
    let header: serde_json::Value = decode_json(header)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(TokenError::Algorithm);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed)?;
    let mut mac = secret.mac();
    mac.update(signing_input.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| TokenError::Signature)?;
    let claims: Claims = decode_json(payload)?;
    let expires_at = Utc
        .timestamp_opt(claims.exp, 0)
        .single()
        .ok_or(TokenError::Malformed)?;
    if now >= expires_at {
        return Err(TokenError::Expired);
    }
    Ok(StreamGrant {
        tenant_id: claims.tenant_id,
        task_id: claims.task_id,
        expires_at,
    })
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> TokenSecret {
        TokenSecret::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap()
    }

    fn grant(expires_at: DateTime<Utc>) -> StreamGrant {
        StreamGrant {
            tenant_id: TenantId::parse("acme").unwrap(),
            task_id: TaskId::parse("run-42").unwrap(),
            expires_at,
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    #[test]
    fn signature_matches_the_jwt_io_reference_vector() {
        // The HS256 example from jwt.io / RFC-style test: secret "your-256-bit-secret".
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
        let secret = TokenSecret(b"your-256-bit-secret".to_vec());
        // The signature checks out; the claims are not ours, so it is malformed, not forged.
        assert_eq!(verify(&secret, token, at(0)), Err(TokenError::Malformed));
        let forged = TokenSecret(b"another-256-bit-secret".to_vec());
        assert_eq!(verify(&forged, token, at(0)), Err(TokenError::Signature));
    }

    #[test]
    fn minted_tokens_round_trip_until_they_expire() {
        let g = grant(at(1_800_000_060));
        let token = mint(&secret(), &g);
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(verify(&secret(), &token, at(1_800_000_000)), Ok(g.clone()));
        assert_eq!(
            verify(&secret(), &token, at(1_800_000_059)).map(|g| g.task_id),
            Ok(g.task_id)
        );
        assert_eq!(
            verify(&secret(), &token, at(1_800_000_060)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn tampered_tokens_are_refused() {
        let token = mint(&secret(), &grant(at(1_800_000_060)));
        let parts: Vec<&str> = token.split('.').collect();
        let other_task =
            URL_SAFE_NO_PAD.encode(r#"{"tenant_id":"acme","task_id":"run-43","exp":1800000060}"#);
        let swapped = format!("{}.{other_task}.{}", parts[0], parts[2]);
        assert_eq!(
            verify(&secret(), &swapped, at(0)),
            Err(TokenError::Signature)
        );
        let none_alg = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{none_alg}.{}.", parts[1]);
        assert_eq!(
            verify(&secret(), &unsigned, at(0)),
            Err(TokenError::Algorithm)
        );
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(
            verify(&secret(), &flipped, at(0)),
            Err(TokenError::Signature)
        );
        let other_secret = TokenSecret::new(vec![7u8; 32]).unwrap();
        assert_eq!(
            verify(&other_secret, &token, at(0)),
            Err(TokenError::Signature)
        );
        for junk in ["", "a.b", "a.b.c.d", "!!.??.**"] {
            assert!(verify(&secret(), junk, at(0)).is_err(), "{junk}");
        }
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(TokenSecret::new(vec![1u8; 31]).is_none());
        assert!(format!("{:?}", secret()).contains('…'));
    }
}
