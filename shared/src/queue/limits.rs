//! What SQS `SendMessageBatch` accepts on Burstline's queues, as a pure check. The in-memory
//! queue refuses exactly the requests SQS refuses; the SQS adapter leaves the check to the
//! service and maps its refusal to the same [`crate::Error::Refused`].

use std::time::Duration;

/// `SendMessageBatch` takes at most 10 entries.
pub const MAX_MESSAGES_PER_SEND: usize = 10;
/// The queues' `MaximumMessageSize`, set explicitly in `template.yaml` and by
/// [`crate::provision`]: 256 KiB, the limit every SQS queue has accepted for years (SQS allows
/// up to 1 MiB since 2025, but only on queues configured for it).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Bodies of one `SendMessageBatch` may total at most 1 MiB…
pub const MAX_BYTES_ACCEPTED_PER_SEND: usize = 1024 * 1024;
/// …but the adapters pack at most 256 KiB per request, which SQS has always accepted.
pub const MAX_BYTES_PER_SEND: usize = 256 * 1024;
/// SQS delays a message at most 15 minutes (`DelaySeconds` ≤ 900).
pub const MAX_DELAY: Duration = crate::schedule::MAX_SQS_DELAY;

/// Why SQS would refuse `bodies` sent as one `SendMessageBatch` with `delay`, or `None`.
/// Sizes are UTF-8 bytes; the delay counts in whole seconds, as `DelaySeconds` does.
pub fn send_refusal(bodies: &[String], delay: Duration) -> Option<String> {
    if bodies.is_empty() {
        return Some("an empty batch".into());
    }
    if bodies.len() > MAX_MESSAGES_PER_SEND {
        return Some(format!(
            "{} entries; a batch takes at most {MAX_MESSAGES_PER_SEND}",
            bodies.len()
        ));
    }
    if delay.as_secs() > MAX_DELAY.as_secs() {
        return Some(format!(
            "DelaySeconds {}; at most {}",
            delay.as_secs(),
            MAX_DELAY.as_secs()
        ));
    }
    if let Some((i, b)) = bodies
        .iter()
        .enumerate()
        .find(|(_, b)| b.len() > MAX_MESSAGE_BYTES)
    {
        return Some(format!(
            "entry {i}: a message of {} bytes; the queue takes at most {MAX_MESSAGE_BYTES}",
            b.len()
        ));
    }
    let total: usize = bodies.iter().map(String::len).sum();
    (total > MAX_BYTES_ACCEPTED_PER_SEND)
        .then(|| format!("{total} bytes in one batch; at most {MAX_BYTES_ACCEPTED_PER_SEND}"))
}

/// Splits message bodies into index ranges that each fit one `SendMessageBatch`: at most
/// [`MAX_MESSAGES_PER_SEND`] bodies and [`MAX_BYTES_PER_SEND`] bytes, except that a body
/// larger than that goes alone (and is refused if over [`MAX_MESSAGE_BYTES`]).
pub fn send_batches(bodies: &[String]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, b) in bodies.iter().enumerate() {
        if i > start && (i - start == MAX_MESSAGES_PER_SEND || bytes + b.len() > MAX_BYTES_PER_SEND)
        {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += b.len();
    }
    if start < bodies.len() {
        out.push(start..bodies.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_of_ten_within_the_byte_limit() {
        let small: Vec<String> = (0..25).map(|_| "x".repeat(100)).collect();
        assert_eq!(send_batches(&small), vec![0..10, 10..20, 20..25]);
        let big: Vec<String> = (0..4).map(|_| "x".repeat(100 * 1024)).collect();
        assert_eq!(send_batches(&big), vec![0..2, 2..4]);
        for range in send_batches(&big) {
            assert_eq!(send_refusal(&big[range], Duration::ZERO), None);
        }
    }

    #[test]
    fn each_limit_is_refused_just_past_it() {
        let body = |n: usize| "x".repeat(n);
        let ok = [body(MAX_MESSAGE_BYTES)];
        assert_eq!(send_refusal(&ok, MAX_DELAY), None);
        assert!(send_refusal(&ok, MAX_DELAY + Duration::from_secs(1)).is_some());
        assert_eq!(
            send_refusal(&ok, MAX_DELAY + Duration::from_millis(999)),
            None,
            "DelaySeconds is whole seconds"
        );
        assert!(send_refusal(&[body(MAX_MESSAGE_BYTES + 1)], Duration::ZERO).is_some());
        let ten: Vec<String> = (0..10).map(|_| body(1)).collect();
        assert_eq!(send_refusal(&ten, Duration::ZERO), None);
        let eleven: Vec<String> = (0..11).map(|_| body(1)).collect();
        assert!(send_refusal(&eleven, Duration::ZERO).is_some());
        let five: Vec<String> = (0..5).map(|_| body(MAX_MESSAGE_BYTES)).collect();
        assert!(send_refusal(&five, Duration::ZERO).is_some());
        assert!(send_refusal(&[], Duration::ZERO).is_some());
    }
}
