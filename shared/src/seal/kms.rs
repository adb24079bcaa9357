//! [`Sealer`] on AWS KMS: a 256-bit data key per [`SealContext`] from `GenerateDataKey`, the
//! secret encrypted locally with AES-256-GCM, the KMS-wrapped data key stored beside it and
//! unwrapped by `Decrypt` with the same encryption context. Unwrapped keys are cached in the
//! warm function ([`KeyCache`]), so a busy endpoint costs one `Decrypt` per cache lifetime.

use super::envelope::{DataKey, Envelope};
use super::key_cache::{KeyCache, KeyCachePolicy};
use super::{SealContext, Sealed, Sealer, unsealable};
use crate::aws::sdk_error;
use crate::error::{Error, Result};
use crate::iam::Actions;
use crate::requests::RequestCounter;
use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::operation::decrypt::DecryptError;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use std::time::Instant;

/// Envelope encryption under one KMS key.
#[derive(Debug)]
pub struct KmsSealer {
    client: Client,
    key_id: String,
    /// Data keys for sealing, by context, with their wrapped form.
    sealing: KeyCache<SealContext, (DataKey, Vec<u8>)>,
    /// Unwrapped data keys, by context and wrapped form.
    opening: KeyCache<(SealContext, Vec<u8>), DataKey>,
    requests: RequestCounter,
}

impl KmsSealer {
    /// IAM actions of [`Sealer::seal`].
    pub const SEAL: Actions = &["kms:GenerateDataKey"];
    /// IAM actions of [`Sealer::open`].
    pub const OPEN: Actions = &["kms:Decrypt"];

    /// Seals under `key_id` (an ARN), caching data keys by `cache`.
    pub fn new(
        client: Client,
        key_id: impl Into<String>,
        cache: KeyCachePolicy,
        requests: RequestCounter,
    ) -> Self {
        Self {
            client,
            key_id: key_id.into(),
            sealing: KeyCache::new(cache),
            opening: KeyCache::new(cache),
            requests,
        }
    }

    /// [`KmsSealer::new`] with a client built from `config`.
    pub fn from_config(
        config: &aws_config::SdkConfig,
        key_id: impl Into<String>,
        cache: KeyCachePolicy,
        requests: RequestCounter,
    ) -> Self {
        Self::new(Client::new(config), key_id, cache, requests)
    }

    async fn data_key(&self, context: &SealContext) -> Result<(DataKey, Vec<u8>)> {
        let now = Instant::now();
        if let Some(hit) = self.sealing.get(context, now) {
            return Ok(hit);
        }
        self.requests.record("kms:GenerateDataKey");
        let mut req = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256);
        for (k, v) in context.pairs() {
            req = req.encryption_context(k, v);
        }
        let out = req
            .send()
            .await
            .map_err(|e| sdk_error("GenerateDataKey", e))?;
        let (Some(plain), Some(wrapped)) = (out.plaintext(), out.ciphertext_blob()) else {
            return Err(Error::Internal("GenerateDataKey returned no key".into()));
        };
        let key = DataKey::from_slice(plain.as_ref())?;
        let entry = (key, wrapped.as_ref().to_vec());
        self.sealing.put(context.clone(), entry.clone(), now);
        Ok(entry)
    }

    async fn unwrap_key(&self, context: &SealContext, wrapped: &[u8]) -> Result<DataKey> {
        let now = Instant::now();
        let cache_key = (context.clone(), wrapped.to_vec());
        if let Some(hit) = self.opening.get(&cache_key, now) {
            return Ok(hit);
        }
        self.requests.record("kms:Decrypt");
        let mut req = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped));
        for (k, v) in context.pairs() {
            req = req.encryption_context(k, v);
        }
        let out = req.send().await.map_err(|e| {
            // KMS answers InvalidCiphertextException when the encryption context (or the
            // blob) does not match, IncorrectKeyException when another key wrapped it.
            match e.as_service_error() {
                Some(DecryptError::InvalidCiphertextException(_)) => unsealable(
                    context,
                    "KMS refused the data key: its encryption context is not this endpoint's",
                ),
                Some(DecryptError::IncorrectKeyException(_)) => unsealable(
                    context,
                    "KMS refused the data key: sealed under another key",
                ),
                _ => sdk_error("Decrypt", e),
            }
        })?;
        let plain = out
            .plaintext()
            .ok_or_else(|| Error::Internal("Decrypt returned no plaintext".into()))?;
        let key = DataKey::from_slice(plain.as_ref())?;
        self.opening.put(cache_key, key.clone(), now);
        Ok(key)
    }
}

#[async_trait]
impl Sealer for KmsSealer {
    async fn seal(&self, context: &SealContext, plaintext: &[u8]) -> Result<Sealed> {
        let (key, wrapped) = self.data_key(context).await?;
        Ok(Envelope::seal(&key, wrapped, context, plaintext)?.to_sealed())
    }

    async fn open(&self, context: &SealContext, sealed: &Sealed) -> Result<Vec<u8>> {
        let envelope = Envelope::parse(sealed, context)?;
        let key = self.unwrap_key(context, &envelope.wrapped_key).await?;
        envelope.open(&key, context)
    }
}
