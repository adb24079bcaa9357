//! CloudWatch Embedded Metric Format output: the `metrics_cloudwatch_embedded` exporter,
//! installed once per process as the global recorder and flushed after each invocation.
//!
//! Each flush writes one JSON document per distinct label set, e.g.
//! `{"_aws":{"Timestamp":…,"CloudWatchMetrics":[{"Namespace":"Burstline","Dimensions":[["function","tenant_id"]],
//! "Metrics":[{"Name":"EventsAccepted","Unit":"Count"}]}]},"function":"ingest","tenant_id":"acme","EventsAccepted":3}`.
//! Counters report what was added since the last flush; histograms every value recorded
//! since then (CloudWatch computes the statistics and percentiles).

use crate::error::Error;
use metrics_cloudwatch_embedded::{Builder, Collector};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

/// Histogram values recorded since the last flush after which [`note_value`] flushes early:
/// below the exporter's (and EMF's) 100 values per metric and document.
pub const EARLY_FLUSH_VALUES: usize = 80;

static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();
static PENDING_VALUES: AtomicUsize = AtomicUsize::new(0);
/// Where flushes go instead of stdout while a test captures them.
static CAPTURE: Mutex<Option<Vec<u8>>> = Mutex::new(None);

/// Installs the EMF exporter as this process's metrics recorder, in `namespace`. Calling it
/// again with the same namespace returns the same exporter (tests install it per test).
pub fn install(namespace: &str) -> Result<&'static Collector, Error> {
    if let Some(c) = COLLECTOR.get() {
        return if &*c.config.cloudwatch_namespace == namespace {
            Ok(c)
        } else {
            Err(Error::Internal(format!(
                "metrics already go to namespace {}",
                c.config.cloudwatch_namespace
            )))
        };
    }
    let collector = Builder::new()
        .cloudwatch_namespace(namespace.to_owned())
        .init()
        .map_err(|e| Error::Internal(format!("installing the EMF metrics recorder: {e}")))?;
    Ok(COLLECTOR.get_or_init(|| collector))
}

/// Writes the documents recorded since the last flush, one JSON line each, to stdout —
/// Lambda's log stream, where CloudWatch picks them up — or into the capture a test started
/// ([`start_capture`]). Does nothing when [`install`] has not run. A failed write loses
/// those metrics, never the invocation.
pub fn flush() {
    let Some(collector) = COLLECTOR.get() else {
        return;
    };
    PENDING_VALUES.store(0, Ordering::Relaxed);
    let mut capture = CAPTURE.lock().unwrap_or_else(PoisonError::into_inner);
    let written = match capture.as_mut() {
        Some(buffer) => collector.flush(buffer),
        None => collector.flush(std::io::stdout().lock()),
    };
    if let Err(e) = written {
        tracing::warn!(error = %e, "writing metrics failed");
    }
}

/// For tests: discards what was recorded so far and sends every later flush into a buffer
/// instead of stdout, until [`take_captured`].
pub fn start_capture() {
    *CAPTURE.lock().unwrap_or_else(PoisonError::into_inner) = Some(Vec::new());
    flush();
    *CAPTURE.lock().unwrap_or_else(PoisonError::into_inner) = Some(Vec::new());
}

/// For tests: flushes, ends the capture, and returns every document written since
/// [`start_capture`], one JSON line each.
pub fn take_captured() -> String {
    flush();
    let bytes = CAPTURE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Counts one histogram value; flushes once [`EARLY_FLUSH_VALUES`] are pending.
pub(crate) fn note_value() {
    if COLLECTOR.get().is_some()
        && PENDING_VALUES.fetch_add(1, Ordering::Relaxed) + 1 >= EARLY_FLUSH_VALUES
    {
        flush();
    }
}
