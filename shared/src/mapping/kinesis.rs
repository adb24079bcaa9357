//! A Kinesis event-source mapping: reads shards with `GetShardIterator`/`GetRecords` and
//! invokes a handler with `KinesisEvent`s shaped exactly like Lambda's.
//!
//! Semantics, as configured on the real mapping (`template.yaml`):
//! - batches of up to `batch_size` records per shard, in order;
//! - `ReportBatchItemFailures`: the checkpoint moves to just before the lowest failed
//!   sequence number and the batch is retried from there;
//! - a function error (or crash) retries the batch; with `bisect_on_error` the batch is split
//!   in two and each half retried separately;
//! - after `max_retries` retries a batch goes to the on-failure destination (kept in
//!   [`KinesisDriver::failed`]) and the shard moves on;
//! - `ParallelizationFactor`: what one poll of a shard read is split by partition key into
//!   that many lanes ([`lanes`]), each run in order in batches of up to `batch_size`, the lanes
//!   concurrently; a partition key always maps to the same lane, so its records stay in order.
//!   [`KinesisDriver::poll_shard`]'s next poll waits for every lane, which errs on the slow
//!   side; `burstline dev --aws-model` runs each lane on its own, as Lambda does, from
//!   [`KinesisDriver::read_ahead`], [`lane_of`] and [`run_batch`].

use super::invoke;
use crate::error::Result;
use crate::log::{ShardReader, StoredRecord};
use aws_lambda_events::encodings::SecondTimestamp;
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord, KinesisRecord};
use aws_lambda_events::event::streams::KinesisEventResponse;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::time::Duration;

/// Mapping settings, named as in `AWS::Lambda::EventSourceMapping`.
#[derive(Debug, Clone)]
pub struct KinesisMapping {
    /// Stream ARN put in each record's `eventSourceARN`.
    pub stream_arn: String,
    /// `BatchSize`.
    pub batch_size: usize,
    /// `MaximumRetryAttempts`.
    pub max_retries: u32,
    /// `BisectBatchOnFunctionError`.
    pub bisect_on_error: bool,
    /// Pause before a retry.
    pub retry_delay: Duration,
    /// `MaximumBatchingWindowInSeconds`, as [`KinesisDriver::poll_shard`] applies it: a read
    /// that finds fewer than `batch_size` records waits this long and reads again before
    /// invoking. Zero (the default): invoke with what the first read found.
    pub batching_window: Duration,
    /// `ParallelizationFactor`: concurrent batches per shard (1 to 10).
    pub parallelization_factor: usize,
}

impl Default for KinesisMapping {
    fn default() -> Self {
        Self {
            stream_arn: "arn:aws:kinesis:us-east-1:000000000000:stream/burstline-events".into(),
            batch_size: 100,
            max_retries: 10,
            bisect_on_error: true,
            retry_delay: Duration::ZERO,
            batching_window: Duration::ZERO,
            parallelization_factor: 1,
        }
    }
}

/// What a drive accomplished.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriveStats {
    /// Handler invocations, retries included.
    pub invocations: u64,
    /// Records checkpointed past.
    pub records: u64,
    /// Invocations that errored or crashed.
    pub function_errors: u64,
    /// Records sent to the on-failure destination.
    pub discarded: u64,
}

impl std::ops::AddAssign for DriveStats {
    fn add_assign(&mut self, s: Self) {
        self.invocations += s.invocations;
        self.records += s.records;
        self.function_errors += s.function_errors;
        self.discarded += s.discarded;
    }
}

/// Drives one stream's shards into a handler.
#[derive(Debug)]
pub struct KinesisDriver<R> {
    reader: R,
    mapping: KinesisMapping,
    checkpoints: HashMap<String, String>,
    failed: Vec<StoredRecord>,
}

impl<R: ShardReader> KinesisDriver<R> {
    /// A driver starting at the beginning of every shard.
    pub fn new(reader: R, mapping: KinesisMapping) -> Self {
        Self {
            reader,
            mapping,
            checkpoints: HashMap::new(),
            failed: Vec::new(),
        }
    }

    /// Records given up on after `max_retries`: the on-failure destination.
    pub fn failed(&self) -> &[StoredRecord] {
        &self.failed
    }

    /// Where `shard` is checkpointed: the last sequence number handled, if any.
    pub fn checkpoint(&self, shard: &str) -> Option<&str> {
        self.checkpoints.get(shard).map(String::as_str)
    }

    /// Polls every shard once and processes what it read. Returns what happened.
    pub async fn poll_once<F, Fut>(&mut self, handler: &F) -> Result<DriveStats>
    where
        F: Fn(KinesisEvent) -> Fut,
        Fut: Future<Output = Result<KinesisEventResponse, String>> + Send + 'static,
    {
        let mut stats = DriveStats::default();
        for shard in self.reader.shards().await? {
            stats += self.poll_shard(&shard, handler).await?;
        }
        Ok(stats)
    }

    /// Polls one shard once (waiting out the batching window when the batch is not full) and
    /// processes what it read: one batch in flight per lane of the shard (one lane unless
    /// `parallelization_factor` is above 1), as Lambda runs it.
    pub async fn poll_shard<F, Fut>(&mut self, shard: &str, handler: &F) -> Result<DriveStats>
    where
        F: Fn(KinesisEvent) -> Fut,
        Fut: Future<Output = Result<KinesisEventResponse, String>> + Send + 'static,
    {
        let mut stats = DriveStats::default();
        let factor = self.mapping.parallelization_factor.max(1);
        let records = self.read(shard, self.mapping.batch_size * factor).await?;
        let Some(last) = records.last().map(|r| r.sequence_number.clone()) else {
            return Ok(stats);
        };
        let mapping = &self.mapping;
        let runs = lanes(records, factor)
            .into_iter()
            .map(|mut lane| async move {
                let mut lane_stats = DriveStats::default();
                let mut failed = Vec::new();
                while !lane.is_empty() {
                    let rest = lane.split_off(mapping.batch_size.clamp(1, lane.len()));
                    run_batch(mapping, shard, lane, handler, &mut lane_stats, &mut failed).await;
                    lane = rest;
                }
                (lane_stats, failed)
            });
        for (s, failed) in futures_util::future::join_all(runs).await {
            stats += s;
            self.failed.extend(failed);
        }
        // Every lane ran its records to the end (handled, or given up on): the shard moves
        // past all that was read.
        self.checkpoints.insert(shard.to_owned(), last);
        Ok(stats)
    }

    /// Reads up to `limit` records of `shard` past its checkpoint (waiting out the batching
    /// window when fewer came, as [`Self::poll_shard`] does) and moves the checkpoint past
    /// them, without running them: for a poller that hands records to lanes running on their
    /// own ([`lane_of`], [`run_batch`]), as Lambda's lanes do. The checkpoint is then where
    /// reading goes on, not what has been handled.
    pub async fn read_ahead(&mut self, shard: &str, limit: usize) -> Result<Vec<StoredRecord>> {
        let records = self.read(shard, limit).await?;
        if let Some(last) = records.last() {
            self.checkpoints
                .insert(shard.to_owned(), last.sequence_number.clone());
        }
        Ok(records)
    }

    /// Up to `limit` records of `shard` past its checkpoint; when fewer came, waits out the
    /// batching window and reads again. Leaves the checkpoint where it is.
    async fn read(&self, shard: &str, limit: usize) -> Result<Vec<StoredRecord>> {
        let after = self.checkpoints.get(shard).map(String::as_str);
        let records = self.reader.read(shard, after, limit).await?;
        let window = self.mapping.batching_window;
        if records.is_empty() || records.len() >= limit || window.is_zero() {
            return Ok(records);
        }
        tokio::time::sleep(window).await;
        self.reader.read(shard, after, limit).await
    }

    /// The mapping's settings.
    pub fn mapping(&self) -> &KinesisMapping {
        &self.mapping
    }

    /// Polls until a poll reads nothing: everything in the stream has been handled.
    pub async fn drain<F, Fut>(&mut self, handler: &F) -> Result<DriveStats>
    where
        F: Fn(KinesisEvent) -> Fut,
        Fut: Future<Output = Result<KinesisEventResponse, String>> + Send + 'static,
    {
        let mut total = DriveStats::default();
        loop {
            let s = self.poll_once(handler).await?;
            if s.invocations == 0 {
                return Ok(total);
            }
            total += s;
        }
    }
}

/// Runs one batch to the end as the mapping does: retried from the lowest reported failure,
/// bisected on function errors, given up on (into `failed`) after `max_retries`; every record
/// ends handled or given up on.
pub async fn run_batch<F, Fut>(
    mapping: &KinesisMapping,
    shard: &str,
    records: Vec<StoredRecord>,
    handler: &F,
    stats: &mut DriveStats,
    failed: &mut Vec<StoredRecord>,
) where
    F: Fn(KinesisEvent) -> Fut,
    Fut: Future<Output = Result<KinesisEventResponse, String>> + Send + 'static,
{
    let mut work: VecDeque<(Vec<StoredRecord>, u32)> = VecDeque::from([(records, 0)]);
    while let Some((batch, retries)) = work.pop_front() {
        stats.invocations += 1;
        let event = lambda_event(shard, &batch, &mapping.stream_arn);
        let retry_from = match invoke(handler, event).await {
            Ok(Ok(response)) => lowest_failure(&batch, &response),
            Ok(Err(e)) | Err(e) => {
                stats.function_errors += 1;
                tracing::warn!(shard, error = %e, records = batch.len(), "fanout invocation failed");
                if retries < mapping.max_retries && mapping.bisect_on_error && batch.len() > 1 {
                    let mut first = batch;
                    let second = first.split_off(first.len() / 2);
                    work.push_front((second, retries + 1));
                    work.push_front((first, retries + 1));
                    tokio::time::sleep(mapping.retry_delay).await;
                    continue;
                }
                Some(0)
            }
        };
        let Some(from) = retry_from else {
            stats.records += batch.len() as u64;
            continue;
        };
        stats.records += from as u64;
        let rest = batch[from..].to_vec();
        if retries >= mapping.max_retries {
            stats.discarded += rest.len() as u64;
            failed.extend(rest);
            // Later work on this shard was split from the same batch; it is still valid.
            continue;
        }
        tokio::time::sleep(mapping.retry_delay).await;
        work.push_front((rest, retries + 1));
    }
}

/// Splits records into `factor` lanes by partition key, each in stream order: a key always
/// lands in the same lane. Empty lanes are left out.
pub fn lanes(records: Vec<StoredRecord>, factor: usize) -> Vec<Vec<StoredRecord>> {
    let factor = factor.max(1);
    let mut out: Vec<Vec<StoredRecord>> = (0..factor).map(|_| Vec::new()).collect();
    for r in records {
        let lane = lane_of(&r.partition_key, factor);
        out[lane].push(r);
    }
    out.retain(|l| !l.is_empty());
    out
}

/// The lane (`0..factor`) of records with `partition_key`: always the same one.
pub fn lane_of(partition_key: &str, factor: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(partition_key, &mut h);
    (std::hash::Hasher::finish(&h) % factor.max(1) as u64) as usize
}

/// Index of the lowest failed record, or `None` when all succeeded. An identifier that names
/// no record of the batch fails the whole batch, as Lambda does.
fn lowest_failure(batch: &[StoredRecord], response: &KinesisEventResponse) -> Option<usize> {
    response
        .batch_item_failures
        .iter()
        .map(|f| {
            f.item_identifier
                .as_deref()
                .and_then(|id| batch.iter().position(|r| r.sequence_number == id))
                .unwrap_or(0)
        })
        .min()
}

/// A `KinesisEvent` exactly as Lambda sends it, built directly rather than through its JSON
/// (the round trip through base64 and `serde_json::Value` was a tenth of `burstline dev`'s CPU
/// in a profiled burst). The arrival time is read as the JSON number Lambda sends, so it has
/// the same precision a deployed handler sees.
pub fn lambda_event(shard: &str, records: &[StoredRecord], stream_arn: &str) -> KinesisEvent {
    let mut event = KinesisEvent::default();
    event.records = records
        .iter()
        .map(|r| {
            let mut kinesis = KinesisRecord::default();
            kinesis.kinesis_schema_version = Some("1.0".to_owned());
            kinesis.partition_key.clone_from(&r.partition_key);
            kinesis.sequence_number.clone_from(&r.sequence_number);
            kinesis.data.0.clone_from(&r.data);
            kinesis.approximate_arrival_timestamp = arrival_as_sent(r.arrival);
            let mut record = KinesisEventRecord::default();
            record.kinesis = kinesis;
            record.event_source = Some("aws:kinesis".to_owned());
            record.event_version = Some("1.0".to_owned());
            record.event_id = Some(format!("{shard}:{}", r.sequence_number));
            record.event_name = Some("aws:kinesis:record".to_owned());
            record.invoke_identity_arn =
                Some("arn:aws:iam::000000000000:role/burstline-fanout".to_owned());
            record.aws_region = Some("us-east-1".to_owned());
            record.event_source_arn = Some(stream_arn.to_owned());
            record
        })
        .collect();
    event
}

/// `approximateArrivalTimestamp` as a handler reads it: Lambda sends seconds with a fraction,
/// and `aws_lambda_events` reads that fraction loosely, so parse the same number it would.
fn arrival_as_sent(arrival: chrono::DateTime<chrono::Utc>) -> SecondTimestamp {
    let seconds = arrival.timestamp_millis() as f64 / 1000.0;
    serde_json::from_value(serde_json::json!(seconds)).unwrap_or(SecondTimestamp(arrival))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::memory::MemoryLog;
    use crate::log::{EventLog, LogRecord};
    use crate::requests::RequestCounter;
    use std::sync::{Arc, Mutex};

    async fn log_with(n: usize) -> MemoryLog {
        let log = MemoryLog::new(RequestCounter::default());
        let recs: Vec<LogRecord> = (0..n)
            .map(|i| LogRecord {
                partition_key: "k".into(),
                data: i.to_string().into_bytes(),
            })
            .collect();
        log.put(&recs).await.unwrap();
        log
    }

    fn payloads(ev: &KinesisEvent) -> Vec<String> {
        ev.records
            .iter()
            .map(|r| String::from_utf8(r.kinesis.data.0.clone()).unwrap())
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_parallelization_factor_runs_lanes_at_once_each_key_in_order() {
        let log = MemoryLog::new(RequestCounter::default());
        let recs: Vec<LogRecord> = (0..400)
            .map(|i| LogRecord {
                partition_key: format!("task-{}", i % 40),
                data: format!("{}:{}", i % 40, i / 40).into_bytes(),
            })
            .collect();
        log.put(&recs).await.unwrap();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let widest = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (calls, now, most) = (seen.clone(), running.clone(), widest.clone());
        let handler = move |ev: KinesisEvent| {
            let (calls, now, most) = (calls.clone(), now.clone(), most.clone());
            async move {
                use std::sync::atomic::Ordering::SeqCst;
                let n = now.fetch_add(1, SeqCst) + 1;
                most.fetch_max(n, SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                calls.lock().unwrap().extend(payloads(&ev));
                now.fetch_sub(1, SeqCst);
                Ok(KinesisEventResponse::default())
            }
        };
        let mapping = KinesisMapping {
            batch_size: 50,
            parallelization_factor: 4,
            ..KinesisMapping::default()
        };
        let mut driver = KinesisDriver::new(log, mapping);
        let stats = driver.drain(&handler).await.unwrap();
        assert_eq!(stats.records, 400);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 400, "every record once");
        for key in 0..40 {
            let order: Vec<String> = seen
                .iter()
                .filter(|p| p.starts_with(&format!("{key}:")))
                .cloned()
                .collect();
            let expected: Vec<String> = (0..10).map(|n| format!("{key}:{n}")).collect();
            assert_eq!(order, expected, "key {key} in stream order");
        }
        let widest = widest.load(std::sync::atomic::Ordering::SeqCst);
        assert!((2..=4).contains(&widest), "lanes ran at once: {widest}");
    }

    #[test]
    fn lanes_keep_a_key_in_one_lane_in_order() {
        let rec = |key: &str, n: u32| StoredRecord {
            sequence_number: n.to_string(),
            partition_key: key.into(),
            data: Vec::new(),
            arrival: chrono::Utc::now(),
        };
        let records: Vec<StoredRecord> = (0..60).map(|n| rec(&format!("k{}", n % 6), n)).collect();
        let lanes = lanes(records, 3);
        assert!(lanes.len() <= 3);
        assert_eq!(lanes.iter().map(Vec::len).sum::<usize>(), 60);
        for lane in &lanes {
            let seqs: Vec<u32> = lane
                .iter()
                .map(|r| r.sequence_number.parse().unwrap())
                .collect();
            assert!(
                seqs.windows(2).all(|w| w[0] < w[1]),
                "stream order in a lane"
            );
        }
        for key in 0..6 {
            let holding = lanes
                .iter()
                .filter(|l| l.iter().any(|r| r.partition_key == format!("k{key}")))
                .count();
            assert_eq!(holding, 1, "k{key} in one lane");
        }
    }

    #[tokio::test]
    async fn retries_from_the_lowest_reported_failure() {
        let log = log_with(5).await;
        let seen: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
        let calls = seen.clone();
        let handler = move |ev: KinesisEvent| {
            let calls = calls.clone();
            async move {
                let first_call = calls.lock().unwrap().is_empty();
                calls.lock().unwrap().push(payloads(&ev));
                let mut resp = KinesisEventResponse::default();
                if first_call {
                    // Report records 3 and 2 failed: the retry starts at 2.
                    resp.add_failure(ev.records[3].kinesis.sequence_number.clone());
                    resp.add_failure(ev.records[2].kinesis.sequence_number.clone());
                }
                Ok(resp)
            }
        };
        let mut driver = KinesisDriver::new(log, KinesisMapping::default());
        let stats = driver.drain(&handler).await.unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![vec!["0", "1", "2", "3", "4"], vec!["2", "3", "4"]]
        );
        assert_eq!(stats.records, 5);
    }

    #[tokio::test]
    async fn function_errors_bisect_and_crashes_count_as_errors() {
        let log = log_with(4).await;
        let seen: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
        let calls = seen.clone();
        let handler = move |ev: KinesisEvent| {
            let calls = calls.clone();
            async move {
                let n = {
                    let mut c = calls.lock().unwrap();
                    c.push(payloads(&ev));
                    c.len()
                };
                match n {
                    1 => Err("boom".to_owned()),
                    2 => panic!("crash"),
                    _ => Ok(KinesisEventResponse::default()),
                }
            }
        };
        let mut driver = KinesisDriver::new(log, KinesisMapping::default());
        let stats = driver.drain(&handler).await.unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![
                vec!["0", "1", "2", "3"],
                vec!["0", "1"],
                vec!["0"],
                vec!["1"],
                vec!["2", "3"]
            ]
        );
        assert_eq!(stats.function_errors, 2);
        assert_eq!(stats.records, 4);
    }

    #[tokio::test]
    async fn gives_up_after_max_retries_into_the_failure_destination() {
        let log = log_with(3).await;
        let handler = |ev: KinesisEvent| async move {
            let mut resp = KinesisEventResponse::default();
            if let Some(r) = ev.records.iter().find(|r| r.kinesis.data.0 == b"1") {
                resp.add_failure(r.kinesis.sequence_number.clone());
            }
            Ok(resp)
        };
        let mapping = KinesisMapping {
            max_retries: 2,
            ..KinesisMapping::default()
        };
        let mut driver = KinesisDriver::new(log, mapping);
        let stats = driver.drain(&handler).await.unwrap();
        assert_eq!(stats.discarded, 2);
        assert_eq!(driver.failed().len(), 2);
        assert_eq!(driver.failed()[0].data, b"1");
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_fills_for_the_batching_window_before_the_invocation() {
        let log = log_with(1).await;
        let seen: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
        let calls = seen.clone();
        let handler = move |ev: KinesisEvent| {
            let calls = calls.clone();
            async move {
                calls.lock().unwrap().push(payloads(&ev));
                Ok(KinesisEventResponse::default())
            }
        };
        let mapping = KinesisMapping {
            batching_window: Duration::from_secs(1),
            ..KinesisMapping::default()
        };
        let mut driver = KinesisDriver::new(log.clone(), mapping);
        let writer = log.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let late = LogRecord {
                partition_key: "k".into(),
                data: b"1".to_vec(),
            };
            writer.put(&[late]).await.unwrap();
        });
        let started = tokio::time::Instant::now();
        let shard = crate::log::memory::SHARD_ID;
        let stats = driver.poll_shard(shard, &handler).await.unwrap();
        assert_eq!(stats.records, 2);
        assert_eq!(seen.lock().unwrap().clone(), vec![vec!["0", "1"]]);
        assert_eq!(started.elapsed(), Duration::from_secs(1));
        assert_eq!(
            driver.checkpoint(shard),
            Some(log.records()[1].sequence_number.as_str())
        );
    }

    #[test]
    fn events_have_lambdas_shape() {
        let rec = StoredRecord {
            sequence_number: "42".into(),
            partition_key: "acme/run".into(),
            data: b"{}".to_vec(),
            arrival: chrono::Utc::now(),
        };
        let ev = lambda_event("shardId-000000000000", &[rec], "arn:x");
        let r = &ev.records[0];
        assert_eq!(r.event_id.as_deref(), Some("shardId-000000000000:42"));
        assert_eq!(r.kinesis.partition_key, "acme/run");
        assert_eq!(r.kinesis.data.0, b"{}");
    }

    /// The event built directly is the one a handler gets from Lambda's JSON, field for field
    /// (the arrival's loosely read fraction included).
    #[test]
    fn events_equal_what_lambdas_json_deserializes_to() {
        use base64::Engine;
        let recs: Vec<StoredRecord> = ["2026-11-30T10:00:03.250Z", "2026-11-30T10:00:04.007Z"]
            .iter()
            .enumerate()
            .map(|(i, t)| StoredRecord {
                sequence_number: format!("4959{i}"),
                partition_key: format!("acme/run-{i}"),
                data: format!("{{\"i\":{i}}}").into_bytes(),
                arrival: t.parse().unwrap(),
            })
            .collect();
        let b64 = base64::engine::general_purpose::STANDARD;
        let json: Vec<serde_json::Value> = recs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "kinesis": {
                        "kinesisSchemaVersion": "1.0",
                        "partitionKey": r.partition_key,
                        "sequenceNumber": r.sequence_number,
                        "data": b64.encode(&r.data),
                        "approximateArrivalTimestamp": r.arrival.timestamp_millis() as f64 / 1000.0,
                    },
                    "eventSource": "aws:kinesis",
                    "eventVersion": "1.0",
                    "eventID": format!("shardId-000000000001:{}", r.sequence_number),
                    "eventName": "aws:kinesis:record",
                    "invokeIdentityArn": "arn:aws:iam::000000000000:role/burstline-fanout",
                    "awsRegion": "us-east-1",
                    "eventSourceARN": "arn:x",
                })
            })
            .collect();
        let from_json: KinesisEvent =
            serde_json::from_value(serde_json::json!({ "Records": json })).unwrap();
        assert_eq!(
            lambda_event("shardId-000000000001", &recs, "arn:x"),
            from_json
        );
    }
}
