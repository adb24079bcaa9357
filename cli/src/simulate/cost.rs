//! What a run cost and how far fanout lagged, from the target's `/dev/meter` (a `burstline
//! dev` stack) read before and after the run: modeled dollars per million events and per
//! viewer-hour at list prices, the largest ingest → commit delay, and what an idle viewer-hour
//! costs (from the meter, else from the deployed stream defaults and built-in prices).

use burstline::meter::idle::{IdleStream, idle_viewer_hour};
use burstline::meter::lambda::memory_mb;
use burstline::meter::prices::PriceTable;
use serde_json::{Value, json};
use std::time::Duration;

/// One reading of `/dev/meter`, or `None` when the target has none (not a dev stack); its
/// fanout lag covers the batches since `lag_since` (a reading's `elapsed_seconds`).
pub async fn read(client: &reqwest::Client, url: &str, lag_since: Option<f64>) -> Option<Value> {
    let query = lag_since.map_or_else(String::new, |s| format!("?lag_since={s}"));
    let response = client
        .get(format!("{}/dev/meter{query}", url.trim_end_matches('/')))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    let meter: Value = serde_json::from_slice(&response.bytes().await.ok()?).ok()?;
    meter["bills"].is_object().then_some(meter)
}

/// The run's modeled cost and lag.
#[derive(Debug, Clone, PartialEq)]
pub struct CostReport {
    /// Largest ingest → commit delay during the run, in ms (`None`: no meter, or no batch).
    pub fanout_lag_ms: Option<f64>,
    /// Dollars per million events accepted (`None`: no meter, or no events).
    pub per_million_events: Option<f64>,
    /// Dollars per viewer-hour of stream time (`None`: no meter, or no stream time).
    pub per_viewer_hour: Option<f64>,
    /// The idle viewer-hour, itemized (`basis` included).
    pub idle: Value,
    /// Where the figures come from, e.g. why there are none.
    pub source: String,
}

/// What changed between `start` and `end` readings (`None`: the target has no meter).
pub fn report(start: Option<&Value>, end: Option<&Value>) -> CostReport {
    let (Some(start), Some(end)) = (start, end) else {
        return CostReport {
            fanout_lag_ms: None,
            per_million_events: None,
            per_viewer_hour: None,
            idle: default_idle(),
            source: "not available: the target has no /dev/meter (not a burstline dev stack)"
                .into(),
        };
    };
    let delta = |path: &[&str]| {
        let at = |v: &Value| path.iter().fold(v, |v, k| &v[*k]).as_f64().unwrap_or(0.0);
        at(end) - at(start)
    };
    let events = delta(&["events_accepted"]);
    let viewer_hours = delta(&["viewer_seconds"]) / 3600.0;
    let events_usd = delta(&["bills", "events", "total_usd"]);
    let viewers_usd = delta(&["bills", "viewers", "total_usd"]);
    CostReport {
        fanout_lag_ms: end["fanout_lag_max_ms"].as_f64(),
        per_million_events: (events > 0.0).then(|| events_usd / events * 1e6),
        per_viewer_hour: (viewer_hours > 0.0).then(|| viewers_usd / viewer_hours),
        idle: end["idle_viewer_hour"].clone(),
        source: format!(
            "modeled at {} list prices ({})",
            end["prices"]["region"].as_str().unwrap_or("?"),
            end["prices"]["source"].as_str().unwrap_or("?")
        ),
    }
}

/// An idle viewer-hour at the deployed stream defaults and the built-in prices.
fn default_idle() -> Value {
    let d = stream::StreamSettings::default();
    let idle = idle_viewer_hour(
        IdleStream {
            memory_mb: memory_mb("stream"),
            poll_seconds: d.poll.max.as_secs_f64(),
            response_seconds: d.idle.min(d.segment).as_secs_f64(),
        },
        &PriceTable::built_in(),
    );
    serde_json::to_value(idle).unwrap_or(Value::Null)
}

impl CostReport {
    /// The `--json` object.
    pub fn json(&self) -> Value {
        json!({
            "fanout_lag_max_ms": self.fanout_lag_ms,
            "cost": {
                "usd_per_million_events": self.per_million_events,
                "usd_per_viewer_hour": self.per_viewer_hour,
                "idle_viewer_hour": self.idle,
                "source": self.source,
            },
        })
    }

    /// The lines for people: `fanout lag`, `cost` and `idle viewer`.
    pub fn text(&self) -> String {
        let lag = match self.fanout_lag_ms {
            Some(ms) => format!("max {ms:.0} ms (ingest → commit)"),
            None => "not available".to_owned(),
        };
        let usd = |v: Option<f64>, what: &str| match v {
            Some(v) => format!("${v:.4} {what}"),
            None => format!("n/a {what}"),
        };
        let cost = if self.per_million_events.is_none() && self.per_viewer_hour.is_none() {
            self.source.clone()
        } else {
            format!(
                "{}, {} ({})",
                usd(self.per_million_events, "per million events"),
                usd(self.per_viewer_hour, "per viewer-hour"),
                self.source
            )
        };
        let i = &self.idle;
        let basis = &i["basis"];
        let idle = format!(
            "${:.4} per hour ({} MB × 3600 s, a poll every {} s, a reconnect every {} s: {:.0} \
             reads, {:.0} writes, {:.0} invocations)",
            i["usd"].as_f64().unwrap_or(0.0),
            basis["memory_mb"],
            basis["poll_seconds"],
            basis["response_seconds"],
            i["reads"].as_f64().unwrap_or(0.0),
            i["writes"].as_f64().unwrap_or(0.0),
            i["invocations"].as_f64().unwrap_or(0.0),
        );
        format!(
            "fanout lag         {lag}\n\
             cost               {cost}\n\
             idle viewer        {idle}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(events: u64, viewer_seconds: f64, events_usd: f64, viewers_usd: f64) -> Value {
        json!({
            "events_accepted": events,
            "viewer_seconds": viewer_seconds,
            "fanout_lag_max_ms": 850,
            "bills": {
                "events": {"total_usd": events_usd},
                "viewers": {"total_usd": viewers_usd},
            },
            "idle_viewer_hour": {"usd": 0.0065, "reads": 3960.0, "writes": 240.0,
                "invocations": 120.0, "basis": {"memory_mb": 128, "poll_seconds": 1.0,
                "response_seconds": 30.0}},
            "prices": {"region": "us-east-1", "source": "built-in"},
        })
    }

    #[test]
    fn costs_are_deltas_per_event_and_per_viewer_hour() {
        let start = reading(1_000, 100.0, 0.001, 0.0002);
        let end = reading(3_000, 1_900.0, 0.003, 0.0032);
        let r = report(Some(&start), Some(&end));
        // $0.002 for 2,000 events; $0.003 for half a viewer-hour.
        assert!((r.per_million_events.unwrap() - 1.0).abs() < 1e-9);
        assert!((r.per_viewer_hour.unwrap() - 0.006).abs() < 1e-9);
        assert_eq!(r.fanout_lag_ms, Some(850.0));
        let text = r.text();
        assert!(text.contains("fanout lag         max 850 ms"), "{text}");
        assert!(
            text.contains("cost               $1.0000 per million events, $0.0060 per viewer-hour"),
            "{text}"
        );
        assert!(
            text.contains("idle viewer        $0.0065 per hour (128 MB"),
            "{text}"
        );
    }

    #[test]
    fn without_a_meter_the_cost_is_not_available_but_the_idle_hour_is() {
        let r = report(None, None);
        assert_eq!(r.per_million_events, None);
        let text = r.text();
        assert!(text.contains("fanout lag         not available"), "{text}");
        assert!(text.contains("cost               not available"), "{text}");
        assert!(
            r.json()["cost"]["idle_viewer_hour"]["usd"]
                .as_f64()
                .unwrap()
                > 0.0
        );
    }
}
