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

    /// The model for a stream of `shards` shards. On an AWS endpoint the stream has the shards
    /// it was created with (one, when dev created it), not the table's: Kinesis's write limit
    /// is per shard of that stream, so the model places and limits writes by its count.
    pub fn for_shards(self, shards: usize) -> Self {
        let table = self.model.table();
        if shards == 0 || table.shards == shards {
            return self;
        }
        let mut table = table.clone();
        table.shards = shards;
        Self {
            model: LatencyModel::new(table, DEFAULT_SEED),
            ..self
        }
    }

    /// The banner's line. `in_memory`: the stream is the model's; on an AWS endpoint it is the
    /// endpoint's, with the shards it was created with ([`AwsModel::for_shards`]).
    pub fn describe(&self, in_memory: bool) -> String {
        let t = self.model.table();
        let plural = if t.shards == 1 { "" } else { "s" };
        let shards = if in_memory {
            format!("{} shard{plural}", t.shards)
        } else {
            format!("{} shard{plural} (the endpoint's stream)", t.shards)
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

#[cfg(test)]
mod tests {
    use super::*;
    use burstline::log::LogRecord;

    fn records(n: usize) -> Vec<LogRecord> {
        (0..n)
            .map(|i| LogRecord {
                partition_key: format!("task-{i}"),
                data: vec![b'x'; 10],
            })
            .collect()
    }

    fn admitted(m: &AwsModel, n: usize) -> usize {
        let taken = m.model.admit_writes(&records(n));
        taken.into_iter().filter(|t| *t).count()
    }

    #[test]
    fn an_endpoints_stream_is_limited_by_its_own_shards() {
        let four = AwsModel::load(Consumer::Efo, None).unwrap();
        assert_eq!(four.model.table().shards, 4);
        // A burst of 6,000 small records spread over many keys: each shard takes one second's
        // worth, 1,000 records.
        assert_eq!(admitted(&four, 6000), 4000);

        let one = AwsModel::load(Consumer::Efo, None).unwrap().for_shards(1);
        assert_eq!(one.model.table().shards, 1);
        assert_eq!(admitted(&one, 6000), 1000);
        assert!(
            one.describe(false)
                .contains("1 shard (the endpoint's stream)")
        );

        let same = AwsModel::load(Consumer::Standard, None)
            .unwrap()
            .for_shards(4);
        assert_eq!(same.model.table(), four.model.table());
    }
}
