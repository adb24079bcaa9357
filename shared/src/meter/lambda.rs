//! Lambda invocations and GB-seconds by function, as Lambda bills them: memory (GB of 1,024
//! MB) × duration rounded up to the millisecond.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Each function's `MemorySize` in `template.yaml` (a template test keeps them equal). A
/// stream is one running function per viewer and mostly waits, so it gets Lambda's smallest.
pub const MEMORY_MB: &[(&str, u32)] = &[
    ("ingest", 256),
    ("fanout", 256),
    ("deliver", 256),
    ("api", 256),
    ("stream", 128),
];

/// The configured memory of `function` (256 MB, the template's global, if unknown).
pub fn memory_mb(function: &str) -> u32 {
    MEMORY_MB
        .iter()
        .find(|(f, _)| *f == function)
        .map_or(256, |(_, mb)| *mb)
}

/// One function's billed usage.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FunctionUsage {
    /// Invocations (requests).
    pub invocations: u64,
    /// Configured memory.
    pub memory_mb: u32,
    /// Billed duration, summed, in seconds.
    pub seconds: f64,
    /// `memory_mb / 1024 × seconds`.
    pub gb_seconds: f64,
}

impl FunctionUsage {
    /// Adds one invocation of `duration` at `memory_mb`.
    pub fn add(&mut self, memory_mb: u32, duration: Duration) {
        // Billed per started millisecond.
        let seconds = duration.as_micros().div_ceil(1000) as f64 / 1000.0;
        self.invocations += 1;
        self.memory_mb = memory_mb;
        self.seconds += seconds;
        self.gb_seconds += f64::from(memory_mb) / 1024.0 * seconds;
    }
}

/// Shared, cloneable tally of invocations by function.
#[derive(Debug, Clone, Default)]
pub struct LambdaMeter(Arc<Mutex<BTreeMap<&'static str, FunctionUsage>>>);

impl LambdaMeter {
    /// Records one invocation of `function` that ran `duration`, at its [`memory_mb`].
    pub fn record(&self, function: &'static str, duration: Duration) {
        if let Ok(mut map) = self.0.lock() {
            map.entry(function)
                .or_default()
                .add(memory_mb(function), duration);
        }
    }

    /// Usage so far, by function.
    pub fn snapshot(&self) -> BTreeMap<&'static str, FunctionUsage> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gb_seconds_are_memory_times_duration_rounded_up_to_the_ms() {
        let m = LambdaMeter::default();
        m.record("stream", Duration::from_secs(3600));
        m.record("ingest", Duration::from_micros(1_500));
        let s = m.snapshot();
        assert_eq!(s["stream"].gb_seconds, 450.0);
        assert_eq!(s["ingest"].seconds, 0.002);
        assert_eq!(s["ingest"].gb_seconds, 0.0005);
        assert_eq!(s["ingest"].invocations, 1);
    }
}
