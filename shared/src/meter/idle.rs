//! What one open stream of a quiet task costs per hour, from the stream's settings alone: a
//! pure model, so the figure exists without running anything.

use super::prices::PriceTable;
use serde::Serialize;

/// Reads a stream makes each time it (re)connects: the key or token check, the task head,
/// the slot query. With one read per idle poll this is the ≈66 reads per idle viewer-minute
/// the stream idle-cost bench counts.
pub const READS_PER_CONNECT: f64 = 3.0;
/// Writes a stream makes each time it (re)connects: taking its slot and releasing it.
pub const WRITES_PER_CONNECT: f64 = 2.0;

/// The stream settings an idle viewer's cost depends on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct IdleStream {
    /// The stream function's memory.
    pub memory_mb: u32,
    /// Seconds between polls of a quiet task (`POLL_MAX_MS`).
    pub poll_seconds: f64,
    /// Seconds a response lasts without events before the client reconnects (the shorter of
    /// `STREAM_IDLE_SECONDS` and `STREAM_SEGMENT_SECONDS`).
    pub response_seconds: f64,
}

/// An idle viewer-hour, itemized, with its basis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdleViewerHour {
    /// The settings it was computed from.
    pub basis: IdleStream,
    /// Event reads per hour (one per poll, each one strongly consistent read unit of ≤ 4 KB),
    /// plus the reconnects' reads.
    pub reads: f64,
    /// Writes per hour (the reconnects' slot writes, one unit each).
    pub writes: f64,
    /// Reconnects (new invocations) per hour.
    pub invocations: f64,
    /// GB-seconds per hour: the function runs the whole hour.
    pub gb_seconds: f64,
    /// The hour's dollars.
    pub usd: f64,
}

/// Prices an idle viewer-hour for `stream` with `prices`.
pub fn idle_viewer_hour(stream: IdleStream, prices: &PriceTable) -> IdleViewerHour {
    let invocations = 3600.0 / stream.response_seconds.max(1.0);
    let reads = 3600.0 / stream.poll_seconds.max(0.001) + invocations * READS_PER_CONNECT;
    let writes = invocations * WRITES_PER_CONNECT;
    let gb_seconds = f64::from(stream.memory_mb) / 1024.0 * 3600.0;
    let usd = reads / 1e6 * prices.dynamodb.read_request_units.usd
        + writes / 1e6 * prices.dynamodb.write_request_units.usd
        + invocations / 1e6 * prices.lambda.requests.usd
        + gb_seconds * prices.lambda.gb_second.usd;
    IdleViewerHour {
        basis: stream,
        reads,
        writes,
        invocations,
        gb_seconds,
        usd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_viewer_hour_at_the_deployed_settings() {
        let h = idle_viewer_hour(
            IdleStream {
                memory_mb: 128,
                poll_seconds: 1.0,
                response_seconds: 30.0,
            },
            &PriceTable::built_in(),
        );
        // 66 reads and 4 writes a minute; 120 invocations; 450 GB-s.
        assert_eq!(h.reads, 3960.0);
        assert_eq!(h.writes, 240.0);
        assert_eq!(h.invocations, 120.0);
        assert_eq!(h.gb_seconds, 450.0);
        let expected = 3960.0 * 0.125e-6 + 240.0 * 0.625e-6 + 120.0 * 0.2e-6 + 450.0 * 0.0000133334;
        assert!((h.usd - expected).abs() < 1e-12);
    }
}
