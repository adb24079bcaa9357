//! Decoding Kinesis records into events. Pure.

use crate::error::FanoutError;
use aws_lambda_events::event::kinesis::KinesisEventRecord;
use burstline::event::NewEvent;
use burstline::head::StreamPosition;
use burstline::sequence::Incoming;

/// Decodes one record: its position (shard from `eventID`, which Lambda sets to
/// `shardId-…:sequenceNumber`) and the event it carries. The partition key must be the
/// event's own tenant and task, so a record can never be filed under another tenant.
pub fn decode(record: &KinesisEventRecord) -> Result<Incoming, FanoutError> {
    let seq = &record.kinesis.sequence_number;
    let shard = record
        .event_id
        .as_deref()
        .and_then(|id| id.split_once(':'))
        .map(|(shard, _)| shard)
        .ok_or_else(|| FanoutError::Undecodable("eventID is not shard:sequence".into()))?;
    let event: NewEvent = serde_json::from_slice(&record.kinesis.data)
        .map_err(|e| FanoutError::Undecodable(format!("data is not an event: {e}")))?;
    if event.task_key().partition_key() != record.kinesis.partition_key {
        return Err(FanoutError::Undecodable(
            "partition key does not match the event's tenant and task".into(),
        ));
    }
    Ok(Incoming {
        position: StreamPosition::new(shard, seq.clone()),
        event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burstline::log::StoredRecord;
    use burstline::mapping::kinesis::lambda_event;

    fn record(pk: &str, data: &[u8]) -> KinesisEventRecord {
        let rec = StoredRecord {
            sequence_number: "7".into(),
            partition_key: pk.into(),
            data: data.to_vec(),
            arrival: chrono::Utc::now(),
        };
        lambda_event("shardId-000000000003", &[rec], "arn")
            .records
            .remove(0)
    }

    const EVENT: &[u8] = br#"{"id":"e1","type":"x","tenant_id":"acme","task_id":"run","time":"2026-11-22T10:00:00Z","data":null}"#;

    #[test]
    fn decodes_position_and_event() {
        let inc = decode(&record("acme/run", EVENT)).unwrap();
        assert_eq!(
            inc.position,
            StreamPosition::new("shardId-000000000003", "7")
        );
        assert_eq!(inc.event.id.as_str(), "e1");
    }

    #[test]
    fn garbage_and_mismatched_keys_are_poison() {
        assert!(matches!(
            decode(&record("acme/run", b"not json")),
            Err(FanoutError::Undecodable(_))
        ));
        assert!(matches!(
            decode(&record("other/run", EVENT)),
            Err(FanoutError::Undecodable(_))
        ));
        let bad_type = br#"{"id":"e1","type":"BAD","tenant_id":"acme","task_id":"run","time":"2026-11-22T10:00:00Z","data":null}"#;
        assert!(decode(&record("acme/run", bad_type)).is_err());
    }
}
