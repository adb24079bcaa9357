//! `--aws-model standard|efo`: the dev stack as deployed, in time. Loads the latency table
//! (built in, or `--aws-latency-table`) and puts every port behind it
//! ([`burstline::model::Modeled`]); the Kinesis mapping ([`shard_pollers`](super::shard_pollers))
//! and Lambda's streaming ([`lambda_stream`](super::lambda_stream)) follow the model too.

use super::backends::Backends;
use anyhow::Context;
use burstline::model::{Consumer, DEFAULT_SEED, LatencyModel, LatencyTable, Modeled};
use std::path::Path;
use std::sync::Arc;

/// The model a dev stack runs under.
#[derive(Debug, Clone)]
pub struct AwsModel {
    /// Which Kinesis consumer fanout's mapping models.
    pub consumer: Consumer,
    /// The latency model every port shares.
    pub model: LatencyModel,
    /// Where the table came from, for the banner.
    pub source: String,
}

impl AwsModel {
    /// Loads `table` (or the built-in one) for `consumer`.
    pub fn load(consumer: Consumer, table: Option<&Path>) -> anyhow::Result<Self> {
        let (parsed, source) = match table {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading --aws-latency-table {}", path.display()))?;
                let parsed = LatencyTable::parse(&text)
                    .with_context(|| format!("--aws-latency-table {}", path.display()))?;
                (parsed, path.display().to_string())
            }
            None => (
                LatencyTable::default_table(),
                "built in (shared/model/aws-latency.toml)".to_owned(),
            ),
        };
        Ok(Self {
            consumer,
            model: LatencyModel::new(parsed, DEFAULT_SEED),
            source,
        })
    }

    /// The banner's line. `in_memory`: the stream is the model's (its shard count); on an
    /// AWS endpoint it has the shards it was created with.
    pub fn describe(&self, in_memory: bool) -> String {
        let t = self.model.table();
        let shards = if in_memory {
            format!("{} shards", t.shards)
        } else {
            "the endpoint's shards".to_owned()
        };
        let shards = match t.parallelization_factor {
            1 => shards,
            n => format!("{shards} × parallelization factor {n}"),
        };
        format!(
            "{} consumer, {shards}, latency table {}",
            self.consumer, self.source
        )
    }

    /// Every port behind the model. The stream reader stays raw: the modeled mapping charges
    /// its reads itself.
    pub fn wrap(&self, b: Backends) -> Backends {
        let m = &self.model;
        Backends {
            log: Arc::new(Modeled::new(b.log, m.clone())),
            shards: b.shards,
            store: Arc::new(Modeled::new(b.store, m.clone())),
            tenants: Arc::new(Modeled::new(b.tenants, m.clone())),
            subscriptions: Arc::new(Modeled::new(b.subscriptions, m.clone())),
            endpoints: Arc::new(Modeled::new(b.endpoints, m.clone())),
            leases: Arc::new(Modeled::new(b.leases, m.clone())),
            queue: Arc::new(Modeled::new(b.queue, m.clone())),
            queue_reader: Arc::new(Modeled::new(b.queue_reader, m.clone())),
            dead_letters: Arc::new(Modeled::new(b.dead_letters, m.clone())),
            attempts: Arc::new(Modeled::new(b.attempts, m.clone())),
            cursors: Arc::new(Modeled::new(b.cursors, m.clone())),
            stream_arn: b.stream_arn,
            queue_arn: b.queue_arn,
            description: b.description,
            requests: b.requests,
        }
    }
}
