//! How a job's events are cut into pages, held in memory one at a time, and how a page is
//! read — pure decisions.
//!
//! A job names up to 100 events, and a replay's may lie anywhere in a span of 10,000 seqs;
//! events are up to [`MAX_EVENT_BYTES`]. So deliver never loads a job's events at once: it reads
//! a page, POSTs it, and only then reads the next. A page holds whole POSTs (one event, or one
//! batch for an endpoint that opted in to batching), at most [`PageBounds::max_events`] events,
//! and only as many as fit [`PageBounds::max_bytes`] at the largest event size seen so far
//! (the largest possible before any is seen). A batch is never split: a batching endpoint's page
//! is at least one batch.

use burstline::ids::Seq;
use burstline::job::EventRef;

/// DynamoDB's item size limit: no stored event is larger, whatever ingest allows.
pub const MAX_EVENT_BYTES: usize = 400 * 1024;

/// Bounds on the events one job holds in memory at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageBounds {
    /// Most events per page.
    pub max_events: usize,
    /// Bytes a page aims to stay within (of serialized events).
    pub max_bytes: usize,
}

impl Default for PageBounds {
    /// 25 events or 1 MiB: with 32 jobs in flight, about 32 MiB of events per invocation.
    fn default() -> Self {
        Self {
            max_events: 25,
            max_bytes: 1024 * 1024,
        }
    }
}

/// Sizes a job's pages from the events it has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pager {
    bounds: PageBounds,
    per_post: usize,
    largest: Option<usize>,
}

impl Pager {
    /// A pager for POSTs of `per_post` events each (1, or the endpoint's batch size).
    pub fn new(bounds: PageBounds, per_post: usize) -> Self {
        Self {
            bounds,
            per_post: per_post.max(1),
            largest: None,
        }
    }

    /// Events in the next page: as many as fit `max_bytes` at the largest event size seen, at
    /// most `max_events`, rounded down to whole POSTs, and at least one POST.
    pub fn next_len(&self) -> usize {
        let per_event = self.largest.unwrap_or(MAX_EVENT_BYTES).max(1);
        let fit = (self.bounds.max_bytes / per_event).clamp(1, self.bounds.max_events.max(1));
        (fit / self.per_post * self.per_post).max(self.per_post)
    }

    /// Notes an event of `bytes` serialized.
    pub fn saw(&mut self, bytes: usize) {
        self.largest = Some(self.largest.map_or(bytes, |l| l.max(bytes)));
    }
}

/// How to read a page of refs (ascending seq).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// A run of consecutive seqs: one `Query` of `limit` events after `after` (cheaper per
    /// event than fetching each item).
    Range {
        /// The seq before the first.
        after: Seq,
        /// How many.
        limit: usize,
    },
    /// Seqs with gaps between them (a filtered or replayed job): fetch exactly those items,
    /// never the events in the gaps.
    Seqs(Vec<Seq>),
}

/// The read for `refs`; `None` when there are none.
pub fn read_for(refs: &[EventRef]) -> Option<Read> {
    let (first, last) = (refs.first()?.seq.0, refs.last()?.seq.0);
    let consecutive = last
        .checked_sub(first)
        .and_then(|d| usize::try_from(d).ok())
        == Some(refs.len() - 1);
    Some(if consecutive {
        Read::Range {
            after: Seq(first.saturating_sub(1)),
            limit: refs.len(),
        }
    } else {
        Read::Seqs(refs.iter().map(|r| r.seq).collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: usize = 1024;

    fn refs(seqs: &[u64]) -> Vec<EventRef> {
        seqs.iter()
            .map(|s| EventRef {
                seq: Seq(*s),
                id: format!("e{s}").parse().unwrap(),
                event_type: "x".parse().unwrap(),
            })
            .collect()
    }

    #[test]
    fn the_first_page_assumes_the_largest_event_then_adapts() {
        let mut p = Pager::new(PageBounds::default(), 1);
        assert_eq!(p.next_len(), 2, "2 × 400 KiB fit in 1 MiB");
        p.saw(KIB);
        assert_eq!(p.next_len(), 25, "small events: the count bound");
        p.saw(100 * KIB);
        assert_eq!(p.next_len(), 10, "the largest seen decides");
        p.saw(2 * KIB);
        assert_eq!(p.next_len(), 10);
        p.saw(2 * 1024 * KIB);
        assert_eq!(p.next_len(), 1, "never less than one event");
    }

    #[test]
    fn batching_pages_hold_whole_batches() {
        let mut p = Pager::new(PageBounds::default(), 10);
        assert_eq!(
            p.next_len(),
            10,
            "one batch even when it may exceed max_bytes"
        );
        p.saw(KIB);
        assert_eq!(p.next_len(), 20, "25 rounded down to whole batches");
        let big = Pager::new(PageBounds::default(), 100);
        assert_eq!(big.next_len(), 100, "a batch is never split");
    }

    #[test]
    fn consecutive_refs_are_one_range_read() {
        assert_eq!(
            read_for(&refs(&[5, 6, 7])),
            Some(Read::Range {
                after: Seq(4),
                limit: 3
            })
        );
        assert_eq!(
            read_for(&refs(&[1])),
            Some(Read::Range {
                after: Seq(0),
                limit: 1
            })
        );
    }

    #[test]
    fn sparse_refs_read_exactly_their_seqs() {
        assert_eq!(
            read_for(&refs(&[1, 101, 9901])),
            Some(Read::Seqs(vec![Seq(1), Seq(101), Seq(9901)]))
        );
        assert_eq!(
            read_for(&refs(&[5, 7, 8])),
            Some(Read::Seqs(vec![Seq(5), Seq(7), Seq(8)]))
        );
        assert_eq!(read_for(&[]), None);
    }
}
