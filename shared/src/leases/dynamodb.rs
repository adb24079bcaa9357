//! [`LeaseStore`] on the tenants table. One item per held slot:
//!
//! | item        | pk                  | sk            | attributes |
//! |-------------|---------------------|---------------|------------|
//! | stream slot | `STREAMS#{tenant}`  | `SLOT#{n:05}` | `holder`, `lease_until` (unix ms), `expires_at` (unix s, TTL), `client` (optional [`ClientKey`]) |
//!
//! A claim reads the tenant's slots with one consistent `Query`, then writes a free one with
//! `attribute_not_exists(pk) OR lease_until <= :now`; losing that race moves on to the next
//! free slot. A claim that names its client tries that client's slot first, and its writes
//! also succeed on a slot held under the same client (`OR client = :client`): a takeover,
//! never a second slot. Renew and release are conditional on `holder`.

use super::{
    Claim, ClientKey, HeldSlot, Lease, LeaseStore, Renewal, candidates, lease_expiry, new_holder,
};
use crate::attrs::{Item, get_n, get_s, n, s};
use crate::aws::sdk_error;
use crate::error::{Error, Result};
use crate::iam::Actions;
use crate::ids::TenantId;
use crate::requests::RequestCounter;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use chrono::{DateTime, TimeZone, Utc};
use std::time::Duration;

const SLOT_PREFIX: &str = "SLOT#";

/// Stream slots in the tenants table.
#[derive(Debug, Clone)]
pub struct DynamoLeases {
    client: Client,
    table: String,
    requests: RequestCounter,
}

impl DynamoLeases {
    /// IAM actions of [`LeaseStore::acquire`]: the tenant's slots, then a conditional put.
    pub const ACQUIRE: Actions = &["dynamodb:Query", "dynamodb:PutItem"];
    /// IAM actions of [`LeaseStore::renew`].
    pub const RENEW: Actions = &["dynamodb:UpdateItem"];
    /// IAM actions of [`LeaseStore::release`].
    pub const RELEASE: Actions = &["dynamodb:DeleteItem"];

    /// Uses `table` (the tenants table) through `client`.
    pub fn new(client: Client, table: impl Into<String>, requests: RequestCounter) -> Self {
        Self {
            client,
            table: table.into(),
            requests,
        }
    }

    /// Slots of `tenant` with their lease expiry, whether expired or not.
    async fn held(&self, tenant: &TenantId) -> Result<Vec<HeldSlot>> {
        let mut held = Vec::new();
        let mut start = None;
        loop {
            self.requests.record("dynamodb:Query");
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pk(tenant)))
                .projection_expression("sk, lease_until, client")
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            for item in out.items() {
                held.push(slot_from_item(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(held);
            }
        }
    }

    /// Writes a slot if it is free or held under the lease's client; false when another
    /// holder has it.
    async fn claim(&self, lease: &Lease, now: DateTime<Utc>) -> Result<bool> {
        self.requests.record("dynamodb:PutItem");
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk(&lease.tenant_id)))
            .item("sk", s(sk(lease.slot)))
            .item("holder", s(&lease.holder))
            .item("lease_until", n(lease.expires_at.timestamp_millis()))
            .item("expires_at", n(lease.expires_at.timestamp() + 1))
            .expression_attribute_values(":now", n(now.timestamp_millis()));
        put = match &lease.client {
            Some(client) => put
                .item("client", s(client.as_str()))
                .condition_expression(
                    "attribute_not_exists(pk) OR lease_until <= :now OR client = :client",
                )
                .expression_attribute_values(":client", s(client.as_str())),
            None => put.condition_expression("attribute_not_exists(pk) OR lease_until <= :now"),
        };
        let put = put.send().await;
        match put {
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

#[async_trait]
impl LeaseStore for DynamoLeases {
    async fn acquire(
        &self,
        tenant: &TenantId,
        client: Option<&ClientKey>,
        max: u32,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Claim> {
        let held = self.held(tenant).await?;
        let (holder, start) = new_holder();
        let expires_at = lease_expiry(now, ttl);
        for slot in candidates(&held, client, max, now, start) {
            let lease = Lease {
                tenant_id: tenant.clone(),
                slot,
                client: client.cloned(),
                holder: holder.clone(),
                expires_at,
            };
            if self.claim(&lease, now).await? {
                return Ok(Claim::Granted(lease));
            }
        }
        Ok(Claim::Full)
    }

    async fn renew(&self, lease: &Lease, now: DateTime<Utc>, ttl: Duration) -> Result<Renewal> {
        self.requests.record("dynamodb:UpdateItem");
        let expires_at = lease_expiry(now, ttl);
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk(&lease.tenant_id)))
            .key("sk", s(sk(lease.slot)))
            .update_expression("SET lease_until = :until, expires_at = :ttl")
            .condition_expression("holder = :me")
            .expression_attribute_values(":until", n(expires_at.timestamp_millis()))
            .expression_attribute_values(":ttl", n(expires_at.timestamp() + 1))
            .expression_attribute_values(":me", s(&lease.holder))
            .send()
            .await;
        match update {
            Ok(_) => Ok(Renewal::Renewed(Lease {
                expires_at,
                ..lease.clone()
            })),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(Renewal::Lost)
            }
            Err(e) => Err(sdk_error("UpdateItem", e)),
        }
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        self.requests.record("dynamodb:DeleteItem");
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk(&lease.tenant_id)))
            .key("sk", s(sk(lease.slot)))
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", s(&lease.holder))
            .send()
            .await;
        match delete {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(DeleteItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_error("DeleteItem", e)),
        }
    }
}

fn pk(tenant: &TenantId) -> String {
    format!("STREAMS#{tenant}")
}

fn sk(slot: u32) -> String {
    format!("{SLOT_PREFIX}{slot:05}")
}

fn slot_from_item(item: &Item) -> Result<HeldSlot> {
    let sk = get_s(item, "sk")?;
    let slot = sk
        .strip_prefix(SLOT_PREFIX)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Error::InvalidData(format!("slot sk {sk}")))?;
    let until: i64 = get_n(item, "lease_until")?;
    let until = Utc
        .timestamp_millis_opt(until)
        .single()
        .ok_or_else(|| Error::InvalidData(format!("lease_until {until}")))?;
    let client = item
        .get("client")
        .and_then(|v| v.as_s().ok())
        .map(|c| ClientKey::from_stored(c.as_str()));
    Ok(HeldSlot {
        slot,
        expires_at: until,
        client,
    })
}
