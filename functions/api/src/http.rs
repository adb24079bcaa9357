//! Request parsing and JSON responses shared by the api routes.

use burstline::api_error::ApiError;
use lambda_http::http::{HeaderMap, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value};

/// A JSON response.
pub fn json(status: StatusCode, body: &Value) -> Response<Body> {
    let mut r = Response::new(Body::Text(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

/// An empty response.
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::Empty);
    *r.status_mut() = status;
    r
}

/// The SPEC's JSON error response.
pub fn error(e: &ApiError) -> Response<Body> {
    json(
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &e.to_json(),
    )
}

/// A header's value.
pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The body as a JSON object (415 unless JSON, 400 unless an object; empty means `{}`).
pub fn object_body(request: &Request) -> Result<Map<String, Value>, ApiError> {
    let bytes = request.body().as_ref();
    if bytes.is_empty() {
        return Ok(Map::new());
    }
    burstline::validate::check_content_type(header_str(request.headers(), "content-type"))?;
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::new(
            400,
            "malformed_json",
            "body must be a JSON object",
        )),
        Err(e) => Err(ApiError::new(
            400,
            "malformed_json",
            format!("body is not valid JSON: {e}"),
        )),
    }
}

/// A query parameter.
pub fn query(request: &Request, name: &str) -> Option<String> {
    let q = request.uri().query()?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A JSON number that is a whole number, as JSON Schema's `integer` means it (the document
/// says `integer`, and `38.0` is one): `Some(38)` for `38` and `38.0`, `None` for `38.5`,
/// negatives, non-numbers and anything beyond `u64`.
pub fn whole_number(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let f = v.as_f64()?;
    // 2^64 as f64 is exact; anything at or beyond it does not fit.
    (f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f)).then_some(f as u64)
}

/// 422 for a field that breaks a rule.
pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(422, "invalid_request", message).at(field)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_numbers_are_integers_in_any_json_spelling() {
        assert_eq!(whole_number(&json!(38)), Some(38));
        assert_eq!(whole_number(&json!(38.0)), Some(38));
        assert_eq!(whole_number(&json!(0.0)), Some(0));
        assert_eq!(whole_number(&json!(38.5)), None);
        assert_eq!(whole_number(&json!(-1)), None);
        assert_eq!(whole_number(&json!(-1.0)), None);
        assert_eq!(whole_number(&json!(1e300)), None);
        assert_eq!(whole_number(&json!("38")), None);
        assert_eq!(whole_number(&json!(null)), None);
    }
}
