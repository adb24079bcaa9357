//! The Kinesis → fanout mapping as Lambda runs it, for `--aws-model`: every shard polled
//! independently with one batch in flight per shard, or per lane of the shard with the
//! table's `parallelization_factor` above 1 (records of one task always share a lane).
//!
//! - standard: a `GetRecords` per shard (modeled latency); when it finds nothing the shard
//!   waits `idle_poll` (~1 s) before the next; when it finds records the batch fills for the
//!   batching window, fanout is invoked, and the shard is polled again at once, but never more
//!   than `max_reads_per_second` (5) reads a second;
//! - efo: records pushed to the shard's consumer a modeled ~70 ms after they were put; no
//!   `GetRecords` (the subscription is watched locally every [`EFO_WATCH`]), batching window 0.

use super::mappings::{MappingSettings, invoke_fanout};
use super::meter::DevMeter;
use aws_lambda_events::event::kinesis::KinesisEvent;
use burstline::log::ShardReader;
use burstline::mapping::kinesis::{KinesisDriver, KinesisMapping};
use burstline::model::polling::next_read_in;
use burstline::model::{Consumer, LatencyModel, Modeled};
use fanout::Fanout;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{info, warn};

/// How often the emulation looks for records to push to an EFO consumer: local only, no AWS
/// request; short beside the modeled ~70 ms push.
const EFO_WATCH: Duration = Duration::from_millis(10);
/// Pause after a failed read, so errors don't spin.
const ERROR_BACKOFF: Duration = Duration::from_secs(1);

/// Runs Kinesis → fanout under the model until `stop` turns true, then drains every shard.
/// `raw` reads the stream itself (what an EFO subscription pushes); standard reads go through
/// the model.
pub async fn kinesis_to_fanout(
    raw: Arc<dyn ShardReader>,
    stream_arn: String,
    fanout: Fanout,
    settings: MappingSettings,
    (model, consumer): (LatencyModel, Consumer),
    meter: DevMeter,
    stop: watch::Receiver<bool>,
) {
    let shards = loop {
        match raw.shards().await {
            Ok(s) => break s,
            Err(e) => {
                warn!(error = %e, "listing shards failed");
                tokio::time::sleep(ERROR_BACKOFF).await;
            }
        }
    };
    let mut pollers = JoinSet::new();
    for shard in shards {
        let reader: Arc<dyn ShardReader> = match consumer {
            Consumer::Standard => Arc::new(Modeled::new(raw.clone(), model.clone())),
            Consumer::Efo => raw.clone(),
        };
        let reader = meter.tap(reader);
        let driver = KinesisDriver::new(
            reader,
            KinesisMapping {
                stream_arn: stream_arn.clone(),
                batch_size: settings.kinesis_batch_size,
                max_retries: settings.kinesis_max_retries,
                bisect_on_error: true,
                retry_delay: Duration::from_millis(100),
                batching_window: settings.batching_window,
                parallelization_factor: model.table().parallelization_factor,
            },
        );
        let poller = ShardPoller {
            shard,
            driver,
            raw: raw.clone(),
            model: model.clone(),
            fanout: fanout.clone(),
            meter: meter.clone(),
        };
        pollers.spawn(poller.run(consumer, stop.clone()));
    }
    while pollers.join_next().await.is_some() {}
    info!("Kinesis mapping (modeled) drained");
}

struct ShardPoller {
    shard: String,
    driver: KinesisDriver<Arc<dyn ShardReader>>,
    raw: Arc<dyn ShardReader>,
    model: LatencyModel,
    fanout: Fanout,
    meter: DevMeter,
}

impl ShardPoller {
    async fn run(mut self, consumer: Consumer, mut stop: watch::Receiver<bool>) {
        let standard = self.model.table().standard;
        while !*stop.borrow() {
            let pause = match consumer {
                Consumer::Standard => {
                    let started = Instant::now();
                    match self.poll().await {
                        Some(found) => next_read_in(found > 0, started.elapsed(), &standard),
                        None => ERROR_BACKOFF,
                    }
                }
                Consumer::Efo => match self.push_delay().await {
                    Some(delay) => {
                        tokio::time::sleep(delay).await;
                        self.poll().await.map_or(ERROR_BACKOFF, |_| Duration::ZERO)
                    }
                    None => EFO_WATCH,
                },
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        }
        // Stopping: hand fanout everything still in the shard.
        while self.poll().await.is_some_and(|records| records > 0) {}
    }

    /// One poll of the shard: records handled, or `None` when the read failed.
    async fn poll(&mut self) -> Option<u64> {
        let fanout = self.fanout.clone();
        let meter = self.meter.clone();
        let handler = move |event: KinesisEvent| {
            let (deps, meter) = (fanout.clone(), meter.clone());
            async move { Ok(invoke_fanout(&deps, &meter, event).await) }
        };
        match self.driver.poll_shard(&self.shard, &handler).await {
            Ok(stats) => Some(stats.invocations),
            Err(e) => {
                warn!(shard = %self.shard, error = %e, "Kinesis poll failed");
                None
            }
        }
    }

    /// EFO: when the next record past the checkpoint is pushed to the consumer, from now;
    /// `None` while there is none.
    async fn push_delay(&self) -> Option<Duration> {
        let after = self.driver.checkpoint(&self.shard);
        let arrival = self.raw.next_arrival(&self.shard, after).await.ok()??;
        let push = self.model.draw(&self.model.table().efo.push, 0);
        let since_put = (chrono::Utc::now() - arrival).to_std().unwrap_or_default();
        Some(push.saturating_sub(since_put))
    }
}
