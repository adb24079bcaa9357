//! [`EventStore`] on DynamoDB: one table, `pk` (S) + `sk` (N), TTL on `expires_at`.
//!
//! | item   | pk                      | sk  | attributes |
//! |--------|-------------------------|-----|------------|
//! | head   | `T#{tenant}#{task}`     | 0   | status, last_seq, terminal_seq, shard_id, position, version, created_at, updated_at, chain_ends (M endpoint → N) |
//! | event  | `T#{tenant}#{task}`     | seq | id, type, time, data (JSON text) |
//! | marker | `ID#{tenant}#{event_id}`| 0   | task_id, seq |
//!
//! Ids cannot contain `#`, so keys never collide across tenants or kinds. Items TTL has not
//! deleted yet although `expires_at` has passed are ignored by `head`, `events` and
//! `find_event`, and seen by `heads` and commits ([`super::expiry`]).

use super::expiry::is_expired;
use super::limits::{Action, total_refusal};
use super::{EventStore, MAX_KEYS_PER_BATCH_GET};
use crate::attrs::{Item, get_n, get_opt_n, get_opt_s, get_s, get_time, item_size, n, parse, s};
use crate::aws::{MAX_CONCURRENT_REQUESTS, sdk_error};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::event::{Envelope, EventType, format_time};
use crate::head::{StreamPosition, TaskHead, TaskStatus};
use crate::iam::Actions;
use crate::ids::{EndpointId, EventId, Seq, TaskId, TaskKey, TenantId};
use crate::meter::units::{Consistency, read_half_units, write_units};
use crate::requests::{RequestCounter, Unit};
use crate::sequence::{CommitChunk, client_request_token};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem};
use chrono::{Duration, Utc};
use futures_util::stream::{self, StreamExt};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The events table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    retention: Duration,
    requests: RequestCounter,
    clock: Arc<dyn Clock>,
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
            clock: Arc::new(SystemClock),
        }
    }

    /// The same store, telling time by `clock`: when written items expire, and which items
    /// reads ignore as past `expires_at`.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self { clock, ..self }
    }

    /// Whether a read should ignore `item`: past its `expires_at`, not yet deleted by TTL.
    fn past_expiry(&self, item: &Item) -> bool {
        get_opt_n::<i64>(item, "expires_at").is_some_and(|at| is_expired(at, self.clock.now()))
    }

    fn expires_at(&self) -> i64 {
        (self.clock.now() + self.retention).timestamp()
    }

    async fn get(&self, pk: String) -> Result<Option<Item>> {
        self.requests.record_billed("dynamodb:GetItem", &[]);
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
        let bytes = out.item.as_ref().map_or(0, item_size);
        self.requests
            .record_units("dynamodb:GetItem", &[read_units(bytes)]);
        Ok(out.item)
    }

    /// Strongly consistent `BatchGetItem`s of `keys`, [`MAX_KEYS_PER_BATCH_GET`] at a time and
    /// up to [`MAX_CONCURRENT_REQUESTS`] pages in flight; keys without an item are absent from
    /// the answer, which is in no particular order.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>> {
        let chunks: Vec<Vec<Item>> = keys
            .chunks(MAX_KEYS_PER_BATCH_GET)
            .map(<[Item]>::to_vec)
            .collect();
        let pages: Vec<Result<Vec<Item>>> = stream::iter(chunks)
            .map(|chunk| self.batch_get_page(chunk))
            .buffer_unordered(MAX_CONCURRENT_REQUESTS)
            .collect()
            .await;
        let mut found = Vec::new();
        for page in pages {
            found.extend(page?);
        }
        Ok(found)
    }

    /// One page of [`Self::batch_get`], retrying unprocessed keys with backoff.
    async fn batch_get_page(&self, chunk: Vec<Item>) -> Result<Vec<Item>> {
        let mut found = Vec::new();
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(chunk))
                .consistent_read(true)
                .build()
                .map_err(|e| Error::Internal(e.to_string()))?,
        );
        let mut backoff = std::time::Duration::from_millis(20);
        while let Some(ka) = pending.take() {
            let asked = ka.keys().len();
            self.requests.record_billed("dynamodb:BatchGetItem", &[]);
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, ka)
                .send()
                .await
                .map_err(|e| sdk_error("BatchGetItem", e))?;
            let page = out
                .responses
                .unwrap_or_default()
                .remove(&self.table)
                .unwrap_or_default();
            // Unprocessed keys come back under throttling: retry them with backoff.
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|ka| !ka.keys().is_empty());
            let missing = asked
                .saturating_sub(page.len())
                .saturating_sub(pending.as_ref().map_or(0, |ka| ka.keys().len()));
            self.requests.record_units(
                "dynamodb:BatchGetItem",
                &[batch_read_units(page.iter().map(item_size), missing)],
            );
            found.extend(page);
            if pending.is_some() {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
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
            let marker = self.get(marker_pk(&e.tenant_id, &e.id)).await?;
            // An expired marker does not hold its id (the commit's condition says so too).
            if marker.is_some_and(|m| !self.past_expiry(&m)) {
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
    if !h.chain_ends.is_empty() {
        let ends = h
            .chain_ends
            .iter()
            .map(|(ep, seq)| (ep.to_string(), n(seq.0)))
            .collect();
        item.insert("chain_ends".into(), AttributeValue::M(ends));
    }
    item
}

/// Where each endpoint's webhook chain ends; heads written before chains existed have none.
fn chain_ends_from_item(item: &Item) -> Result<BTreeMap<EndpointId, Seq>> {
    let Some(map) = item.get("chain_ends").and_then(|v| v.as_m().ok()) else {
        return Ok(BTreeMap::new());
    };
    map.iter()
        .map(|(ep, v)| {
            let seq = v
                .as_n()
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| Error::InvalidData(format!("chain_ends.{ep}")))?;
            Ok((parse("chain_ends", ep)?, Seq(seq)))
        })
        .collect()
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
        chain_ends: chain_ends_from_item(item)?,
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
    .chain(
        e.traceparent
            .as_ref()
            .map(|t| ("traceparent", s(t.as_str()))),
    )
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
        traceparent: get_opt_s(item, "traceparent")
            .map(|t| parse("traceparent", t))
            .transpose()?,
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

fn put(table: &str, item: Item, condition: Option<Condition>) -> Result<TransactWriteItem> {
    let mut p = Put::builder().table_name(table).set_item(Some(item));
    match condition {
        None => {}
        Some(Condition::Absent) => p = p.condition_expression("attribute_not_exists(pk)"),
        Some(Condition::AbsentOrExpired(now)) => {
            p = p
                .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
                .expression_attribute_values(":now", n(now));
        }
        Some(Condition::Version(v)) => {
            p = p
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(v));
        }
    }
    Ok(TransactWriteItem::builder()
        .put(p.build().map_err(|e| Error::Internal(e.to_string()))?)
        .build())
}

/// What a transaction's Put requires of the stored item.
enum Condition {
    /// It must not exist.
    Absent,
    /// It must not exist, or be past its `expires_at` at this unix second (TTL deletes it
    /// only within days): an id marker, whose id is free again once it expired, as
    /// `find_event` reports it. Were the commit to see it while `find_event` does not, fanout
    /// would take the id for new and conflict on it every round.
    AbsentOrExpired(i64),
    /// Its `version` must be this.
    Version(u64),
}

/// One Put of a commit: the item, what it requires, and what it guards.
struct Write {
    item: Item,
    condition: Option<Condition>,
    role: Role,
}

/// The Puts [`EventStore::commit`] sends for `chunks` at unix second `now`, in order: per chunk
/// its head, then an event and its id marker per event.
fn commit_writes(chunks: &[CommitChunk], now: i64, expires_at: i64) -> Result<Vec<Write>> {
    let mut writes = Vec::new();
    for c in chunks {
        writes.push(Write {
            item: head_item(&c.head, expires_at),
            condition: Some(match &c.base {
                None => Condition::Absent,
                Some(base) => Condition::Version(base.version),
            }),
            role: Role::Head(c.key.clone()),
        });
        for e in &c.events {
            writes.push(Write {
                item: event_item(e, expires_at)?,
                condition: None,
                role: Role::Event,
            });
            writes.push(Write {
                item: marker_item(e, expires_at),
                condition: Some(Condition::AbsentOrExpired(now)),
                role: Role::Marker(e.tenant_id.clone(), e.id.clone()),
            });
        }
    }
    Ok(writes)
}

fn action(item: &Item) -> Action {
    let key = |name| match item.get(name) {
        Some(AttributeValue::S(v) | AttributeValue::N(v)) => v.clone(),
        _ => String::new(),
    };
    Action {
        key: format!("{}/{}", key("pk"), key("sk")),
        bytes: item_size(item),
    }
}

/// The transaction [`EventStore::commit`] sends for `chunks`, as the key and size of every
/// item it writes. The in-memory store checks its commits on this same shape, so both refuse
/// exactly the transactions DynamoDB refuses.
pub(crate) fn commit_shape(chunks: &[CommitChunk]) -> Result<Vec<Action>> {
    // Any expiry of today's width: sizes depend on its digits only.
    let expires_at = Utc::now().timestamp();
    Ok(commit_writes(chunks, expires_at, expires_at)?
        .iter()
        .map(|w| action(&w.item))
        .collect())
}

/// The write units of a commit of `shape`: every item transactionally.
pub(crate) fn commit_write_units(shape: &[Action]) -> (Unit, u64) {
    let units = shape.iter().map(|a| write_units(a.bytes, true)).sum();
    (Unit::WriteRequestUnits, units)
}

/// The read units of one strongly consistent read of `bytes` (an item, or a query page).
pub(crate) fn read_units(bytes: usize) -> (Unit, u64) {
    (
        Unit::ReadRequestHalfUnits,
        read_half_units(bytes, Consistency::Strong),
    )
}

/// The read units of one `BatchGetItem` page that found items of `sizes` and `missing` keys
/// without an item: each key is billed as its own strongly consistent read.
pub(crate) fn batch_read_units(sizes: impl Iterator<Item = usize>, missing: usize) -> (Unit, u64) {
    let found: u64 = sizes.map(|b| read_half_units(b, Consistency::Strong)).sum();
    let (unit, one) = read_units(0);
    (unit, found + missing as u64 * one)
}

/// An item's size as DynamoDB counts it, for the memory store's units: the head, event and
/// id-marker items exactly as this adapter writes them (an expiry of today's width).
pub(crate) fn head_bytes(h: &TaskHead) -> usize {
    item_size(&head_item(h, Utc::now().timestamp()))
}

/// See [`head_bytes`]. (The memory store takes event sizes from the commit's shape; this is
/// the check that they agree.)
#[cfg(test)]
pub(crate) fn event_bytes(e: &Envelope) -> usize {
    event_item(e, Utc::now().timestamp()).map_or(0, |i| item_size(&i))
}

/// See [`head_bytes`].
pub(crate) fn marker_bytes(e: &Envelope) -> usize {
    item_size(&marker_item(e, Utc::now().timestamp()))
}

/// What a failed `TransactWriteItems` means for the caller.
#[derive(Debug, PartialEq, Eq)]
enum CommitFailure {
    /// Cancelled by these actions' conditions (indices into the transaction): a conflict.
    Conflict(Vec<usize>),
    /// The service did not say which condition failed (some emulators omit cancellation
    /// reasons), or the token was already used by a transaction with other content
    /// (`IdempotentParameterMismatch`, e.g. one that landed before this re-plan): read the
    /// heads and markers back to learn what conflicts.
    ReadBack,
    /// Refused for its content (`ValidationException`: one item twice, an item over 400 KB, a
    /// transaction over 4 MB or 100 actions; or cancelled with `ValidationError`): the same
    /// request is refused every time.
    Refused,
    /// Cancelled by a concurrent transaction or throttling, or the same token is still in
    /// progress: trying again may succeed.
    Transient,
    /// Anything else keeps the SDK error's own classification.
    Other,
}

/// Classifies a failed commit from the service error code and the cancellation reasons'
/// codes (one per action, `None` or `"None"` for actions that were fine). Pure.
fn classify_commit_failure(code: Option<&str>, reasons: &[Option<&str>]) -> CommitFailure {
    let has = |wanted: &[&str]| reasons.iter().flatten().any(|r| wanted.contains(r));
    match code {
        Some("TransactionCanceledException") => {
            let conditional: Vec<usize> = reasons
                .iter()
                .enumerate()
                .filter(|(_, r)| **r == Some("ConditionalCheckFailed"))
                .map(|(i, _)| i)
                .collect();
            if !conditional.is_empty() {
                CommitFailure::Conflict(conditional)
            } else if reasons.is_empty() {
                CommitFailure::ReadBack
            } else if has(&["ValidationError", "ItemCollectionSizeLimitExceeded"]) {
                CommitFailure::Refused
            } else {
                CommitFailure::Transient
            }
        }
        Some("IdempotentParameterMismatchException" | "IdempotentParameterMismatch") => {
            CommitFailure::ReadBack
        }
        Some("ValidationException") => CommitFailure::Refused,
        Some("TransactionInProgressException") => CommitFailure::Transient,
        _ => CommitFailure::Other,
    }
}

/// Rebuilds an [`Error::Aws`] as another variant, keeping its operation and message.
fn reclassify(error: Error, to: impl FnOnce(&'static str, String) -> Error) -> Error {
    match error {
        Error::Aws {
            operation, message, ..
        } => to(operation, message),
        other => other,
    }
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn heads(&self, keys: &[TaskKey]) -> Result<HashMap<TaskKey, TaskHead>> {
        // Expired heads included: commits are conditional on them (see `super::expiry`).
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
        let writes = commit_writes(chunks, self.clock.now().timestamp(), self.expires_at())?;
        // DynamoDB enforces every limit itself (and moto all but this one); checking the total
        // here as well refuses an oversized commit the same way wherever it runs.
        let shape: Vec<Action> = writes.iter().map(|w| action(&w.item)).collect();
        if let Some(reason) = total_refusal(&shape) {
            return Err(Error::Refused {
                operation: "TransactWriteItems",
                reason,
            });
        }
        let mut actions = Vec::with_capacity(writes.len());
        let mut roles = Vec::with_capacity(writes.len());
        for w in writes {
            actions.push(put(&self.table, w.item, w.condition)?);
            roles.push(w.role);
        }
        self.requests
            .record_billed("dynamodb:TransactWriteItems", &[commit_write_units(&shape)]);
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .client_request_token(client_request_token(chunks))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        let reasons: Vec<Option<String>> = match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(tc)) => tc
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        let codes: Vec<Option<&str>> = reasons.iter().map(Option::as_deref).collect();
        let code = err.code().map(str::to_owned);
        let error = sdk_error("TransactWriteItems", err);
        match classify_commit_failure(code.as_deref(), &codes) {
            CommitFailure::Conflict(conditional) => {
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
            CommitFailure::ReadBack => Err(self.find_conflicts(chunks).await?),
            CommitFailure::Refused => Err(reclassify(error, |operation, message| Error::Refused {
                operation,
                reason: message,
            })),
            CommitFailure::Transient => Err(reclassify(error, |operation, message| Error::Aws {
                operation,
                message,
                retryable: true,
            })),
            CommitFailure::Other => Err(error),
        }
    }

    async fn head(&self, key: &TaskKey) -> Result<Option<TaskHead>> {
        self.get(task_pk(key))
            .await?
            .filter(|item| !self.past_expiry(item))
            .as_ref()
            .map(head_from_item)
            .transpose()
    }

    async fn events(&self, key: &TaskKey, after: Seq, limit: usize) -> Result<Vec<Envelope>> {
        let mut events = Vec::new();
        let mut start = None;
        // DynamoDB pages at 1 MB; keep reading until `limit` or the end.
        while events.len() < limit {
            self.requests.record_billed("dynamodb:Query", &[]);
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
            // Expired items are read (and billed) too; the page is billed on its sum.
            let bytes = out.items().iter().map(item_size).sum();
            self.requests
                .record_units("dynamodb:Query", &[read_units(bytes)]);
            for item in out.items().iter().filter(|i| !self.past_expiry(i)) {
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
            .filter(|item| !self.past_expiry(item))
            .map(|item| event_from_item(key, item))
            .collect::<Result<Vec<_>>>()?;
        // BatchGetItem answers in no particular order.
        events.sort_by_key(|e| e.seq);
        Ok(events)
    }

    async fn find_event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<(TaskId, Seq)>> {
        let item = self.get(marker_pk(tenant, id)).await?;
        let Some(item) = item.filter(|item| !self.past_expiry(item)) else {
            return Ok(None);
        };
        Ok(Some((
            parse("task_id", get_s(&item, "task_id")?)?,
            Seq(get_n(&item, "seq")?),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_failures_are_classified_by_code_and_reasons() {
        let cancelled = Some("TransactionCanceledException");
        assert_eq!(
            classify_commit_failure(
                cancelled,
                &[Some("None"), Some("ConditionalCheckFailed"), None]
            ),
            CommitFailure::Conflict(vec![1])
        );
        assert_eq!(
            classify_commit_failure(cancelled, &[]),
            CommitFailure::ReadBack
        );
        assert_eq!(
            classify_commit_failure(cancelled, &[Some("None"), Some("ValidationError")]),
            CommitFailure::Refused
        );
        assert_eq!(
            classify_commit_failure(cancelled, &[Some("TransactionConflict"), Some("None")]),
            CommitFailure::Transient
        );
        assert_eq!(
            classify_commit_failure(cancelled, &[Some("ThrottlingError")]),
            CommitFailure::Transient
        );
        // One item twice, too many actions, an item too large: refused before any condition.
        assert_eq!(
            classify_commit_failure(Some("ValidationException"), &[]),
            CommitFailure::Refused
        );
        assert_eq!(
            classify_commit_failure(Some("IdempotentParameterMismatchException"), &[]),
            CommitFailure::ReadBack
        );
        assert_eq!(
            classify_commit_failure(Some("TransactionInProgressException"), &[]),
            CommitFailure::Transient
        );
        assert_eq!(
            classify_commit_failure(Some("ResourceNotFoundException"), &[]),
            CommitFailure::Other
        );
        assert_eq!(classify_commit_failure(None, &[]), CommitFailure::Other);
    }

    #[test]
    fn reclassifying_keeps_operation_and_message() {
        let aws = Error::Aws {
            operation: "TransactWriteItems",
            message: "ValidationException: one item twice".into(),
            retryable: false,
        };
        let refused = reclassify(aws, |operation, message| Error::Refused {
            operation,
            reason: message,
        });
        assert_eq!(
            refused.to_string(),
            "TransactWriteItems refused: ValidationException: one item twice"
        );
        assert!(!refused.is_retryable());
    }
}
