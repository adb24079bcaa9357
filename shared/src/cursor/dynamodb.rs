//! [`DeliveryCursors`] on the deliveries table, one item per endpoint × task (its own
//! partition, so one busy endpoint's cursors never share a hot key):
//!
//! | item   | pk                                     | sk       | attributes |
//! |--------|----------------------------------------|----------|------------|
//! | cursor | `CURSOR#{tenant}#{endpoint}#{task}`    | `CURSOR` | `at_seq`, `epoch`, `holder`, `lease_until` (unix ms), `changed_ms`, `resume_ms`, `expires_at` (unix s, TTL) |
//!
//! Every change is one conditional `UpdateItem`: a claim sets the lease when
//! [`may_claim`](crate::delivery_order::may_claim) holds (an absent item reads as seq 0, epoch
//! 0); advance and release are conditional on `holder` (advance also on `epoch`); a rewind on
//! the `(at_seq, epoch)` it read. A refused claim returns the item as it was
//! (`ReturnValuesOnConditionCheckFailure`), read back only if the service omits it.

use super::{Claim, Cursor, CursorKey, CursorLease, DeliveryCursors, Span};
use crate::attrs::{Item, get_opt_n, get_opt_s, n, s};
use crate::aws::sdk_error;
use crate::error::Result;
use crate::iam::Actions;
use crate::ids::Seq;
use crate::requests::RequestCounter;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, TimeZone, Utc};

const SK: &str = "CURSOR";

/// Delivery cursors in the deliveries table.
#[derive(Debug, Clone)]
pub struct DynamoCursors {
    client: Client,
    table: String,
    retention: chrono::Duration,
    requests: RequestCounter,
}

impl DynamoCursors {
    /// IAM actions of [`DeliveryCursors::cursor`].
    pub const CURSOR: Actions = &["dynamodb:GetItem"];
    /// IAM actions of [`DeliveryCursors::claim`] (a read-back only if a refusal omits the item).
    pub const CLAIM: Actions = &["dynamodb:UpdateItem", "dynamodb:GetItem"];
    /// IAM actions of [`DeliveryCursors::advance`].
    pub const ADVANCE: Actions = &["dynamodb:UpdateItem"];
    /// IAM actions of [`DeliveryCursors::release`].
    pub const RELEASE: Actions = &["dynamodb:UpdateItem"];
    /// IAM actions of [`DeliveryCursors::rewind`].
    pub const REWIND: Actions = &["dynamodb:UpdateItem"];

    /// Uses `table` (the deliveries table); a cursor expires `retention` after its last change.
    pub fn new(
        client: Client,
        table: impl Into<String>,
        retention: chrono::Duration,
        requests: RequestCounter,
    ) -> Self {
        Self {
            client,
            table: table.into(),
            retention,
            requests,
        }
    }

    fn update(&self, key: &CursorKey, now: DateTime<Utc>) -> UpdateItemFluentBuilder {
        self.requests.record("dynamodb:UpdateItem");
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk(key)))
            .key("sk", s(SK))
            .expression_attribute_values(":ttl", n((now + self.retention).timestamp()))
    }
}

fn pk(key: &CursorKey) -> String {
    format!(
        "CURSOR#{}#{}#{}",
        key.tenant_id, key.endpoint_id, key.task_id
    )
}

fn ms(at: DateTime<Utc>) -> aws_sdk_dynamodb::types::AttributeValue {
    n(at.timestamp_millis())
}

fn time(item: &Item, name: &str) -> Option<DateTime<Utc>> {
    get_opt_n::<i64>(item, name).and_then(|v| Utc.timestamp_millis_opt(v).single())
}

fn cursor_from_item(item: &Item) -> Cursor {
    let lease = match (get_opt_s(item, "holder"), time(item, "lease_until")) {
        (Some(holder), Some(until)) => Some(CursorLease {
            holder: holder.to_owned(),
            until,
        }),
        _ => None,
    };
    Cursor {
        seq: Seq(get_opt_n(item, "at_seq").unwrap_or(0)),
        epoch: get_opt_n(item, "epoch").unwrap_or(0),
        lease,
        updated_at: time(item, "changed_ms"),
        resume_at: time(item, "resume_ms"),
    }
}

fn failed_condition<T>(
    e: &aws_sdk_dynamodb::error::SdkError<UpdateItemError, T>,
) -> Option<Option<&Item>> {
    match e.as_service_error() {
        Some(UpdateItemError::ConditionalCheckFailedException(c)) => Some(c.item.as_ref()),
        _ => None,
    }
}

#[async_trait]
impl DeliveryCursors for DynamoCursors {
    async fn cursor(&self, key: &CursorKey) -> Result<Option<Cursor>> {
        self.requests.record("dynamodb:GetItem");
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk(key)))
            .key("sk", s(SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(out.item.as_ref().map(cursor_from_item))
    }

    async fn claim(
        &self,
        key: &CursorKey,
        span: &Span,
        lease: &CursorLease,
        now: DateTime<Utc>,
    ) -> Result<Claim> {
        let present = "(attribute_not_exists(lease_until) OR lease_until <= :now) \
                       AND at_seq >= :after AND at_seq < :upto AND epoch >= :epoch";
        // An absent cursor reads as seq 0, epoch 0, unleased.
        let absent_ok = span.after == Seq(0) && span.epoch == 0 && span.upto > Seq(0);
        let condition = if absent_ok {
            format!("attribute_not_exists(pk) OR ({present})")
        } else {
            present.to_owned()
        };
        let out = self
            .update(key, now)
            .update_expression(
                "SET holder = :h, lease_until = :until, expires_at = :ttl, \
                 at_seq = if_not_exists(at_seq, :zero), epoch = if_not_exists(epoch, :zero)",
            )
            .condition_expression(condition)
            .expression_attribute_values(":h", s(&lease.holder))
            .expression_attribute_values(":until", ms(lease.until))
            .expression_attribute_values(":now", ms(now))
            .expression_attribute_values(":after", n(span.after.0))
            .expression_attribute_values(":upto", n(span.upto.0))
            .expression_attribute_values(":epoch", n(span.epoch))
            .expression_attribute_values(":zero", n(0))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match out {
            Ok(out) => Ok(Claim::Granted(
                out.attributes
                    .as_ref()
                    .map_or_else(Cursor::start, cursor_from_item),
            )),
            Err(e) => match failed_condition(&e) {
                Some(Some(item)) => Ok(Claim::Refused(Some(cursor_from_item(item)))),
                Some(None) => Ok(Claim::Refused(self.cursor(key).await?)),
                None => Err(sdk_error("UpdateItem", e)),
            },
        }
    }

    async fn advance(
        &self,
        key: &CursorKey,
        holder: &str,
        epoch: u64,
        to: Seq,
        resume_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut update = self
            .update(key, now)
            .condition_expression("holder = :h AND epoch = :e")
            .expression_attribute_values(":h", s(holder))
            .expression_attribute_values(":e", n(epoch))
            .expression_attribute_values(":to", n(to.0))
            .expression_attribute_values(":now", ms(now));
        update = match resume_at {
            Some(at) => update
                .update_expression(
                    "SET at_seq = :to, changed_ms = :now, expires_at = :ttl, resume_ms = :r \
                     REMOVE holder, lease_until",
                )
                .expression_attribute_values(":r", ms(at)),
            None => update.update_expression(
                "SET at_seq = :to, changed_ms = :now, expires_at = :ttl \
                 REMOVE holder, lease_until, resume_ms",
            ),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if failed_condition(&e).is_some() => Ok(false),
            Err(e) => Err(sdk_error("UpdateItem", e)),
        }
    }

    async fn release(&self, key: &CursorKey, holder: &str) -> Result<()> {
        let out = self
            .update(key, Utc::now())
            .update_expression("SET expires_at = :ttl REMOVE holder, lease_until")
            .condition_expression("holder = :h")
            .expression_attribute_values(":h", s(holder))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if failed_condition(&e).is_some() => Ok(()),
            Err(e) => Err(sdk_error("UpdateItem", e)),
        }
    }

    async fn rewind(
        &self,
        key: &CursorKey,
        expected: Option<(Seq, u64)>,
        to: Seq,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut update = self
            .update(key, now)
            .update_expression(
                "SET at_seq = :to, epoch = :next, changed_ms = :now, expires_at = :ttl \
                 REMOVE resume_ms",
            )
            .expression_attribute_values(":to", n(to.0))
            .expression_attribute_values(":now", ms(now))
            .expression_attribute_values(":next", n(expected.map_or(1, |(_, e)| e + 1)));
        update = match expected {
            Some((seq, epoch)) => update
                .condition_expression("at_seq = :seq AND epoch = :epoch")
                .expression_attribute_values(":seq", n(seq.0))
                .expression_attribute_values(":epoch", n(epoch)),
            None => update.condition_expression("attribute_not_exists(pk)"),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if failed_condition(&e).is_some() => Ok(false),
            Err(e) => Err(sdk_error("UpdateItem", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_read_back_as_cursors() {
        let now = Utc.timestamp_millis_opt(1_700_000_000_123).unwrap();
        let item: Item = [
            ("at_seq", n(42)),
            ("epoch", n(3)),
            ("holder", s("h1")),
            ("lease_until", ms(now)),
            ("changed_ms", ms(now)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let c = cursor_from_item(&item);
        assert_eq!(c.seq, Seq(42));
        assert_eq!(c.epoch, 3);
        assert_eq!(c.lease.unwrap().until, now);
        assert_eq!(c.updated_at, Some(now));
        assert_eq!(c.resume_at, None);
        assert_eq!(cursor_from_item(&Item::new()), Cursor::start());
    }
}
