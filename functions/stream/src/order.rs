//! What a page of stored events lets a stream send next, without ever skipping a seq
//! (SPEC §4.4), and when a missing run of seqs is gone for good. Pure.

use burstline::event::Envelope;
use burstline::ids::Seq;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// How long a missing seq must stay missing before retention may explain it. Stored events are
/// read consistently, so a committed event is visible at once; this only absorbs the unusual.
pub const GAP_GRACE: Duration = Duration::from_secs(2);

/// The result of looking at a page from `cursor` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// How many events at the front of the page follow `cursor` densely: send them.
    pub deliver: usize,
    /// Seqs after those that are known to exist (a later seq is visible, or the head says so)
    /// but are not visible: wait for them, or declare them gone.
    pub missing: Option<(Seq, Seq)>,
}

/// Plans a page read after `cursor`, knowing the task has reached at least `known_last`.
pub fn plan(cursor: Seq, page: &[Envelope], known_last: Seq) -> Plan {
    let mut expected = cursor.next();
    let mut deliver = 0;
    for e in page {
        if e.seq != expected {
            break;
        }
        deliver += 1;
        expected = expected.next();
    }
    let next_visible = page.get(deliver).map(|e| e.seq);
    let missing = match next_visible {
        Some(seq) if seq > expected => Some((expected, Seq(seq.0 - 1))),
        None if known_last >= expected => Some((expected, known_last)),
        _ => None,
    };
    Plan { deliver, missing }
}

/// Whether missing seqs may be declared gone. Events expire `retention` after they were
/// written and none is written before the task was created, so a task younger than
/// `retention` has lost nothing: its missing seqs are in flight and the stream waits for
/// them. Otherwise they are gone once missing for [`GAP_GRACE`].
pub fn is_gone(
    task_created_at: DateTime<Utc>,
    now: DateTime<Utc>,
    retention: chrono::Duration,
    missing_for: Duration,
) -> bool {
    now - task_created_at >= retention && missing_for >= GAP_GRACE
}

#[cfg(test)]
mod tests {
    use super::*;
    use burstline::event::EventType;
    use burstline::ids::{EventId, TaskId, TenantId};

    fn ev(seq: u64) -> Envelope {
        Envelope {
            id: EventId::parse(&format!("e{seq}")).unwrap(),
            event_type: EventType::parse("a").unwrap(),
            tenant_id: TenantId::parse("t").unwrap(),
            task_id: TaskId::parse("k").unwrap(),
            seq: Seq(seq),
            time: Utc::now(),
            data: serde_json::Value::Null,
            traceparent: None,
        }
    }

    fn page(seqs: &[u64]) -> Vec<Envelope> {
        seqs.iter().copied().map(ev).collect()
    }

    #[test]
    fn dense_pages_are_delivered_whole() {
        let p = plan(Seq(3), &page(&[4, 5, 6]), Seq(6));
        assert_eq!(
            p,
            Plan {
                deliver: 3,
                missing: None
            }
        );
        assert_eq!(
            plan(Seq(0), &[], Seq(0)),
            Plan {
                deliver: 0,
                missing: None
            }
        );
    }

    #[test]
    fn a_hole_stops_delivery_before_it() {
        // n+2 visible, n+1 not: send nothing past n.
        let p = plan(Seq(3), &page(&[5, 6]), Seq(3));
        assert_eq!(
            p,
            Plan {
                deliver: 0,
                missing: Some((Seq(4), Seq(4)))
            }
        );
        let p = plan(Seq(3), &page(&[4, 7, 8]), Seq(8));
        assert_eq!(
            p,
            Plan {
                deliver: 1,
                missing: Some((Seq(5), Seq(6)))
            }
        );
    }

    #[test]
    fn the_head_reveals_missing_events_at_the_end() {
        let p = plan(Seq(0), &[], Seq(40));
        assert_eq!(
            p,
            Plan {
                deliver: 0,
                missing: Some((Seq(1), Seq(40)))
            }
        );
        let p = plan(Seq(38), &page(&[39]), Seq(40));
        assert_eq!(
            p,
            Plan {
                deliver: 1,
                missing: Some((Seq(40), Seq(40)))
            }
        );
    }

    #[test]
    fn only_old_tasks_lose_events_and_only_after_the_grace() {
        let now = Utc::now();
        let week = chrono::Duration::days(7);
        let old = now - chrono::Duration::days(8);
        let young = now - chrono::Duration::days(6);
        assert!(is_gone(old, now, week, GAP_GRACE));
        assert!(!is_gone(old, now, week, GAP_GRACE / 2));
        assert!(!is_gone(young, now, week, Duration::from_secs(3600)));
    }
}
