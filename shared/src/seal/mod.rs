//! Sealing endpoint secrets at rest: the [`Sealer`] port, envelope encryption with a data key
//! per [`SealContext`], and its adapters.
//!
//! # Layout
//! - [`envelope`]: AES-256-GCM under a data key, and the sealed text format (pure).
//! - [`key_cache`]: data keys kept by a warm function, for a bounded time and number of uses.
//! - [`kms`]: the AWS adapter: data keys from KMS `GenerateDataKey`, unwrapped by `Decrypt`.
//! - [`local`]: the local adapter (`burstline dev`, tests): data keys wrapped by a local key.
//!
//! # Contracts
//! - Every sealed value is bound to its [`SealContext`] (tenant and endpoint): KMS binds it to
//!   the wrapped data key as the encryption context, and AES-GCM to the ciphertext as
//!   associated data. Opening with any other context fails with [`Error::Unsealable`]: a copied
//!   item never opens under another tenant or endpoint, and nothing falls back to plaintext.
//! - Plaintext data keys and secrets never reach logs: `Debug` of every type here redacts them.

pub mod envelope;
pub mod key_cache;
pub mod kms;
pub mod local;

use crate::error::{Error, Result};
use crate::ids::{EndpointId, TenantId};
use async_trait::async_trait;
use std::fmt;

/// What a sealed value is bound to: the endpoint it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SealContext {
    /// The owning tenant.
    pub tenant: TenantId,
    /// The endpoint.
    pub endpoint: EndpointId,
}

impl SealContext {
    /// The context of `endpoint` of `tenant`.
    pub fn new(tenant: &TenantId, endpoint: &EndpointId) -> Self {
        Self {
            tenant: tenant.clone(),
            endpoint: endpoint.clone(),
        }
    }

    /// The KMS encryption context: `{"burstline:tenant": …, "burstline:endpoint": …}`.
    pub fn pairs(&self) -> [(&'static str, &str); 2] {
        [
            ("burstline:tenant", self.tenant.as_str()),
            ("burstline:endpoint", self.endpoint.as_str()),
        ]
    }

    /// The same pairs as AES-GCM associated data, in one unambiguous encoding (ids never hold
    /// a newline).
    pub fn associated_data(&self) -> Vec<u8> {
        let mut aad = b"burstline-sealed-v1".to_vec();
        for (k, v) in self.pairs() {
            aad.push(b'\n');
            aad.extend_from_slice(k.as_bytes());
            aad.push(b'=');
            aad.extend_from_slice(v.as_bytes());
        }
        aad
    }
}

impl fmt::Display for SealContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "endpoint {} of tenant {}", self.endpoint, self.tenant)
    }
}

/// A sealed value as stored: `v1.<wrapped data key>.<nonce>.<ciphertext>`, each part base64.
/// It holds no plaintext; see [`envelope::Envelope`].
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(String);

impl Sealed {
    /// Wraps stored text (checked when opened).
    pub fn from_stored(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The text to store.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

/// Envelope encryption of small secrets, bound to a [`SealContext`].
#[async_trait]
pub trait Sealer: Send + Sync + fmt::Debug {
    /// Encrypts `plaintext` under a data key bound to `context`.
    async fn seal(&self, context: &SealContext, plaintext: &[u8]) -> Result<Sealed>;
    /// Decrypts what [`Sealer::seal`] made for the same `context`;
    /// [`Error::Unsealable`] for any other context, a tampered value or another key.
    async fn open(&self, context: &SealContext, sealed: &Sealed) -> Result<Vec<u8>>;
}

/// [`Error::Unsealable`] for `context`.
pub(crate) fn unsealable(context: &SealContext, reason: impl Into<String>) -> Error {
    Error::Unsealable {
        context: context.to_string(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_names_tenant_and_endpoint() {
        let c = SealContext::new(&"acme".parse().unwrap(), &"ep_1".parse().unwrap());
        assert_eq!(
            c.pairs(),
            [("burstline:tenant", "acme"), ("burstline:endpoint", "ep_1")]
        );
        let other = SealContext::new(&"acme".parse().unwrap(), &"ep_2".parse().unwrap());
        assert_ne!(c.associated_data(), other.associated_data());
    }
}
