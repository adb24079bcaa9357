//! The OpenAPI document (`docs/openapi.json`, served by `burstline dev` at `/openapi.json`)
//! and the routers cannot drift: every route in ingest's, stream's and api's route tables
//! (the tables their handlers dispatch through) is a documented operation with the same
//! method and path template, and every documented operation is such a route. The document
//! also validates as OpenAPI 3.1 with `openapi-spec-validator` (from `.venv`).

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

const DOC: &str = include_str!("../../docs/openapi.json");
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `(METHOD, path template)` of every route the three routers serve.
fn served() -> BTreeSet<(String, String)> {
    let ingest = ingest::ROUTES.iter().map(|r| (r.method, r.path));
    let stream = stream::ROUTES.iter().map(|r| (r.method, r.path));
    let api = api::ROUTES.iter().map(|r| (r.method, r.path));
    ingest
        .chain(stream)
        .chain(api)
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
        .collect()
}

/// `(METHOD, path template)` of every operation in the document.
fn documented() -> BTreeSet<(String, String)> {
    let doc: Value = serde_json::from_str(DOC).expect("docs/openapi.json is JSON");
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(move |m| (m.to_ascii_uppercase(), path.clone()))
        })
        .collect()
}

#[test]
fn every_served_route_is_documented_and_every_documented_operation_is_served() {
    let served = served();
    let documented = documented();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not in docs/openapi.json: {undocumented:?}\n\
         in docs/openapi.json but not served: {unserved:?}"
    );
    assert!(served.len() >= 13, "{served:?}");
}

#[test]
fn the_document_validates_as_openapi_3_1() {
    let validator =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/openapi-spec-validator");
    let doc = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    let out = std::process::Command::new(&validator)
        .arg(&doc)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}; run `make venv`", validator.display()));
    assert!(
        out.status.success(),
        "openapi-spec-validator:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
