//! `burstline dev`: the whole stack in one process. The five functions run through the same
//! `handle` functions their Lambdas call; the Function URLs are emulated by one local HTTP
//! server ([`server`]); the Kinesis and SQS event-source mappings by the `burstline::mapping`
//! drivers ([`mappings`]). Backends are in memory by default, or any AWS API endpoint
//! ([`backends`]). On start it seeds a demo tenant, key and inspector endpoint ([`seed`],
//! [`inspector`]) and prints how to use them ([`banner`]); it serves the API reference
//! ([`reference`]); Ctrl-C drains and stops.

mod aws_model;
mod backends;
mod banner;
mod inspector;
mod lambda_stream;
mod mappings;
mod meter;
mod reference;
mod seed;
mod server;
mod shard_pollers;
mod simulator;

use anyhow::Context;
use api::Api;
use api::tasks::TaskRoutes;
use backends::{Backend, Backends};
use burstline::apikey::ApiKey;
use burstline::auth::Authenticator;
use burstline::clock::{Clock, SystemClock};
use burstline::ids::TenantId;
use burstline::meter::prices::PriceTable;
use burstline::metrics::memory::MemoryRecorder;
use burstline::model::Consumer;
use burstline::stream_token::TokenSecret;
use clap::Args;
use deliver::Deliver;
use deliver::http::HttpSender;
use fanout::Fanout;
use fanout::directory::Directory;
use ingest::Ingest;
use mappings::MappingSettings;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use stream::{StreamSettings, Streamer};
use tokio::sync::watch;

/// How long API keys stay cached, as in the functions' default `KEY_CACHE_SECONDS`.
const KEY_CACHE: Duration = Duration::from_secs(60);
/// How long fanout caches a tenant's endpoints. Shorter than deployed so an endpoint added
/// in the demo gets events at once.
const SUBSCRIPTION_CACHE: Duration = Duration::from_secs(1);
/// Longest wait for each mapping to drain at shutdown.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// Run the whole stack locally.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  burstline dev                                  # in memory, http://127.0.0.1:8787
  burstline dev --port 0                         # any free port (printed)
  burstline dev --aws-endpoint http://127.0.0.1:4566   # LocalStack: data survives restarts
  burstline dev --aws-endpoint http://127.0.0.1:5000   # moto server
  burstline dev --aws-model efo                  # AWS latencies, 4 shards, EFO push, Lambda streams
  BURSTLINE_API_KEY=bl_... burstline dev         # keep using the same demo key")]
pub struct DevArgs {
    /// Address to listen on. Keep it on loopback: the demo page hands out the demo key.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// Use this AWS API endpoint (moto, LocalStack) instead of memory: the stream, tables and
    /// queues are created if missing and survive restarts.
    #[arg(long, env = "BURSTLINE_AWS_ENDPOINT", conflicts_with = "aws")]
    aws_endpoint: Option<String>,
    /// Use real AWS with the SDK's default credentials and region.
    #[arg(long)]
    aws: bool,
    /// Resource name prefix on AWS backends.
    #[arg(long, default_value = "burstline-dev")]
    prefix: String,
    /// The demo tenant.
    #[arg(long, default_value = "demo")]
    tenant: String,
    /// Seed this API key (e.g. to keep one across restarts) instead of a new one.
    #[arg(long, env = "BURSTLINE_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Kinesis batching window in milliseconds (`MaximumBatchingWindowInSeconds`; default the
    /// template's: 1000, or 0 with `--aws-model efo`).
    #[arg(long)]
    batching_window_ms: Option<u64>,
    /// Run as deployed on AWS, in time: every AWS request takes its modeled latency, the
    /// stream has the template's 4 shards polled as Lambda polls them (`standard`: ~1 s idle
    /// polls, at most 5 reads/s/shard; `efo`: records pushed ~70 ms after the put), and a
    /// stream keeps running after its client leaves, as Lambda's do. Off: everything instant.
    #[arg(long, value_name = "CONSUMER")]
    aws_model: Option<burstline::model::Consumer>,
    /// The latency table for `--aws-model` (default: the built-in
    /// shared/model/aws-latency.toml; copy it, edit, and pass the copy).
    #[arg(long, value_name = "PATH", requires = "aws_model")]
    aws_latency_table: Option<std::path::PathBuf>,
    /// Seconds a stream stays open before it ends cleanly and the client resumes with
    /// `Last-Event-ID` (`STREAM_LIFETIME_SECONDS`; the template's is 840).
    #[arg(long, default_value_t = 840)]
    stream_lifetime_seconds: u64,
    /// An SSE response ends after this many seconds and the client resumes
    /// (`STREAM_SEGMENT_SECONDS`; default as deployed).
    #[arg(long)]
    stream_segment_seconds: Option<u64>,
    /// An SSE response ends after this many seconds without an event and the client resumes
    /// (`STREAM_IDLE_SECONDS`; default as deployed).
    #[arg(long)]
    stream_idle_seconds: Option<u64>,
    /// Price the meter (`/dev/meter`) with this TOML price table instead of the built-in
    /// us-east-1 list prices (`shared/model/aws-prices.toml`, the format to copy).
    #[arg(long, value_name = "PATH")]
    aws_price_table: Option<std::path::PathBuf>,
}

/// The price table `--aws-price-table` names, or the built-in one, with where it came from.
fn price_table(args: &DevArgs) -> anyhow::Result<(PriceTable, String)> {
    let Some(path) = &args.aws_price_table else {
        return Ok((
            PriceTable::built_in(),
            "built-in (shared/model/aws-prices.toml)".into(),
        ));
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --aws-price-table {}", path.display()))?;
    let table = PriceTable::parse(&text)
        .with_context(|| format!("--aws-price-table {}", path.display()))?;
    Ok((table, path.display().to_string()))
}

/// The stream function's settings: as deployed, with the lifetime and segment flags applied.
fn stream_settings(args: &DevArgs) -> StreamSettings {
    let d = StreamSettings::default();
    let secs = |v: Option<u64>, default| v.map_or(default, |s| Duration::from_secs(s.max(1)));
    let lifetime = Duration::from_secs(args.stream_lifetime_seconds.max(1));
    StreamSettings {
        lifetime,
        segment: secs(args.stream_segment_seconds, d.segment).min(lifetime),
        idle: secs(args.stream_idle_seconds, d.idle),
        ..d
    }
}

/// Runs the stack until Ctrl-C (or SIGTERM), then drains and stops.
pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let tenant = TenantId::parse(&args.tenant)
        .map_err(|e| anyhow::anyhow!("--tenant {:?} {e}", args.tenant))?;
    let key = args
        .api_key
        .as_deref()
        .map(|k| {
            ApiKey::from_presented(k)
                .context("the API key (--api-key / BURSTLINE_API_KEY) is not a Burstline key (bl_ + 32 letters and digits)")
        })
        .transpose()?;
    let backend = match (args.aws_endpoint.clone(), args.aws) {
        (Some(endpoint), _) => Backend::Aws {
            endpoint: Some(endpoint),
            prefix: args.prefix.clone(),
        },
        (None, true) => Backend::Aws {
            endpoint: None,
            prefix: args.prefix.clone(),
        },
        (None, false) => Backend::Memory,
    };
    let (prices, prices_source) = price_table(&args)?;
    let model = args
        .aws_model
        .map(|c| aws_model::AwsModel::load(c, args.aws_latency_table.as_deref()))
        .transpose()?;
    let shards = model.as_ref().map_or(1, |m| m.model.table().shards);
    let backends = backends::open(&backend, shards).await?;
    let model = match (model, &backend) {
        (Some(m), Backend::Aws { .. }) => {
            let shards = backends
                .shards
                .shards()
                .await
                .context("listing the stream's shards")?;
            Some(m.for_shards(shards.len()))
        }
        (model, _) => model,
    };
    let backends = match &model {
        Some(m) => m.wrap(backends),
        None => backends,
    };
    let metrics = install_metrics()?;
    let meter = meter::DevMeter::new(
        backends.requests.clone(),
        prices,
        prices_source,
        metrics.clone(),
        &stream_settings(&args),
    )
    .with_efo(model.as_ref().is_some_and(|m| m.consumer == Consumer::Efo));
    let listener = tokio::net::TcpListener::bind((args.host, args.port))
        .await
        .with_context(|| format!("listening on {}:{}", args.host, args.port))?;
    let addr = listener.local_addr()?;
    let shown_host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        addr.ip().to_string()
    };
    let base_url = format!("http://{shown_host}:{}", addr.port());
    let inspector = inspector::Inspector::new(backends.endpoints.clone());
    let seeded = seed::seed(
        backends.tenants.as_ref(),
        backends.endpoints.as_ref(),
        &tenant,
        key,
        &format!("{base_url}/dev/inspector/webhook"),
    )
    .await?;
    inspector.watch(&seeded.endpoint);

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let tokens = TokenSecret::new(format!(
        "{}{}",
        ApiKey::generate()?.expose(),
        ApiKey::generate()?.expose()
    ))
    .context("stream token secret")?;
    let window = |m: &aws_model::AwsModel| match m.consumer {
        burstline::model::Consumer::Standard => m.model.table().standard.batching_window,
        burstline::model::Consumer::Efo => m.model.table().efo.batching_window,
    };
    let settings = MappingSettings {
        batching_window: match (args.batching_window_ms, &model) {
            (Some(ms), _) => Duration::from_millis(ms),
            (None, Some(m)) => window(m),
            (None, None) => MappingSettings::default().batching_window,
        },
        // As deployed: the template's deliver concurrency; without the model, a few pollers
        // keep an instant in-memory stack light.
        sqs_concurrency: model
            .as_ref()
            .map_or(MappingSettings::default().sqs_concurrency, |m| {
                m.model.table().deliver_concurrency
            }),
        ..MappingSettings::default()
    };
    let app = server::App {
        ingest: ingest_deps(&backends),
        api: api_deps(&backends, &clock, tokens.clone(), &base_url),
        streamer: Streamer {
            store: backends.store.clone(),
            tenants: backends.tenants.clone(),
            leases: backends.leases.clone(),
            auth: Authenticator::new(backends.tenants.clone(), KEY_CACHE),
            tokens,
            clock: clock.clone(),
            settings: stream_settings(&args),
        },
        inspector,
        lambda_streams: model.is_some(),
        metrics,
        meter: meter.clone(),
        simulator: simulator::Simulator::new(base_url.clone(), seeded.key.expose().to_owned()),
        page_config: serde_json::json!({
            "tenant": seeded.tenant.to_string(),
            "api_key": seeded.key.expose(),
            "base_url": base_url,
            "inspector_endpoint": seeded.endpoint.id.to_string(),
            "backend": backends.description,
        }),
    };

    let (stop_fanout, fanout_stopped) = watch::channel(false);
    let (stop_deliver, deliver_stopped) = watch::channel(false);
    // Under the model, the functions Lambda invokes from event sources (fanout from Kinesis,
    // deliver from SQS) run on runtimes of their own, one thread each, as their Lambdas have
    // CPU of their own: on a small machine a burst of ingest requests, streams and signed
    // webhook POSTs would otherwise queue the invocations being timed behind all of that work.
    let fanout_runtime = model.as_ref().map(|_| own_runtime("fanout")).transpose()?;
    let deliver_runtime = model.as_ref().map(|_| own_runtime("deliver")).transpose()?;
    let fanout_task = match &model {
        Some(m) => spawn_on(
            fanout_runtime.as_ref(),
            shard_pollers::kinesis_to_fanout(
                backends.shards.clone(),
                backends.stream_arn.clone(),
                fanout_deps(&backends),
                settings.clone(),
                (m.model.clone(), m.consumer),
                meter.clone(),
                fanout_stopped,
            ),
        ),
        None => tokio::spawn(mappings::kinesis_to_fanout(
            backends.shards.clone(),
            backends.stream_arn.clone(),
            fanout_deps(&backends),
            settings.clone(),
            meter.clone(),
            fanout_stopped,
        )),
    };
    let deliver_mapping = mappings::sqs_to_deliver(
        backends.queue_reader.clone(),
        backends.queue_arn.clone(),
        deliver_deps(&backends, &clock, model.as_ref())?,
        settings,
        meter,
        deliver_stopped,
    );
    let deliver_task = spawn_on(deliver_runtime.as_ref(), deliver_mapping);
    let (stop_http, http_stopped) = watch::channel(false);
    let mut http_stopped_wait = http_stopped.clone();
    let server = tokio::spawn(
        axum::serve(listener, server::router(app))
            .with_graceful_shutdown(async move {
                let _ = http_stopped_wait.wait_for(|s| *s).await;
            })
            .into_future(),
    );
    drop(http_stopped);

    let model_line = model.as_ref().map_or_else(
        || "off (every call instant)".to_owned(),
        |m| m.describe(matches!(backend, Backend::Memory)),
    );
    banner::print(&banner::Banner {
        base_url: &base_url,
        backend: &backends.description,
        model: &model_line,
        seeded: &seeded,
    });

    shutdown_signal().await;
    eprintln!("shutting down: no new requests; draining the stream and deliveries…");
    let _ = stop_http.send(true);
    // Open SSE responses would hold a graceful shutdown for up to 14 minutes: give them a
    // moment, then drop them (clients resume with Last-Event-ID against the next run).
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    let _ = stop_fanout.send(true);
    if tokio::time::timeout(DRAIN_LIMIT, fanout_task)
        .await
        .is_err()
    {
        eprintln!("the Kinesis mapping did not drain within {DRAIN_LIMIT:?}");
    }
    // Only now: the last fanout batch may have enqueued jobs.
    let _ = stop_deliver.send(true);
    if tokio::time::timeout(DRAIN_LIMIT, deliver_task)
        .await
        .is_err()
    {
        eprintln!("deliveries did not drain within {DRAIN_LIMIT:?}");
    }
    // Dropping a runtime may not block inside this one.
    for rt in [fanout_runtime, deliver_runtime].into_iter().flatten() {
        rt.shutdown_background();
    }
    eprintln!("stopped");
    Ok(())
}

/// A one-thread runtime named for the function it runs.
fn own_runtime(function: &str) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(function)
        .enable_all()
        .build()
        .with_context(|| format!("starting {function}'s runtime"))
}

/// Spawns `task` on `runtime`, or on the current one.
fn spawn_on<F>(
    runtime: Option<&tokio::runtime::Runtime>,
    task: F,
) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    match runtime {
        Some(rt) => rt.spawn(task),
        None => tokio::spawn(task),
    }
}

/// Collects what the five functions record, as their Lambdas emit it as EMF, for
/// `/dev/metrics`.
fn install_metrics() -> anyhow::Result<MemoryRecorder> {
    let recorder = MemoryRecorder::install()?;
    ingest::metrics::describe();
    fanout::metrics::describe();
    deliver::metrics::describe();
    stream::metrics::describe();
    api::metrics::describe();
    Ok(recorder)
}

fn ingest_deps(b: &Backends) -> Ingest {
    Ingest {
        log: b.log.clone(),
        auth: Authenticator::new(b.tenants.clone(), KEY_CACHE),
        limits: burstline::validate::Limits::default(),
        retry: ingest::publish::RetryPolicy::default(),
    }
}

fn fanout_deps(b: &Backends) -> Fanout {
    Fanout {
        store: b.store.clone(),
        queue: b.queue.clone(),
        directory: Directory::new(b.subscriptions.clone(), SUBSCRIPTION_CACHE),
        log: b.log.clone(),
    }
}

fn deliver_deps(
    b: &Backends,
    clock: &Arc<dyn Clock>,
    model: Option<&aws_model::AwsModel>,
) -> anyhow::Result<Deliver> {
    let permits: Arc<dyn burstline::permits::PermitStore> =
        Arc::new(burstline::permits::memory::MemoryPermits::default());
    let permits = match model {
        Some(m) => Arc::new(burstline::model::Modeled::new(permits, m.model.clone())),
        None => permits,
    };
    Ok(Deliver {
        store: b.store.clone(),
        endpoints: b.endpoints.clone(),
        queue: b.queue.clone(),
        dead_letters: b.dead_letters.clone(),
        attempts: b.attempts.clone(),
        cursors: b.cursors.clone(),
        log: b.log.clone(),
        // Local receivers (the inspector, a developer's own on localhost) are private
        // addresses: allowed here as ALLOW_PRIVATE_NETWORKS allows them, never in a deployment.
        sender: Arc::new(HttpSender::new(Duration::from_secs(10), true)?),
        clock: clock.clone(),
        // One deliver process: its limits' shared state may live in memory.
        throttle: Arc::new(deliver::Throttle::new(permits)),
        policy: deliver::Policy::default(),
    })
}

fn api_deps(b: &Backends, clock: &Arc<dyn Clock>, tokens: TokenSecret, base_url: &str) -> Api {
    Api {
        auth: Authenticator::new(b.tenants.clone(), KEY_CACHE),
        endpoints: b.endpoints.clone(),
        attempts: b.attempts.clone(),
        store: b.store.clone(),
        queue: b.queue.clone(),
        cursors: b.cursors.clone(),
        clock: clock.clone(),
        rotation_overlap: chrono::Duration::hours(24),
        allow_private_networks: true,
        tasks: TaskRoutes {
            store: b.store.clone(),
            auth: Authenticator::new(b.tenants.clone(), KEY_CACHE),
            tokens,
            clock: clock.clone(),
            token_ttl: Duration::from_secs(300),
            stream_url: base_url.to_owned(),
        },
    }
}

/// Ctrl-C, or SIGTERM (how process managers and test harnesses stop a server).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
