//! `burstline simulate`: a load generator that runs simulated agent tasks against any
//! Burstline and checks the guarantees end to end: every accepted event is stored once (task
//! status), streams deliver seqs 1..n in order (SSE, a sample of tasks), and webhooks arrive
//! signed (a receiver on 127.0.0.1). Prints throughput, latencies and a verdict.
//!
//! # Layout
//! - [`plan`]: the pure task generator (also behind `burstline dev`'s demo button).
//! - [`producer`]: posting a plan at its offsets, noting each event's commit instant.
//! - `watch`: following a task over SSE, checking seqs.
//! - `hooks`: the webhook receiver and its endpoint.
//! - `status`: each task's stored `last_seq`.
//! - `stats`: percentiles, the summary and the verdict.
//! - `cost`: fanout lag and modeled cost from a dev stack's `/dev/meter`.

mod cost;
mod hooks;
pub mod plan;
pub mod producer;
mod stats;
mod status;
mod watch;

use anyhow::{Context, bail};
use clap::Args;
use hooks::{HookLog, Receiver};
use indicatif::{ProgressBar, ProgressStyle};
use plan::{Post, Shape, agent_task, event_count};
use stats::{Latency, StreamStats, Summary, WebhookStats};
use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use watch::{StreamLog, StreamTarget};

/// Streams open at once at most (the default tenant budget, SPEC §6).
const MAX_WATCH: u64 = 100;
/// Waits (after registering the endpoint) for one probe event's webhook.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// `burstline simulate …`
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES, after_long_help = EXAMPLES)]
pub struct SimulateArgs {
    /// Agent tasks to run.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    tasks: u64,
    /// Parallel tool calls per step; 0 picks 8–20 per step at random.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u64).range(0..=1000))]
    tools: u64,
    /// Reasoning steps per task.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(0..=100))]
    steps: u64,
    /// token.delta events per step.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    tokens: u64,
    /// Tokens per second while a step streams its answer.
    #[arg(long, default_value_t = 50.0)]
    token_rate: f64,
    /// Tasks running at once.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    concurrency: u64,
    /// Tasks followed over SSE, spread over the run [default: min(tasks, 20)]. At most 100,
    /// the default per-tenant stream budget; a 429 is waited out.
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=MAX_WATCH))]
    watch: Option<u64>,
    /// Seconds to wait, once everything is sent, for streams, webhooks and the store.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Do not register an endpoint or check webhooks.
    #[arg(long)]
    no_webhooks: bool,
    /// Public URL that reaches the local receiver (a tunnel to --receiver-port), for a
    /// deployed target; needed for webhooks unless the target is on loopback.
    #[arg(long, conflicts_with = "no_webhooks")]
    receiver_url: Option<String>,
    /// Port of the local webhook receiver on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    receiver_port: u16,
    /// Register the endpoint with batching: up to this many events per webhook.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    webhook_batch: Option<u32>,
    /// Seconds to wait after the probe webhook, for every fanout instance's subscription cache
    /// to see the new endpoint [default: 0 on loopback, else 10].
    #[arg(long)]
    settle: Option<u64>,
    /// Seed of the plans (printed, so a run can be repeated) [default: random].
    #[arg(long)]
    seed: Option<u64>,
    /// Task ids are `<prefix>-<n>` [default: sim-<ulid>].
    #[arg(long)]
    task_prefix: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// No progress bar or phase lines on stderr.
    #[arg(long, short)]
    quiet: bool,
    /// Base URL of ingest and the api (`burstline dev` serves both at one origin).
    #[arg(long, env = "BURSTLINE_URL")]
    url: Option<String>,
    /// Base URL of the stream function [default: --url].
    #[arg(long, env = "BURSTLINE_STREAM_URL")]
    stream_url: Option<String>,
    /// An API key with the ingest, stream and manage scopes.
    #[arg(long, env = "BURSTLINE_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

const EXAMPLES: &str = "\
Examples:
  export BURSTLINE_URL=http://127.0.0.1:8787 BURSTLINE_API_KEY=bl_…
  burstline simulate                                   # 10 tasks, 12 tools, 3 steps
  burstline simulate --tasks 1000 --concurrency 200 --watch 50
  burstline simulate --tasks 5 --tools 8 --steps 2 --json
  burstline simulate --url https://ingest… --stream-url https://stream… \\
    --receiver-url https://abc.ngrok.app/hook --receiver-port 9000

The key needs the ingest, stream and manage scopes (manage registers a temporary webhook
endpoint, deleted at the end). Exits 1 if any event was lost, duplicated, out of order, or
still missing when --timeout ran out.";

/// Where everything goes.
#[derive(Debug, Clone)]
struct Target {
    url: String,
    stream_url: String,
    api_key: String,
}

/// Runs the simulation, prints the summary, and fails if a guarantee was broken.
pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let url = args
        .url
        .clone()
        .context("set --url or BURSTLINE_URL to Burstline's address")?;
    let target = Target {
        stream_url: args.stream_url.clone().unwrap_or_else(|| url.clone()),
        api_key: args.api_key.clone().context(
            "set --api-key or BURSTLINE_API_KEY (a key with the ingest, stream and manage scopes)",
        )?,
        url,
    };
    if !(args.token_rate > 0.0 && args.token_rate.is_finite()) {
        bail!("--token-rate must be a positive number");
    }
    let loopback = is_loopback(&target.url)?;
    let seed = args.seed.unwrap_or_else(|| ulid::Ulid::new().0 as u64);
    let prefix = args
        .task_prefix
        .clone()
        .unwrap_or_else(|| format!("sim-{}", ulid::Ulid::new().to_string().to_lowercase()));
    let shape = Shape {
        tools: args.tools as usize,
        steps: args.steps as usize,
        tokens_per_step: args.tokens as usize,
        tokens_per_second: args.token_rate,
    };
    let tasks: Vec<(String, Vec<Post>)> = (0..args.tasks)
        .map(|i| {
            let id = format!("{prefix}-{i}");
            let posts = agent_task(&id, &shape, seed);
            (id, posts)
        })
        .collect();
    let say = |line: String| {
        if !args.quiet {
            eprintln!("{line}");
        }
    };
    say(format!(
        "simulate: {} task(s) {prefix}-*, {} events, seed {seed}",
        tasks.len(),
        tasks.iter().map(|(_, p)| event_count(p)).sum::<usize>()
    ));
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;

    let webhooks = match (args.no_webhooks, &args.receiver_url, loopback) {
        (true, _, _) => Err("--no-webhooks".to_owned()),
        (false, None, false) => {
            Err("the target is not on loopback; pass --receiver-url to check them".to_owned())
        }
        (false, public, _) => Ok(public.clone()),
    };
    let (receiver, endpoint) = match webhooks {
        Err(why) => (Err(why), None),
        Ok(public) => {
            let rx = Receiver::start(args.receiver_port).await?;
            let hook_url = public.unwrap_or_else(|| rx.local_url.clone());
            let ep = hooks::register(
                &client,
                &target.url,
                &target.api_key,
                &hook_url,
                args.webhook_batch,
            )
            .await?;
            rx.set_secret(ep.secret.clone());
            say(format!("webhooks: endpoint {} → {hook_url}", ep.id));
            (Ok(rx), Some(ep.id))
        }
    };
    let work = async {
        if let Ok(rx) = &receiver {
            probe(&client, &target, &prefix, rx).await?;
            let settle = args.settle.unwrap_or(if loopback { 0 } else { 10 });
            if settle > 0 {
                say(format!("waiting {settle}s for fanout to see the endpoint"));
                tokio::time::sleep(Duration::from_secs(settle)).await;
            }
        }
        simulate(&args, &target, &client, tasks, receiver.as_ref()).await
    };
    // Ctrl-C still deletes the temporary endpoint.
    let result = tokio::select! {
        r = work => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    if let Some(id) = endpoint
        && let Err(e) = hooks::unregister(&client, &target.url, &target.api_key, &id).await
    {
        eprintln!("warning: {e:#}");
    }
    let summary = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary.json())?);
    } else {
        println!("{}", summary.text());
    }
    let problems = summary.problems();
    if !problems.is_empty() {
        bail!("{}", problems.join(", "));
    }
    Ok(())
}

/// Sends one terminal event of a throwaway task until its webhook arrives: proves the
/// receiver is reachable and that fanout routes to the new endpoint (its subscription cache
/// may hold the tenant's old list for a few seconds).
async fn probe(
    client: &reqwest::Client,
    target: &Target,
    prefix: &str,
    rx: &Receiver,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let log = rx.log();
    for n in 0.. {
        let task = format!("{prefix}-probe-{n}");
        let id = plan::event_id(&task, 0);
        let event = serde_json::json!({"id": id, "type": "task.completed", "task_id": task,
            "data": {"probe": true}});
        let posts = vec![Post {
            at: Duration::ZERO,
            events: vec![event],
        }];
        producer::run_task(
            client,
            &target.url,
            &target.api_key,
            &task,
            posts,
            |_| {},
            || {},
        )
        .await?;
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until {
            if log.lock().is_ok_and(|l| l.arrivals.contains_key(&id)) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if Instant::now() > deadline {
            bail!(
                "no webhook reached the receiver within {}s of sending a probe event (is \
                 deliver running, and is the receiver URL reachable from it?); pass \
                 --no-webhooks to skip them",
                PROBE_TIMEOUT.as_secs()
            );
        }
    }
    Ok(())
}

/// Everything after setup: send, wait, check, summarise.
async fn simulate(
    args: &SimulateArgs,
    target: &Target,
    client: &reqwest::Client,
    tasks: Vec<(String, Vec<Post>)>,
    receiver: Result<&Receiver, &String>,
) -> anyhow::Result<Summary> {
    let n = tasks.len();
    let planned: usize = tasks.iter().map(|(_, p)| event_count(p)).sum();
    let watch_n = args.watch.unwrap_or(20).min(n as u64) as usize;
    let watched: HashSet<usize> = (0..watch_n).map(|k| k * n / watch_n.max(1)).collect();
    let bar = progress(planned, args.quiet);
    let stream_target = StreamTarget {
        client: reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()?,
        url: target.stream_url.clone(),
        api_key: target.api_key.clone(),
    };

    // Send: tasks start as slots free up; watchers start with their task.
    let slots = Arc::new(tokio::sync::Semaphore::new(args.concurrency as usize));
    let mut running = tokio::task::JoinSet::new();
    let resent = Arc::new(AtomicUsize::new(0));
    let mut watchers = Vec::new();
    let mut logs: Vec<(String, Arc<Mutex<StreamLog>>)> = Vec::new();
    let meter_start = cost::read(client, &target.url, None).await;
    let send_start = Instant::now();
    for (i, (id, posts)) in tasks.into_iter().enumerate() {
        let slot = slots.clone().acquire_owned().await?;
        if watched.contains(&i) {
            let log = Arc::new(Mutex::new(StreamLog::default()));
            logs.push((id.clone(), log.clone()));
            watchers.push(tokio::spawn(watch::watch(
                stream_target.clone(),
                id.clone(),
                log,
            )));
        }
        let (client, target, bar) = (client.clone(), target.clone(), bar.clone());
        let resent = Arc::clone(&resent);
        running.spawn(async move {
            let _slot = slot;
            let on = |k: usize| bar.inc(k as u64);
            let again = || {
                resent.fetch_add(1, Ordering::Relaxed);
            };
            let result =
                producer::run_task(&client, &target.url, &target.api_key, &id, posts, on, again)
                    .await;
            (id, result)
        });
    }
    let mut accepted: HashMap<String, Vec<producer::Accepted>> = HashMap::new();
    let mut failed_tasks = Vec::new();
    while let Some(done) = running.join_next().await {
        match done? {
            (id, Ok(events)) => {
                accepted.insert(id, events);
            }
            (id, Err(e)) => {
                bar.suspend(|| eprintln!("warning: {e:#}"));
                failed_tasks.push(id);
            }
        }
    }
    let all = || accepted.values().flatten();
    let send_end = all().map(|a| a.at).max().unwrap_or(send_start);
    let commits: HashMap<&str, Instant> = all().map(|a| (a.id.as_str(), a.at)).collect();

    // Wait for streams and webhooks.
    bar.set_message("waiting for streams and webhooks");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let stream_expected: Vec<(Arc<Mutex<StreamLog>>, usize)> = logs
        .iter()
        .filter_map(|(id, log)| Some((log.clone(), accepted.get(id)?.len())))
        .collect();
    let hook_log = receiver.ok().map(Receiver::log);
    let timed_out = loop {
        let streams_done = stream_expected.iter().all(|(log, expected)| {
            log.lock()
                .is_ok_and(|l| l.finished || l.received() >= *expected)
        });
        let hooks_done = hook_log.as_ref().is_none_or(|h| {
            h.lock()
                .is_ok_and(|h| commits.keys().all(|id| h.arrivals.contains_key(*id)))
        });
        if streams_done && hooks_done {
            break false;
        }
        if tokio::time::Instant::now() >= deadline {
            break true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for w in &watchers {
        w.abort();
    }
    let lag_since = meter_start
        .as_ref()
        .and_then(|m| m["elapsed_seconds"].as_f64());
    let meter_end = match meter_start {
        Some(_) => cost::read(client, &target.url, lag_since).await,
        None => None,
    };
    let cost = cost::report(meter_start.as_ref(), meter_end.as_ref());

    // The store: every task's last_seq against what it sent.
    bar.set_message("checking the store");
    let check_deadline = deadline.max(tokio::time::Instant::now() + Duration::from_secs(10));
    let (stored_tasks, store_lost, store_extra) =
        check_store(client, target, &accepted, check_deadline).await?;
    bar.finish_and_clear();

    let streams = stream_stats(&logs, &accepted, &commits);
    let webhooks = match (receiver, hook_log) {
        (Ok(_), Some(h)) => hook_stats(&h, &commits),
        (Err(why), _) => WebhookStats::Skipped(why.clone()),
        (Ok(_), None) => WebhookStats::Skipped("no receiver".into()),
    };
    Ok(Summary {
        tasks: n,
        failed_tasks,
        events_planned: planned,
        events_accepted: commits.len(),
        resent_posts: resent.load(Ordering::Relaxed),
        send_time: send_end.saturating_duration_since(send_start),
        streams,
        webhooks,
        stored_tasks,
        store_lost,
        store_extra,
        timed_out,
        cost,
    })
}

/// Reads every task's `last_seq` (16 at a time): `(tasks read, lost, extra)`.
async fn check_store(
    client: &reqwest::Client,
    target: &Target,
    accepted: &HashMap<String, Vec<producer::Accepted>>,
    deadline: tokio::time::Instant,
) -> anyhow::Result<(usize, usize, usize)> {
    use futures_util::StreamExt;
    let reads = futures_util::stream::iter(accepted.iter().map(|(id, events)| async move {
        let expected = events.len() as u64;
        let seen =
            status::last_seq(client, &target.url, &target.api_key, id, expected, deadline).await?;
        anyhow::Ok((expected, seen))
    }))
    .buffer_unordered(16)
    .collect::<Vec<_>>()
    .await;
    let (mut lost, mut extra) = (0, 0);
    for r in &reads {
        let (expected, seen) = r.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
        lost += expected.saturating_sub(*seen) as usize;
        extra += seen.saturating_sub(*expected) as usize;
    }
    Ok((reads.len(), lost, extra))
}

fn stream_stats(
    logs: &[(String, Arc<Mutex<StreamLog>>)],
    accepted: &HashMap<String, Vec<producer::Accepted>>,
    commits: &HashMap<&str, Instant>,
) -> StreamStats {
    let mut s = StreamStats::default();
    let mut samples = Vec::new();
    for (id, log) in logs {
        let Some(events) = accepted.get(id) else {
            continue; // the task failed to post: reported as such
        };
        let Ok(log) = log.lock() else { continue };
        s.tasks += 1;
        s.expected += events.len();
        s.received += log.received();
        s.duplicates += log.duplicates;
        s.out_of_order += log.out_of_order;
        if !log.finished
            && let Some(e) = &log.last_error
        {
            eprintln!("warning: stream of {id} did not finish: {e}");
        }
        samples.extend(log.arrivals.iter().filter_map(|(event, at)| {
            Some(at.saturating_duration_since(*commits.get(event.as_str())?))
        }));
    }
    s.latency = Latency::of(samples);
    s
}

fn hook_stats(log: &Mutex<HookLog>, commits: &HashMap<&str, Instant>) -> WebhookStats {
    let Ok(log) = log.lock() else {
        return WebhookStats::Skipped("receiver log unavailable".into());
    };
    let samples: Vec<Duration> = commits
        .iter()
        .filter_map(|(id, commit)| Some(log.arrivals.get(*id)?.saturating_duration_since(*commit)))
        .collect();
    WebhookStats::Checked {
        expected: commits.len(),
        delivered: samples.len(),
        redeliveries: log.redeliveries,
        bad_signatures: log.bad_signatures,
        latency: Latency::of(samples),
    }
}

fn progress(total: usize, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} events accepted ({per_sec}) {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Whether `url` points at this machine (then the receiver on 127.0.0.1 is reachable).
fn is_loopback(url: &str) -> anyhow::Result<bool> {
    let parsed = url::Url::parse(url).with_context(|| format!("--url {url:?} is not a URL"))?;
    Ok(match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_targets_are_recognised() {
        assert!(is_loopback("http://127.0.0.1:8787").unwrap());
        assert!(is_loopback("http://localhost:1").unwrap());
        assert!(is_loopback("http://[::1]:1/").unwrap());
        assert!(!is_loopback("https://abc.lambda-url.us-east-1.on.aws").unwrap());
        assert!(is_loopback("not a url").is_err());
    }
}
