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

/// 422 for a field that breaks a rule.
pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(422, "invalid_request", message).at(field)
}
