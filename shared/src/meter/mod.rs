//! The meter: what running Burstline costs at AWS list prices, modeled from what the code
//! actually does.
//!
//! - [`units`]: billing units from sizes (DynamoDB request units, SQS 64 KB chunks, Kinesis
//!   1 KB records), pure; the adapters book them beside each request in
//!   [`crate::requests::RequestCounter`].
//! - [`lambda`]: invocations and GB-seconds by function ([`lambda::LambdaMeter`]), and each
//!   function's memory as in `template.yaml`.
//! - [`prices`]: the price table, one TOML file with a date and source per price.
//! - [`bill`]: usage × prices = a [`bill::Bill`] of line items.
//! - [`idle`]: an idle viewer-hour from the stream settings alone.
//!
//! Figures are modeled: list prices, no free tier, no volume discounts, no data transfer, no
//! storage, no CloudWatch Logs (their price is in the table; the meter does not count log
//! bytes).

pub mod bill;
pub mod idle;
pub mod lambda;
pub mod prices;
pub mod units;
