//! What Kinesis `PutRecords` accepts, as a pure check. The in-memory log refuses exactly the
//! requests Kinesis refuses; the Kinesis adapter leaves the check to the service and maps its
//! refusal to the same [`crate::Error::Refused`].

use super::LogRecord;

/// Kinesis `PutRecords` takes at most 500 records…
pub const MAX_RECORDS_PER_PUT: usize = 500;
/// …and 5 MiB including partition keys.
pub const MAX_BYTES_PER_PUT: usize = 5 * 1024 * 1024;
/// A single record's data plus key may not exceed 1 MiB.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// A partition key is 1 to 256 Unicode characters.
pub const MAX_PARTITION_KEY_CHARS: usize = 256;

/// `GetRecords` returns at most this many records per call (a larger `Limit` is refused).
pub const MAX_RECORDS_PER_READ: usize = 10_000;

/// Why Kinesis would refuse `records` as one `PutRecords` request, or `None` if it accepts it.
pub fn put_refusal(records: &[LogRecord]) -> Option<String> {
    if records.len() > MAX_RECORDS_PER_PUT {
        return Some(format!(
            "{} records; a request takes at most {MAX_RECORDS_PER_PUT}",
            records.len()
        ));
    }
    for (i, r) in records.iter().enumerate() {
        let chars = r.partition_key.chars().count();
        if chars == 0 || chars > MAX_PARTITION_KEY_CHARS {
            return Some(format!(
                "record {i}: partition key of {chars} characters; 1 to {MAX_PARTITION_KEY_CHARS} allowed"
            ));
        }
        if r.size() > MAX_RECORD_BYTES {
            return Some(format!(
                "record {i}: {} bytes with its key; at most {MAX_RECORD_BYTES}",
                r.size()
            ));
        }
    }
    let total: usize = records.iter().map(LogRecord::size).sum();
    (total > MAX_BYTES_PER_PUT)
        .then(|| format!("{total} bytes in one request; at most {MAX_BYTES_PER_PUT}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str, data: usize) -> LogRecord {
        LogRecord {
            partition_key: key.into(),
            data: vec![b'x'; data],
        }
    }

    #[test]
    fn each_limit_is_refused_just_past_it() {
        assert_eq!(put_refusal(&[rec("k", 10)]), None);
        let full: Vec<_> = (0..MAX_RECORDS_PER_PUT).map(|_| rec("k", 1)).collect();
        assert_eq!(put_refusal(&full), None);
        let over: Vec<_> = (0..=MAX_RECORDS_PER_PUT).map(|_| rec("k", 1)).collect();
        assert!(put_refusal(&over).is_some());
        assert_eq!(put_refusal(&[rec("k", MAX_RECORD_BYTES - 1)]), None);
        assert!(put_refusal(&[rec("k", MAX_RECORD_BYTES)]).is_some());
        assert_eq!(put_refusal(&[rec(&"é".repeat(256), 1)]), None);
        assert!(put_refusal(&[rec(&"k".repeat(257), 1)]).is_some());
        assert!(put_refusal(&[rec("", 1)]).is_some());
        let five: Vec<_> = (0..5).map(|_| rec("k", MAX_RECORD_BYTES - 1)).collect();
        assert_eq!(put_refusal(&five), None);
        let six: Vec<_> = (0..6).map(|_| rec("k", MAX_RECORD_BYTES - 1)).collect();
        assert!(put_refusal(&six).is_some());
    }
}
