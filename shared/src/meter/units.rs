//! Billing units from sizes, by each service's published rules. Pure: the memory and AWS
//! adapters both book what these return for the items and bodies of a call, so they agree.

/// A KB as DynamoDB, SQS and Kinesis count it.
const KB: u64 = 1024;
/// DynamoDB bills writes per started 1 KB of item.
const WRITE_UNIT_BYTES: u64 = KB;
/// DynamoDB bills reads per started 4 KB.
const READ_UNIT_BYTES: u64 = 4 * KB;
/// SQS bills one request per started 64 KB of a request's payload.
const SQS_CHUNK_BYTES: u64 = 64 * KB;

/// How a DynamoDB read is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// Half a read unit per started 4 KB.
    Eventual,
    /// One read unit per started 4 KB.
    Strong,
    /// In a transaction: two read units per started 4 KB.
    Transactional,
}

/// Write request units for writing one item of `item_bytes` (a delete or a failed condition
/// is billed on the item's size too; at least 1): one per started KB, twice that in a
/// transaction.
pub fn write_units(item_bytes: usize, transactional: bool) -> u64 {
    let units = (item_bytes as u64).div_ceil(WRITE_UNIT_BYTES).max(1);
    if transactional { 2 * units } else { units }
}

/// Read request units, in halves, for reading `bytes` at `consistency`: one read of a single
/// item, or of a `Query` page whose items together are `bytes` (DynamoDB sums a page before
/// rounding; at least one 4 KB step, even for nothing found).
pub fn read_half_units(bytes: usize, consistency: Consistency) -> u64 {
    let steps = (bytes as u64).div_ceil(READ_UNIT_BYTES).max(1);
    steps
        * match consistency {
            Consistency::Eventual => 1,
            Consistency::Strong => 2,
            Consistency::Transactional => 4,
        }
}

/// SQS billed requests for one request carrying `payload_bytes` (all its messages' bodies
/// together): one per started 64 KB, at least 1.
pub fn sqs_billed_requests(payload_bytes: usize) -> u64 {
    (payload_bytes as u64).div_ceil(SQS_CHUNK_BYTES).max(1)
}

/// Bytes a Kinesis on-demand stream bills for writing one record of `record_bytes` (data and
/// partition key): rounded up to the next KB.
pub fn kinesis_billed_bytes_in(record_bytes: usize) -> u64 {
    (record_bytes as u64).div_ceil(KB).max(1) * KB
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_round_up_per_kb_and_double_in_transactions() {
        assert_eq!(write_units(0, false), 1);
        assert_eq!(write_units(1, false), 1);
        assert_eq!(write_units(1024, false), 1);
        assert_eq!(write_units(1025, false), 2);
        assert_eq!(write_units(3500, true), 8);
    }

    #[test]
    fn reads_round_up_per_4_kb_by_consistency() {
        assert_eq!(read_half_units(0, Consistency::Strong), 2);
        assert_eq!(read_half_units(4096, Consistency::Eventual), 1);
        assert_eq!(read_half_units(4097, Consistency::Eventual), 2);
        assert_eq!(read_half_units(4097, Consistency::Strong), 4);
        assert_eq!(read_half_units(100, Consistency::Transactional), 4);
    }

    #[test]
    fn sqs_bills_per_started_64_kb_chunk() {
        assert_eq!(sqs_billed_requests(0), 1);
        assert_eq!(sqs_billed_requests(65_536), 1);
        assert_eq!(sqs_billed_requests(65_537), 2);
        assert_eq!(sqs_billed_requests(256 * 1024), 4);
    }

    #[test]
    fn kinesis_rounds_each_record_up_to_a_kb() {
        assert_eq!(kinesis_billed_bytes_in(300), 1024);
        assert_eq!(kinesis_billed_bytes_in(4608), 5 * 1024);
    }
}
