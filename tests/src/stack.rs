//! A Burstline deployment for one test: the ports on moto (uniquely named resources) or in
//! memory, and the ingest and fanout dependencies wired to them.

use crate::moto::Moto;
use burstline::attempts::AttemptLog;
use burstline::attempts::dynamodb::DynamoAttempts;
use burstline::attempts::memory::MemoryAttempts;
use burstline::auth::Authenticator;
use burstline::clock::{Clock, ManualClock, SystemClock};
use burstline::cursor::DeliveryCursors;
use burstline::cursor::dynamodb::DynamoCursors;
use burstline::cursor::memory::MemoryCursors;
use burstline::log::kinesis::KinesisLog;
use burstline::log::memory::MemoryLog;
use burstline::log::{EventLog, ShardReader};
use burstline::permits::PermitStore;
use burstline::permits::dynamodb::DynamoPermits;
use burstline::permits::memory::MemoryPermits;
use burstline::provision::{Provisioned, ResourceNames, ensure};
use burstline::queue::memory::MemoryQueue;
use burstline::queue::sqs::SqsQueue;
use burstline::queue::{DeadLetterSink, DeliveryQueue, QueueReader};
use burstline::requests::RequestCounter;
use burstline::seal::key_cache::KeyCachePolicy;
use burstline::seal::kms::KmsSealer;
use burstline::store::EventStore;
use burstline::store::dynamodb::DynamoStore;
use burstline::store::memory::MemoryStore;
use burstline::tenants::Sealing;
use burstline::tenants::dynamodb::DynamoTenants;
use burstline::tenants::memory::MemoryTenants;
use burstline::tenants::{EndpointStore, SubscriptionStore, TenantStore};
use deliver::http::WebhookSender;
use deliver::{Deliver, Policy};
use fanout::Fanout;
use fanout::directory::Directory;
use ingest::Ingest;
use ingest::publish::RetryPolicy;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Every port of one deployment, behind its trait.
#[derive(Clone)]
pub struct Stack {
    /// Stream writer.
    pub log: Arc<dyn EventLog>,
    /// Stream reader (for the Kinesis driver).
    pub shards: Arc<dyn ShardReader>,
    /// Events table.
    pub store: Arc<dyn EventStore>,
    /// Tenants and keys.
    pub tenants: Arc<dyn TenantStore>,
    /// Subscriptions.
    pub subscriptions: Arc<dyn SubscriptionStore>,
    /// Webhook endpoints.
    pub endpoints: Arc<dyn EndpointStore>,
    /// Job writer.
    pub queue: Arc<dyn DeliveryQueue>,
    /// Job reader (for the SQS driver).
    pub queue_reader: Arc<dyn QueueReader>,
    /// Dead-letter writer.
    pub dead_letters: Arc<dyn DeadLetterSink>,
    /// Dead-letter reader.
    pub dlq_reader: Arc<dyn QueueReader>,
    /// Attempt log.
    pub attempts: Arc<dyn AttemptLog>,
    /// Endpoint × task delivery cursors.
    pub cursors: Arc<dyn DeliveryCursors>,
    /// Endpoints' shared limits.
    pub permits: Arc<dyn PermitStore>,
    /// The clock queues, the event store and deliver run on (manual in memory, system on
    /// moto).
    pub clock: Arc<dyn Clock>,
    /// The same clock, when tests can move it (memory).
    pub manual_clock: Option<ManualClock>,
    /// Requests made by the adapters.
    pub requests: RequestCounter,
    /// Resource names and URLs, on moto.
    pub provisioned: Option<Provisioned>,
    /// The KMS key endpoint secrets are sealed under, on moto.
    pub sealing_key_arn: Option<String>,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("provisioned", &self.provisioned)
            .finish()
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A resource prefix unique to this process and call.
pub fn unique_prefix(name: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("bl-{name}-{}-{n}", std::process::id())
}

impl Stack {
    /// Fresh, uniquely named resources on the shared moto server.
    pub async fn moto(name: &str) -> Stack {
        let moto = Moto::shared();
        let config = moto.sdk_config().await;
        let names = ResourceNames::with_prefix(&unique_prefix(name));
        let p = ensure(&config, &names).await.expect("provisioning on moto");
        let requests = RequestCounter::default();
        let ddb = aws_sdk_dynamodb::Client::new(&config);
        let kinesis = aws_sdk_kinesis::Client::new(&config);
        let log = KinesisLog::new(kinesis.clone(), &names.stream, requests.clone());
        // The event-source mapping's reads are Lambda's requests, not the functions': count
        // them apart so request budgets measure only what the functions do.
        let reader = KinesisLog::new(kinesis, &names.stream, RequestCounter::default());
        let kms = aws_sdk_kms::Client::new(&config);
        let key = kms.create_key().send().await.expect("a KMS key on moto");
        let key_arn = key
            .key_metadata()
            .and_then(|m| m.arn())
            .expect("the key's ARN")
            .to_owned();
        // Endpoint secrets are sealed as the api seals them (deliver's open-only store is
        // built apart where a test needs it: `tests/tests/sealed_moto.rs`).
        let sealer = KmsSealer::new(kms, &key_arn, KeyCachePolicy::default(), requests.clone());
        let tenants = DynamoTenants::new(ddb.clone(), &names.tenants_table, requests.clone())
            .with_sealing(Sealing::Seal(Arc::new(sealer)));
        let sqs = aws_sdk_sqs::Client::new(&config);
        let queue = SqsQueue::new(sqs.clone(), &p.delivery_queue_url, requests.clone());
        let dlq = SqsQueue::new(sqs, &p.delivery_dlq_url, requests.clone());
        let attempts = DynamoAttempts::new(
            ddb.clone(),
            &names.deliveries_table,
            chrono::Duration::days(30),
        );
        let ddb_permits = ddb.clone();
        let cursors = DynamoCursors::new(
            ddb.clone(),
            &names.deliveries_table,
            chrono::Duration::days(30),
            requests.clone(),
        );
        Stack {
            log: Arc::new(log),
            shards: Arc::new(reader),
            store: Arc::new(DynamoStore::new(
                ddb,
                &names.events_table,
                chrono::Duration::days(7),
                requests.clone(),
            )),
            tenants: Arc::new(tenants.clone()),
            subscriptions: Arc::new(tenants.clone()),
            endpoints: Arc::new(tenants),
            queue: Arc::new(queue.clone()),
            queue_reader: Arc::new(queue),
            dead_letters: Arc::new(dlq.clone()),
            dlq_reader: Arc::new(dlq),
            attempts: Arc::new(attempts),
            cursors: Arc::new(cursors),
            permits: Arc::new(DynamoPermits::new(
                ddb_permits,
                &names.deliveries_table,
                requests.clone(),
            )),
            clock: Arc::new(SystemClock),
            manual_clock: None,
            requests,
            provisioned: Some(p),
            sealing_key_arn: Some(key_arn),
        }
    }

    /// The same wiring on in-memory adapters.
    pub fn memory() -> Stack {
        let clock = ManualClock::new(chrono::Utc::now());
        let mut stack = Self::memory_on(Arc::new(clock.clone()));
        stack.manual_clock = Some(clock);
        stack
    }

    /// In memory, with every clock (queue delays, visibility, expiry, deliver's) following
    /// tokio's: under `start_paused`, simulated minutes pass as fast as the work allows.
    pub fn memory_on_tokio_time() -> Stack {
        Self::memory_on(Arc::new(burstline::clock::TokioClock::starting_at(
            chrono::Utc::now(),
        )))
    }

    fn memory_on(clock: Arc<dyn Clock>) -> Stack {
        let requests = RequestCounter::default();
        let log = MemoryLog::new(requests.clone());
        let tenants = MemoryTenants::new(requests.clone());
        let queue =
            MemoryQueue::with_clock(Duration::from_secs(60), requests.clone(), clock.clone());
        let dlq = MemoryQueue::with_clock(
            Duration::from_secs(60),
            RequestCounter::default(),
            clock.clone(),
        );
        Stack {
            log: Arc::new(log.clone()),
            shards: Arc::new(log),
            // Items expire by the stack's clock, as on DynamoDB (7 days, the template's).
            store: Arc::new(MemoryStore::with_clock(
                requests.clone(),
                chrono::Duration::days(7),
                clock.clone(),
            )),
            tenants: Arc::new(tenants.clone()),
            subscriptions: Arc::new(tenants.clone()),
            endpoints: Arc::new(tenants),
            queue: Arc::new(queue.clone()),
            queue_reader: Arc::new(queue),
            dead_letters: Arc::new(dlq.clone()),
            dlq_reader: Arc::new(dlq),
            attempts: Arc::new(MemoryAttempts::default()),
            cursors: Arc::new(MemoryCursors::new(requests.clone())),
            permits: Arc::new(MemoryPermits::new(requests.clone())),
            clock: clock.clone(),
            manual_clock: None,
            requests,
            provisioned: None,
            sealing_key_arn: None,
        }
    }

    /// ingest's dependencies on this stack.
    pub fn ingest(&self) -> Ingest {
        Ingest {
            log: self.log.clone(),
            auth: Authenticator::new(self.tenants.clone(), Duration::from_secs(60)),
            limits: burstline::validate::Limits::default(),
            retry: RetryPolicy {
                attempts: 3,
                first_delay: Duration::from_millis(1),
            },
        }
    }

    /// deliver's dependencies on this stack, sending with `sender`.
    pub fn deliver(&self, sender: Arc<dyn WebhookSender>, policy: Policy) -> Deliver {
        Deliver {
            store: self.store.clone(),
            endpoints: self.endpoints.clone(),
            queue: self.queue.clone(),
            dead_letters: self.dead_letters.clone(),
            attempts: self.attempts.clone(),
            cursors: self.cursors.clone(),
            log: self.log.clone(),
            sender,
            clock: self.clock.clone(),
            // A new process: its own lease holder on the stack's shared permits.
            throttle: Arc::new(deliver::Throttle::new(self.permits.clone())),
            policy,
        }
    }

    /// api's dependencies on this stack; `http` and private endpoint URLs allowed, since the
    /// test receivers listen on 127.0.0.1.
    pub fn api(&self) -> api::Api {
        api::Api {
            auth: Authenticator::new(self.tenants.clone(), Duration::from_secs(60)),
            endpoints: self.endpoints.clone(),
            attempts: self.attempts.clone(),
            store: self.store.clone(),
            queue: self.queue.clone(),
            cursors: self.cursors.clone(),
            clock: self.clock.clone(),
            rotation_overlap: chrono::Duration::hours(24),
            allow_private_networks: true,
            tasks: api::tasks::TaskRoutes {
                store: self.store.clone(),
                auth: Authenticator::new(self.tenants.clone(), Duration::from_secs(60)),
                tokens: burstline::stream_token::TokenSecret::new(
                    "test-stream-token-secret-of-32+bytes".repeat(2),
                )
                .expect("a long enough secret"),
                clock: self.clock.clone(),
                token_ttl: Duration::from_secs(300),
                stream_url: "http://127.0.0.1:1".into(),
            },
        }
    }

    /// Moves the manual clock (memory stacks only).
    pub fn advance(&self, by: Duration) {
        self.manual_clock
            .as_ref()
            .expect("a memory stack")
            .advance(by);
    }

    /// fanout's dependencies on this stack.
    pub fn fanout(&self) -> Fanout {
        Fanout {
            store: self.store.clone(),
            queue: self.queue.clone(),
            directory: Directory::new(self.subscriptions.clone(), Duration::from_secs(10)),
            log: self.log.clone(),
        }
    }
}
