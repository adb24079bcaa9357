//! `burstline endpoints`: manage webhook endpoints through the api.

use anyhow::{Context, bail};
use burstline::endpoint_limits::DEFAULT_MAX_IN_FLIGHT;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

/// How to reach the api.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The api's base URL (the stack output `ApiUrl`, or `burstline dev`'s address).
    #[arg(long = "api-url", env = "BURSTLINE_URL", global = true)]
    api_url: Option<String>,
    /// An API key with the `manage` scope.
    #[arg(
        long = "api-key",
        env = "BURSTLINE_API_KEY",
        global = true,
        hide_env_values = true
    )]
    api_key: Option<String>,
}

/// `burstline endpoints …`
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  burstline endpoints add --url https://example.com/hooks --filter 'tool_call.*'\n  burstline endpoints list\n  burstline endpoints rotate ep_01JD…\n  burstline endpoints enable ep_01JD…\n  burstline endpoints add --url https://example.com/hooks --header 'Authorization: Bearer …'"
)]
pub struct EndpointsArgs {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: EndpointsCommand,
}

#[derive(Debug, Subcommand)]
enum EndpointsCommand {
    /// Register an endpoint; prints its signing secret once.
    Add {
        /// https URL to POST to.
        #[arg(long)]
        url: String,
        /// Event-type filter (repeatable); `*` globs allowed. Default: every event.
        #[arg(long = "filter")]
        filters: Vec<String>,
        /// Free-text description.
        #[arg(long)]
        description: Option<String>,
        /// Opt in to batching: events per POST (1-100).
        #[arg(long)]
        batch_max_events: Option<u32>,
        /// With batching: longest wait to fill a batch, in ms (0-1000).
        #[arg(long, requires = "batch_max_events")]
        batch_max_wait_ms: Option<u32>,
        /// A static header sent with every webhook, as `Name: value` (repeatable), e.g.
        /// `--header 'Authorization: Bearer …'`. Write-only: listed by name, never by value.
        #[arg(long = "header", value_name = "NAME: VALUE")]
        headers: Vec<String>,
        /// Most requests per second it receives, across all deliver invocations (1-10000;
        /// default: no rate limit).
        #[arg(long)]
        rate_limit: Option<u32>,
        /// Most requests in flight to it at once, across all deliver invocations (1-32;
        /// default: a fair share of each deliver invocation's 32 job slots, 8 or more).
        #[arg(long)]
        max_in_flight: Option<u32>,
    },
    /// Change an endpoint's static headers; the others stay as they are.
    #[command(
        after_help = "Examples:\n  burstline endpoints headers ep_01JD… --set 'Authorization: Bearer new-token'\n  burstline endpoints headers ep_01JD… --remove x-team\n  burstline endpoints headers ep_01JD… --clear"
    )]
    Headers {
        /// Endpoint id.
        id: String,
        /// Add or replace a header, as `Name: value` (repeatable).
        #[arg(long = "set", value_name = "NAME: VALUE")]
        set: Vec<String>,
        /// Remove a header by name (repeatable).
        #[arg(long = "remove", value_name = "NAME")]
        remove: Vec<String>,
        /// Remove every static header.
        #[arg(long, conflicts_with_all = ["set", "remove"])]
        clear: bool,
    },
    /// Set an endpoint's limits; `default` puts one back to its default.
    #[command(
        after_help = "Example:\n  burstline endpoints limit ep_01JD4Z6Q8K3M2N7P9R5T0V1W2X --rate-limit 20 --max-in-flight 4"
    )]
    Limit {
        /// Endpoint id.
        id: String,
        /// Requests per second (1-10000), or `default` (no rate limit).
        #[arg(long)]
        rate_limit: Option<String>,
        /// Requests in flight at once (1-32), or `default` (a fair share per deliver invocation).
        #[arg(long)]
        max_in_flight: Option<String>,
    },
    /// List endpoints.
    #[command(after_help = "Example:\n  burstline endpoints list --api-url $BURSTLINE_URL")]
    List,
    /// Rotate an endpoint's secret; the old one keeps signing during the overlap.
    #[command(after_help = "Example:\n  burstline endpoints rotate ep_01JD4Z6Q8K3M2N7P9R5T0V1W2X")]
    Rotate {
        /// Endpoint id.
        id: String,
    },
    /// Re-enable an endpoint (after it was disabled by hand, by 410 Gone, or for failing).
    #[command(after_help = "Example:\n  burstline endpoints enable ep_01JD4Z6Q8K3M2N7P9R5T0V1W2X")]
    Enable {
        /// Endpoint id.
        id: String,
    },
}

/// Runs an endpoints command.
pub async fn run(args: EndpointsArgs) -> anyhow::Result<()> {
    let base = args
        .api
        .api_url
        .context("set --api-url or BURSTLINE_URL to the api's address")?;
    let key = args
        .api
        .api_key
        .context("set --api-key or BURSTLINE_API_KEY (a key with the manage scope)")?;
    let client = reqwest::Client::new();
    let base = base.trim_end_matches('/');
    let (method, path, body) = match &args.command {
        EndpointsCommand::Add {
            url,
            filters,
            description,
            batch_max_events,
            batch_max_wait_ms,
            headers,
            rate_limit,
            max_in_flight,
        } => {
            let mut body = json!({"url": url});
            if !filters.is_empty() {
                body["filters"] = json!(filters);
            }
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            if let Some(n) = batch_max_events {
                body["batching"] =
                    json!({"max_events": n, "max_wait_ms": batch_max_wait_ms.unwrap_or(0)});
            }
            if !headers.is_empty() {
                body["headers"] = header_object(headers, &[])?;
            }
            if let Some(n) = rate_limit {
                body["rate_limit"] = json!(n);
            }
            if let Some(n) = max_in_flight {
                body["max_in_flight"] = json!(n);
            }
            (
                reqwest::Method::POST,
                "/v1/endpoints".to_owned(),
                Some(body),
            )
        }
        EndpointsCommand::List => (reqwest::Method::GET, "/v1/endpoints".to_owned(), None),
        EndpointsCommand::Headers {
            id,
            set,
            remove,
            clear,
        } => {
            let headers = if *clear {
                Value::Null
            } else if set.is_empty() && remove.is_empty() {
                bail!("give --set, --remove or --clear");
            } else {
                header_object(set, remove)?
            };
            (
                reqwest::Method::PATCH,
                format!("/v1/endpoints/{id}"),
                Some(json!({ "headers": headers })),
            )
        }
        EndpointsCommand::Limit {
            id,
            rate_limit,
            max_in_flight,
        } => {
            let mut body = json!({});
            for (field, value) in [("rate_limit", rate_limit), ("max_in_flight", max_in_flight)] {
                if let Some(v) = value {
                    body[field] = limit_value(field, v)?;
                }
            }
            (
                reqwest::Method::PATCH,
                format!("/v1/endpoints/{id}"),
                Some(body),
            )
        }
        EndpointsCommand::Rotate { id } => (
            reqwest::Method::POST,
            format!("/v1/endpoints/{id}/rotate-secret"),
            None,
        ),
        EndpointsCommand::Enable { id } => (
            reqwest::Method::POST,
            format!("/v1/endpoints/{id}/enable"),
            None,
        ),
    };
    let mut request = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(key);
    if let Some(b) = body {
        request = request
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("calling {base}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if !status.is_success() {
        let message = value["error"]["message"]
            .as_str()
            .unwrap_or("request failed");
        let field = value["error"]["field"]
            .as_str()
            .map(|f| format!(" (field {f})"))
            .unwrap_or_default();
        bail!("{status}: {message}{field}");
    }
    match args.command {
        EndpointsCommand::Add { .. } => {
            println!("{}", serde_json::to_string_pretty(&value)?);
            eprintln!("Store the secret now: it is shown only this once.");
        }
        EndpointsCommand::List => {
            for ep in value["endpoints"].as_array().into_iter().flatten() {
                let state = if ep["enabled"].as_bool() == Some(true) {
                    match ep["paused"]["until"].as_str() {
                        Some(until) => format!(
                            "paused until {until} ({})",
                            ep["paused"]["reason"].as_str().unwrap_or("?")
                        ),
                        None => "enabled".to_owned(),
                    }
                } else {
                    format!(
                        "disabled ({})",
                        ep["disabled"]["reason"].as_str().unwrap_or("?")
                    )
                };
                let filters: Vec<&str> = ep["filters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let headers: Vec<&str> = ep["header_names"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let headers = if headers.is_empty() {
                    String::new()
                } else {
                    format!("  headers: {}", headers.join(", "))
                };
                println!(
                    "{}  {}  {}  [{}]  {}{}",
                    ep["id"].as_str().unwrap_or(""),
                    state,
                    ep["url"].as_str().unwrap_or(""),
                    filters.join(", "),
                    limits_text(ep),
                    headers
                );
            }
        }
        EndpointsCommand::Rotate { .. } => {
            println!("{}", value["secret"].as_str().unwrap_or(""));
            eprintln!(
                "New secret shown once. The previous one keeps signing until {}.",
                value["previous_expires_at"]
                    .as_str()
                    .unwrap_or("the overlap ends")
            );
        }
        EndpointsCommand::Enable { .. } => {
            println!("enabled {}", value["id"].as_str().unwrap_or(""))
        }
        EndpointsCommand::Headers { .. } => {
            let names: Vec<&str> = value["header_names"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            println!(
                "{}  headers: {}",
                value["id"].as_str().unwrap_or(""),
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            );
        }
        EndpointsCommand::Limit { .. } => println!(
            "{}  {}",
            value["id"].as_str().unwrap_or(""),
            limits_text(&value)
        ),
    }
    Ok(())
}

/// An endpoint's limits as `endpoints list` and `limit` show them; unset limits are the
/// defaults (no rate limit; a fair share of each deliver invocation's 32 job slots, 8 or more).
fn limits_text(ep: &Value) -> String {
    let rate = ep["rate_limit"]
        .as_u64()
        .map_or("no rate limit".to_owned(), |n| format!("{n}/s"));
    let in_flight = ep["max_in_flight"].as_u64().map_or(
        format!("fair share in flight per invocation (≥ {DEFAULT_MAX_IN_FLIGHT})"),
        |n| format!("{n} in flight"),
    );
    format!("{rate}, {in_flight}")
}

/// A limit as typed: a whole number, or `default` (sent as null).
fn limit_value(field: &str, v: &str) -> anyhow::Result<Value> {
    if v == "default" {
        return Ok(Value::Null);
    }
    v.parse::<u64>()
        .map(|n| json!(n))
        .with_context(|| format!("--{}: a whole number or `default`", field.replace('_', "-")))
}

/// The api's `headers` object: each `Name: value` of `set` as a string, each name of `remove`
/// as null. The api checks names and values; this only splits them.
fn header_object(set: &[String], remove: &[String]) -> anyhow::Result<Value> {
    let mut out = serde_json::Map::new();
    for pair in set {
        let (name, value) = pair
            .split_once(':')
            .with_context(|| format!("header {pair:?} is not `Name: value`"))?;
        out.insert(name.trim().to_owned(), json!(value.trim()));
    }
    for name in remove {
        out.insert(name.trim().to_owned(), Value::Null);
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_flags_become_the_api_object() {
        let v = header_object(
            &["Authorization: Bearer a:b".into(), "X-Team:ops".into()],
            &["x-old".into()],
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"Authorization": "Bearer a:b", "X-Team": "ops", "x-old": null})
        );
        assert!(header_object(&["no colon".into()], &[]).is_err());
    }
}
