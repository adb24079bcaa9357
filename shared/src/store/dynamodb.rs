//! [`EventStore`] on DynamoDB: one table, `pk` (S) + `sk` (N), TTL on `expires_at`.
//!
//! | item   | pk                      | sk  | attributes |
//! |--------|-------------------------|-----|------------|
//! | head   | `T#{tenant}#{task}`     | 0   | status, last_seq, terminal_seq, shard_id, position, version, created_at, updated_at |
//! | event  | `T#{tenant}#{task}`     | seq | id, type, time, data (JSON text) |
//! | marker | `ID#{tenant}#{event_id}`| 0   | task_id, seq |
//!
//! Ids cannot contain `#`, so keys never collide across tenants or kinds.

use super::{EventStore, MAX_KEYS_PER_BATCH_GET};
use crate::attrs::{Item, get_n, get_opt_n, get_opt_s, get_s, get_time, n, parse, s};
use crate::aws::sdk_error;
use crate::error::{Error, Result};
use crate::event::{Envelope, EventType, format_time};
use crate::head::{StreamPosition, TaskHead, TaskStatus};
use crate::iam::Actions;
use crate::ids::{EventId, Seq, TaskId, TaskKey, TenantId};
use crate::requests::RequestCounter;
use crate::sequence::CommitChunk;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{KeysAndAttributes, Put, TransactWriteItem};
use chrono::{Duration, Utc};
use std::collections::HashMap;

/// The events table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    retention: Duration,
    requests: RequestCounter,
}

impl DynamoStore {
    /// IAM actions of [`EventStore::heads`] (`BatchGetItem`).
    pub const HEADS: Actions = &["dynamodb:BatchGetItem"];
    /// IAM actions of [`EventStore::commit`]: a `TransactWriteItems` of conditional Puts is
    /// authorised as `PutItem`; a cancelled transaction's conflicts are read back with `GetItem`.
    pub const COMMIT: Actions = &["dynamodb:PutItem", "dynamodb:GetItem"];
    /// IAM actions of [`EventStore::head`].
    pub const HEAD: Actions = &["dynamodb:GetItem"];
    /// IAM actions of [`EventStore::events`].
    pub const EVENTS: Actions = &["dynamodb:Query"];
    /// IAM actions of [`EventStore::events_at`].
    pub const EVENTS_AT: Actions = &["dynamodb:BatchGetItem"];
    /// IAM actions of [`EventStore::find_event`] (the id marker).
    pub const FIND_EVENT: Actions = &["dynamodb:GetItem"];

    /// Uses `table`; items expire `retention` after they are written.
    pub fn new(
        client: Client,
        table: impl Into<String>,
        retention: Duration,
        requests: RequestCounter,
    ) -> Self {
        Self {
            client,
            table: table.into(),
            retention,
            requests,
        }
    }

    fn expires_at(&self) -> i64 {
        (Utc::now() + self.retention).timestamp()
    }

    async fn get(&self, pk: String) -> Result<Option<Item>> {
        self.requests.record("dynamodb:GetItem");
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", n(0))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(out.item)
    }

    /// Strongly consistent `BatchGetItem`s of `keys`, [`MAX_KEYS_PER_BATCH_GET`] at a time;
    /// keys without an item are absent from the answer, which is in no particular order.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>> {
        let mut found = Vec::new();
        for chunk in keys.chunks(MAX_KEYS_PER_BATCH_GET) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| Error::Internal(e.to_string()))?,
            );
            let mut backoff = std::time::Duration::from_millis(20);
            while let Some(ka) = pending.take() {
                self.requests.record("dynamodb:BatchGetItem");
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, ka)
                    .send()
                    .await
                    .map_err(|e| sdk_error("BatchGetItem", e))?;
                found.extend(
                    out.responses
                        .unwrap_or_default()
                        .remove(&self.table)
                        .unwrap_or_default(),
                );
                // Unprocessed keys come back under throttling: retry them with backoff.
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|ka| !ka.keys().is_empty());
                if pending.is_some() {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
                }
            }
        }
        Ok(found)
    }

    /// Which ids and heads of a failed transaction conflict, read back when the service did
    /// not say (some emulators omit cancellation reasons).
    async fn find_conflicts(&self, chunks: &[CommitChunk]) -> Result<Error> {
        let keys: Vec<TaskKey> = chunks.iter().map(|c| c.key.clone()).collect();
        let heads = self.heads(&keys).await?;
        let moved_heads = chunks
            .iter()
            .filter(|c| heads.get(&c.key).map(|h| h.version) != c.base.as_ref().map(|b| b.version))
            .map(|c| c.key.clone())
            .collect();
        let mut duplicates = Vec::new();
        for e in chunks.iter().flat_map(|c| &c.events) {
            if self.get(marker_pk(&e.tenant_id, &e.id)).await?.is_some() {
                duplicates.push((e.tenant_id.clone(), e.id.clone()));
            }
        }
        Ok(Error::CommitConflict {
            duplicates,
            moved_heads,
        })
    }
}

fn task_pk(key: &TaskKey) -> String {
    format!("T#{}#{}", key.tenant_id, key.task_id)
}

fn marker_pk(tenant: &TenantId, id: &EventId) -> String {
    format!("ID#{tenant}#{id}")
}

/// What each action of a transaction guards, to map cancellation reasons back.
enum Role {
    Head(TaskKey),
    Event,
    Marker(TenantId, EventId),
}

fn head_item(h: &TaskHead, expires_at: i64) -> Item {
    let mut item: Item = [
        ("pk", s(task_pk(&h.key))),
        ("sk", n(0)),
        ("tenant_id", s(h.key.tenant_id.as_str())),
        ("task_id", s(h.key.task_id.as_str())),
        ("status", s(h.status.as_str())),
        ("last_seq", n(h.last_seq.0)),
        ("version", n(h.version)),
        ("created_at", s(format_time(&h.created_at))),
        ("updated_at", s(format_time(&h.updated_at))),
        ("expires_at", n(expires_at)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(t) = h.terminal_seq {
        item.insert("terminal_seq".into(), n(t.0));
    }
    if let Some(p) = &h.position {
        item.insert("shard_id".into(), s(&p.shard_id));
        item.insert("position".into(), s(&p.sequence_number));
    }
    item
}

fn head_from_item(item: &Item) -> Result<TaskHead> {
    let key = TaskKey::new(
        parse("tenant_id", get_s(item, "tenant_id")?)?,
        parse("task_id", get_s(item, "task_id")?)?,
    );
    let status = TaskStatus::parse(get_s(item, "status")?)
        .ok_or_else(|| Error::InvalidData("attribute status: unknown value".into()))?;
    let position = match (get_opt_s(item, "shard_id"), get_opt_s(item, "position")) {
        (Some(shard), Some(seq)) => Some(StreamPosition::new(shard, seq)),
        _ => None,
    };
    Ok(TaskHead {
        key,
        status,
        last_seq: Seq(get_n(item, "last_seq")?),
        terminal_seq: get_opt_n(item, "terminal_seq").map(Seq),
        position,
        created_at: get_time(item, "created_at")?,
        updated_at: get_time(item, "updated_at")?,
        version: get_n(item, "version")?,
    })
}

fn event_item(e: &Envelope, expires_at: i64) -> Result<Item> {
    let data = serde_json::to_string(&e.data).map_err(|err| Error::Internal(err.to_string()))?;
    Ok([
        ("pk", s(task_pk(&e.task_key()))),
        ("sk", n(e.seq.0)),
        ("id", s(e.id.as_str())),
        ("type", s(e.event_type.as_str())),
        ("time", s(format_time(&e.time))),
        ("data", s(data)),
        ("expires_at", n(expires_at)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect())
}

fn event_from_item(key: &TaskKey, item: &Item) -> Result<Envelope> {
    Ok(Envelope {
        id: parse("id", get_s(item, "id")?)?,
        event_type: EventType::parse(get_s(item, "type")?).map_err(Error::InvalidData)?,
        tenant_id: key.tenant_id.clone(),
        task_id: key.task_id.clone(),
        seq: Seq(get_n(item, "sk")?),
        time: get_time(item, "time")?,
        data: serde_json::from_str(get_s(item, "data")?)
            .map_err(|e| Error::InvalidData(format!("attribute data: {e}")))?,
    })
}

fn marker_item(e: &Envelope, expires_at: i64) -> Item {
    [
        ("pk", s(marker_pk(&e.tenant_id, &e.id))),
        ("sk", n(0)),
        ("task_id", s(e.task_id.as_str())),
        ("seq", n(e.seq.0)),
        ("expires_at", n(expires_at)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn put(
    table: &str,
    item: Item,
    condition: Option<(&str, Option<(&str, String)>)>,
) -> Result<TransactWriteItem> {
    let mut p = Put::builder().table_name(table).set_item(Some(item));
    if let Some((expr, value)) = condition {
        p = p.condition_expression(expr);
        if let Some((name, v)) = value {
            p = p.expression_attribute_values(name, n(v));
        }
    }
    Ok(TransactWriteItem::builder()
        .put(p.build().map_err(|e| Error::Internal(e.to_string()))?)
        .build())
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn heads(&self, keys: &[TaskKey]) -> Result<HashMap<TaskKey, TaskHead>> {
        let keys = keys
            .iter()
            .map(|k| [("pk".to_owned(), s(task_pk(k))), ("sk".to_owned(), n(0))].into())
            .collect();
        let mut found = HashMap::new();
        for item in self.batch_get(keys).await? {
            let head = head_from_item(&item)?;
            found.insert(head.key.clone(), head);
        }
        Ok(found)
    }

    async fn commit(&self, chunks: &[CommitChunk]) -> Result<()> {
        let expires_at = self.expires_at();
        let mut actions = Vec::new();
        let mut roles = Vec::new();
        for c in chunks {
            let condition = match &c.base {
                None => ("attribute_not_exists(pk)", None),
                Some(base) => ("version = :v", Some((":v", base.version.to_string()))),
            };
            actions.push(put(
                &self.table,
                head_item(&c.head, expires_at),
                Some(condition),
            )?);
            roles.push(Role::Head(c.key.clone()));
            for e in &c.events {
                actions.push(put(&self.table, event_item(e, expires_at)?, None)?);
                roles.push(Role::Event);
                let not_exists = ("attribute_not_exists(pk)", None);
                actions.push(put(
                    &self.table,
                    marker_item(e, expires_at),
                    Some(not_exists),
                )?);
                roles.push(Role::Marker(e.tenant_id.clone(), e.id.clone()));
            }
        }
        self.requests.record("dynamodb:TransactWriteItems");
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        let reasons = match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(tc)) => {
                tc.cancellation_reasons().to_vec()
            }
            _ => return Err(sdk_error("TransactWriteItems", err)),
        };
        let conditional: Vec<usize> = reasons
            .iter()
            .enumerate()
            .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
            .map(|(i, _)| i)
            .collect();
        if conditional.is_empty() {
            // Cancelled for another reason (conflicting transaction, throttling) — unless the
            // service gave no reasons at all, in which case read the conflicts back.
            if reasons.is_empty() {
                return Err(self.find_conflicts(chunks).await?);
            }
            return Err(sdk_error("TransactWriteItems", err));
        }
        let mut duplicates = Vec::new();
        let mut moved_heads = Vec::new();
        for i in conditional {
            match roles.get(i) {
                Some(Role::Head(key)) => moved_heads.push(key.clone()),
                Some(Role::Marker(t, id)) => duplicates.push((t.clone(), id.clone())),
                Some(Role::Event) | None => {}
            }
        }
        Err(Error::CommitConflict {
            duplicates,
            moved_heads,
        })
    }

    async fn head(&self, key: &TaskKey) -> Result<Option<TaskHead>> {
        self.get(task_pk(key))
            .await?
            .as_ref()
            .map(head_from_item)
            .transpose()
    }

    async fn events(&self, key: &TaskKey, after: Seq, limit: usize) -> Result<Vec<Envelope>> {
        let mut events = Vec::new();
        let mut start = None;
        // DynamoDB pages at 1 MB; keep reading until `limit` or the end.
        while events.len() < limit {
            self.requests.record("dynamodb:Query");
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk > :after")
                .expression_attribute_values(":pk", s(task_pk(key)))
                .expression_attribute_values(":after", n(after.0))
                .consistent_read(true)
                .limit(i32::try_from(limit - events.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            for item in out.items() {
                events.push(event_from_item(key, item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(events)
    }

    async fn events_at(&self, key: &TaskKey, seqs: &[Seq]) -> Result<Vec<Envelope>> {
        let pk = task_pk(key);
        // DynamoDB refuses a request naming one key twice.
        let mut seqs = seqs.to_vec();
        seqs.sort_unstable();
        seqs.dedup();
        let keys = seqs
            .iter()
            .map(|seq| [("pk".to_owned(), s(&pk)), ("sk".to_owned(), n(seq.0))].into())
            .collect();
        let mut events = self
            .batch_get(keys)
            .await?
            .iter()
            .map(|item| event_from_item(key, item))
            .collect::<Result<Vec<_>>>()?;
        // BatchGetItem answers in no particular order.
        events.sort_by_key(|e| e.seq);
        Ok(events)
    }

    async fn find_event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<(TaskId, Seq)>> {
        let Some(item) = self.get(marker_pk(tenant, id)).await? else {
            return Ok(None);
        };
        Ok(Some((
            parse("task_id", get_s(&item, "task_id")?)?,
            Seq(get_n(&item, "seq")?),
        )))
    }
}
