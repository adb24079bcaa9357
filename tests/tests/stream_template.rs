//! `template.yaml`'s StreamFunction sets exactly the variables `StreamConfig` reads, and its
//! Function URL streams with the CORS headers browsers need.

use std::collections::BTreeSet;

fn template() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap()
}

/// The lines of a top-level resource's block.
fn resource<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|l| *l != format!("  {name}:"))
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with("   "))
        .collect()
}

#[test]
fn stream_function_environment_matches_its_config() {
    let text = template();
    let block = resource(&text, "StreamFunction");
    let vars: BTreeSet<&str> = block
        .iter()
        .skip_while(|l| l.trim() != "Variables:")
        .skip(1)
        .take_while(|l| l.starts_with("          "))
        .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k))
        .collect();
    let want: BTreeSet<&str> = stream::StreamConfig::VARS.into_iter().collect();
    assert_eq!(vars, want);
}

#[test]
fn stream_function_url_streams_and_allows_browser_headers() {
    let text = template();
    let block = resource(&text, "StreamFunction").join("\n");
    assert!(block.contains("InvokeMode: RESPONSE_STREAM"));
    assert!(block.contains("- authorization") && block.contains("- last-event-id"));
    assert!(block.contains("Binary: stream"));
}
