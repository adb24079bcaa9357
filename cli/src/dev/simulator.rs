//! The demo page's "Simulate agent task": a realistic burst (the same generator as
//! `burstline simulate`) posted through the dev stack's own ingest URL, in real time.

use crate::simulate::plan::{Shape, agent_task};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

/// Largest shape the page may ask for, so one click can't flood the machine.
const MAX_TOOLS: usize = 20;
const MAX_STEPS: usize = 10;

/// Starts simulated tasks against `base_url` with the demo key.
#[derive(Debug, Clone)]
pub struct Simulator {
    client: reqwest::Client,
    base_url: String,
    api_key: String,
}

/// The page's request; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SimulateRequest {
    task_id: Option<String>,
    tools: Option<usize>,
    steps: Option<usize>,
}

impl Simulator {
    /// A simulator posting to `base_url` with `api_key`.
    pub fn new(base_url: String, api_key: String) -> Self {
        Self {
            client: reqwest::Client::new(),
            base_url,
            api_key,
        }
    }

    /// Validates the request and starts the task in the background. Returns
    /// `{task_id, events}`, or the offending field and why.
    pub fn start(&self, body: &[u8]) -> Result<Value, (&'static str, String)> {
        let req: SimulateRequest = if body.iter().all(u8::is_ascii_whitespace) {
            SimulateRequest::default()
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ("body", format!("not a valid request: {e}")))?
        };
        let task_id = req
            .task_id
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| format!("sim-{}", ulid::Ulid::new().to_string().to_lowercase()));
        task_id
            .parse::<burstline::ids::TaskId>()
            .map_err(|e| ("task_id", format!("{task_id:?} {e}")))?;
        let mut shape = Shape::default();
        if let Some(t) = req.tools {
            if !(1..=MAX_TOOLS).contains(&t) {
                return Err(("tools", format!("must be 1..={MAX_TOOLS}")));
            }
            shape.tools = t;
        }
        if let Some(s) = req.steps {
            if !(1..=MAX_STEPS).contains(&s) {
                return Err(("steps", format!("must be 1..={MAX_STEPS}")));
            }
            shape.steps = s;
        }
        let seed = u64::from(ulid::Ulid::new().random() as u32);
        let posts = agent_task(&task_id, &shape, seed);
        let events: usize = posts.iter().map(|p| p.events.len()).sum();
        let this = self.clone();
        let id = task_id.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            for post in posts {
                tokio::time::sleep_until(started + post.at).await;
                if let Err(e) = this.post(&post.events).await {
                    tracing::warn!(task_id = %id, error = %e, "simulated task stopped");
                    return;
                }
            }
            tracing::info!(task_id = %id, "simulated task posted");
        });
        Ok(json!({ "task_id": task_id, "events": events }))
    }

    async fn post(&self, events: &[Value]) -> anyhow::Result<()> {
        let response = self
            .client
            .post(format!("{}/v1/events", self.base_url))
            .bearer_auth(&self.api_key)
            .timeout(Duration::from_secs(10))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&json!({ "events": events }))?)
            .send()
            .await?;
        if !response.status().is_success() {
            anyhow::bail!("ingest answered {}", response.status());
        }
        Ok(())
    }
}
