//! The dev stack's meter, served at `/dev/meter`: AWS requests and billing units by function
//! and operation (counted at the adapters), Lambda invocations and GB-seconds by function
//! (timed here around each handler, and around each stream response until its body ends),
//! events accepted, viewer-seconds, the largest ingest → commit delay, and their bill at the
//! price table's list prices ([`burstline::meter`]).

use axum::body::Bytes;
use burstline::error::Result;
use burstline::log::{ShardReader, StoredRecord};
use burstline::meter::bill::{Bill, Usage, bill};
use burstline::meter::idle::{IdleStream, idle_viewer_hour};
use burstline::meter::lambda::{FunctionUsage, LambdaMeter, memory_mb};
use burstline::meter::prices::PriceTable;
use burstline::metrics::memory::MemoryRecorder;
use burstline::requests::{OpUsage, RequestCounter, attributed, attributed_sync};
use chrono::{DateTime, Utc};
use http_body::{Body, Frame, SizeHint};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use stream::StreamSettings;

/// The function whose usage is a viewer's, not an event's.
const STREAM: &str = "stream";
/// Fanout batches whose lag is kept (the oldest are forgotten first).
const MAX_LAGS: usize = 100_000;

/// Everything `/dev/meter` reports. Cloning shares it.
#[derive(Clone)]
pub struct DevMeter {
    requests: RequestCounter,
    lambda: LambdaMeter,
    prices: Arc<PriceTable>,
    prices_source: String,
    metrics: MemoryRecorder,
    idle: IdleStream,
    started: Instant,
    started_at: DateTime<Utc>,
    /// Every fanout batch's ingest → commit delay: (seconds since start when it ended, ms),
    /// the latest [`MAX_LAGS`].
    lags: Arc<Mutex<VecDeque<(f64, i64)>>>,
    /// Stream responses still open: when each started, by a number of its own.
    open: Arc<Mutex<HashMap<u64, Instant>>>,
    next_open: Arc<AtomicU64>,
    /// Kinesis arrival of each record read for fanout and not yet handled, by sequence number.
    arrivals: Arc<Mutex<HashMap<String, DateTime<Utc>>>>,
    /// Whether fanout reads through an enhanced fan-out consumer (priced apart).
    efo: bool,
}

impl std::fmt::Debug for DevMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevMeter")
            .field("prices", &self.prices_source)
            .finish_non_exhaustive()
    }
}

impl DevMeter {
    /// A meter over the adapters' `requests`, pricing with `prices` (read from
    /// `prices_source`), taking events accepted from `metrics`.
    pub fn new(
        requests: RequestCounter,
        prices: PriceTable,
        prices_source: String,
        metrics: MemoryRecorder,
        stream: &StreamSettings,
    ) -> Self {
        Self {
            requests,
            lambda: LambdaMeter::default(),
            prices: Arc::new(prices),
            prices_source,
            metrics,
            idle: IdleStream {
                memory_mb: memory_mb(STREAM),
                poll_seconds: stream.poll.max.as_secs_f64(),
                response_seconds: stream.idle.min(stream.segment).as_secs_f64(),
            },
            started: Instant::now(),
            started_at: Utc::now(),
            lags: Arc::default(),
            open: Arc::default(),
            next_open: Arc::default(),
            arrivals: Arc::default(),
            efo: false,
        }
    }

    /// Prices fanout's stream reads as an enhanced fan-out consumer's (`--aws-model efo`).
    pub fn with_efo(mut self, efo: bool) -> Self {
        self.efo = efo;
        self
    }

    /// Runs one invocation of `function`: its AWS calls booked to it, its duration billed.
    pub async fn invoke<F: Future>(&self, function: &'static str, fut: F) -> F::Output {
        let start = Instant::now();
        let out = attributed(function, fut).await;
        self.lambda.record(function, start.elapsed());
        out
    }

    /// A stream response's body, metered from `start` (when the request arrived) until the
    /// body ends or is dropped: a streaming function is billed for its whole open time. Wrap
    /// the handler's own body, innermost, so that a body that keeps running after the client
    /// left is timed until it really ends.
    pub fn stream_body<B>(&self, start: Instant, body: B) -> MeteredBody<B> {
        let id = self.next_open.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut open) = self.open.lock() {
            open.insert(id, start);
        }
        MeteredBody {
            inner: Box::pin(body),
            start,
            done: Some((self.clone(), id)),
        }
    }

    /// Remembers the Kinesis arrival of every record fanout is about to be handed.
    fn saw(&self, records: &[StoredRecord]) {
        if let Ok(mut map) = self.arrivals.lock() {
            for r in records {
                map.insert(r.sequence_number.clone(), r.arrival);
            }
        }
    }

    /// fanout finished the invocation of the records `seqs` (its commits are done): the delay
    /// from the oldest one's arrival in the stream to now.
    pub fn handled(&self, seqs: &[String]) {
        let oldest = self
            .arrivals
            .lock()
            .ok()
            .and_then(|mut map| seqs.iter().filter_map(|s| map.remove(s)).min());
        if let Some(arrival) = oldest {
            let lag = (Utc::now() - arrival).num_milliseconds().max(0);
            if let Ok(mut lags) = self.lags.lock() {
                if lags.len() == MAX_LAGS {
                    lags.pop_front();
                }
                lags.push_back((self.started.elapsed().as_secs_f64(), lag));
            }
        }
    }

    /// The largest lag of the batches that ended `since` seconds after start or later.
    fn lag_max_ms(&self, since: f64) -> Option<i64> {
        let lags = self.lags.lock().ok()?;
        lags.iter()
            .filter(|(at, _)| *at >= since)
            .map(|(_, lag)| *lag)
            .max()
    }

    /// The stream function's usage including the time so far of responses still open, so
    /// that two readings' difference covers exactly the time between them.
    fn stream_usage(&self, lambda: &mut BTreeMap<&'static str, FunctionUsage>) {
        let Ok(open) = self.open.lock() else { return };
        if open.is_empty() {
            return;
        }
        let usage = lambda.entry(STREAM).or_default();
        let before = usage.invocations;
        for start in open.values() {
            usage.add(memory_mb(STREAM), start.elapsed());
        }
        // Invocations are counted when a response ends.
        usage.invocations = before;
    }

    /// A shard reader that tells this meter when each record it reads arrived.
    pub fn tap(&self, reader: Arc<dyn ShardReader>) -> Arc<dyn ShardReader> {
        Arc::new(ArrivalTap {
            reader,
            meter: self.clone(),
        })
    }

    /// Events ingest accepted so far (its `EventsAccepted` metric, all tenants).
    fn events_accepted(&self) -> u64 {
        let snapshot = self.metrics.snapshot();
        snapshot["metrics"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["name"] == ingest::metrics::EVENTS_ACCEPTED)
            .filter(|m| m["dimensions"].as_object().is_some_and(|d| d.len() == 1))
            .filter_map(|m| m["value"].as_u64())
            .sum()
    }

    /// The `/dev/meter` document; `fanout_lag_max_ms` covers the batches that ended
    /// `lag_since` seconds after start or later (all of them by default).
    pub fn snapshot(&self, lag_since: Option<f64>) -> Value {
        let by_function = self.requests.by_function();
        let mut lambda = self.lambda.snapshot();
        self.stream_usage(&mut lambda);
        let elapsed = self.started.elapsed().as_secs_f64();
        let mut viewers = Usage::default();
        let mut events = Usage::default();
        for (function, ops) in &by_function {
            let usage = if *function == STREAM {
                &mut viewers
            } else {
                &mut events
            };
            for (op, u) in ops {
                usage.operations.entry(*op).or_default().add(u);
            }
        }
        for (function, f) in &lambda {
            let usage = if *function == STREAM {
                &mut viewers
            } else {
                &mut events
            };
            usage.lambda.insert(*function, f.clone());
        }
        events.efo = self.efo;
        let fixed = Usage {
            stream_hours: elapsed / 3600.0,
            ..Usage::default()
        };
        let bills = [
            ("events", bill(&events, &self.prices)),
            ("viewers", bill(&viewers, &self.prices)),
            ("fixed", bill(&fixed, &self.prices)),
        ];
        let total = Bill {
            items: bills.iter().flat_map(|(_, b)| b.items.clone()).collect(),
            total_usd: bills.iter().map(|(_, b)| b.total_usd).sum(),
        };
        let mut operations: BTreeMap<&str, OpUsage> = BTreeMap::new();
        for ops in by_function.values() {
            for (op, u) in ops {
                operations.entry(*op).or_default().add(u);
            }
        }
        json!({
            "since": self.started_at,
            "elapsed_seconds": elapsed,
            "operations": operations,
            "operations_by_function": by_function,
            "lambda": lambda,
            "events_accepted": self.events_accepted(),
            "viewer_seconds": lambda.get(STREAM).map_or(0.0, |f| f.seconds),
            "fanout_lag_max_ms": self.lag_max_ms(lag_since.unwrap_or(0.0)),
            "fanout_lag_batches": self.lags.lock().map_or(0, |l| l.len()),
            "bill": total,
            "bills": bills.iter().map(|(k, b)| (*k, b)).collect::<BTreeMap<_, _>>(),
            "idle_viewer_hour": idle_viewer_hour(self.idle, &self.prices),
            "prices": {
                "source": self.prices_source,
                "region": self.prices.region,
                "table": *self.prices,
            },
        })
    }
}

/// A stream response body that books its polls to the stream function and, when it ends or
/// is dropped, the stream's whole open time.
pub struct MeteredBody<B> {
    inner: Pin<Box<B>>,
    start: Instant,
    /// The meter and this response's number among the open ones; taken once recorded.
    done: Option<(DevMeter, u64)>,
}

impl<B> MeteredBody<B> {
    fn finish(&mut self) {
        if let Some((meter, id)) = self.done.take() {
            if let Ok(mut open) = meter.open.lock() {
                open.remove(&id);
            }
            meter.lambda.record(STREAM, self.start.elapsed());
        }
    }
}

impl<B> Drop for MeteredBody<B> {
    fn drop(&mut self) {
        self.finish();
    }
}

impl<B: Body<Data = Bytes>> Body for MeteredBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, Self::Error>>> {
        let polled = attributed_sync(STREAM, || self.inner.as_mut().poll_frame(cx));
        if matches!(polled, Poll::Ready(None)) {
            self.finish();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The Kinesis mapping's reader, noting each record's arrival for the fanout lag.
struct ArrivalTap {
    reader: Arc<dyn ShardReader>,
    meter: DevMeter,
}

#[async_trait::async_trait]
impl ShardReader for ArrivalTap {
    async fn shards(&self) -> Result<Vec<String>> {
        self.reader.shards().await
    }

    async fn read(
        &self,
        shard: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        let records = self.reader.read(shard, after, limit).await?;
        self.meter.saw(&records);
        Ok(records)
    }

    async fn next_arrival(
        &self,
        shard: &str,
        after: Option<&str>,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        self.reader.next_arrival(shard, after).await
    }
}
