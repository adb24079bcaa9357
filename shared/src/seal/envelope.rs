//! AES-256-GCM under a 256-bit data key, and the text a sealed value is stored as (pure).

use super::{SealContext, Sealed, unsealable};
use crate::error::{Error, Result};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use std::fmt;

/// Bytes of an AES-GCM nonce.
pub const NONCE_BYTES: usize = 12;
/// Bytes of a data key.
pub const KEY_BYTES: usize = 32;
const VERSION: &str = "v1";

/// A plaintext 256-bit data key. `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey(pub [u8; KEY_BYTES]);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(…)")
    }
}

impl DataKey {
    /// A key from exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        <[u8; KEY_BYTES]>::try_from(bytes).map(Self).map_err(|_| {
            Error::Internal(format!(
                "a data key has {} bytes, not {KEY_BYTES}",
                bytes.len()
            ))
        })
    }

    /// A fresh random key.
    pub fn generate() -> Result<Self> {
        let mut k = [0u8; KEY_BYTES];
        getrandom::fill(&mut k).map_err(|e| Error::Internal(format!("getrandom: {e}")))?;
        Ok(Self(k))
    }
}

/// The parts of a sealed value: the data key as its wrapper (KMS, or the local key) returned
/// it, and the AES-GCM nonce and ciphertext (with tag) of the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The data key, wrapped.
    pub wrapped_key: Vec<u8>,
    /// The nonce.
    pub nonce: [u8; NONCE_BYTES],
    /// The ciphertext and tag.
    pub ciphertext: Vec<u8>,
}

impl Envelope {
    /// Encrypts `plaintext` with `key`, bound to `context`, under a fresh random nonce.
    pub fn seal(
        key: &DataKey,
        wrapped_key: Vec<u8>,
        context: &SealContext,
        plaintext: &[u8],
    ) -> Result<Self> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|e| Error::Internal(format!("getrandom: {e}")))?;
        let ciphertext = encrypt(key, &nonce, &context.associated_data(), plaintext)?;
        Ok(Self {
            wrapped_key,
            nonce,
            ciphertext,
        })
    }

    /// Decrypts with `key` (the unwrapped [`Envelope::wrapped_key`]) for `context`.
    pub fn open(&self, key: &DataKey, context: &SealContext) -> Result<Vec<u8>> {
        decrypt(
            key,
            &self.nonce,
            &context.associated_data(),
            &self.ciphertext,
        )
        .map_err(|_| {
            unsealable(
                context,
                "the ciphertext does not authenticate for this endpoint",
            )
        })
    }

    /// The stored text.
    pub fn to_sealed(&self) -> Sealed {
        Sealed(format!(
            "{VERSION}.{}.{}.{}",
            B64.encode(&self.wrapped_key),
            B64.encode(self.nonce),
            B64.encode(&self.ciphertext)
        ))
    }

    /// Parses stored text; [`Error::Unsealable`] (for `context`) when it is not one.
    pub fn parse(sealed: &Sealed, context: &SealContext) -> Result<Self> {
        let bad = || unsealable(context, "not a sealed value of a known version");
        let mut parts = sealed.as_str().split('.');
        if parts.next() != Some(VERSION) {
            return Err(bad());
        }
        let mut next =
            || -> Result<Vec<u8>> { B64.decode(parts.next().ok_or_else(bad)?).map_err(|_| bad()) };
        let wrapped_key = next()?;
        let nonce = <[u8; NONCE_BYTES]>::try_from(next()?.as_slice()).map_err(|_| bad())?;
        let ciphertext = next()?;
        if parts.next().is_some() || wrapped_key.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            wrapped_key,
            nonce,
            ciphertext,
        })
    }
}

/// AES-256-GCM encryption of `plaintext` with associated data `aad`.
pub fn encrypt(
    key: &DataKey,
    nonce: &[u8; NONCE_BYTES],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let cipher =
        Aes256Gcm::new_from_slice(&key.0).map_err(|_| Error::Internal("AES-256-GCM key".into()))?;
    cipher
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| Error::Internal("AES-256-GCM encryption failed".into()))
}

/// AES-256-GCM decryption; fails when the key, nonce, `aad` or ciphertext differ from sealing.
pub fn decrypt(
    key: &DataKey,
    nonce: &[u8; NONCE_BYTES],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>> {
    let cipher =
        Aes256Gcm::new_from_slice(&key.0).map_err(|_| Error::Internal("AES-256-GCM key".into()))?;
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| Error::InvalidData("AES-256-GCM: the ciphertext does not authenticate".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(ep: &str) -> SealContext {
        SealContext::new(&"acme".parse().unwrap(), &ep.parse().unwrap())
    }

    #[test]
    fn round_trips_and_holds_no_plaintext() {
        let key = DataKey::generate().unwrap();
        let e = Envelope::seal(&key, b"wrapped".to_vec(), &ctx("ep_1"), b"whsec_top").unwrap();
        let text = e.to_sealed();
        assert!(!text.as_str().contains("whsec"));
        let back = Envelope::parse(&text, &ctx("ep_1")).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.open(&key, &ctx("ep_1")).unwrap(), b"whsec_top");
    }

    #[test]
    fn another_context_key_or_tampering_fails_closed() {
        let key = DataKey::generate().unwrap();
        let e = Envelope::seal(&key, b"w".to_vec(), &ctx("ep_1"), b"secret").unwrap();
        let err = e.open(&key, &ctx("ep_2")).unwrap_err();
        assert!(matches!(err, Error::Unsealable { .. }), "{err}");
        assert!(e.open(&DataKey::generate().unwrap(), &ctx("ep_1")).is_err());
        let mut tampered = e.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(tampered.open(&key, &ctx("ep_1")).is_err());
        for bad in [
            "",
            "v1.a",
            "v2.AA.AAAAAAAAAAAAAAAA.AA",
            "v1.AA.AA.AA",
            "whsec_x",
        ] {
            assert!(
                Envelope::parse(&Sealed::from_stored(bad), &ctx("ep_1")).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn nonces_are_fresh_per_seal() {
        let key = DataKey::generate().unwrap();
        let a = Envelope::seal(&key, b"w".to_vec(), &ctx("ep_1"), b"s").unwrap();
        let b = Envelope::seal(&key, b"w".to_vec(), &ctx("ep_1"), b"s").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_eq!(format!("{key:?}"), "DataKey(…)");
    }
}
