//! fanout's metrics (see `burstline::metrics` for where they go and the dimension policy).
//! All are per invocation, dimension `function` only: a batch mixes tenants.
//!
//! | name | unit | what |
//! |---|---|---|
//! | `EventsStored` | Count | events newly stored with their `seq` |
//! | `DuplicatesSkipped` | Count | records already applied (replays) or with an id already stored |
//! | `PoisonRecords` | Count | records skipped as undecodable or of an unknown tenant |
//! | `EventsSetAside` | Count | records set aside (an id of another task, or refused by the store), each with a `burstline.event.rejected` in its tenant's log |
//! | `FanoutBatchSize` | Count | records per invocation (one value per batch) |
//! | `FanoutLag` | Milliseconds | ingest → commit: from the oldest record's Kinesis arrival to the end of the batch that stored it (one value per batch that stored events; good to about a second, as `aws_lambda_events` reads the arrival's fraction loosely) |

use crate::handler::Outcome;
use aws_lambda_events::event::kinesis::KinesisEvent;
use burstline::metrics::{FUNCTION, observe};
use chrono::{DateTime, Utc};
use metrics::{Unit, counter, describe_counter, describe_histogram, histogram};

const NAME: &str = "fanout";
/// Events newly stored.
pub const EVENTS_STORED: &str = "EventsStored";
/// Replays and duplicate ids skipped.
pub const DUPLICATES_SKIPPED: &str = "DuplicatesSkipped";
/// Poison records skipped.
pub const POISON_RECORDS: &str = "PoisonRecords";
/// Records set aside with `burstline.event.rejected`.
pub const EVENTS_SET_ASIDE: &str = "EventsSetAside";
/// Records per batch.
pub const BATCH_SIZE: &str = "FanoutBatchSize";
/// Ingest → commit.
pub const LAG: &str = "FanoutLag";
/// Every metric this function emits.
pub const NAMES: &[&str] = &[
    EVENTS_STORED,
    DUPLICATES_SKIPPED,
    POISON_RECORDS,
    EVENTS_SET_ASIDE,
    BATCH_SIZE,
    LAG,
];

/// Gives the installed recorder every metric's unit; call once after installing it.
pub fn describe() {
    describe_counter!(EVENTS_STORED, Unit::Count, "events newly stored");
    describe_counter!(
        DUPLICATES_SKIPPED,
        Unit::Count,
        "replayed or duplicate records"
    );
    describe_counter!(POISON_RECORDS, Unit::Count, "poison records skipped");
    describe_counter!(EVENTS_SET_ASIDE, Unit::Count, "records set aside");
    describe_histogram!(BATCH_SIZE, Unit::Count, "records per invocation");
    describe_histogram!(LAG, Unit::Milliseconds, "Kinesis arrival to commit");
}

/// Records what one invocation did with `event`, as of now.
pub fn batch(event: &KinesisEvent, outcome: &Outcome) {
    counter!(EVENTS_STORED, FUNCTION => NAME).increment(outcome.stored as u64);
    counter!(DUPLICATES_SKIPPED, FUNCTION => NAME).increment(outcome.duplicates as u64);
    counter!(POISON_RECORDS, FUNCTION => NAME).increment(outcome.poison as u64);
    counter!(EVENTS_SET_ASIDE, FUNCTION => NAME).increment(outcome.rejected as u64);
    observe(
        histogram!(BATCH_SIZE, FUNCTION => NAME),
        event.records.len() as f64,
    );
    if outcome.stored > 0
        && let Some(ms) = lag_ms(event, Utc::now())
    {
        observe(histogram!(LAG, FUNCTION => NAME), ms);
    }
}

/// Milliseconds from the oldest record's arrival in the stream to `now` (never negative).
fn lag_ms(event: &KinesisEvent, now: DateTime<Utc>) -> Option<f64> {
    let oldest = event
        .records
        .iter()
        .map(|r| r.kinesis.approximate_arrival_timestamp.0)
        .min()?;
    Some((now - oldest).num_milliseconds().max(0) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burstline::log::StoredRecord;
    use burstline::mapping::kinesis::lambda_event;

    fn arrived(at: &[&str]) -> KinesisEvent {
        let records: Vec<StoredRecord> = at
            .iter()
            .enumerate()
            .map(|(i, t)| StoredRecord {
                sequence_number: i.to_string(),
                partition_key: "t/k".into(),
                data: b"{}".to_vec(),
                arrival: t.parse().unwrap(),
            })
            .collect();
        lambda_event("shardId-0", &records, "arn")
    }

    #[test]
    fn lag_is_measured_from_the_oldest_arrival() {
        let now: DateTime<Utc> = "2026-11-22T10:00:05Z".parse().unwrap();
        // Whole seconds: aws_lambda_events reads the fraction of `approximateArrivalTimestamp`
        // as milliseconds digits (".5" → 5 ms), so the lag is only as good as a second.
        let event = arrived(&["2026-11-22T10:00:03Z", "2026-11-22T10:00:01Z"]);
        assert_eq!(lag_ms(&event, now), Some(4000.0));
        // A clock behind the stream's never reports a negative lag.
        assert_eq!(lag_ms(&arrived(&["2026-11-22T10:00:06Z"]), now), Some(0.0));
        assert_eq!(lag_ms(&arrived(&[]), now), None);
    }
}
