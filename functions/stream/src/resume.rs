//! Where a stream starts (SPEC §6): the `Last-Event-ID` header, else `?last_event_id=`, else
//! the start; `?from=now` tails only new events. Pure.

use burstline::api_error::ApiError;
use burstline::ids::Seq;

/// The resume point of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumePoint {
    /// Every event from seq 1.
    Start,
    /// Events after this seq (the last one the client saw).
    After(Seq),
    /// Only events committed after the stream opens.
    Now,
}

/// Decides the resume point from the header and the query parameters. An empty
/// `Last-Event-ID` counts as absent (EventSource sends none before its first id).
pub fn resume_point(
    header: Option<&str>,
    query: &[(String, String)],
) -> Result<ResumePoint, ApiError> {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    if let Some(id) = header.map(str::trim).filter(|v| !v.is_empty()) {
        return parse_seq(id, "Last-Event-ID").map(ResumePoint::After);
    }
    if let Some(id) = param("last_event_id") {
        return parse_seq(id, "last_event_id").map(ResumePoint::After);
    }
    match param("from") {
        None | Some("start") => Ok(ResumePoint::Start),
        Some("now") => Ok(ResumePoint::Now),
        Some(_) => {
            Err(ApiError::new(400, "invalid_request", "from must be 'now' or 'start'").at("from"))
        }
    }
}

/// The `Last-Event-ID` header as text. A value that is not UTF-8 is a 400, like any other
/// malformed id: ignoring it would restart the stream from the beginning and resend events the
/// client already has.
pub fn last_event_id(raw: Option<&[u8]>) -> Result<Option<&str>, ApiError> {
    raw.map(|bytes| {
        std::str::from_utf8(bytes).map_err(|_| {
            ApiError::new(400, "invalid_request", "must be text: the seq of an event")
                .at("Last-Event-ID")
        })
    })
    .transpose()
}

fn parse_seq(value: &str, field: &str) -> Result<Seq, ApiError> {
    value.parse().map(Seq).map_err(|_| {
        ApiError::new(
            400,
            "invalid_request",
            "must be the seq of an event this stream sent (a non-negative integer)",
        )
        .at(field)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn header_wins_then_query_then_from() {
        let both = q(&[("last_event_id", "5"), ("from", "now")]);
        assert_eq!(
            resume_point(Some("9"), &both),
            Ok(ResumePoint::After(Seq(9)))
        );
        assert_eq!(resume_point(None, &both), Ok(ResumePoint::After(Seq(5))));
        assert_eq!(
            resume_point(Some(""), &both),
            Ok(ResumePoint::After(Seq(5)))
        );
        assert_eq!(
            resume_point(None, &q(&[("from", "now")])),
            Ok(ResumePoint::Now)
        );
        assert_eq!(resume_point(None, &q(&[])), Ok(ResumePoint::Start));
        assert_eq!(
            resume_point(None, &q(&[("from", "start")])),
            Ok(ResumePoint::Start)
        );
        assert_eq!(
            resume_point(Some("0"), &q(&[])),
            Ok(ResumePoint::After(Seq(0)))
        );
    }

    #[test]
    fn malformed_ids_are_400_naming_the_source() {
        let e = resume_point(Some("abc"), &q(&[])).unwrap_err();
        assert_eq!((e.status, e.field.as_deref()), (400, Some("Last-Event-ID")));
        let e = resume_point(None, &q(&[("last_event_id", "-1")])).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("last_event_id"));
        let e = resume_point(None, &q(&[("from", "yesterday")])).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("from"));
    }

    #[test]
    fn a_header_that_is_not_text_is_400_not_a_restart() {
        assert_eq!(last_event_id(None), Ok(None));
        assert_eq!(last_event_id(Some(b"17")), Ok(Some("17")));
        let e = last_event_id(Some(b"\xc2")).unwrap_err();
        assert_eq!((e.status, e.field.as_deref()), (400, Some("Last-Event-ID")));
        // Text that is not a seq is refused by `resume_point`, as before.
        let text = last_event_id(Some("\u{84}".as_bytes())).unwrap();
        assert_eq!(resume_point(text, &q(&[])).unwrap_err().status, 400);
    }
}
