//! The JSON error every HTTP route returns (SPEC §3):
//! `{"error":{"code":"invalid_event","message":"…","field":"events[3].type"}}`.

use serde::Serialize;

/// An HTTP-facing error: status, stable machine code, human message and the offending field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// Stable, documented code clients can branch on.
    pub code: &'static str,
    /// What went wrong, for a human.
    pub message: String,
    /// JSON path of the field at fault, when one is.
    pub field: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    /// A new error without a field.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// Names the field at fault.
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 422 `invalid_event` for a field that breaks a rule.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(422, "invalid_event", message).at(field)
    }

    /// 401: no usable credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", message)
    }

    /// 403: credentials valid but not allowed to do this.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(403, code, message)
    }

    /// 404 for an unknown route or resource.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }

    /// The `{"error":{…}}` body as a JSON value.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(Body {
            error: Inner {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        })
        .unwrap_or(serde_json::Value::Null)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_matches_the_spec_shape() {
        let e = ApiError::invalid("events[3].type", "bad type");
        assert_eq!(
            e.to_json(),
            serde_json::json!({"error":{"code":"invalid_event","message":"bad type","field":"events[3].type"}})
        );
        let e = ApiError::unauthorized("missing key");
        assert_eq!(
            e.to_json(),
            serde_json::json!({"error":{"code":"unauthorized","message":"missing key"}})
        );
    }
}
