//! Counting AWS requests and their billing units at the adapters, for benchmarks,
//! request-budget tests and the [`meter`](crate::meter).
//!
//! Every adapter, AWS or in-memory, records one count per AWS request it makes (or, in memory,
//! would make): the in-memory adapters chunk exactly like the AWS ones, so counts agree.
//!
//! Beside each request go its billing units ([`Unit`]). [`RequestCounter::record`] books a
//! request of the smallest billed size: one write or read request unit for a DynamoDB
//! item call (the tenants, keys, leases, cursors and permits items are all well under 1 KB),
//! one billed request for an SQS call. Adapters whose calls vary in size (the event store, the
//! queue's sends and receives, the stream's puts and reads) call
//! [`RequestCounter::record_billed`] with units computed by [`crate::meter::units`] from the
//! very items or bodies of the call, so the memory and AWS adapters book the same units.
//!
//! Each count is also booked to the function whose task made the call ([`attributed`]; calls
//! outside any scope go to [`UNATTRIBUTED`]), so the dev stack can say what streams cost apart
//! from what events cost.

use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// A billing unit an AWS request consumes, beside the request itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// DynamoDB write request units: one per started KB of each item written, two in a
    /// transaction.
    WriteRequestUnits,
    /// DynamoDB read request units, in halves: a strongly consistent read of up to 4 KB is 2,
    /// an eventually consistent one 1, twice that in a transaction.
    ReadRequestHalfUnits,
    /// SQS billed requests: one per started 64 KB of a request's payload.
    SqsBilledRequests,
    /// Kinesis bytes written as on-demand bills them: each record (data and partition key)
    /// rounded up to 1 KB.
    KinesisBilledBytesIn,
    /// Kinesis bytes read (data and partition key), not rounded.
    KinesisBytesOut,
    /// Kinesis records written.
    KinesisRecordsIn,
}

/// Where calls made outside an [`attributed`] scope are booked.
pub const UNATTRIBUTED: &str = "unattributed";

tokio::task_local! {
    static FUNCTION: &'static str;
}

/// Runs `fut` with every request it records booked to `function` (tasks it spawns are not in
/// the scope).
pub async fn attributed<F: Future>(function: &'static str, fut: F) -> F::Output {
    FUNCTION.scope(function, fut).await
}

/// Runs `f` with every request it records booked to `function`: for one poll of a body.
pub fn attributed_sync<R>(function: &'static str, f: impl FnOnce() -> R) -> R {
    FUNCTION.sync_scope(function, f)
}

fn current_function() -> &'static str {
    FUNCTION.try_with(|f| *f).unwrap_or(UNATTRIBUTED)
}

/// One operation's requests and units.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OpUsage {
    /// Requests made.
    pub requests: u64,
    /// Billing units those requests consumed.
    pub units: BTreeMap<Unit, u64>,
}

impl OpUsage {
    /// Adds `other` into this.
    pub fn add(&mut self, other: &OpUsage) {
        self.requests += other.requests;
        for (unit, n) in &other.units {
            *self.units.entry(*unit).or_default() += n;
        }
    }
}

/// Usage by function, then operation.
pub type UsageByFunction = BTreeMap<&'static str, BTreeMap<&'static str, OpUsage>>;

/// Shared, cloneable request tally by function and operation name.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<Mutex<UsageByFunction>>);

impl RequestCounter {
    /// Records one request of `operation`, of the smallest billed size (see the module doc).
    pub fn record(&self, operation: &'static str) {
        self.record_billed(operation, smallest_units(operation));
    }

    /// Records one request of `operation` that consumed `units`.
    pub fn record_billed(&self, operation: &'static str, units: &[(Unit, u64)]) {
        self.add(operation, 1, units);
    }

    /// Adds `units` to `operation` without counting a request: for units known only once the
    /// answer is in (what a read found), the request having been recorded when it was sent.
    pub fn record_units(&self, operation: &'static str, units: &[(Unit, u64)]) {
        self.add(operation, 0, units);
    }

    fn add(&self, operation: &'static str, requests: u64, units: &[(Unit, u64)]) {
        if let Ok(mut map) = self.0.lock() {
            let op = map
                .entry(current_function())
                .or_default()
                .entry(operation)
                .or_default();
            op.requests += requests;
            for (unit, n) in units {
                *op.units.entry(*unit).or_default() += n;
            }
        }
    }

    /// Requests so far, by operation.
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.by_operation()
            .into_iter()
            .map(|(op, u)| (op, u.requests))
            .collect()
    }

    /// Requests and units so far, by operation.
    pub fn by_operation(&self) -> BTreeMap<&'static str, OpUsage> {
        let mut out: BTreeMap<&'static str, OpUsage> = BTreeMap::new();
        for ops in self.by_function().values() {
            for (op, usage) in ops {
                out.entry(op).or_default().add(usage);
            }
        }
        out
    }

    /// Requests and units so far, by function, then operation.
    pub fn by_function(&self) -> UsageByFunction {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// All requests so far.
    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }

    /// Forgets everything counted so far.
    pub fn reset(&self) {
        if let Ok(mut map) = self.0.lock() {
            map.clear();
        }
    }
}

/// The units of the smallest billed request of `operation`: what [`RequestCounter::record`]
/// books. Every DynamoDB read the adapters make is strongly consistent.
fn smallest_units(operation: &str) -> &'static [(Unit, u64)] {
    match operation {
        "dynamodb:PutItem" | "dynamodb:UpdateItem" | "dynamodb:DeleteItem" => {
            &[(Unit::WriteRequestUnits, 1)]
        }
        "dynamodb:GetItem" | "dynamodb:Query" | "dynamodb:BatchGetItem" => {
            &[(Unit::ReadRequestHalfUnits, 2)]
        }
        op if op.starts_with("sqs:") => &[(Unit::SqsBilledRequests, 1)],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_books_the_smallest_billed_size() {
        let c = RequestCounter::default();
        c.record("dynamodb:PutItem");
        c.record("dynamodb:GetItem");
        c.record("sqs:DeleteMessageBatch");
        c.record("kms:Decrypt");
        let ops = c.by_operation();
        assert_eq!(ops["dynamodb:PutItem"].units[&Unit::WriteRequestUnits], 1);
        assert_eq!(
            ops["dynamodb:GetItem"].units[&Unit::ReadRequestHalfUnits],
            2
        );
        assert_eq!(
            ops["sqs:DeleteMessageBatch"].units[&Unit::SqsBilledRequests],
            1
        );
        assert!(ops["kms:Decrypt"].units.is_empty());
        assert_eq!(c.total(), 4);
    }

    #[tokio::test]
    async fn requests_are_booked_to_the_function_in_scope() {
        let c = RequestCounter::default();
        attributed("stream", async { c.record("dynamodb:Query") }).await;
        attributed_sync("fanout", || c.record("dynamodb:Query"));
        c.record("dynamodb:Query");
        let by = c.by_function();
        assert_eq!(by["stream"]["dynamodb:Query"].requests, 1);
        assert_eq!(by["fanout"]["dynamodb:Query"].requests, 1);
        assert_eq!(by[UNATTRIBUTED]["dynamodb:Query"].requests, 1);
        assert_eq!(c.snapshot()["dynamodb:Query"], 3);
    }
}
