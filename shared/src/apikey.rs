//! API keys (SPEC §3): `bl_` + 32 random base62 characters, shown once, stored only as a
//! SHA-256 hash, scoped to one tenant and a set of [`Scope`]s.

use crate::error::Error;
use crate::ids::TenantId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

const PREFIX: &str = "bl_";
const RANDOM_LEN: usize = 32;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// `POST /v1/events`.
    Ingest,
    /// Open SSE streams and read task status.
    Stream,
    /// Manage endpoints and mint stream tokens.
    Manage,
}

impl Scope {
    /// Every scope, in display order.
    pub const ALL: [Scope; 3] = [Scope::Ingest, Scope::Stream, Scope::Manage];

    /// The scope's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Stream => "stream",
            Scope::Manage => "manage",
        }
    }

    /// Parses a comma-separated list such as `ingest,stream`.
    pub fn parse_list(s: &str) -> Result<Vec<Scope>, String> {
        let mut scopes = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let scope = Scope::ALL
                .into_iter()
                .find(|sc| sc.as_str() == part)
                .ok_or_else(|| format!("unknown scope '{part}' (use ingest, stream, manage)"))?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err("at least one scope is required".into());
        }
        scopes.sort();
        Ok(scopes)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A plaintext key. Exists only between generation and the one time it is shown; `Debug`
/// redacts it so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}…)", self.display_prefix())
    }
}

impl ApiKey {
    /// A fresh random key from the OS CSPRNG.
    pub fn generate() -> Result<Self, Error> {
        // Rejection sampling keeps the base62 digits uniform: 248 = 4 × 62.
        let mut out = String::with_capacity(PREFIX.len() + RANDOM_LEN);
        out.push_str(PREFIX);
        while out.len() < PREFIX.len() + RANDOM_LEN {
            let mut buf = [0u8; 64];
            getrandom::fill(&mut buf).map_err(|e| Error::Internal(format!("getrandom: {e}")))?;
            for b in buf {
                if b < 248 && out.len() < PREFIX.len() + RANDOM_LEN {
                    out.push(char::from(BASE62[usize::from(b % 62)]));
                }
            }
        }
        Ok(Self(out))
    }

    /// Wraps a key presented by a client; `None` when it cannot be one of ours.
    pub fn from_presented(s: &str) -> Option<Self> {
        let rest = s.strip_prefix(PREFIX)?;
        (rest.len() == RANDOM_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| Self(s.to_owned()))
    }

    /// The secret itself, for showing once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash under which the key is stored and looked up.
    pub fn hash(&self) -> KeyHash {
        KeyHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }

    /// The first characters, safe to show in listings and logs.
    pub fn display_prefix(&self) -> &str {
        &self.0[..PREFIX.len() + 4]
    }
}

/// Hex SHA-256 of a key: what the store holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyHash(pub String);

/// A stored key: its hash, owner and scopes. Never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Lookup hash.
    pub hash: KeyHash,
    /// Owning tenant; the key acts only within it.
    pub tenant_id: TenantId,
    /// Granted scopes.
    pub scopes: Vec<Scope>,
    /// First characters of the key, for listings.
    pub prefix: String,
    /// When the key was made.
    pub created_at: DateTime<Utc>,
}

impl KeyRecord {
    /// Whether the key grants `scope`.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// Extracts the key from an `Authorization: Bearer …` header value.
pub fn bearer(header: Option<&str>) -> Option<ApiKey> {
    let value = header?.trim();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    ApiKey::from_presented(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let k = ApiKey::generate().unwrap();
        assert_eq!(k.expose().len(), 35);
        assert!(k.expose().starts_with("bl_"));
        assert!(ApiKey::from_presented(k.expose()).is_some());
        assert_ne!(k, ApiKey::generate().unwrap());
    }

    #[test]
    fn hash_is_sha256_hex_and_debug_redacts() {
        let k = ApiKey::from_presented("bl_0123456789abcdefghijABCDEFGHIJ01").unwrap();
        assert_eq!(k.hash().0.len(), 64);
        assert_eq!(k.hash(), k.clone().hash());
        let dbg = format!("{k:?}");
        assert!(!dbg.contains("abcdefghij"), "{dbg}");
    }

    #[test]
    fn bearer_parsing() {
        let key = "bl_0123456789abcdefghijABCDEFGHIJ01";
        assert!(bearer(Some(&format!("Bearer {key}"))).is_some());
        assert!(bearer(Some(&format!("bearer  {key}"))).is_some());
        assert!(bearer(Some(key)).is_none());
        assert!(bearer(Some(&format!("Basic {key}"))).is_none());
        assert!(bearer(Some("Bearer bl_short")).is_none());
        assert!(bearer(None).is_none());
    }

    #[test]
    fn scope_lists() {
        assert_eq!(
            Scope::parse_list("stream, ingest,ingest").unwrap(),
            vec![Scope::Ingest, Scope::Stream]
        );
        assert!(Scope::parse_list("admin").is_err());
        assert!(Scope::parse_list("").is_err());
    }
}
