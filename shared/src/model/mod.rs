//! The AWS model (issue 11): what the deployed system's AWS calls cost in time, for
//! `burstline dev --aws-model` and the benches.
//!
//! - [`table`]: the latency table (`shared/model/aws-latency.toml`), one user-editable file of
//!   per-operation medians and p99s with their sources, and the Kinesis consumer figures;
//! - [`latency`]: seeded lognormal draws from it, requests in turn or `n` in flight;
//! - [`shard_writes`]: Kinesis's per-shard write limit (1,000 records and 1 MiB a second),
//!   which a modeled `PutRecords` enforces record by record, as Kinesis does;
//! - [`Modeled`]: a wrapper around any port that sleeps for the requests its AWS adapter would
//!   make for that call (same chunking, same concurrency), then delegates. The real adapters
//!   are untouched: the model is only ever a layer around them.
//!
//! What is not modeled: throttling and capacity other than the stream's write limit, retries of unprocessed items, cold starts,
//! Lambda's own invoke overhead, and the network between a client and a Function URL.

pub mod latency;
pub mod polling;
pub mod shard_writes;
pub mod table;

mod deliveries;
mod log;
mod queue;
mod store;
mod tenants;

pub use latency::{DEFAULT_SEED, LatencyModel};
pub use table::{DEFAULT_TABLE, LatencyTable};

use std::sync::Arc;

/// Which Kinesis consumer fanout's mapping models (`FanoutConsumer` in `template.yaml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumer {
    /// Shared throughput: Lambda polls each shard with `GetRecords`.
    Standard,
    /// Enhanced fan-out: records pushed to a registered consumer.
    Efo,
}

impl std::str::FromStr for Consumer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "standard" => Ok(Self::Standard),
            "efo" => Ok(Self::Efo),
            other => Err(format!("{other:?} is not standard or efo")),
        }
    }
}

impl std::fmt::Display for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Standard => "standard",
            Self::Efo => "efo",
        })
    }
}

/// A port behind the latency model: each call sleeps for the modeled latency of the AWS
/// requests the port's AWS adapter makes for it, then answers as `inner` does. Errors take
/// the same time as answers.
pub struct Modeled<T: ?Sized> {
    inner: Arc<T>,
    model: LatencyModel,
}

impl<T: ?Sized> Modeled<T> {
    /// `inner` behind `model`.
    pub fn new(inner: Arc<T>, model: LatencyModel) -> Self {
        Self { inner, model }
    }
}

impl<T: ?Sized> std::fmt::Debug for Modeled<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Modeled").finish_non_exhaustive()
    }
}
