//! [`AttemptLog`] on DynamoDB: the deliveries table, `pk` (S) `EP#{tenant}#{endpoint}` +
//! `sk` (S) `{time}#{webhook_id}#{attempt}`, TTL on `expires_at`; the record as JSON in `doc`.

use super::{AttemptLog, AttemptPage, AttemptRecord, sort_key};
use crate::attrs::{Item, get_s, n, s};
use crate::aws::sdk_error;
use crate::error::{Error, Result};
use crate::iam::Actions;
use crate::ids::{EndpointId, TenantId};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use chrono::Duration;

/// The deliveries table.
#[derive(Debug, Clone)]
pub struct DynamoAttempts {
    client: Client,
    table: String,
    retention: Duration,
}

impl DynamoAttempts {
    /// IAM actions of [`AttemptLog::record`].
    pub const RECORD: Actions = &["dynamodb:BatchWriteItem"];
    /// IAM actions of [`AttemptLog::list`].
    pub const LIST: Actions = &["dynamodb:Query"];

    /// Uses `table`; records expire `retention` after the attempt.
    pub fn new(client: Client, table: impl Into<String>, retention: Duration) -> Self {
        Self {
            client,
            table: table.into(),
            retention,
        }
    }
}

fn pk(tenant: &TenantId, endpoint: &EndpointId) -> String {
    format!("EP#{tenant}#{endpoint}")
}

#[async_trait]
impl AttemptLog for DynamoAttempts {
    async fn record(&self, attempts: &[AttemptRecord]) -> Result<()> {
        for chunk in attempts.chunks(25) {
            let mut writes = Vec::with_capacity(chunk.len());
            for a in chunk {
                let doc = serde_json::to_string(a).map_err(|e| Error::Internal(e.to_string()))?;
                let item: Item = [
                    ("pk", s(pk(&a.tenant_id, &a.endpoint_id))),
                    ("sk", s(sort_key(a))),
                    ("doc", s(doc)),
                    ("expires_at", n((a.at + self.retention).timestamp())),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| Error::Internal(e.to_string()))?;
                writes.push(WriteRequest::builder().put_request(put).build());
            }
            let mut pending = Some(writes);
            let mut backoff = std::time::Duration::from_millis(20);
            while let Some(w) = pending.take() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, w)
                    .send()
                    .await
                    .map_err(|e| sdk_error("BatchWriteItem", e))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|w| !w.is_empty());
                if pending.is_some() {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
                }
            }
        }
        Ok(())
    }

    async fn list(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<AttemptPage> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .scan_index_forward(false)
            .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(100))
            .expression_attribute_values(":pk", s(pk(tenant, endpoint)));
        query = match cursor {
            Some(c) => query
                .key_condition_expression("pk = :pk AND sk < :c")
                .expression_attribute_values(":c", s(c)),
            None => query.key_condition_expression("pk = :pk"),
        };
        let out = query.send().await.map_err(|e| sdk_error("Query", e))?;
        let attempts = out
            .items()
            .iter()
            .map(|it| {
                serde_json::from_str(get_s(it, "doc")?)
                    .map_err(|e| Error::InvalidData(format!("attempt doc: {e}")))
            })
            .collect::<Result<Vec<AttemptRecord>>>()?;
        let cursor = out
            .last_evaluated_key
            .as_ref()
            .and_then(|k| k.get("sk"))
            .and_then(|v| v.as_s().ok())
            .cloned();
        Ok(AttemptPage { attempts, cursor })
    }
}
