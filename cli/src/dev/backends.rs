//! The ports every function of the dev stack shares: in memory (the default) or on an AWS API
//! endpoint (moto, LocalStack, real AWS), where resources are created if missing and survive
//! restarts.

use anyhow::Context;
use burstline::attempts::AttemptLog;
use burstline::attempts::dynamodb::DynamoAttempts;
use burstline::attempts::memory::MemoryAttempts;
use burstline::cursor::DeliveryCursors;
use burstline::cursor::dynamodb::DynamoCursors;
use burstline::cursor::memory::MemoryCursors;
use burstline::leases::LeaseStore;
use burstline::leases::dynamodb::DynamoLeases;
use burstline::leases::memory::MemoryLeases;
use burstline::log::kinesis::KinesisLog;
use burstline::log::memory::MemoryLog;
use burstline::log::{EventLog, ShardReader};
use burstline::provision::{ResourceNames, ensure};
use burstline::queue::memory::MemoryQueue;
use burstline::queue::sqs::SqsQueue;
use burstline::queue::{DeadLetterSink, DeliveryQueue, QueueReader};
use burstline::requests::RequestCounter;
use burstline::seal::local::LocalSealer;
use burstline::store::EventStore;
use burstline::store::dynamodb::DynamoStore;
use burstline::store::memory::MemoryStore;
use burstline::tenants::Sealing;
use burstline::tenants::dynamodb::DynamoTenants;
use burstline::tenants::memory::MemoryTenants;
use burstline::tenants::{EndpointStore, SubscriptionStore, TenantStore};
use std::sync::Arc;
use std::time::Duration;

/// Matches the delivery queue's `VisibilityTimeout` in `template.yaml` (6 × deliver's timeout).
const VISIBILITY: Duration = Duration::from_secs(720);
/// Matches the delivery queue's `maxReceiveCount` in `template.yaml`.
const MAX_RECEIVE_COUNT: u32 = 20;
/// How long stored events are kept (the template's default `RetentionDays`).
const RETENTION_DAYS: i64 = 7;
/// How long delivery attempts are kept.
const ATTEMPT_LOG_DAYS: i64 = 30;

/// Where the dev stack keeps its data.
#[derive(Debug, Clone)]
pub enum Backend {
    /// In this process; gone when it exits.
    Memory,
    /// An AWS API endpoint (`None`: the SDK's defaults, i.e. real AWS), resources named with
    /// `prefix`.
    Aws {
        /// Endpoint URL, e.g. `http://127.0.0.1:4566`.
        endpoint: Option<String>,
        /// Resource name prefix.
        prefix: String,
    },
}

/// Every port, behind its trait.
#[derive(Clone)]
pub struct Backends {
    /// Stream writer.
    pub log: Arc<dyn EventLog>,
    /// Stream reader, for the Kinesis mapping.
    pub shards: Arc<dyn ShardReader>,
    /// Events table.
    pub store: Arc<dyn EventStore>,
    /// Tenants and keys.
    pub tenants: Arc<dyn TenantStore>,
    /// Subscriptions (fanout's view of endpoints).
    pub subscriptions: Arc<dyn SubscriptionStore>,
    /// Webhook endpoints.
    pub endpoints: Arc<dyn EndpointStore>,
    /// Stream slots.
    pub leases: Arc<dyn LeaseStore>,
    /// Delivery job writer.
    pub queue: Arc<dyn DeliveryQueue>,
    /// Delivery job reader, for the SQS mapping.
    pub queue_reader: Arc<dyn QueueReader>,
    /// Dead-letter writer.
    pub dead_letters: Arc<dyn DeadLetterSink>,
    /// Attempt log.
    pub attempts: Arc<dyn AttemptLog>,
    /// Endpoint × task delivery cursors.
    pub cursors: Arc<dyn DeliveryCursors>,
    /// Stream ARN, put in the Kinesis events the mapping builds.
    pub stream_arn: String,
    /// Queue ARN, put in the SQS events the mapping builds.
    pub queue_arn: String,
    /// What the backends are, for the banner.
    pub description: String,
    /// Every adapter's AWS requests and billing units, for the meter.
    pub requests: RequestCounter,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backends")
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

/// Connects to (and, on AWS, provisions) `backend`; an in-memory stream gets `shards` shards.
pub async fn open(backend: &Backend, shards: usize) -> anyhow::Result<Backends> {
    match backend {
        Backend::Memory => Ok(memory(shards)),
        Backend::Aws { endpoint, prefix } => aws(endpoint.as_deref(), prefix).await,
    }
}

fn memory(shards: usize) -> Backends {
    let requests = RequestCounter::default();
    let log = MemoryLog::with_shards(requests.clone(), shards);
    let tenants = MemoryTenants::new(requests.clone());
    let dlq = MemoryQueue::new(VISIBILITY, requests.clone());
    let queue =
        MemoryQueue::new(VISIBILITY, requests.clone()).with_redrive(&dlq, MAX_RECEIVE_COUNT);
    Backends {
        log: Arc::new(log.clone()),
        shards: Arc::new(log),
        store: Arc::new(MemoryStore::new(requests.clone())),
        tenants: Arc::new(tenants.clone()),
        subscriptions: Arc::new(tenants.clone()),
        endpoints: Arc::new(tenants),
        leases: Arc::new(MemoryLeases::new(requests.clone())),
        cursors: Arc::new(MemoryCursors::new(requests.clone())),
        queue: Arc::new(queue.clone()),
        queue_reader: Arc::new(queue),
        dead_letters: Arc::new(dlq),
        attempts: Arc::new(MemoryAttempts::default()),
        stream_arn: "arn:aws:kinesis:local:000000000000:stream/burstline-dev".into(),
        queue_arn: "arn:aws:sqs:local:000000000000:burstline-dev-deliveries".into(),
        description: "in memory (data is gone when this process exits)".into(),
        requests,
    }
}

async fn aws(endpoint: Option<&str>, prefix: &str) -> anyhow::Result<Backends> {
    let config = sdk_config(endpoint).await;
    let names = ResourceNames::with_prefix(prefix);
    let p = ensure(&config, &names).await.with_context(|| {
        format!(
            "creating the stream, tables and queues at {}",
            endpoint.unwrap_or("AWS")
        )
    })?;
    let requests = RequestCounter::default();
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let kinesis = aws_sdk_kinesis::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    // Endpoint secrets are sealed at rest as in a deployment, with a local key instead of KMS
    // derived from the resource prefix, so a restarted `burstline dev` opens what it sealed.
    // Anyone who knows the prefix can open them: development only.
    let tenants = DynamoTenants::new(ddb.clone(), &names.tenants_table, requests.clone())
        .with_sealing(Sealing::Seal(Arc::new(LocalSealer::derived(prefix))));
    let log = KinesisLog::new(kinesis, &names.stream, requests.clone());
    let queue = SqsQueue::new(sqs.clone(), &p.delivery_queue_url, requests.clone());
    let queue_arn = format!(
        "arn:aws:sqs:{}:000000000000:{}",
        config.region().map_or("us-east-1", |r| r.as_ref()),
        names.delivery_queue
    );
    Ok(Backends {
        log: Arc::new(log.clone()),
        shards: Arc::new(log),
        store: Arc::new(DynamoStore::new(
            ddb.clone(),
            &names.events_table,
            chrono::Duration::days(RETENTION_DAYS),
            requests.clone(),
        )),
        tenants: Arc::new(tenants.clone()),
        subscriptions: Arc::new(tenants.clone()),
        endpoints: Arc::new(tenants),
        leases: Arc::new(DynamoLeases::new(
            ddb.clone(),
            &names.tenants_table,
            requests.clone(),
        )),
        queue: Arc::new(queue.clone()),
        queue_reader: Arc::new(queue),
        dead_letters: Arc::new(SqsQueue::new(sqs, &p.delivery_dlq_url, requests.clone())),
        attempts: Arc::new(DynamoAttempts::new(
            ddb.clone(),
            &names.deliveries_table,
            chrono::Duration::days(ATTEMPT_LOG_DAYS),
        )),
        cursors: Arc::new(DynamoCursors::new(
            ddb,
            &names.deliveries_table,
            chrono::Duration::days(ATTEMPT_LOG_DAYS),
            requests.clone(),
        )),
        stream_arn: p.stream_arn,
        queue_arn,
        description: format!(
            "{} (stream {}, tables {}/{}/{}, queues {}/{})",
            endpoint.unwrap_or("AWS"),
            names.stream,
            names.events_table,
            names.tenants_table,
            names.deliveries_table,
            names.delivery_queue,
            names.delivery_dlq
        ),
        requests,
    })
}

/// The SDK configuration for `endpoint`. Local emulators (moto, LocalStack) accept any
/// credentials but the SDK insists on some and on a region: when the environment has none,
/// use dummy ones rather than fail.
async fn sdk_config(endpoint: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
        let has = |v: &str| std::env::var_os(v).is_some();
        if !has("AWS_ACCESS_KEY_ID") && !has("AWS_PROFILE") {
            loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "burstline-dev",
            ));
        }
        if !has("AWS_REGION") && !has("AWS_DEFAULT_REGION") {
            loader = loader.region(aws_config::Region::new("us-east-1"));
        }
    }
    loader.load().await
}
