//! Metrics: every function records through the [`metrics`] facade (`counter!`, `histogram!`)
//! in a module of its own (`functions/<fn>/src/metrics.rs`, which names every metric it emits);
//! this module installs where those records go.
//!
//! - On Lambda, [`emf::install`] makes them CloudWatch Embedded Metric Format documents
//!   (`metrics_cloudwatch_embedded`): each function's `main` installs it with the configured
//!   namespace (`METRICS_NAMESPACE`) and calls [`flush`] after every invocation, so one
//!   invocation's counts are one JSON line per dimension set in the function's log stream,
//!   which CloudWatch turns into metrics without any API call.
//! - In `burstline dev`, [`memory::MemoryRecorder`] keeps running totals in-process and serves
//!   them as JSON (`/dev/metrics`).
//!
//! # Dimensions and their cost
//! CloudWatch bills every distinct (name, dimension values) pair as one custom metric. Every
//! metric carries `function` (one value per name, so it costs nothing extra and groups metrics
//! by function in the console). Beyond that, aggregates carry only small fixed sets (`reason`,
//! `outcome`, `client`), and `tenant_id` is added to four metrics only — events accepted,
//! webhook attempts by outcome, dead letters and streams opened — each also emitted without it,
//! so alarms and totals never depend on per-tenant series. An active tenant adds at most six
//! metrics (attempts have three outcomes).

pub mod emf;
pub mod memory;

use crate::config::{Lookup, parsed};
use crate::error::Error;

/// The namespace when `METRICS_NAMESPACE` is unset (the template always sets it).
pub const DEFAULT_NAMESPACE: &str = "Burstline";

/// The dimension every metric carries: which function emitted it.
pub const FUNCTION: &str = "function";
/// The per-tenant dimension, on the few metrics a team filters by tenant.
pub const TENANT: &str = "tenant_id";

/// Reads `METRICS_NAMESPACE` ([`DEFAULT_NAMESPACE`] when unset), for every function's config.
pub fn namespace(env: Lookup<'_>) -> Result<String, Error> {
    let ns: String = parsed(env, "METRICS_NAMESPACE", DEFAULT_NAMESPACE.to_owned())?;
    // CloudWatch namespaces: 1–255 characters, not starting with "AWS/".
    if ns.len() > 255 || ns.starts_with("AWS/") {
        return Err(Error::Config {
            var: "METRICS_NAMESPACE",
            message: format!("{ns:?} is not a custom CloudWatch namespace"),
        });
    }
    Ok(ns)
}

/// Writes what was recorded since the last flush as EMF lines to stdout, if [`emf::install`]
/// ran in this process; otherwise does nothing (`burstline dev` keeps totals instead).
pub fn flush() {
    emf::flush();
}

/// Records one histogram value. EMF documents carry at most 100 values per metric, and the
/// exporter keeps at most that many between flushes, so this flushes early once a busy
/// invocation has recorded [`emf::EARLY_FLUSH_VALUES`] values.
pub fn observe(histogram: metrics::Histogram, value: f64) {
    histogram.record(value);
    emf::note_value();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_defaults_and_refuses_aws_ones() {
        assert_eq!(namespace(&|_| None).unwrap(), DEFAULT_NAMESPACE);
        let set = |v: &'static str| move |k: &str| (k == "METRICS_NAMESPACE").then(|| v.to_owned());
        assert_eq!(namespace(&set("Burstline/prod")).unwrap(), "Burstline/prod");
        let err = namespace(&set("AWS/Lambda")).unwrap_err().to_string();
        assert!(err.contains("METRICS_NAMESPACE"), "{err}");
    }
}
