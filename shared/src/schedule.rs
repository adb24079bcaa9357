//! Webhook retry timing (SPEC §5), as pure functions: the delay before the next attempt, with
//! jitter and `Retry-After`, and how a long wait is chained through SQS's 15-minute delay limit.

use std::time::Duration;

/// SQS delays a message at most this long; longer waits are chained.
pub const MAX_SQS_DELAY: Duration = Duration::from_secs(900);

/// The default delays after the first attempt: 1 min, 5 min, 30 min, 2 h, 8 h, 24 h.
pub fn default_schedule() -> Vec<Duration> {
    [60, 300, 1800, 7200, 28_800, 86_400]
        .into_iter()
        .map(Duration::from_secs)
        .collect()
}

/// Parses a schedule such as `1m,5m,30m,2h,8h,24h` (units s, m, h, d).
pub fn parse_schedule(s: &str) -> Result<Vec<Duration>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (num, unit) = p.split_at(p.find(|c: char| !c.is_ascii_digit()).unwrap_or(p.len()));
            let n: u64 = num.parse().map_err(|_| format!("bad delay {p:?}"))?;
            let secs = match unit {
                "s" | "" => n,
                "m" => n * 60,
                "h" => n * 3600,
                "d" => n * 86_400,
                _ => return Err(format!("bad unit in {p:?} (use s, m, h or d)")),
            };
            Ok(Duration::from_secs(secs))
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|v| {
            if v.is_empty() {
                Err("empty schedule".into())
            } else {
                Ok(v)
            }
        })
}

/// The wait before attempt `attempts_made + 1`, or `None` when the schedule is exhausted and
/// the job goes to the dead-letter queue.
///
/// `jitter` is a sample in [-1, 1] scaling ±20 %. A `Retry-After` from the endpoint is honoured
/// within [scheduled, 2 × scheduled]: an endpoint may slow us down, but neither stall a job
/// indefinitely nor make us hammer it.
pub fn next_delay(
    schedule: &[Duration],
    attempts_made: u32,
    jitter: f64,
    retry_after: Option<Duration>,
) -> Option<Duration> {
    let index = usize::try_from(attempts_made).ok()?.checked_sub(1)?;
    let base = *schedule.get(index)?;
    let jittered = base.mul_f64(1.0 + 0.2 * jitter.clamp(-1.0, 1.0));
    Some(match retry_after {
        Some(asked) => asked.clamp(jittered, jittered * 2),
        None => jittered,
    })
}

/// How long to delay the next SQS message on the way to a due time `remaining` away: the
/// whole wait if SQS allows it, else the maximum, and the receiver re-enqueues the rest.
/// Rounded up to whole seconds (SQS's `DelaySeconds`), so the message never arrives before it
/// is due and loops back with a zero delay.
pub fn sqs_delay(remaining: Duration) -> Duration {
    let whole = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
    Duration::from_secs(whole).min(MAX_SQS_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_schedule_then_gives_up() {
        let s = default_schedule();
        assert_eq!(next_delay(&s, 1, 0.0, None), Some(Duration::from_secs(60)));
        assert_eq!(
            next_delay(&s, 6, 0.0, None),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(next_delay(&s, 7, 0.0, None), None);
        assert_eq!(next_delay(&s, 0, 0.0, None), None);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let s = default_schedule();
        assert_eq!(next_delay(&s, 2, 1.0, None), Some(Duration::from_secs(360)));
        assert_eq!(
            next_delay(&s, 2, -1.0, None),
            Some(Duration::from_secs(240))
        );
        assert_eq!(next_delay(&s, 2, 7.0, None), Some(Duration::from_secs(360)));
    }

    #[test]
    fn retry_after_is_clamped_to_the_window() {
        let s = default_schedule();
        let d = |ra| next_delay(&s, 1, 0.0, Some(Duration::from_secs(ra)));
        assert_eq!(d(5), Some(Duration::from_secs(60)));
        assert_eq!(d(90), Some(Duration::from_secs(90)));
        assert_eq!(d(3600), Some(Duration::from_secs(120)));
    }

    #[test]
    fn long_waits_chain_through_sqs() {
        assert_eq!(sqs_delay(Duration::from_secs(30)), Duration::from_secs(30));
        assert_eq!(sqs_delay(Duration::from_secs(7200)), MAX_SQS_DELAY);
        assert_eq!(
            sqs_delay(Duration::from_millis(4_200)),
            Duration::from_secs(5),
            "never early"
        );
    }

    #[test]
    fn schedules_parse() {
        assert_eq!(
            parse_schedule("1m,5m,30m,2h,8h,24h").unwrap(),
            default_schedule()
        );
        assert_eq!(
            parse_schedule("10s, 1d").unwrap(),
            vec![Duration::from_secs(10), Duration::from_secs(86_400)]
        );
        assert!(parse_schedule("1x").is_err());
        assert!(parse_schedule("").is_err());
    }
}
