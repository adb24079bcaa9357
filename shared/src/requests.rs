//! Counting AWS requests at the adapters, for benchmarks and request-budget tests.
//!
//! Every adapter, AWS or in-memory, records one count per AWS request it makes (or, in memory,
//! would make): the in-memory adapters chunk exactly like the AWS ones, so counts agree.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Shared, cloneable request tally by operation name.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<Mutex<BTreeMap<&'static str, u64>>>);

impl RequestCounter {
    /// Records one request of `operation`.
    pub fn record(&self, operation: &'static str) {
        if let Ok(mut map) = self.0.lock() {
            *map.entry(operation).or_default() += 1;
        }
    }

    /// Requests so far, by operation.
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// All requests so far.
    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }

    /// Forgets everything counted so far.
    pub fn reset(&self) {
        if let Ok(mut map) = self.0.lock() {
            map.clear();
        }
    }
}
