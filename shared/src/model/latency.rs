//! Sampling the latency table: one request, requests in turn, and requests run with a bounded
//! number in flight (as the adapters' `buffer_unordered` runs them). Seeded, so a run repeats
//! the same sequence of draws; the sleep uses `tokio::time`, so paused-clock tests see it.

use super::shard_writes::ShardBuckets;
use super::table::{Distribution, LatencyTable};
use crate::log::LogRecord;
use crate::log::memory::shard_for;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// z of the 99th percentile of the standard normal.
const Z99: f64 = 2.326_347_874;
/// The seed used unless another is given.
pub const DEFAULT_SEED: u64 = 0x6275_7273_746c_696e;

impl Distribution {
    /// σ of the lognormal with this median and p99.
    pub fn sigma(&self) -> f64 {
        (self.p99_ms / self.median_ms).ln() / Z99
    }

    /// The latency of one request carrying `items`, for the standard normal draw `z`.
    pub fn at(&self, items: usize, z: f64) -> Duration {
        let base = self.median_ms + self.per_item_ms * items as f64;
        Duration::from_secs_f64((base * (self.sigma() * z).exp()).max(0.0) / 1000.0)
    }
}

/// SplitMix64: small, fast, and good enough for latency draws (not for secrets).
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.unit(), self.unit());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// The model every `Modeled` port shares: the table, one seeded generator and the stream's
/// per-shard write buckets. Cloning shares all three.
#[derive(Debug, Clone)]
pub struct LatencyModel {
    table: Arc<LatencyTable>,
    rng: Arc<Mutex<Rng>>,
    writes: Arc<Mutex<ShardBuckets>>,
}

impl LatencyModel {
    /// A model drawing from `table`, seeded with `seed`.
    pub fn new(table: LatencyTable, seed: u64) -> Self {
        let writes = ShardBuckets::new(table.shard_writes, table.shards, Instant::now());
        Self {
            table: Arc::new(table),
            rng: Arc::new(Mutex::new(Rng(seed))),
            writes: Arc::new(Mutex::new(writes)),
        }
    }

    /// Which of `records`, put now, their shards take ([`ShardBuckets`]): the rest Kinesis
    /// rejects with [`super::shard_writes::THROTTLED`].
    pub fn admit_writes(&self, records: &[LogRecord]) -> Vec<bool> {
        let now = Instant::now();
        let shards = self.table.shards;
        match self.writes.lock() {
            Ok(mut buckets) => records
                .iter()
                .map(|r| buckets.admit(shard_for(&r.partition_key, shards), r.size(), now))
                .collect(),
            Err(_) => vec![true; records.len()],
        }
    }

    /// The table.
    pub fn table(&self) -> &LatencyTable {
        &self.table
    }

    fn z(&self) -> f64 {
        self.rng.lock().map(|mut r| r.normal()).unwrap_or(0.0)
    }

    /// One draw from `d`.
    pub fn draw(&self, d: &Distribution, items: usize) -> Duration {
        d.at(items, self.z())
    }

    /// One request of `operation` carrying `items`. An operation the table does not list
    /// takes no time (and is logged once per call site by the caller's tests, not here).
    pub fn request(&self, operation: &str, items: usize) -> Duration {
        match self.table.operations.get(operation) {
            Some(d) => self.draw(d, items),
            None => Duration::ZERO,
        }
    }

    /// Requests of `operation`, one per entry of `items`, made one after another.
    pub fn in_turn(&self, operation: &str, items: &[usize]) -> Duration {
        items.iter().map(|n| self.request(operation, *n)).sum()
    }

    /// Requests of `operation`, one per entry of `items`, with at most `in_flight` at once,
    /// each started as soon as one finishes: how long until the last one answers.
    pub fn concurrent(&self, operation: &str, items: &[usize], in_flight: usize) -> Duration {
        let each: Vec<Duration> = items.iter().map(|n| self.request(operation, *n)).collect();
        makespan(&each, in_flight)
    }
}

/// How long `jobs` take on `workers` workers, each job started, in order, on the first worker
/// free. Pure.
pub fn makespan(jobs: &[Duration], workers: usize) -> Duration {
    let mut free_at: BinaryHeap<Reverse<Duration>> = (0..workers.max(1))
        .map(|_| Reverse(Duration::ZERO))
        .collect();
    let mut end = Duration::ZERO;
    for job in jobs {
        let Reverse(start) = free_at.pop().unwrap_or(Reverse(Duration::ZERO));
        let done = start + *job;
        end = end.max(done);
        free_at.push(Reverse(done));
    }
    end
}

/// Sleeps `d` on tokio's clock (paused in tests), skipping the timer for zero.
pub async fn pause(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

/// Requests needed for `n` items at `per_request` each: the sizes of the requests.
pub fn chunk_sizes(n: usize, per_request: usize) -> Vec<usize> {
    let per = per_request.max(1);
    (0..n.div_ceil(per)).map(|i| per.min(n - i * per)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(median_ms: f64, p99_ms: f64) -> Distribution {
        Distribution {
            median_ms,
            p99_ms,
            per_item_ms: 0.0,
        }
    }

    fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * q) as usize]
    }

    #[test]
    fn samples_have_the_tables_median_and_p99() {
        let model = LatencyModel::new(LatencyTable::default_table(), 7);
        let d = dist(10.0, 40.0);
        let ms: Vec<f64> = (0..20_000)
            .map(|_| model.draw(&d, 0).as_secs_f64() * 1000.0)
            .collect();
        let (p50, p99) = (quantile(ms.clone(), 0.5), quantile(ms, 0.99));
        assert!((9.5..10.5).contains(&p50), "median {p50}");
        assert!((36.0..44.0).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn the_same_seed_draws_the_same_latencies() {
        let a = LatencyModel::new(LatencyTable::default_table(), 1);
        let b = LatencyModel::new(LatencyTable::default_table(), 1);
        let draws = |m: &LatencyModel| {
            (0..5)
                .map(|_| m.request("dynamodb:GetItem", 0))
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(&a), draws(&b));
        assert!(draws(&a).iter().all(|d| !d.is_zero()));
    }

    #[test]
    fn per_item_terms_scale_with_items_and_median_draws_hit_the_median() {
        let d = Distribution {
            median_ms: 12.0,
            p99_ms: 50.0,
            per_item_ms: 0.3,
        };
        assert_eq!(d.at(0, 0.0), Duration::from_millis(12));
        assert_eq!(d.at(100, 0.0), Duration::from_millis(42));
        assert!(d.at(0, Z99).as_secs_f64() * 1000.0 - 50.0 < 1e-6);
    }

    #[test]
    fn makespan_runs_jobs_on_the_first_free_worker() {
        let ms = Duration::from_millis;
        assert_eq!(makespan(&[ms(10), ms(20), ms(30)], 8), ms(30));
        assert_eq!(makespan(&[ms(10), ms(20), ms(30)], 1), ms(60));
        // Two workers: 10 and 20 start; 30 starts at 10 on the first free one.
        assert_eq!(makespan(&[ms(10), ms(20), ms(30)], 2), ms(40));
        assert_eq!(makespan(&[], 2), Duration::ZERO);
    }

    #[test]
    fn chunk_sizes_split_like_the_adapters() {
        assert_eq!(chunk_sizes(250, 100), vec![100, 100, 50]);
        assert_eq!(chunk_sizes(0, 100), Vec::<usize>::new());
        assert_eq!(chunk_sizes(10, 10), vec![10]);
    }
}
