//! [`TenantStore`] and [`SubscriptionStore`] on DynamoDB: one table, `pk` (S) + `sk` (S).
//!
//! | item     | pk              | sk               | attributes |
//! |----------|-----------------|------------------|------------|
//! | tenant   | `TENANT#{id}`   | `TENANT`         | max_streams, created_at |
//! | endpoint | `TENANT#{id}`   | `ENDPOINT#{ep}`  | filters (list), enabled, version, doc (the endpoint as JSON, its secrets sealed: [`super::sealed_doc`]) |
//! | api key  | `KEY#{sha256}`  | `KEY`            | tenant_id, scopes (list), prefix, created_at |
//!
//! A tenant's row and its endpoints share a partition, so fanout learns both with one Query.

use super::sealed_doc::{EndpointDocs, Sealing};
use super::{EndpointStore, SubscriptionStore, TenantStore};
use crate::apikey::{KeyHash, KeyRecord, Scope};
use crate::attrs::{Item, get_bool, get_list_s, get_n, get_s, get_time, n, parse, s};
use crate::aws::sdk_error;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::event::format_time;
use crate::iam::Actions;
use crate::ids::{EndpointId, TenantId};
use crate::requests::RequestCounter;
use crate::subscription::{EventFilter, Subscription};
use crate::tenant::Tenant;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use std::sync::Arc;

const TENANT_SK: &str = "TENANT";
const ENDPOINT_PREFIX: &str = "ENDPOINT#";

/// The tenants table.
#[derive(Debug, Clone)]
pub struct DynamoTenants {
    client: Client,
    table: String,
    requests: RequestCounter,
    docs: Arc<EndpointDocs>,
}

impl DynamoTenants {
    /// IAM actions of [`TenantStore::create_tenant`] (a conditional put).
    pub const CREATE_TENANT: Actions = &["dynamodb:PutItem"];
    /// IAM actions of [`TenantStore::tenant`].
    pub const TENANT: Actions = &["dynamodb:GetItem"];
    /// IAM actions of [`TenantStore::put_key`].
    pub const PUT_KEY: Actions = &["dynamodb:PutItem"];
    /// IAM actions of [`TenantStore::key`] (API-key lookup).
    pub const KEY: Actions = &["dynamodb:GetItem"];
    /// IAM actions of [`SubscriptionStore::subscriptions`] (the tenant's partition).
    pub const SUBSCRIPTIONS: Actions = &["dynamodb:Query"];
    /// IAM actions of [`EndpointStore::create_endpoint`].
    pub const CREATE_ENDPOINT: Actions = &["dynamodb:PutItem"];
    /// IAM actions of [`EndpointStore::endpoint`].
    pub const ENDPOINT: Actions = &["dynamodb:GetItem"];
    /// IAM actions of [`EndpointStore::endpoints`].
    pub const ENDPOINTS: Actions = &["dynamodb:Query"];
    /// IAM actions of [`EndpointStore::update_endpoint`] (a put conditional on the version).
    pub const UPDATE_ENDPOINT: Actions = &["dynamodb:PutItem"];
    /// IAM actions of [`EndpointStore::delete_endpoint`].
    pub const DELETE_ENDPOINT: Actions = &["dynamodb:DeleteItem"];

    /// Uses `table` through `client`.
    pub fn new(client: Client, table: impl Into<String>, requests: RequestCounter) -> Self {
        Self {
            client,
            table: table.into(),
            requests,
            docs: Arc::new(EndpointDocs::new(None)),
        }
    }

    /// Seals (or only opens) endpoint secrets as `sealing` says. Without it, endpoint docs are
    /// written in plaintext and sealed ones cannot be read: only tools and tests that never
    /// touch secrets go without.
    pub fn with_sealing(mut self, sealing: Sealing) -> Self {
        self.docs = Arc::new(EndpointDocs::new(Some(sealing)));
        self
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>> {
        self.requests.record("dynamodb:GetItem");
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(out.item)
    }

    /// A put that may carry a condition; `false` when the condition failed.
    async fn put(&self, item: Item, condition: Put) -> Result<bool> {
        self.requests.record("dynamodb:PutItem");
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        req = match condition {
            Put::Always => req,
            Put::IfNew => req.condition_expression("attribute_not_exists(pk)"),
            Put::IfVersion(v) => req
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(v)),
        };
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_error("PutItem", e)),
        }
    }
}

/// The condition of a put.
#[derive(Debug, Clone, Copy)]
enum Put {
    /// Unconditional.
    Always,
    /// Only if the item does not exist.
    IfNew,
    /// Only if the stored `version` is this one.
    IfVersion(u64),
}

fn tenant_pk(id: &TenantId) -> String {
    format!("TENANT#{id}")
}

fn key_pk(hash: &KeyHash) -> String {
    format!("KEY#{}", hash.0)
}

fn list(values: impl IntoIterator<Item = String>) -> AttributeValue {
    AttributeValue::L(values.into_iter().map(AttributeValue::S).collect())
}

fn item(pairs: impl IntoIterator<Item = (&'static str, AttributeValue)>) -> Item {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn tenant_from_item(it: &Item) -> Result<Tenant> {
    let pk = get_s(it, "pk")?;
    let id = pk
        .strip_prefix("TENANT#")
        .ok_or_else(|| Error::InvalidData(format!("tenant pk {pk}")))?;
    Ok(Tenant {
        id: parse("pk", id)?,
        max_streams: get_n(it, "max_streams")?,
        created_at: get_time(it, "created_at")?,
    })
}

fn subscription_from_item(it: &Item) -> Result<Subscription> {
    let sk = get_s(it, "sk")?;
    let id = sk
        .strip_prefix(ENDPOINT_PREFIX)
        .ok_or_else(|| Error::InvalidData(format!("endpoint sk {sk}")))?;
    let filters = get_list_s(it, "filters")?
        .iter()
        .map(|f| EventFilter::parse(f).map_err(Error::InvalidData))
        .collect::<Result<Vec<_>>>()?;
    Ok(Subscription {
        endpoint_id: EndpointId::parse(id).map_err(|e| Error::InvalidData(e.0))?,
        filters,
        enabled: get_bool(it, "enabled")?,
    })
}

#[async_trait]
impl TenantStore for DynamoTenants {
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()> {
        let it = item([
            ("pk", s(tenant_pk(&tenant.id))),
            ("sk", s(TENANT_SK)),
            ("max_streams", n(tenant.max_streams)),
            ("created_at", s(format_time(&tenant.created_at))),
        ]);
        if self.put(it, Put::IfNew).await? {
            Ok(())
        } else {
            Err(Error::AlreadyExists(format!("tenant {}", tenant.id)))
        }
    }

    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>> {
        self.get(tenant_pk(id), TENANT_SK)
            .await?
            .as_ref()
            .map(tenant_from_item)
            .transpose()
    }

    async fn put_key(&self, key: &KeyRecord) -> Result<()> {
        let it = item([
            ("pk", s(key_pk(&key.hash))),
            ("sk", s("KEY")),
            ("tenant_id", s(key.tenant_id.as_str())),
            (
                "scopes",
                list(key.scopes.iter().map(|sc| sc.as_str().to_owned())),
            ),
            ("prefix", s(&key.prefix)),
            ("created_at", s(format_time(&key.created_at))),
        ]);
        self.put(it, Put::Always).await.map(|_| ())
    }

    async fn key(&self, hash: &KeyHash) -> Result<Option<KeyRecord>> {
        let Some(it) = self.get(key_pk(hash), "KEY").await? else {
            return Ok(None);
        };
        let scopes =
            Scope::parse_list(&get_list_s(&it, "scopes")?.join(",")).map_err(Error::InvalidData)?;
        Ok(Some(KeyRecord {
            hash: hash.clone(),
            tenant_id: parse("tenant_id", get_s(&it, "tenant_id")?)?,
            scopes,
            prefix: get_s(&it, "prefix")?.to_owned(),
            created_at: get_time(&it, "created_at")?,
        }))
    }
}

#[async_trait]
impl SubscriptionStore for DynamoTenants {
    async fn subscriptions(&self, tenant: &TenantId) -> Result<Option<Vec<Subscription>>> {
        let items = self.query_tenant(tenant).await?;
        let mut found_tenant = false;
        let mut subs = Vec::new();
        for it in &items {
            match get_s(it, "sk")? {
                TENANT_SK => found_tenant = true,
                sk if sk.starts_with(ENDPOINT_PREFIX) => subs.push(subscription_from_item(it)?),
                _ => {}
            }
        }
        Ok(found_tenant.then_some(subs))
    }
}

fn endpoint_sk(id: &EndpointId) -> String {
    format!("{ENDPOINT_PREFIX}{id}")
}

fn endpoint_item(ep: &Endpoint, doc: String) -> Item {
    item([
        ("pk", s(tenant_pk(&ep.tenant_id))),
        ("sk", s(endpoint_sk(&ep.id))),
        // `filters` and `enabled` are the subscription projection fanout reads.
        (
            "filters",
            list(ep.filters.iter().map(|f| f.as_str().to_owned())),
        ),
        ("enabled", AttributeValue::Bool(ep.is_enabled())),
        ("version", n(ep.version)),
        ("doc", s(doc)),
    ])
}

impl DynamoTenants {
    async fn endpoint_item(&self, ep: &Endpoint) -> Result<Item> {
        Ok(endpoint_item(ep, self.docs.write_doc(ep).await?))
    }

    /// The endpoint of an item, opened for the tenant and endpoint of its key.
    async fn endpoint_from_item(&self, it: &Item) -> Result<Endpoint> {
        let pk = get_s(it, "pk")?;
        let sk = get_s(it, "sk")?;
        let tenant = pk
            .strip_prefix("TENANT#")
            .ok_or_else(|| Error::InvalidData(format!("endpoint pk {pk}")))?;
        let id = sk
            .strip_prefix(ENDPOINT_PREFIX)
            .ok_or_else(|| Error::InvalidData(format!("endpoint sk {sk}")))?;
        let tenant: TenantId = parse("pk", tenant)?;
        let id = EndpointId::parse(id).map_err(|e| Error::InvalidData(e.0))?;
        self.docs.read_doc(&tenant, &id, get_s(it, "doc")?).await
    }

    async fn query_tenant(&self, tenant: &TenantId) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            self.requests.record("dynamodb:Query");
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(tenant_pk(tenant)))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            items.extend(out.items().iter().cloned());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }
}

#[async_trait]
impl EndpointStore for DynamoTenants {
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<()> {
        if self
            .put(self.endpoint_item(endpoint).await?, Put::IfNew)
            .await?
        {
            Ok(())
        } else {
            Err(Error::AlreadyExists(format!("endpoint {}", endpoint.id)))
        }
    }

    async fn endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<Option<Endpoint>> {
        match self.get(tenant_pk(tenant), &endpoint_sk(id)).await? {
            Some(it) => self.endpoint_from_item(&it).await.map(Some),
            None => Ok(None),
        }
    }

    async fn endpoints(&self, tenant: &TenantId) -> Result<Vec<Endpoint>> {
        let mut out = Vec::new();
        for it in self.query_tenant(tenant).await? {
            if get_s(&it, "sk").is_ok_and(|sk| sk.starts_with(ENDPOINT_PREFIX)) {
                out.push(self.endpoint_from_item(&it).await?);
            }
        }
        Ok(out)
    }

    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<bool> {
        let expected = endpoint.version.saturating_sub(1);
        self.put(
            self.endpoint_item(endpoint).await?,
            Put::IfVersion(expected),
        )
        .await
    }

    async fn delete_endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<bool> {
        self.requests.record("dynamodb:DeleteItem");
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(endpoint_sk(id)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_error("DeleteItem", e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}
