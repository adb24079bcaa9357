//! `template.yaml` agrees with the code: every function's environment is exactly the variables
//! its config struct reads, and the Function URLs are of the right kind.

use serde_norway::Value;
use std::collections::BTreeSet;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every function's (binary, environment variable names).
fn functions(t: &Value) -> Vec<(String, BTreeSet<String>)> {
    let resources = t["Resources"].as_mapping().unwrap();
    resources
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|r| {
            let binary = r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap()
                .to_owned();
            let vars = r["Properties"]["Environment"]["Variables"]
                .as_mapping()
                .map(|m| {
                    m.keys()
                        .filter_map(|k| k.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            (binary, vars)
        })
        .collect()
}

fn code_vars(binary: &str) -> Option<BTreeSet<String>> {
    let vars: &[&str] = match binary {
        "ingest" => &ingest::IngestConfig::VARS,
        "fanout" => &fanout::FanoutConfig::VARS,
        "deliver" => &deliver::DeliverConfig::VARS,
        "api" => &api::ApiConfig::VARS,
        "stream" => &stream::StreamConfig::VARS,
        _ => return None,
    };
    Some(vars.iter().map(|v| (*v).to_owned()).collect())
}

#[test]
fn every_function_sets_exactly_what_its_config_reads() {
    let fns = functions(&template());
    let names: BTreeSet<&str> = fns.iter().map(|(b, _)| b.as_str()).collect();
    for expected in ["ingest", "fanout", "deliver", "stream", "api"] {
        assert!(
            names.contains(expected),
            "template.yaml lacks the {expected} function"
        );
    }
    for (binary, set) in &fns {
        let read = code_vars(binary)
            .unwrap_or_else(|| panic!("no config struct known for function {binary}"));
        let unset: Vec<_> = read.difference(set).collect();
        let unread: Vec<_> = set.difference(&read).collect();
        assert!(
            unset.is_empty(),
            "{binary}: read but not set in template.yaml: {unset:?}"
        );
        assert!(
            unread.is_empty(),
            "{binary}: set in template.yaml but never read: {unread:?}"
        );
    }
}

#[test]
fn functions_share_one_build_and_runtime() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["Architectures"][0].as_str(), Some("arm64"));
    assert_eq!(globals["CodeUri"].as_str(), Some("."));
    for r in t["Resources"].as_mapping().unwrap().values() {
        if r["Type"].as_str() == Some("AWS::Serverless::Function") {
            assert_eq!(
                r["Metadata"]["BuildMethod"].as_str(),
                Some("rust-cargolambda")
            );
        }
    }
}

#[test]
fn the_stream_url_streams_and_allows_browser_headers() {
    let t = template();
    let f = &t["Resources"]["StreamFunction"]["Properties"];
    assert_eq!(
        f["FunctionUrlConfig"]["InvokeMode"].as_str(),
        Some("RESPONSE_STREAM")
    );
    let headers: Vec<&str> = f["FunctionUrlConfig"]["Cors"]["AllowHeaders"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|h| h.as_str())
        .collect();
    assert!(
        headers.contains(&"authorization") && headers.contains(&"last-event-id"),
        "{headers:?}"
    );
    for buffered in ["IngestFunction", "ApiFunction"] {
        let mode =
            t["Resources"][buffered]["Properties"]["FunctionUrlConfig"]["InvokeMode"].as_str();
        assert_eq!(mode, Some("BUFFERED"), "{buffered}");
    }
}
