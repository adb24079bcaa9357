//! The latency table (`shared/model/aws-latency.toml`): parsing only. The file is a subset of
//! TOML (`[section]` headers, `key = number` lines, `#` comments), parsed here without a TOML
//! dependency; anything outside that subset, an unknown key or a missing figure is refused
//! with the line it is on, so a typo in an edited table never passes silently.

use super::shard_writes::ShardWriteLimit;
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::time::Duration;

/// The table shipped with Burstline, used unless another is given.
pub const DEFAULT_TABLE: &str = include_str!("../../model/aws-latency.toml");
/// Deliver invocations in flight when a table does not say: the template's
/// `DeliverMaximumConcurrency` default.
const DEFAULT_DELIVER_CONCURRENCY: usize = 10;

/// One request's latency: a lognormal with this median and 99th percentile, plus a term per
/// item the request carries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Distribution {
    /// Median, ms.
    pub median_ms: f64,
    /// 99th percentile, ms (≥ `median_ms`).
    pub p99_ms: f64,
    /// Added per item (records, keys, messages, actions), ms.
    pub per_item_ms: f64,
}

/// How the standard (shared-throughput) consumer polls a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandardPolling {
    /// Pause after a `GetRecords` that found nothing.
    pub idle_poll: Duration,
    /// `GetRecords` calls a shard allows per second.
    pub max_reads_per_second: u32,
    /// `MaximumBatchingWindowInSeconds` for this consumer.
    pub batching_window: Duration,
}

/// How the enhanced fan-out consumer gets records pushed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EfoPush {
    /// Put → consumer delay.
    pub push: Distribution,
    /// `MaximumBatchingWindowInSeconds` for this consumer.
    pub batching_window: Duration,
}

/// The whole table.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyTable {
    /// Per operation, keyed as `RequestCounter` names them (`dynamodb:GetItem`).
    pub operations: BTreeMap<String, Distribution>,
    /// Shards of the modeled stream.
    pub shards: usize,
    /// `ParallelizationFactor`: batches in flight per shard.
    pub parallelization_factor: usize,
    /// What each shard takes a second (keys `write_records_per_second`,
    /// `write_bytes_per_second`; optional, Kinesis's 1,000 records and 1 MiB by default).
    pub shard_writes: ShardWriteLimit,
    /// The SQS → deliver mapping's `ScalingConfig.MaximumConcurrency`: deliver invocations in
    /// flight (section `[lambda.deliver]`, key `maximum_concurrency`; optional, default 10,
    /// the template's `DeliverMaximumConcurrency`).
    pub deliver_concurrency: usize,
    /// The standard consumer.
    pub standard: StandardPolling,
    /// The enhanced fan-out consumer.
    pub efo: EfoPush,
}

fn bad(line: usize, message: impl std::fmt::Display) -> Error {
    Error::Config {
        var: "aws-latency-table",
        message: format!("line {line}: {message}"),
    }
}

/// Sections as written: name → (key → (value, line)), plus each section's header line.
type Sections = BTreeMap<String, (usize, BTreeMap<String, (f64, usize)>)>;

fn sections(text: &str) -> Result<Sections> {
    let mut out: Sections = BTreeMap::new();
    let mut current: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_owned();
            if name.is_empty() || out.contains_key(&name) {
                return Err(bad(n, format!("empty or repeated section [{name}]")));
            }
            out.insert(name.clone(), (n, BTreeMap::new()));
            current = Some(name);
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| bad(n, "expected `[section]` or `key = number`"))?;
        let value: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| bad(n, format!("{} is not a number ≥ 0", value.trim())))?;
        let section = current
            .as_ref()
            .and_then(|c| out.get_mut(c))
            .ok_or_else(|| bad(n, "a key before any [section]"))?;
        if section
            .1
            .insert(key.trim().to_owned(), (value, n))
            .is_some()
        {
            return Err(bad(n, format!("repeated key {}", key.trim())));
        }
    }
    Ok(out)
}

/// Takes a section's keys, refusing unknown ones and missing required ones.
struct Section {
    name: String,
    line: usize,
    keys: BTreeMap<String, (f64, usize)>,
}

impl Section {
    fn take(&mut self, key: &str) -> Result<f64> {
        self.keys
            .remove(key)
            .map(|(v, _)| v)
            .ok_or_else(|| bad(self.line, format!("[{}] has no {key}", self.name)))
    }

    fn take_or(&mut self, key: &str, default: f64) -> f64 {
        self.keys.remove(key).map_or(default, |(v, _)| v)
    }

    fn done(self) -> Result<()> {
        match self.keys.into_iter().next() {
            Some((key, (_, line))) => {
                Err(bad(line, format!("unknown key {key} in [{}]", self.name)))
            }
            None => Ok(()),
        }
    }

    fn distribution(&mut self, median: &str, p99: &str) -> Result<Distribution> {
        let d = Distribution {
            median_ms: self.take(median)?,
            p99_ms: self.take(p99)?,
            per_item_ms: self.take_or("per_item_ms", 0.0),
        };
        if d.median_ms <= 0.0 || d.p99_ms < d.median_ms {
            return Err(bad(
                self.line,
                format!("[{}] needs 0 < {median} ≤ {p99}", self.name),
            ));
        }
        Ok(d)
    }
}

fn ms(v: f64) -> Duration {
    Duration::from_secs_f64(v / 1000.0)
}

impl LatencyTable {
    /// The table shipped with Burstline.
    pub fn default_table() -> Self {
        // The shipped table is checked by a unit test; a broken one is a build defect.
        Self::parse(DEFAULT_TABLE).unwrap_or_else(|e| panic!("shipped latency table: {e}"))
    }

    /// Parses a table. Errors name the line and what is wrong.
    pub fn parse(text: &str) -> Result<Self> {
        let mut all = sections(text)?;
        let deliver_section = all.remove("lambda.deliver");
        let mut section = |name: &str| -> Result<Section> {
            let (line, keys) = all
                .remove(name)
                .ok_or_else(|| bad(0, format!("missing section [{name}]")))?;
            Ok(Section {
                name: name.to_owned(),
                line,
                keys,
            })
        };
        let mut stream = section("kinesis.stream")?;
        let shards = stream.take("shards")? as usize;
        let parallelization_factor = stream.take_or("parallelization_factor", 1.0) as usize;
        let kinesis_limit = ShardWriteLimit::default();
        let shard_writes = ShardWriteLimit {
            records_per_second: stream
                .take_or("write_records_per_second", kinesis_limit.records_per_second),
            bytes_per_second: stream
                .take_or("write_bytes_per_second", kinesis_limit.bytes_per_second),
        };
        let stream_line = stream.line;
        stream.done()?;
        if shards == 0 || parallelization_factor == 0 {
            return Err(bad(
                stream_line,
                "shards and parallelization_factor must be ≥ 1",
            ));
        }
        if shard_writes.records_per_second < 1.0 || shard_writes.bytes_per_second < 1024.0 {
            return Err(bad(
                stream_line,
                "write_records_per_second must be ≥ 1 and write_bytes_per_second ≥ 1024",
            ));
        }
        let deliver_concurrency = match deliver_section {
            Some((line, keys)) => {
                let mut s = Section {
                    name: "lambda.deliver".to_owned(),
                    line,
                    keys,
                };
                let n = s.take("maximum_concurrency")?;
                s.done()?;
                if n < 1.0 {
                    return Err(bad(line, "maximum_concurrency must be ≥ 1"));
                }
                n as usize
            }
            None => DEFAULT_DELIVER_CONCURRENCY,
        };
        let mut std_ = section("kinesis.standard")?;
        let standard = StandardPolling {
            idle_poll: ms(std_.take("idle_poll_ms")?),
            max_reads_per_second: std_.take("max_reads_per_second")?.max(1.0) as u32,
            batching_window: ms(std_.take("batching_window_ms")?),
        };
        std_.done()?;
        let mut efo_ = section("kinesis.efo")?;
        let efo = EfoPush {
            push: efo_.distribution("push_median_ms", "push_p99_ms")?,
            batching_window: ms(efo_.take("batching_window_ms")?),
        };
        efo_.done()?;
        let mut operations = BTreeMap::new();
        for (name, (line, keys)) in all {
            let op = name
                .split_once('.')
                .map(|(service, op)| format!("{service}:{op}"))
                .ok_or_else(|| bad(line, format!("[{name}] is not [service.Operation]")))?;
            let mut s = Section { name, line, keys };
            operations.insert(op, s.distribution("median_ms", "p99_ms")?);
            s.done()?;
        }
        Ok(Self {
            operations,
            shards,
            parallelization_factor,
            shard_writes,
            deliver_concurrency,
            standard,
            efo,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS quotes an enhanced fan-out consumer's propagation delay as an average of 70 ms:
    /// the shipped distribution's mean is that, not its median.
    #[test]
    fn the_efo_push_has_the_average_aws_quotes() {
        let push = LatencyTable::parse(DEFAULT_TABLE).unwrap().efo.push;
        let mean = push.median_ms * (push.sigma().powi(2) / 2.0).exp();
        assert!((mean - 70.0).abs() < 1.0, "mean push {mean:.1} ms");
    }

    #[test]
    fn the_shipped_table_covers_every_request_the_adapters_make() {
        let t = LatencyTable::parse(DEFAULT_TABLE).unwrap();
        for op in [
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:BatchGetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:TransactWriteItems",
            "dynamodb:BatchWriteItem",
            "kinesis:PutRecords",
            "kinesis:GetRecords",
            "kinesis:GetShardIterator",
            "kinesis:ListShards",
            "sqs:SendMessageBatch",
            "sqs:ReceiveMessage",
            "sqs:DeleteMessageBatch",
            "sqs:ChangeMessageVisibilityBatch",
            "kms:Decrypt",
            "kms:GenerateDataKey",
        ] {
            assert!(t.operations.contains_key(op), "{op} missing");
        }
        assert_eq!(t.shards, 4);
        assert_eq!(t.standard.idle_poll, Duration::from_secs(1));
        assert_eq!(t.standard.max_reads_per_second, 5);
        assert_eq!(t.efo.push.median_ms, 62.0);
        assert_eq!(t.efo.batching_window, Duration::ZERO);
    }

    const MINIMAL: &str = "[kinesis.stream]\nshards = 2\n[kinesis.standard]\nidle_poll_ms = 1000\nmax_reads_per_second = 5\nbatching_window_ms = 0\n[kinesis.efo]\npush_median_ms = 70\npush_p99_ms = 200\nbatching_window_ms = 0\n";

    #[test]
    fn shard_write_limits_default_to_kinesis_and_refuse_nonsense() {
        let t = LatencyTable::parse(MINIMAL).unwrap();
        assert_eq!(t.shard_writes, ShardWriteLimit::default());
        let edited = MINIMAL.replace(
            "shards = 2\n",
            "shards = 2\nwrite_records_per_second = 2000\nwrite_bytes_per_second = 2097152\n",
        );
        let t = LatencyTable::parse(&edited).unwrap();
        assert_eq!(t.shard_writes.records_per_second, 2000.0);
        assert_eq!(t.shard_writes.bytes_per_second, 2_097_152.0);
        let zero = MINIMAL.replace("shards = 2\n", "shards = 2\nwrite_records_per_second = 0\n");
        let err = LatencyTable::parse(&zero).unwrap_err().to_string();
        assert!(err.contains("write_records_per_second"), "{err}");
    }

    #[test]
    fn parses_operations_with_comments_and_defaults() {
        let t = LatencyTable::parse(&format!(
            "{MINIMAL}[dynamodb.Query] # reads\nmedian_ms = 6 # ms\np99_ms = 20.5\nper_item_ms = 0.1\n[sqs.ReceiveMessage]\nmedian_ms = 10\np99_ms = 10\n"
        ))
        .unwrap();
        assert_eq!(
            t.operations["dynamodb:Query"],
            Distribution {
                median_ms: 6.0,
                p99_ms: 20.5,
                per_item_ms: 0.1
            }
        );
        assert_eq!(t.operations["sqs:ReceiveMessage"].per_item_ms, 0.0);
        assert_eq!(t.shards, 2);
        assert_eq!(t.parallelization_factor, 1);
        assert_eq!(
            t.deliver_concurrency, 10,
            "the template's default when not given"
        );
        let t = LatencyTable::parse(&format!(
            "{MINIMAL}[lambda.deliver]\nmaximum_concurrency = 25\n"
        ))
        .unwrap();
        assert_eq!(t.deliver_concurrency, 25);
        assert!(
            !t.operations.contains_key("lambda:deliver"),
            "not an operation"
        );
    }

    #[test]
    fn refuses_what_it_does_not_understand_naming_the_line() {
        let cases = [
            (
                "[dynamodb.Query]\nmedian_ms = 6\np99_ms = 20\nmedain_ms = 3\n",
                "line 14",
            ),
            ("[dynamodb.Query]\nmedian_ms = 6\n", "has no p99_ms"),
            (
                "[dynamodb.Query]\nmedian_ms = 6\np99_ms = 2\n",
                "median_ms ≤ p99_ms",
            ),
            (
                "[dynamodb.Query]\nmedian_ms = fast\np99_ms = 2\n",
                "line 12",
            ),
            (
                "[Query]\nmedian_ms = 6\np99_ms = 20\n",
                "[service.Operation]",
            ),
            ("median_ms = 6\n", "line 11"),
        ];
        for (extra, expected) in cases {
            let err = LatencyTable::parse(&format!("{MINIMAL}{extra}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{extra:?}: {err}");
        }
        let err = LatencyTable::parse("[kinesis.stream]\nshards = 2\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("missing section [kinesis.standard]")
        );
    }
}
