//! The two event-source mappings of `template.yaml`, run in-process with the drivers from
//! `burstline::mapping`: Kinesis → fanout and SQS → deliver. They stop when told to, after
//! finishing (draining) the work they hold.

use super::meter::DevMeter;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use burstline::log::ShardReader;
use burstline::mapping::kinesis::{KinesisDriver, KinesisMapping};
use burstline::mapping::sqs::{SqsDriver, SqsMapping};
use burstline::queue::QueueReader;
use deliver::Deliver;
use fanout::Fanout;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

/// Pause after a failed poll (the service itself unreachable), so errors don't spin.
const ERROR_BACKOFF: Duration = Duration::from_secs(1);
/// How long the queue must stay empty before a stopping deliver mapping ends: longer than the
/// short hand-backs deliver makes (whole seconds: a job waiting its turn, a commit, or an
/// endpoint's limits), far shorter than a retry's schedule, whose jobs stay queued.
const DRAIN_QUIET: Duration = Duration::from_secs(4);

/// The mappings' settings, named as in `template.yaml`.
#[derive(Debug, Clone)]
pub struct MappingSettings {
    /// Kinesis `BatchSize`.
    pub kinesis_batch_size: usize,
    /// Kinesis `MaximumBatchingWindowInSeconds`: how long records may wait for a batch to
    /// fill. The emulation polls the shards once per window; a full batch is taken at once.
    pub batching_window: Duration,
    /// Kinesis `MaximumRetryAttempts`.
    pub kinesis_max_retries: u32,
    /// SQS `ScalingConfig.MaximumConcurrency`: deliver invocations in flight (4 in memory; the
    /// model's `[lambda.deliver]`, the template's 10, under `--aws-model`).
    pub sqs_concurrency: usize,
    /// SQS `BatchSize`.
    pub sqs_batch_size: usize,
    /// deliver's `Timeout`: each invocation's deadline, handed to deliver and enforced.
    pub deliver_timeout: Duration,
}

impl Default for MappingSettings {
    fn default() -> Self {
        Self {
            kinesis_batch_size: 500,
            batching_window: Duration::from_secs(1),
            kinesis_max_retries: 10,
            sqs_concurrency: 4,
            sqs_batch_size: 10,
            deliver_timeout: Duration::from_secs(120),
        }
    }
}

/// Runs Kinesis → fanout until `stop` turns true, then drains what is in the stream.
pub async fn kinesis_to_fanout(
    shards: Arc<dyn ShardReader>,
    stream_arn: String,
    fanout: Fanout,
    settings: MappingSettings,
    meter: DevMeter,
    mut stop: watch::Receiver<bool>,
) {
    let mut driver = KinesisDriver::new(
        meter.tap(shards),
        KinesisMapping {
            stream_arn,
            batch_size: settings.kinesis_batch_size,
            max_retries: settings.kinesis_max_retries,
            bisect_on_error: true,
            retry_delay: Duration::from_millis(100),
            batching_window: Duration::ZERO,
            parallelization_factor: 1,
        },
    );
    let handler = |event: KinesisEvent| {
        let (deps, meter) = (fanout.clone(), meter.clone());
        async move { Ok(invoke_fanout(&deps, &meter, event).await) }
    };
    let mut reported = 0;
    loop {
        let full = match driver.poll_once(&handler).await {
            Ok(stats) => stats.records >= settings.kinesis_batch_size as u64,
            Err(e) => {
                warn!(error = %e, "Kinesis poll failed");
                sleep_or_stop(ERROR_BACKOFF, &mut stop).await;
                false
            }
        };
        if driver.failed().len() > reported {
            reported = driver.failed().len();
            warn!(
                records = reported,
                "records gave up on after every retry (the on-failure destination)"
            );
        }
        if *stop.borrow() {
            break;
        }
        if !full {
            sleep_or_stop(settings.batching_window, &mut stop).await;
        }
    }
    match driver.drain(&handler).await {
        Ok(stats) => info!(records = stats.records, "Kinesis mapping drained"),
        Err(e) => warn!(error = %e, "Kinesis mapping could not drain"),
    }
}

/// One fanout invocation, metered: its AWS calls and duration booked to fanout, and the lag of
/// the records it committed noted once it is done.
pub async fn invoke_fanout(
    deps: &Fanout,
    meter: &DevMeter,
    event: KinesisEvent,
) -> KinesisEventResponse {
    let seqs: Vec<String> = event
        .records
        .iter()
        .map(|r| r.kinesis.sequence_number.clone())
        .collect();
    let response = meter.invoke("fanout", fanout::handle(deps, event)).await;
    meter.handled(&seqs);
    response
}

/// Runs SQS → deliver with `sqs_concurrency` pollers until `stop` turns true; then each
/// poller goes on until the queue has shown nothing for [`DRAIN_QUIET`], so deliveries in
/// flight, jobs fanout enqueued last and short hand-backs are finished. Retries scheduled for
/// later stay in the queue.
pub async fn sqs_to_deliver(
    queue: Arc<dyn QueueReader>,
    queue_arn: String,
    deliver: Deliver,
    settings: MappingSettings,
    meter: DevMeter,
    stop: watch::Receiver<bool>,
) {
    let mut pollers = JoinSet::new();
    for _ in 0..settings.sqs_concurrency.max(1) {
        let driver = SqsDriver::new(
            queue.clone(),
            SqsMapping {
                queue_arn: queue_arn.clone(),
                batch_size: settings.sqs_batch_size,
                // Long polling, short enough that a stop is noticed quickly.
                wait: Duration::from_secs(1),
                timeout: Some(settings.deliver_timeout),
            },
        );
        // Each poller is one concurrent invocation, so one process of its own as on Lambda:
        // the per-process in-flight default applies to each, not to all of them together.
        let mut deps = deliver.clone();
        deps.throttle = Arc::new(deliver.throttle.another_process());
        let meter = meter.clone();
        let mut stop = stop.clone();
        pollers.spawn(async move {
            let handler = |event, deadline| {
                let deps = deps.clone();
                let meter = meter.clone();
                async move {
                    let run = deliver::handle_until(&deps, event, deadline);
                    Ok(meter.invoke("deliver", run).await)
                }
            };
            let mut quiet_since: Option<tokio::time::Instant> = None;
            loop {
                match driver.poll_once(&handler).await {
                    // Stopping: keep going until the queue has shown nothing for DRAIN_QUIET,
                    // so jobs handed back for a second or two (a turn, a commit wait, a
                    // throttle) are finished too.
                    Ok(stats) if stats.received == 0 && *stop.borrow() => {
                        let since = *quiet_since.get_or_insert_with(tokio::time::Instant::now);
                        if since.elapsed() >= DRAIN_QUIET {
                            break;
                        }
                    }
                    Ok(_) => quiet_since = None,
                    Err(_) if *stop.borrow() => break,
                    Err(e) => {
                        warn!(error = %e, "SQS poll failed");
                        sleep_or_stop(ERROR_BACKOFF, &mut stop).await;
                    }
                }
            }
        });
    }
    while pollers.join_next().await.is_some() {}
    info!("SQS mapping stopped; deliveries in flight finished");
}

/// Sleeps for `d`, or less if `stop` turns true meanwhile.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) {
    tokio::select! {
        () = tokio::time::sleep(d) => {}
        _ = stop.wait_for(|s| *s) => {}
    }
}
