//! Reading a task's stored `last_seq` through the api (`GET /v1/tasks/{id}`, SPEC §3): `200`
//! while running, `303 See Other` once finished (the body still carries `last_seq`; otherwise
//! the terminal event at the `Location` does).

use crate::send::json_body;
use anyhow::{Context, bail};
use std::time::Duration;
use tokio::time::Instant;

/// Pause between looks while fanout catches up.
const POLL: Duration = Duration::from_millis(100);

/// The task's `last_seq` (0 while the task is unknown), polled until it reaches `expected`
/// or `deadline` passes. `client` must not follow redirects.
pub async fn last_seq(
    client: &reqwest::Client,
    api: &str,
    api_key: &str,
    task_id: &str,
    expected: u64,
    deadline: Instant,
) -> anyhow::Result<u64> {
    loop {
        let seen = read(client, api, api_key, task_id).await?;
        if seen >= expected || Instant::now() + POLL > deadline {
            return Ok(seen);
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn read(
    client: &reqwest::Client,
    api: &str,
    api_key: &str,
    task_id: &str,
) -> anyhow::Result<u64> {
    let base = api.trim_end_matches('/');
    let response = client
        .get(format!("{base}/v1/tasks/{task_id}"))
        .bearer_auth(api_key)
        .send()
        .await
        .with_context(|| format!("reading task {task_id}"))?;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = json_body(response).await;
    match status {
        404 => Ok(0),
        200 | 303 if body["last_seq"].is_u64() => Ok(body["last_seq"].as_u64().unwrap_or(0)),
        303 => {
            let location = location.context("303 without a Location")?;
            let url = if location.starts_with('/') {
                format!("{base}{location}")
            } else {
                location
            };
            let terminal = json_body(client.get(url).bearer_auth(api_key).send().await?).await;
            terminal["seq"]
                .as_u64()
                .context("the task's result has no seq")
        }
        _ => bail!("task {task_id}: {status} {}", body["error"]["message"]),
    }
}
