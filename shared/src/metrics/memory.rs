//! An in-process metrics recorder with running totals, for `burstline dev` (`/dev/metrics`):
//! the same names, units and dimensions the functions emit as EMF on Lambda, but cumulative
//! since start, and histograms summarised (count, sum, min, max) instead of listed.

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// A running summary of one histogram.
#[derive(Debug, Default)]
struct Summary {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

#[derive(Debug, Default)]
struct SummaryCell(Mutex<Summary>);

impl HistogramFn for SummaryCell {
    fn record(&self, value: f64) {
        let mut s = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if s.count == 0 {
            s.min = value;
            s.max = value;
        }
        s.count += 1;
        s.sum += value;
        s.min = s.min.min(value);
        s.max = s.max.max(value);
    }
}

#[derive(Debug, Clone)]
enum Cell {
    Counter(Arc<AtomicU64>),
    Gauge(Arc<AtomicU64>),
    Histogram(Arc<SummaryCell>),
}

/// (name, sorted dimensions): one series.
type SeriesKey = (String, Vec<(String, String)>);

#[derive(Debug, Default)]
struct State {
    series: BTreeMap<SeriesKey, Cell>,
    units: HashMap<String, Unit>,
}

/// The recorder; clones share the same totals.
#[derive(Debug, Clone, Default)]
pub struct MemoryRecorder {
    state: Arc<Mutex<State>>,
}

impl MemoryRecorder {
    /// Installs a new recorder as the process's global one and returns a handle to read it.
    /// Fails if another recorder is installed already.
    pub fn install() -> Result<Self, crate::Error> {
        let recorder = Self::default();
        metrics::set_global_recorder(recorder.clone())
            .map_err(|e| crate::Error::Internal(format!("installing the metrics recorder: {e}")))?;
        Ok(recorder)
    }

    /// Every series so far, sorted by name then dimensions:
    /// `{"metrics":[{"name","unit","dimensions":{…},"value"} | {…,"count","sum","min","max"}]}`.
    pub fn snapshot(&self) -> Value {
        let state = self.lock();
        let list: Vec<Value> = state
            .series
            .iter()
            .map(|((name, dims), cell)| {
                let dimensions: Map<String, Value> = dims
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                let mut entry = json!({
                    "name": name,
                    "unit": state.units.get(name).map(|u| unit_name(*u)),
                    "dimensions": dimensions,
                });
                match cell {
                    Cell::Counter(v) => entry["value"] = json!(v.load(Ordering::Relaxed)),
                    Cell::Gauge(v) => {
                        entry["value"] = json!(f64::from_bits(v.load(Ordering::Relaxed)));
                    }
                    Cell::Histogram(h) => {
                        let s = h.0.lock().unwrap_or_else(PoisonError::into_inner);
                        entry["count"] = json!(s.count);
                        entry["sum"] = json!(s.sum);
                        entry["min"] = json!(s.min);
                        entry["max"] = json!(s.max);
                    }
                }
                entry
            })
            .collect();
        json!({ "metrics": list })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cell(&self, key: &Key, make: impl FnOnce() -> Cell) -> Cell {
        let mut dims: Vec<(String, String)> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        dims.sort();
        self.lock()
            .series
            .entry((key.name().to_owned(), dims))
            .or_insert_with(make)
            .clone()
    }

    fn describe(&self, key: KeyName, unit: Option<Unit>) {
        if let Some(unit) = unit {
            self.lock().units.insert(key.as_str().to_owned(), unit);
        }
    }
}

/// The unit as CloudWatch spells it.
fn unit_name(unit: Unit) -> &'static str {
    match unit {
        Unit::Count => "Count",
        Unit::Percent => "Percent",
        Unit::Seconds => "Seconds",
        Unit::Milliseconds => "Milliseconds",
        Unit::Microseconds => "Microseconds",
        Unit::Nanoseconds => "Nanoseconds",
        Unit::Bytes => "Bytes",
        Unit::CountPerSecond => "Count/Second",
        _ => "None",
    }
}

impl Recorder for MemoryRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        match self.cell(key, || Cell::Counter(Arc::default())) {
            Cell::Counter(v) => Counter::from_arc(v),
            _ => Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        match self.cell(key, || Cell::Gauge(Arc::default())) {
            Cell::Gauge(v) => Gauge::from_arc(v),
            _ => Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        match self.cell(key, || Cell::Histogram(Arc::default())) {
            Cell::Histogram(h) => Histogram::from_arc(h),
            _ => Histogram::noop(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_totals_units_and_summaries_per_series() {
        let r = MemoryRecorder::default();
        metrics::with_local_recorder(&r, || {
            metrics::describe_counter!("EventsAccepted", Unit::Count, "");
            metrics::describe_histogram!("Lag", Unit::Milliseconds, "");
            metrics::counter!("EventsAccepted", "tenant_id" => "b", "function" => "ingest")
                .increment(2);
            metrics::counter!("EventsAccepted", "function" => "ingest", "tenant_id" => "b")
                .increment(3);
            metrics::counter!("EventsAccepted", "function" => "ingest").increment(5);
            for v in [40.0, 10.0, 25.0] {
                metrics::histogram!("Lag").record(v);
            }
        });
        assert_eq!(
            r.snapshot(),
            json!({"metrics": [
                {"name": "EventsAccepted", "unit": "Count", "dimensions": {"function": "ingest"}, "value": 5},
                {"name": "EventsAccepted", "unit": "Count",
                 "dimensions": {"function": "ingest", "tenant_id": "b"}, "value": 5},
                {"name": "Lag", "unit": "Milliseconds", "dimensions": {},
                 "count": 3, "sum": 75.0, "min": 10.0, "max": 40.0},
            ]})
        );
    }
}
