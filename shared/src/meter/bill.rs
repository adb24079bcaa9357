//! Usage into dollars: a [`Bill`] of line items, each a quantity at a list price. Linear in
//! usage (no free tier, no volume tiers), so the bill of a difference of two readings is the
//! difference of their bills.

use super::lambda::FunctionUsage;
use super::prices::{Price, PriceTable};
use crate::requests::{OpUsage, Unit};
use serde::Serialize;
use std::collections::BTreeMap;

const GB: f64 = 1024.0 * 1024.0 * 1024.0;
const MILLION: f64 = 1_000_000.0;

/// What was used, as counted at the adapters and around the handlers.
#[derive(Debug, Clone, Default)]
pub struct Usage<'a> {
    /// AWS requests and units, by operation (`dynamodb:Query`, …).
    pub operations: BTreeMap<&'a str, OpUsage>,
    /// Lambda invocations and GB-seconds, by function.
    pub lambda: BTreeMap<&'a str, FunctionUsage>,
    /// Kinesis on-demand stream-hours (the one stream × hours it existed).
    pub stream_hours: f64,
    /// Whether fanout reads the stream through an enhanced fan-out consumer.
    pub efo: bool,
}

/// One line of a bill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineItem {
    /// `lambda`, `dynamodb`, `sqs`, `kinesis`, `kms`.
    pub service: &'static str,
    /// What is billed, e.g. `write request units` or `stream GB-seconds`.
    pub item: String,
    /// How many of the price's units.
    pub quantity: f64,
    /// The price's unit.
    pub per: String,
    /// Dollars per unit.
    pub unit_usd: f64,
    /// `quantity × unit_usd`.
    pub usd: f64,
}

/// Modeled dollars for some usage.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Bill {
    /// Every non-zero line.
    pub items: Vec<LineItem>,
    /// Their sum.
    pub total_usd: f64,
}

impl Bill {
    fn line(&mut self, service: &'static str, item: String, quantity: f64, price: &Price) {
        if quantity <= 0.0 {
            return;
        }
        let usd = quantity * price.usd;
        self.total_usd += usd;
        self.items.push(LineItem {
            service,
            item,
            quantity,
            per: price.per.clone(),
            unit_usd: price.usd,
            usd,
        });
    }
}

fn unit_total(ops: &BTreeMap<&str, OpUsage>, prefix: &str, unit: Unit) -> u64 {
    ops.iter()
        .filter(|(op, _)| op.starts_with(prefix))
        .filter_map(|(_, u)| u.units.get(&unit))
        .sum()
}

fn requests_total(ops: &BTreeMap<&str, OpUsage>, prefix: &str) -> u64 {
    ops.iter()
        .filter(|(op, _)| op.starts_with(prefix))
        .map(|(_, u)| u.requests)
        .sum()
}

/// Prices `usage` with `prices`.
pub fn bill(usage: &Usage<'_>, prices: &PriceTable) -> Bill {
    let mut b = Bill::default();
    let ops = &usage.operations;
    let invocations: u64 = usage.lambda.values().map(|f| f.invocations).sum();
    b.line(
        "lambda",
        "invocations".into(),
        invocations as f64 / MILLION,
        &prices.lambda.requests,
    );
    for (function, f) in &usage.lambda {
        b.line(
            "lambda",
            format!("{function} GB-seconds ({} MB)", f.memory_mb),
            f.gb_seconds,
            &prices.lambda.gb_second,
        );
    }
    b.line(
        "dynamodb",
        "write request units".into(),
        unit_total(ops, "dynamodb:", Unit::WriteRequestUnits) as f64 / MILLION,
        &prices.dynamodb.write_request_units,
    );
    b.line(
        "dynamodb",
        "read request units".into(),
        unit_total(ops, "dynamodb:", Unit::ReadRequestHalfUnits) as f64 / 2.0 / MILLION,
        &prices.dynamodb.read_request_units,
    );
    b.line(
        "sqs",
        "requests (64 KB chunks)".into(),
        unit_total(ops, "sqs:", Unit::SqsBilledRequests) as f64 / MILLION,
        &prices.sqs.requests,
    );
    b.line(
        "kinesis",
        "GB written (1 KB per record)".into(),
        unit_total(ops, "kinesis:", Unit::KinesisBilledBytesIn) as f64 / GB,
        &prices.kinesis.gb_written,
    );
    let read = if usage.efo {
        &prices.kinesis.efo_gb_read
    } else {
        &prices.kinesis.gb_read
    };
    b.line(
        "kinesis",
        "GB read".into(),
        unit_total(ops, "kinesis:", Unit::KinesisBytesOut) as f64 / GB,
        read,
    );
    b.line(
        "kinesis",
        "stream-hours".into(),
        usage.stream_hours,
        &prices.kinesis.stream_hour,
    );
    b.line(
        "kms",
        "requests".into(),
        requests_total(ops, "kms:") as f64 / 10_000.0,
        &prices.kms.requests,
    );
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn op(requests: u64, units: &[(Unit, u64)]) -> OpUsage {
        OpUsage {
            requests,
            units: units.iter().copied().collect(),
        }
    }

    #[test]
    fn a_known_usage_bills_to_the_cent_fraction() {
        let mut stream = FunctionUsage::default();
        stream.add(128, Duration::from_secs(3600));
        let usage = Usage {
            operations: [
                (
                    "dynamodb:TransactWriteItems",
                    op(10, &[(Unit::WriteRequestUnits, 2_000_000)]),
                ),
                (
                    "dynamodb:Query",
                    op(4, &[(Unit::ReadRequestHalfUnits, 2_000_000)]),
                ),
                (
                    "sqs:SendMessageBatch",
                    op(3, &[(Unit::SqsBilledRequests, 1_000_000)]),
                ),
                (
                    "kinesis:PutRecords",
                    op(1, &[(Unit::KinesisBilledBytesIn, 1024 * 1024 * 1024)]),
                ),
                ("kms:Decrypt", op(10_000, &[])),
            ]
            .into(),
            lambda: [("stream", stream)].into(),
            stream_hours: 1.0,
            efo: false,
        };
        let b = bill(&usage, &PriceTable::built_in());
        let usd = |service: &str, item: &str| {
            b.items
                .iter()
                .find(|l| l.service == service && l.item.starts_with(item))
                .map(|l| l.usd)
                .unwrap()
        };
        // 2 M WRU × $0.625/M; 1 M RRU × $0.125/M; 1 M SQS × $0.40/M; 1 GB × $0.08.
        assert!((usd("dynamodb", "write request units") - 1.25).abs() < 1e-12);
        assert!((usd("dynamodb", "read request units") - 0.125).abs() < 1e-12);
        assert!((usd("sqs", "requests") - 0.40).abs() < 1e-12);
        assert!((usd("kinesis", "GB written") - 0.08).abs() < 1e-12);
        // 0.125 GB × 3600 s × $0.0000133334; one invocation at $0.20/M.
        assert!((usd("lambda", "stream GB-seconds") - 450.0 * 0.0000133334).abs() < 1e-12);
        assert!((usd("lambda", "invocations") - 0.2e-6).abs() < 1e-15);
        assert!((usd("kinesis", "stream-hours") - 0.04).abs() < 1e-12);
        // 10,000 KMS requests × $0.03 per 10,000.
        assert!((usd("kms", "requests") - 0.03).abs() < 1e-12);
        let sum: f64 = b.items.iter().map(|l| l.usd).sum();
        assert!((b.total_usd - sum).abs() < 1e-12);
    }

    #[test]
    fn nothing_used_bills_nothing() {
        let b = bill(&Usage::default(), &PriceTable::built_in());
        assert!(b.items.is_empty());
        assert_eq!(b.total_usd, 0.0);
    }
}
