//! [`PermitStore`] on the deliveries table, one item per endpoint:
//!
//! | item    | pk                              | sk        | attributes |
//! |---------|---------------------------------|-----------|------------|
//! | permits | `PERMITS#{tenant}#{endpoint}`   | `PERMITS` | `doc` (JSON), `version`, `expires_at` (unix s, TTL) |
//!
//! A read is a consistent `GetItem`; a write one `UpdateItem` conditional on the version read
//! (`attribute_not_exists(pk)` for version 0).

use super::PermitStore;
use crate::attrs::{get_opt_n, get_opt_s, n, s};
use crate::aws::sdk_error;
use crate::endpoint_limits::Permits;
use crate::error::{Error, Result};
use crate::iam::Actions;
use crate::ids::{EndpointId, TenantId};
use crate::requests::RequestCounter;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;

const SK: &str = "PERMITS";
/// An idle endpoint's item goes away after a day.
const RETENTION_SECS: i64 = 86_400;

/// Endpoint permits in the deliveries table.
#[derive(Debug, Clone)]
pub struct DynamoPermits {
    client: Client,
    table: String,
    requests: RequestCounter,
}

impl DynamoPermits {
    /// IAM actions of [`PermitStore::permits`].
    pub const PERMITS: Actions = &["dynamodb:GetItem"];
    /// IAM actions of [`PermitStore::put_permits`].
    pub const PUT_PERMITS: Actions = &["dynamodb:UpdateItem"];

    /// Uses `table` (the deliveries table).
    pub fn new(client: Client, table: impl Into<String>, requests: RequestCounter) -> Self {
        Self {
            client,
            table: table.into(),
            requests,
        }
    }
}

fn pk(tenant: &TenantId, endpoint: &EndpointId) -> String {
    format!("PERMITS#{tenant}#{endpoint}")
}

#[async_trait]
impl PermitStore for DynamoPermits {
    async fn permits(&self, tenant: &TenantId, endpoint: &EndpointId) -> Result<(Permits, u64)> {
        self.requests.record("dynamodb:GetItem");
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk(tenant, endpoint)))
            .key("sk", s(SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        let Some(item) = out.item else {
            return Ok((Permits::default(), 0));
        };
        let permits = match get_opt_s(&item, "doc") {
            Some(doc) => serde_json::from_str(doc)
                .map_err(|e| Error::InvalidData(format!("permits doc: {e}")))?,
            None => Permits::default(),
        };
        Ok((permits, get_opt_n(&item, "version").unwrap_or(0)))
    }

    async fn put_permits(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        permits: &Permits,
        expected: u64,
    ) -> Result<bool> {
        let doc = serde_json::to_string(permits).map_err(|e| Error::Internal(e.to_string()))?;
        self.requests.record("dynamodb:UpdateItem");
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk(tenant, endpoint)))
            .key("sk", s(SK))
            .update_expression("SET doc = :doc, version = :next, expires_at = :ttl")
            .expression_attribute_values(":doc", s(doc))
            .expression_attribute_values(":next", n(expected + 1))
            .expression_attribute_values(
                ":ttl",
                n(chrono::Utc::now().timestamp() + RETENTION_SECS),
            );
        update = if expected == 0 {
            update.condition_expression("attribute_not_exists(pk)")
        } else {
            update
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(expected))
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(false),
                _ => Err(sdk_error("UpdateItem", e)),
            },
        }
    }
}
