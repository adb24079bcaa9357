//! [`Sealer`] with a local 256-bit key instead of KMS, for `burstline dev` and tests: each seal
//! draws a fresh data key and wraps it with the local key (AES-256-GCM, the context as
//! associated data), so the stored form and its failures match [`super::kms::KmsSealer`]'s.

use super::envelope::{DataKey, Envelope, NONCE_BYTES, decrypt, encrypt};
use super::{SealContext, Sealed, Sealer, unsealable};
use crate::error::{Error, Result};
use async_trait::async_trait;
use sha2::{Digest, Sha256};

/// Envelope encryption under a key held in memory. `Debug` redacts the key.
#[derive(Clone)]
pub struct LocalSealer {
    key: DataKey,
}

impl std::fmt::Debug for LocalSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalSealer(…)")
    }
}

impl LocalSealer {
    /// Seals under `key`.
    pub fn new(key: DataKey) -> Self {
        Self { key }
    }

    /// A random key: what is sealed is lost with the process (memory stacks).
    pub fn generate() -> Result<Self> {
        DataKey::generate().map(Self::new)
    }

    /// A key derived from `seed`: the same seed opens what an earlier process sealed. Anyone
    /// who knows the seed can open it: local development only.
    pub fn derived(seed: &str) -> Self {
        let digest = Sha256::digest(format!("burstline-local-sealer\n{seed}"));
        Self::new(DataKey(digest.into()))
    }
}

#[async_trait]
impl Sealer for LocalSealer {
    async fn seal(&self, context: &SealContext, plaintext: &[u8]) -> Result<Sealed> {
        let data_key = DataKey::generate()?;
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|e| Error::Internal(format!("getrandom: {e}")))?;
        let mut wrapped = nonce.to_vec();
        wrapped.extend(encrypt(
            &self.key,
            &nonce,
            &context.associated_data(),
            &data_key.0,
        )?);
        Ok(Envelope::seal(&data_key, wrapped, context, plaintext)?.to_sealed())
    }

    async fn open(&self, context: &SealContext, sealed: &Sealed) -> Result<Vec<u8>> {
        let envelope = Envelope::parse(sealed, context)?;
        let (nonce, wrapped) = envelope
            .wrapped_key
            .split_at_checked(NONCE_BYTES)
            .ok_or_else(|| unsealable(context, "the wrapped data key is too short"))?;
        let nonce = <[u8; NONCE_BYTES]>::try_from(nonce)
            .map_err(|_| unsealable(context, "the wrapped data key is too short"))?;
        let data_key =
            decrypt(&self.key, &nonce, &context.associated_data(), wrapped).map_err(|_| {
                unsealable(
                    context,
                    "the data key does not unwrap: another endpoint's, or another key's",
                )
            })?;
        envelope.open(&DataKey::from_slice(&data_key)?, context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(tenant: &str, ep: &str) -> SealContext {
        SealContext::new(&tenant.parse().unwrap(), &ep.parse().unwrap())
    }

    #[tokio::test]
    async fn opens_only_for_its_context_and_key() {
        let s = LocalSealer::generate().unwrap();
        let sealed = s.seal(&ctx("acme", "ep_1"), b"whsec_abc").await.unwrap();
        assert!(!sealed.as_str().contains("whsec"));
        assert_eq!(
            s.open(&ctx("acme", "ep_1"), &sealed).await.unwrap(),
            b"whsec_abc"
        );
        for wrong in [ctx("acme", "ep_2"), ctx("other", "ep_1")] {
            let err = s.open(&wrong, &sealed).await.unwrap_err();
            assert!(matches!(err, Error::Unsealable { .. }), "{err}");
            assert!(err.to_string().contains(wrong.endpoint.as_str()), "{err}");
        }
        let other_key = LocalSealer::generate().unwrap();
        assert!(other_key.open(&ctx("acme", "ep_1"), &sealed).await.is_err());
    }

    #[tokio::test]
    async fn a_derived_key_opens_what_the_same_seed_sealed() {
        let sealed = LocalSealer::derived("dev")
            .seal(&ctx("acme", "ep_1"), b"x")
            .await
            .unwrap();
        assert_eq!(
            LocalSealer::derived("dev")
                .open(&ctx("acme", "ep_1"), &sealed)
                .await
                .unwrap(),
            b"x"
        );
        assert!(
            LocalSealer::derived("other")
                .open(&ctx("acme", "ep_1"), &sealed)
                .await
                .is_err()
        );
    }
}
