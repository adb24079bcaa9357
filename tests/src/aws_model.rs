//! `--aws-model` for the bench binaries: the same latency model as `burstline dev
//! --aws-model`, put around every port of a [`Stack`].

use crate::stack::Stack;
use burstline::model::{DEFAULT_SEED, LatencyModel, LatencyTable, Modeled};
use std::sync::Arc;

/// The model the command line asks for: `--aws-model <standard|efo>` (the benches drive their
/// own mappings, so the consumer only selects the model on) and optionally
/// `--aws-latency-table PATH`. `None` without `--aws-model`. Panics on a bad table: benches
/// are run by hand.
pub fn from_args() -> Option<LatencyModel> {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let consumer: burstline::model::Consumer = value("--aws-model")?
        .parse()
        .unwrap_or_else(|e| panic!("--aws-model: {e}"));
    let table = match value("--aws-latency-table") {
        Some(path) => {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            LatencyTable::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
        }
        None => LatencyTable::default_table(),
    };
    eprintln!("AWS model on ({consumer}): every port call takes its modeled latency");
    Some(LatencyModel::new(table, DEFAULT_SEED))
}

impl Stack {
    /// Every port behind `model`, when there is one.
    pub fn with_aws_model(self, model: Option<&LatencyModel>) -> Stack {
        let Some(m) = model else { return self };
        Stack {
            log: Arc::new(Modeled::new(self.log, m.clone())),
            shards: Arc::new(Modeled::new(self.shards, m.clone())),
            store: Arc::new(Modeled::new(self.store, m.clone())),
            tenants: Arc::new(Modeled::new(self.tenants, m.clone())),
            subscriptions: Arc::new(Modeled::new(self.subscriptions, m.clone())),
            endpoints: Arc::new(Modeled::new(self.endpoints, m.clone())),
            queue: Arc::new(Modeled::new(self.queue, m.clone())),
            queue_reader: Arc::new(Modeled::new(self.queue_reader, m.clone())),
            dead_letters: Arc::new(Modeled::new(self.dead_letters, m.clone())),
            dlq_reader: Arc::new(Modeled::new(self.dlq_reader, m.clone())),
            attempts: Arc::new(Modeled::new(self.attempts, m.clone())),
            cursors: Arc::new(Modeled::new(self.cursors, m.clone())),
            permits: Arc::new(Modeled::new(self.permits, m.clone())),
            ..self
        }
    }
}
