//! What `burstline dev` prints once it is ready: where everything is, and commands to paste.
//! The first line is stable (`burstline dev ready at <url>`) so scripts can wait for it.

use super::seed::Seeded;
use std::io::Write;

/// What the banner shows.
#[derive(Debug)]
pub struct Banner<'a> {
    /// `http://host:port`.
    pub base_url: &'a str,
    /// The backends in use.
    pub backend: &'a str,
    /// The AWS model in use (`--aws-model`), and where its latency table came from.
    pub model: &'a str,
    /// The demo tenant, key and endpoint.
    pub seeded: &'a Seeded,
}

/// Prints the banner to stdout.
pub fn print(b: &Banner<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(render(b).as_bytes());
    let _ = out.flush();
}

fn render(b: &Banner<'_>) -> String {
    let url = b.base_url;
    let key = b.seeded.key.expose();
    let tenant = &b.seeded.tenant;
    let endpoint = &b.seeded.endpoint.id;
    format!(
        r#"burstline dev ready at {url}

  demo page   {url}/
  ingest      POST {url}/v1/events
  api         {url}/v1/endpoints   {url}/v1/tasks/{{task_id}}
  stream      GET  {url}/v1/tasks/{{task_id}}/events   (SSE)
  reference   {url}/docs   (OpenAPI 3.1: {url}/openapi.json)
  inspector   {url}/dev/inspector/webhook   (endpoint {endpoint}, signatures verified)
  backends    {backend}
  aws model   {model}
  tenant      {tenant}
  API key     {key}   (ingest, stream, manage)

Try it:
  export BURSTLINE_URL={url} BURSTLINE_API_KEY={key}

  curl -sS $BURSTLINE_URL/v1/events -H "authorization: Bearer $BURSTLINE_API_KEY" \
    -H 'content-type: application/json' \
    -d '{{"events":[{{"task_id":"hello","type":"task.started"}},{{"task_id":"hello","type":"task.completed","data":{{"ok":true}}}}]}}'

  burstline tail hello --url $BURSTLINE_URL
  burstline simulate --tasks 10 --tools 12 --steps 3

  // In a browser console (EventSource sends no headers: mint a stream token first)
  const t = await (await fetch('{url}/v1/tasks/hello/stream-tokens',
    {{method: 'POST', headers: {{authorization: 'Bearer {key}'}}}})).json();
  const es = new EventSource(t.url);
  for (const type of ['task.started', 'task.completed'])
    es.addEventListener(type, (e) => console.log(e.lastEventId, type, JSON.parse(e.data)));

Logs: BURSTLINE_LOG=info. Ctrl-C drains in-flight deliveries and stops.
"#,
        backend = b.backend,
        model = b.model,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use burstline::apikey::ApiKey;
    use burstline::ids::TenantId;

    #[tokio::test]
    async fn the_first_line_names_the_url_and_snippets_carry_the_key() {
        let store = burstline::tenants::memory::MemoryTenants::new(
            burstline::requests::RequestCounter::default(),
        );
        let key = ApiKey::generate().unwrap();
        let seeded = super::super::seed::seed(
            &store,
            &store,
            &TenantId::parse("demo").unwrap(),
            Some(key.clone()),
            "http://127.0.0.1:9/dev/inspector/webhook",
        )
        .await
        .unwrap();
        let text = render(&Banner {
            base_url: "http://127.0.0.1:9",
            backend: "in memory",
            model: "off",
            seeded: &seeded,
        });
        assert_eq!(
            text.lines().next(),
            Some("burstline dev ready at http://127.0.0.1:9")
        );
        assert!(text.contains(&format!("BURSTLINE_API_KEY={}", key.expose())));
        assert!(text.contains("http://127.0.0.1:9/v1/tasks/hello/stream-tokens"));
        assert!(text.contains("http://127.0.0.1:9/docs"));
    }
}
