//! The Kinesis → fanout mapping as Lambda runs it, for `--aws-model`: every shard read
//! independently, its records handed to the table's `parallelization_factor` lanes by
//! partition key (records of one task always share a lane), each lane with one batch in flight
//! and running on its own, so a slow batch holds back only its own lane.
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
use burstline::log::{ShardReader, StoredRecord};
use burstline::mapping::kinesis::{DriveStats, KinesisDriver, KinesisMapping, lane_of, run_batch};
use burstline::model::polling::next_read_in;
use burstline::model::{Consumer, LatencyModel, Modeled};
use fanout::Fanout;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};
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
    /// Reads the shard at the consumer's pace and hands each record to its lane; each lane
    /// runs its own batches one after another, as Lambda's do, so a slow batch holds back
    /// only its own lane's keys. Reading stops while the lanes hold `batch_size × lanes`
    /// records not yet handled.
    async fn run(mut self, consumer: Consumer, mut stop: watch::Receiver<bool>) {
        let standard = self.model.table().standard;
        let mapping = self.driver.mapping().clone();
        let factor = mapping.parallelization_factor.max(1);
        let room = Arc::new(Semaphore::new(mapping.batch_size.max(1) * factor));
        let mut lanes = JoinSet::new();
        let senders: Vec<mpsc::UnboundedSender<StoredRecord>> = (0..factor)
            .map(|_| {
                let (tx, rx) = mpsc::unbounded_channel();
                let lane = Lane {
                    shard: self.shard.clone(),
                    mapping: mapping.clone(),
                    fanout: self.fanout.clone(),
                    meter: self.meter.clone(),
                    room: Arc::clone(&room),
                };
                lanes.spawn(lane.run(rx));
                tx
            })
            .collect();
        while !*stop.borrow() {
            let pause = match consumer {
                Consumer::Standard => {
                    let started = Instant::now();
                    match self.read(&senders, &room).await {
                        Some(found) => next_read_in(found > 0, started.elapsed(), &standard),
                        None => ERROR_BACKOFF,
                    }
                }
                Consumer::Efo => match self.push_delay().await {
                    Some(delay) => {
                        tokio::time::sleep(delay).await;
                        self.read(&senders, &room)
                            .await
                            .map_or(ERROR_BACKOFF, |_| Duration::ZERO)
                    }
                    None => EFO_WATCH,
                },
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        }
        // Stopping: hand fanout everything still in the shard, then let the lanes finish.
        while self
            .read(&senders, &room)
            .await
            .is_some_and(|records| records > 0)
        {}
        drop(senders);
        while lanes.join_next().await.is_some() {}
    }

    /// One read of the shard, as much as the lanes have room for, each record handed to its
    /// lane: records read, or `None` when the read failed.
    async fn read(
        &mut self,
        lanes: &[mpsc::UnboundedSender<StoredRecord>],
        room: &Semaphore,
    ) -> Option<usize> {
        if room.available_permits() == 0 {
            // Lambda reads only so far ahead of its batches: wait for a lane to finish one.
            drop(room.acquire().await.ok()?);
        }
        let free = room.available_permits();
        let records = match self.driver.read_ahead(&self.shard, free).await {
            Ok(records) => records,
            Err(e) => {
                warn!(shard = %self.shard, error = %e, "Kinesis poll failed");
                return None;
            }
        };
        let n = records.len();
        // Only this reader takes room, so what it just saw free is still there.
        room.acquire_many(u32::try_from(n).ok()?)
            .await
            .ok()?
            .forget();
        for r in records {
            let lane = lane_of(&r.partition_key, lanes.len());
            // A lane ends only once every sender is dropped, after the last read.
            let _ = lanes[lane].send(r);
        }
        Some(n)
    }

    /// EFO: when the next record past the read position is pushed to the consumer, from
    /// now; `None` while there is none.
    async fn push_delay(&self) -> Option<Duration> {
        let after = self.driver.checkpoint(&self.shard);
        let arrival = self.raw.next_arrival(&self.shard, after).await.ok()??;
        let push = self.model.draw(&self.model.table().efo.push, 0);
        let since_put = (chrono::Utc::now() - arrival).to_std().unwrap_or_default();
        Some(push.saturating_sub(since_put))
    }
}

/// One lane of a shard: a batch in flight at a time, of up to `batch_size` of the records
/// waiting in the lane, in order.
struct Lane {
    shard: String,
    mapping: KinesisMapping,
    fanout: Fanout,
    meter: DevMeter,
    room: Arc<Semaphore>,
}

impl Lane {
    async fn run(self, mut records: mpsc::UnboundedReceiver<StoredRecord>) {
        let (fanout, meter) = (self.fanout.clone(), self.meter.clone());
        let handler = move |event: KinesisEvent| {
            let (deps, meter) = (fanout.clone(), meter.clone());
            async move { Ok(invoke_fanout(&deps, &meter, event).await) }
        };
        let mut stats = DriveStats::default();
        let mut failed = Vec::new();
        while let Some(first) = records.recv().await {
            let mut batch = vec![first];
            while batch.len() < self.mapping.batch_size {
                match records.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            let n = batch.len();
            run_batch(
                &self.mapping,
                &self.shard,
                batch,
                &handler,
                &mut stats,
                &mut failed,
            )
            .await;
            self.room.add_permits(n);
            if !failed.is_empty() {
                warn!(
                    shard = %self.shard,
                    records = failed.len(),
                    "records given up on after the mapping's retries"
                );
                failed.clear();
            }
        }
    }
}
