//! Latency percentiles and the run's summary: what was sent, streamed, webhooked and stored,
//! printed for people or as JSON, and the verdict.

use super::cost::CostReport;
use serde_json::{Value, json};
use std::time::Duration;

/// The `q`-quantile (0 < q ≤ 1) of `samples` by the nearest-rank method: the smallest sample
/// with at least `q` of all samples at or below it. `None` when there are none.
pub fn percentile(samples: &mut [Duration], q: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let rank = (q.clamp(0.0, 1.0) * samples.len() as f64).ceil() as usize;
    samples.get(rank.clamp(1, samples.len()) - 1).copied()
}

/// p50 and p99 of a set of latencies.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: Option<Duration>,
    /// 99th percentile.
    pub p99: Option<Duration>,
    /// Samples.
    pub n: usize,
}

impl Latency {
    /// The percentiles of `samples`.
    pub fn of(mut samples: Vec<Duration>) -> Self {
        Self {
            p50: percentile(&mut samples, 0.50),
            p99: percentile(&mut samples, 0.99),
            n: samples.len(),
        }
    }

    fn json(&self) -> Value {
        let ms = |d: Option<Duration>| d.map(|d| (d.as_secs_f64() * 1e4).round() / 10.0);
        json!({"p50_ms": ms(self.p50), "p99_ms": ms(self.p99), "samples": self.n})
    }

    fn text(&self) -> String {
        match (self.p50, self.p99) {
            (Some(a), Some(b)) => format!("p50 {:.1} ms, p99 {:.1} ms", ms(a), ms(b)),
            _ => "n/a".to_owned(),
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What the SSE watchers saw.
#[derive(Debug, Clone, Default)]
pub struct StreamStats {
    /// Tasks watched.
    pub tasks: usize,
    /// Events the watched tasks had accepted.
    pub expected: usize,
    /// Distinct seqs received.
    pub received: usize,
    /// A seq received again.
    pub duplicates: usize,
    /// A seq received before the one just after the previous (a skip).
    pub out_of_order: usize,
    /// Commit → SSE frame.
    pub latency: Latency,
}

/// What the webhook receiver saw.
#[derive(Debug, Clone)]
pub enum WebhookStats {
    /// Not checked, and why.
    Skipped(String),
    /// Checked.
    Checked {
        /// Events accepted (every task).
        expected: usize,
        /// Distinct accepted events delivered.
        delivered: usize,
        /// Deliveries whose `webhook-id` had been seen (at least once: allowed).
        redeliveries: usize,
        /// Requests with no valid signature.
        bad_signatures: usize,
        /// Commit → first delivery.
        latency: Latency,
    },
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Tasks run.
    pub tasks: usize,
    /// Tasks that failed to post (a 4xx or retries exhausted).
    pub failed_tasks: Vec<String>,
    /// Events planned.
    pub events_planned: usize,
    /// Events ingest accepted.
    pub events_accepted: usize,
    /// POSTs sent again because ingest answered that it was busy (503, 429: the stream at its
    /// write limit).
    pub resent_posts: usize,
    /// From the first POST to the last 202.
    pub send_time: Duration,
    /// SSE side.
    pub streams: StreamStats,
    /// Webhook side.
    pub webhooks: WebhookStats,
    /// Tasks whose stored `last_seq` was read.
    pub stored_tasks: usize,
    /// Accepted events missing from the store (`last_seq` short of the count sent).
    pub store_lost: usize,
    /// Events in the store beyond the count sent.
    pub store_extra: usize,
    /// The wait for streams, webhooks or the store ran out.
    pub timed_out: bool,
    /// Fanout lag and modeled cost (a dev stack's meter), and an idle viewer-hour.
    pub cost: CostReport,
}

impl Summary {
    /// Accepted events per second of sending.
    pub fn rate(&self) -> f64 {
        let secs = self.send_time.as_secs_f64();
        if secs > 0.0 {
            self.events_accepted as f64 / secs
        } else {
            0.0
        }
    }

    /// Accepted events that never arrived: in the store, on watched streams, or as webhooks.
    pub fn lost(&self) -> usize {
        self.lost_parts().iter().map(|(n, _)| n).sum()
    }

    /// [`Summary::lost`] by where the events went missing.
    fn lost_parts(&self) -> [(usize, &'static str); 3] {
        let hooks = match &self.webhooks {
            WebhookStats::Checked {
                expected,
                delivered,
                ..
            } => expected.saturating_sub(*delivered),
            WebhookStats::Skipped(_) => 0,
        };
        [
            (self.store_lost, "missing from the store"),
            (
                self.streams.expected.saturating_sub(self.streams.received),
                "never streamed",
            ),
            (hooks, "never webhooked"),
        ]
    }

    /// Events seen twice where once is guaranteed: SSE seqs and stored events.
    pub fn duplicates(&self) -> usize {
        self.streams.duplicates + self.store_extra
    }

    /// Every problem, as short phrases; empty when the run is clean.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !self.failed_tasks.is_empty() {
            p.push(format!(
                "{} task(s) failed to post",
                self.failed_tasks.len()
            ));
        }
        if self.lost() > 0 {
            let parts: Vec<String> = self
                .lost_parts()
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, what)| format!("{n} {what}"))
                .collect();
            p.push(format!(
                "{} event(s) lost ({})",
                self.lost(),
                parts.join(", ")
            ));
        }
        if self.duplicates() > 0 {
            p.push(format!("{} duplicate(s)", self.duplicates()));
        }
        if self.streams.out_of_order > 0 {
            p.push(format!("{} out of order", self.streams.out_of_order));
        }
        if let WebhookStats::Checked { bad_signatures, .. } = &self.webhooks
            && *bad_signatures > 0
        {
            p.push(format!("{bad_signatures} webhook(s) with a bad signature"));
        }
        if self.timed_out {
            p.push("timed out".to_owned());
        }
        p
    }

    /// The machine-readable summary (`--json`).
    pub fn json(&self) -> Value {
        let webhooks = match &self.webhooks {
            WebhookStats::Skipped(why) => json!({"checked": false, "reason": why}),
            WebhookStats::Checked {
                expected,
                delivered,
                redeliveries,
                bad_signatures,
                latency,
            } => json!({
                "checked": true, "expected": expected, "delivered_unique": delivered,
                "redeliveries": redeliveries, "bad_signatures": bad_signatures,
                "latency": latency.json(),
            }),
        };
        let mut summary = json!({
            "ok": self.problems().is_empty(),
            "tasks": self.tasks,
            "failed_tasks": self.failed_tasks,
            "events_planned": self.events_planned,
            "events_accepted": self.events_accepted,
            "resent_posts": self.resent_posts,
            "send_seconds": self.send_time.as_secs_f64(),
            "accepted_per_second": (self.rate() * 10.0).round() / 10.0,
            "streams": {
                "watched_tasks": self.streams.tasks, "expected": self.streams.expected,
                "received": self.streams.received, "duplicates": self.streams.duplicates,
                "out_of_order": self.streams.out_of_order, "latency": self.streams.latency.json(),
            },
            "webhooks": webhooks,
            "store": {"tasks": self.stored_tasks, "lost": self.store_lost, "extra": self.store_extra},
            "lost": self.lost(),
            "duplicates": self.duplicates(),
            "out_of_order": self.streams.out_of_order,
            "timed_out": self.timed_out,
            "problems": self.problems(),
        });
        if let (Some(out), Value::Object(cost)) = (summary.as_object_mut(), self.cost.json()) {
            out.extend(cost);
        }
        summary
    }

    /// The summary for people.
    pub fn text(&self) -> String {
        let s = &self.streams;
        let webhooks = match &self.webhooks {
            WebhookStats::Skipped(why) => format!("webhooks           not checked ({why})"),
            WebhookStats::Checked {
                expected,
                delivered,
                redeliveries,
                bad_signatures,
                latency,
            } => format!(
                "webhooks           {delivered} / {expected} events delivered \
                 ({redeliveries} redeliveries, {bad_signatures} bad signatures)\n\
                 commit → webhook   {}",
                latency.text()
            ),
        };
        let verdict = match self.problems() {
            p if p.is_empty() => "OK: nothing lost, duplicated or out of order".to_owned(),
            p => format!("FAILED: {}", p.join(", ")),
        };
        // Only when it happened: the stream at its write limit (or ingest overloaded).
        let resent = match self.resent_posts {
            0 => String::new(),
            n => format!("resent             {n} POST(s) after ingest answered busy (503/429)\n"),
        };
        format!(
            "tasks              {} ({} failed)\n\
             events accepted    {} / {} in {:.1} s ({:.0} events/s)\n\
             {resent}streamed           {} / {} events of {} watched task(s)\n\
             commit → SSE       {}\n\
             {webhooks}\n\
             store              {} task(s) checked, {} lost, {} extra\n\
             {}\n\
             lost {}, duplicates {}, out of order {}\n\
             {verdict}",
            self.tasks,
            self.failed_tasks.len(),
            self.events_accepted,
            self.events_planned,
            self.send_time.as_secs_f64(),
            self.rate(),
            s.received,
            s.expected,
            s.tasks,
            s.latency.text(),
            self.stored_tasks,
            self.store_lost,
            self.store_extra,
            self.cost.text(),
            self.lost(),
            self.duplicates(),
            s.out_of_order,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|m| Duration::from_millis(*m)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut one_to_hundred = ms(&(1..=100).rev().collect::<Vec<_>>());
        assert_eq!(
            percentile(&mut one_to_hundred, 0.5),
            Some(Duration::from_millis(50))
        );
        assert_eq!(
            percentile(&mut one_to_hundred, 0.99),
            Some(Duration::from_millis(99))
        );
        assert_eq!(
            percentile(&mut one_to_hundred, 1.0),
            Some(Duration::from_millis(100))
        );
        let mut few = ms(&[30, 10, 20]);
        assert_eq!(percentile(&mut few, 0.5), Some(Duration::from_millis(20)));
        assert_eq!(percentile(&mut few, 0.99), Some(Duration::from_millis(30)));
        assert_eq!(
            percentile(&mut ms(&[7]), 0.01),
            Some(Duration::from_millis(7))
        );
        assert_eq!(percentile(&mut [], 0.5), None);
        let l = Latency::of(ms(&[5, 1, 3, 2, 4]));
        assert_eq!(
            (l.p50, l.p99, l.n),
            (
                Some(Duration::from_millis(3)),
                Some(Duration::from_millis(5)),
                5
            )
        );
    }

    fn clean() -> Summary {
        Summary {
            tasks: 2,
            failed_tasks: vec![],
            events_planned: 10,
            events_accepted: 10,
            resent_posts: 0,
            send_time: Duration::from_secs(2),
            streams: StreamStats {
                tasks: 1,
                expected: 5,
                received: 5,
                ..StreamStats::default()
            },
            webhooks: WebhookStats::Checked {
                expected: 10,
                delivered: 10,
                redeliveries: 1,
                bad_signatures: 0,
                latency: Latency::of(ms(&[10, 20])),
            },
            stored_tasks: 2,
            store_lost: 0,
            store_extra: 0,
            timed_out: false,
            cost: super::super::cost::report(None, None),
        }
    }

    #[test]
    fn verdicts_count_every_loss_and_duplicate() {
        let ok = clean();
        assert!(ok.problems().is_empty());
        assert_eq!(ok.rate(), 5.0);
        assert_eq!(ok.json()["ok"], true);
        assert!(ok.text().contains("OK: nothing lost"));
        assert!(
            !ok.text().contains("resent"),
            "no line when nothing was resent"
        );
        let mut throttled = clean();
        throttled.resent_posts = 3;
        assert!(throttled.text().contains(
            "(5 events/s)\nresent             3 POST(s) after ingest answered busy (503/429)\nstreamed"
        ));
        assert_eq!(throttled.json()["resent_posts"], 3);
        assert!(
            throttled.problems().is_empty(),
            "resending is not a failure"
        );
        let mut bad = clean();
        bad.streams.received = 4;
        bad.streams.duplicates = 1;
        bad.store_lost = 2;
        bad.webhooks = WebhookStats::Checked {
            expected: 10,
            delivered: 7,
            redeliveries: 0,
            bad_signatures: 1,
            latency: Latency::default(),
        };
        assert_eq!(bad.lost(), 1 + 2 + 3);
        assert_eq!(bad.json()["lost"], 6);
        assert_eq!(bad.problems().len(), 3);
        assert!(bad.text().contains(
            "FAILED: 6 event(s) lost (2 missing from the store, 1 never streamed, 3 never \
             webhooked), 1 duplicate(s), 1 webhook(s) with a bad signature"
        ));
    }
}
