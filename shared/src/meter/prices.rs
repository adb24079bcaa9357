//! The price table: AWS list prices the meter bills with, one TOML file
//! (`shared/model/aws-prices.toml`, built in; `burstline dev --aws-price-table PATH` loads
//! another). Every price carries its unit, the date it was checked and its source.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The built-in table: us-east-1 list prices.
pub const BUILT_IN: &str = include_str!("../../model/aws-prices.toml");

/// One list price.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Dollars per [`Price::per`].
    pub usd: f64,
    /// The unit the price is for, e.g. "million write request units".
    pub per: String,
    /// When the price was checked (YYYY-MM-DD).
    pub date: String,
    /// Where it was read.
    pub source: String,
    /// Anything a reader must know (e.g. that the source did not confirm it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Lambda, arm64.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaPrices {
    /// Per GB-second of duration.
    pub gb_second: Price,
    /// Per million invocations.
    pub requests: Price,
    /// Per GB a streamed response sends beyond its first 6 MB.
    pub streamed_gb: Price,
}

/// Kinesis Data Streams, on demand.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KinesisPrices {
    /// Per stream-hour.
    pub stream_hour: Price,
    /// Per GB written, records rounded up to 1 KB.
    pub gb_written: Price,
    /// Per GB read by shared-throughput consumers.
    pub gb_read: Price,
    /// Per GB read by an enhanced fan-out consumer.
    pub efo_gb_read: Price,
}

/// DynamoDB, on demand.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DynamoDbPrices {
    /// Per million write request units.
    pub write_request_units: Price,
    /// Per million read request units.
    pub read_request_units: Price,
}

/// SQS standard queues.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SqsPrices {
    /// Per million requests (64 KB chunks).
    pub requests: Price,
}

/// KMS.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KmsPrices {
    /// Per 10,000 requests.
    pub requests: Price,
}

/// CloudWatch.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchPrices {
    /// Per GB of logs ingested (EMF metrics are log lines).
    pub logs_ingested_gb: Price,
}

/// Every price the meter uses.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    /// The region the prices are for.
    pub region: String,
    /// Lambda.
    pub lambda: LambdaPrices,
    /// Kinesis Data Streams.
    pub kinesis: KinesisPrices,
    /// DynamoDB.
    pub dynamodb: DynamoDbPrices,
    /// SQS.
    pub sqs: SqsPrices,
    /// KMS.
    pub kms: KmsPrices,
    /// CloudWatch.
    pub cloudwatch: CloudWatchPrices,
}

impl PriceTable {
    /// Parses a table; fails naming the field that is missing, unknown or malformed, or a
    /// price that is negative or not a number.
    pub fn parse(text: &str) -> Result<Self> {
        let table: Self =
            toml::from_str(text).map_err(|e| Error::InvalidData(format!("price table: {e}")))?;
        if let Some((name, _)) = table
            .prices()
            .into_iter()
            .find(|(_, p)| !(p.usd.is_finite() && p.usd >= 0.0))
        {
            return Err(Error::InvalidData(format!(
                "price table: {name}.usd must be a non-negative number"
            )));
        }
        Ok(table)
    }

    /// The built-in us-east-1 table.
    pub fn built_in() -> Self {
        // The file is part of the build and covered by a test: it always parses.
        Self::parse(BUILT_IN).unwrap_or_else(|e| panic!("built-in price table: {e}"))
    }

    /// Every price with its dotted name, e.g. `dynamodb.write_request_units`.
    pub fn prices(&self) -> Vec<(&'static str, &Price)> {
        vec![
            ("lambda.gb_second", &self.lambda.gb_second),
            ("lambda.requests", &self.lambda.requests),
            ("lambda.streamed_gb", &self.lambda.streamed_gb),
            ("kinesis.stream_hour", &self.kinesis.stream_hour),
            ("kinesis.gb_written", &self.kinesis.gb_written),
            ("kinesis.gb_read", &self.kinesis.gb_read),
            ("kinesis.efo_gb_read", &self.kinesis.efo_gb_read),
            (
                "dynamodb.write_request_units",
                &self.dynamodb.write_request_units,
            ),
            (
                "dynamodb.read_request_units",
                &self.dynamodb.read_request_units,
            ),
            ("sqs.requests", &self.sqs.requests),
            ("kms.requests", &self.kms.requests),
            (
                "cloudwatch.logs_ingested_gb",
                &self.cloudwatch.logs_ingested_gb,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_parses_with_a_date_and_source_for_every_price() {
        let t = PriceTable::parse(BUILT_IN).expect("parses");
        assert_eq!(t.region, "us-east-1");
        assert_eq!(t.dynamodb.write_request_units.usd, 0.625);
        assert_eq!(t.dynamodb.read_request_units.usd, 0.125);
        assert_eq!(t.lambda.gb_second.usd, 0.0000133334);
        for (name, p) in t.prices() {
            assert_eq!(p.date.len(), 10, "{name} has a date");
            assert!(p.source.starts_with("https://"), "{name} has a source");
        }
    }

    #[test]
    fn a_missing_or_unknown_field_is_named() {
        let without = BUILT_IN.replace("[kms]", "[kms_old]");
        let err = PriceTable::parse(&without)
            .expect_err("refused")
            .to_string();
        assert!(err.contains("kms"), "{err}");
        let negative = BUILT_IN.replace("usd = 0.40,", "usd = -0.40,");
        let err = PriceTable::parse(&negative)
            .expect_err("refused")
            .to_string();
        assert!(err.contains("sqs.requests"), "{err}");
    }
}
