//! An endpoint's stored JSON `doc` with its secret material sealed: the `whsec_` signing
//! secrets (current and rotated-out) and the static header values leave the doc, and one
//! `sealed` field holds them, encrypted by a [`Sealer`] bound to the item's tenant and endpoint.
//!
//! Contracts:
//! - Reading: a doc with `sealed` is opened for the tenant and endpoint of the item's key (not
//!   of the doc), so a sealed doc copied under another endpoint fails closed with
//!   [`Error::Unsealable`]. A doc without `sealed` (written before sealing existed) is read
//!   as it is.
//! - Writing with [`Sealing::Seal`] seals the material, so a plaintext item is sealed on its
//!   next write. When the material is unchanged since this process read that version, the
//!   sealed text read is written back without a new seal.
//! - Writing with [`Sealing::OpenOnly`] (a function allowed `kms:Decrypt` only) never seals:
//!   it writes back the sealed text it read, or a plaintext item as it was read; changed
//!   secret material is refused with [`Error::Internal`].

use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::ids::{EndpointId, TenantId};
use crate::receiver_headers::StaticHeaders;
use crate::seal::{SealContext, Sealed, Sealer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Most endpoint versions remembered for writing back unchanged sealed text.
const SEEN_LIMIT: usize = 4096;

/// What a tenants store does with endpoint secrets.
#[derive(Debug, Clone)]
pub enum Sealing {
    /// Seals on write, opens on read (the api).
    Seal(Arc<dyn Sealer>),
    /// Opens on read, and writes back only what it read (deliver).
    OpenOnly(Arc<dyn Sealer>),
}

impl Sealing {
    fn sealer(&self) -> &dyn Sealer {
        match self {
            Sealing::Seal(s) | Sealing::OpenOnly(s) => s.as_ref(),
        }
    }
}

/// The sealed part of an endpoint.
#[derive(Serialize, Deserialize)]
struct Material {
    /// `whsec_…` of every entry of `secrets`, in order.
    secrets: Vec<String>,
    /// Static header values.
    headers: StaticHeaders,
}

/// How one version of an endpoint was stored, as this process read or wrote it.
#[derive(Debug, Clone)]
enum Seen {
    /// Without `sealed`.
    Plain,
    /// Sealed: the digest of the material and the sealed text.
    Sealed { digest: [u8; 32], sealed: String },
}

type SeenKey = (TenantId, EndpointId, u64);

/// Endpoint docs to and from their stored form.
#[derive(Debug, Default)]
pub(crate) struct EndpointDocs {
    sealing: Option<Sealing>,
    seen: Mutex<HashMap<SeenKey, Seen>>,
}

fn material_of(ep: &Endpoint) -> Result<Vec<u8>> {
    serde_json::to_vec(&Material {
        secrets: ep
            .secrets
            .iter()
            .map(|s| s.secret.expose().to_owned())
            .collect(),
        headers: ep.headers.clone(),
    })
    .map_err(|e| Error::Internal(e.to_string()))
}

impl EndpointDocs {
    /// Docs handled as `sealing` says (`None`: written and read in plaintext).
    pub(crate) fn new(sealing: Option<Sealing>) -> Self {
        Self {
            sealing,
            seen: Mutex::default(),
        }
    }

    fn remember(&self, key: SeenKey, seen: Seen) {
        if let Ok(mut map) = self.seen.lock() {
            if map.len() >= SEEN_LIMIT {
                map.clear();
            }
            map.insert(key, seen);
        }
    }

    fn recall(&self, key: &SeenKey) -> Option<Seen> {
        self.seen.lock().ok()?.get(key).cloned()
    }

    /// The doc to store for `ep`.
    pub(crate) async fn write_doc(&self, ep: &Endpoint) -> Result<String> {
        let mut doc = serde_json::to_value(ep).map_err(|e| Error::Internal(e.to_string()))?;
        let Some(sealing) = &self.sealing else {
            return Ok(doc.to_string());
        };
        let material = material_of(ep)?;
        let digest: [u8; 32] = Sha256::digest(&material).into();
        let previous = (
            ep.tenant_id.clone(),
            ep.id.clone(),
            ep.version.saturating_sub(1),
        );
        let context = SealContext::new(&ep.tenant_id, &ep.id);
        let sealed = match (self.recall(&previous), sealing) {
            (Some(Seen::Sealed { digest: d, sealed }), _) if d == digest => sealed,
            (_, Sealing::Seal(sealer)) => {
                sealer.seal(&context, &material).await?.as_str().to_owned()
            }
            (Some(Seen::Plain), Sealing::OpenOnly(_)) => {
                self.remember(
                    (ep.tenant_id.clone(), ep.id.clone(), ep.version),
                    Seen::Plain,
                );
                return Ok(doc.to_string());
            }
            (_, Sealing::OpenOnly(_)) => {
                return Err(Error::Internal(format!(
                    "this function only opens sealed secrets and cannot write new secret material of {context}"
                )));
            }
        };
        strip(&mut doc);
        doc["sealed"] = Value::String(sealed.clone());
        self.remember(
            (ep.tenant_id.clone(), ep.id.clone(), ep.version),
            Seen::Sealed { digest, sealed },
        );
        Ok(doc.to_string())
    }

    /// The endpoint of `doc`, stored under `tenant` and `id`.
    pub(crate) async fn read_doc(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        doc: &str,
    ) -> Result<Endpoint> {
        let mut value: Value = serde_json::from_str(doc)
            .map_err(|e| Error::InvalidData(format!("endpoint doc: {e}")))?;
        let version = value["version"].as_u64().unwrap_or_default();
        let key = (tenant.clone(), id.clone(), version);
        let seen = match value.as_object_mut().and_then(|o| o.remove("sealed")) {
            None => Seen::Plain,
            Some(Value::String(sealed)) => {
                let sealer = self.sealing.as_ref().map(Sealing::sealer).ok_or_else(|| {
                    Error::Internal(format!(
                        "endpoint {id} has sealed secrets and this store has no sealer"
                    ))
                })?;
                let context = SealContext::new(tenant, id);
                let material = sealer
                    .open(&context, &Sealed::from_stored(sealed.clone()))
                    .await?;
                let digest: [u8; 32] = Sha256::digest(&material).into();
                unstrip(&mut value, &material, &context)?;
                Seen::Sealed { digest, sealed }
            }
            Some(_) => return Err(Error::InvalidData(format!("endpoint {id}: sealed"))),
        };
        let ep: Endpoint = serde_json::from_value(value)
            .map_err(|e| Error::InvalidData(format!("endpoint doc: {e}")))?;
        if &ep.id != id || &ep.tenant_id != tenant {
            return Err(Error::InvalidData(format!(
                "endpoint doc of {} stored under {id}",
                ep.id
            )));
        }
        self.remember(key, seen);
        Ok(ep)
    }
}

/// Removes the material from a doc.
fn strip(doc: &mut Value) {
    if let Some(o) = doc.as_object_mut() {
        o.remove("headers");
    }
    if let Some(list) = doc["secrets"].as_array_mut() {
        for s in list {
            if let Some(o) = s.as_object_mut() {
                o.remove("secret");
            }
        }
    }
}

/// Puts opened material back into a stripped doc.
fn unstrip(doc: &mut Value, material: &[u8], context: &SealContext) -> Result<()> {
    let m: Material = serde_json::from_slice(material)
        .map_err(|e| Error::InvalidData(format!("sealed material of {context}: {e}")))?;
    let list = doc["secrets"]
        .as_array_mut()
        .ok_or_else(|| Error::InvalidData(format!("endpoint doc of {context} has no secrets")))?;
    if list.len() != m.secrets.len() {
        return Err(Error::InvalidData(format!(
            "sealed material of {context} holds {} secrets for {} entries",
            m.secrets.len(),
            list.len()
        )));
    }
    for (entry, secret) in list.iter_mut().zip(m.secrets) {
        entry["secret"] = Value::String(secret);
    }
    if !m.headers.is_empty() {
        doc["headers"] =
            serde_json::to_value(&m.headers).map_err(|e| Error::Internal(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::local::LocalSealer;
    use crate::signing::WebhookSecret;

    fn endpoint() -> Endpoint {
        let mut ep = Endpoint::new(
            "acme".parse().unwrap(),
            "https://x.example".into(),
            WebhookSecret::generate().unwrap(),
            chrono::Utc::now(),
        );
        ep.rotate(chrono::Utc::now(), chrono::Duration::hours(1))
            .unwrap();
        ep.headers = StaticHeaders::from_pairs([("authorization", "Bearer t0p")]).unwrap();
        ep
    }

    fn sealer() -> Arc<dyn Sealer> {
        Arc::new(LocalSealer::generate().unwrap())
    }

    #[tokio::test]
    async fn sealed_docs_hold_no_secret_and_read_back_whole() {
        let docs = EndpointDocs::new(Some(Sealing::Seal(sealer())));
        let ep = endpoint();
        let doc = docs.write_doc(&ep).await.unwrap();
        for s in &ep.secrets {
            assert!(!doc.contains(&s.secret.expose()[6..]), "{doc}");
        }
        assert!(
            !doc.contains("t0p") && !doc.contains("authorization"),
            "{doc}"
        );
        assert!(doc.contains("\"sealed\":\"v1."));
        let back = docs.read_doc(&ep.tenant_id, &ep.id, &doc).await.unwrap();
        assert_eq!(back, ep);
    }

    #[tokio::test]
    async fn plaintext_docs_are_read_and_sealed_on_the_next_write() {
        let ep = endpoint();
        let legacy = EndpointDocs::new(None).write_doc(&ep).await.unwrap();
        assert!(legacy.contains(ep.secrets[0].secret.expose()));
        let docs = EndpointDocs::new(Some(Sealing::Seal(sealer())));
        let mut read = docs.read_doc(&ep.tenant_id, &ep.id, &legacy).await.unwrap();
        assert_eq!(read, ep);
        read.version += 1;
        let next = docs.write_doc(&read).await.unwrap();
        assert!(!next.contains(&ep.secrets[0].secret.expose()[6..]));
        assert!(next.contains("\"sealed\""));
    }

    #[tokio::test]
    async fn open_only_writes_back_what_it_read_and_never_seals() {
        let s = sealer();
        let ep = endpoint();
        let sealed_doc = EndpointDocs::new(Some(Sealing::Seal(s.clone())))
            .write_doc(&ep)
            .await
            .unwrap();
        let deliver = EndpointDocs::new(Some(Sealing::OpenOnly(s)));
        let mut read = deliver
            .read_doc(&ep.tenant_id, &ep.id, &sealed_doc)
            .await
            .unwrap();
        read.version += 1;
        read.failing_since = Some(chrono::Utc::now());
        let written = deliver.write_doc(&read).await.unwrap();
        let sealed = |d: &str| serde_json::from_str::<Value>(d).unwrap()["sealed"].clone();
        assert_eq!(
            sealed(&written),
            sealed(&sealed_doc),
            "the same sealed text"
        );
        // Changed material cannot be written by an open-only store.
        read.version += 1;
        read.rotate(chrono::Utc::now(), chrono::Duration::hours(1))
            .unwrap();
        assert!(deliver.write_doc(&read).await.is_err());
        // A plaintext item stays plaintext until a sealing store writes it.
        let legacy = EndpointDocs::new(None).write_doc(&ep).await.unwrap();
        let mut read = deliver
            .read_doc(&ep.tenant_id, &ep.id, &legacy)
            .await
            .unwrap();
        read.version += 1;
        assert!(
            !deliver
                .write_doc(&read)
                .await
                .unwrap()
                .contains("\"sealed\"")
        );
    }

    #[tokio::test]
    async fn a_sealed_doc_under_another_endpoint_fails_closed() {
        let docs = EndpointDocs::new(Some(Sealing::Seal(sealer())));
        let ep = endpoint();
        let doc = docs.write_doc(&ep).await.unwrap();
        let other: EndpointId = "ep_other".parse().unwrap();
        let err = docs
            .read_doc(&ep.tenant_id, &other, &doc)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unsealable { .. }), "{err}");
        let no_sealer = EndpointDocs::new(None);
        assert!(
            no_sealer
                .read_doc(&ep.tenant_id, &ep.id, &doc)
                .await
                .is_err()
        );
    }
}
