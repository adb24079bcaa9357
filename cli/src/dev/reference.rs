//! The API reference: `docs/openapi.json`, the OpenAPI 3.1 document of every route ingest,
//! stream and api serve, at `/openapi.json`, and `/docs`, a self-contained page that renders
//! it (no CDN, no build step: the machine may be offline).
//!
//! The document is compiled in, so the binary always serves the document of its own routes;
//! `cli/tests/openapi.rs` checks it against the functions' route tables.

use axum::body::Body;
use axum::http::{HeaderValue, Response, header};

/// The OpenAPI document, byte for byte as committed.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");
/// The reference page: plain HTML and JavaScript that fetches `/openapi.json`.
const PAGE: &str = include_str!("reference.html");

/// `GET /openapi.json`.
pub fn openapi() -> Response<Body> {
    with_type(OPENAPI, "application/json")
}

/// `GET /docs`.
pub fn page() -> Response<Body> {
    with_type(PAGE, "text/html; charset=utf-8")
}

fn with_type(body: &'static str, content_type: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_json_and_openapi_3_1() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(PAGE.contains("fetch(\"/openapi.json\")"));
    }
}
