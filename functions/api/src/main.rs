//! api Lambda: Function URL → [`api::handle`].

use api::tasks::TaskRoutes;
use api::{Api, ApiConfig};
use burstline::attempts::dynamodb::DynamoAttempts;
use burstline::auth::Authenticator;
use burstline::clock::SystemClock;
use burstline::cursor::dynamodb::DynamoCursors;
use burstline::queue::sqs::SqsQueue;
use burstline::requests::RequestCounter;
use burstline::seal::key_cache::KeyCachePolicy;
use burstline::seal::kms::KmsSealer;
use burstline::store::dynamodb::DynamoStore;
use burstline::tenants::Sealing;
use burstline::tenants::dynamodb::DynamoTenants;
use lambda_http::{Error, Request, run, service_fn, tracing};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = ApiConfig::from_env(&burstline::config::process_env)?;
    burstline::metrics::emf::install(&config.metrics_namespace)?;
    api::metrics::describe();
    let aws = burstline::aws::load_config(None).await;
    let ddb = aws_sdk_dynamodb::Client::new(&aws);
    let requests = RequestCounter::default();
    let sealer = KmsSealer::from_config(
        &aws,
        &config.sealing_key_arn,
        KeyCachePolicy::default(),
        requests.clone(),
    );
    let tenants = Arc::new(
        DynamoTenants::new(ddb.clone(), &config.tenants_table, requests.clone())
            .with_sealing(Sealing::Seal(Arc::new(sealer))),
    );
    let store = Arc::new(DynamoStore::new(
        ddb.clone(),
        &config.events_table,
        chrono::Duration::days(7),
        requests.clone(),
    ));
    let auth = Authenticator::new(tenants.clone(), config.key_cache);
    let clock = Arc::new(SystemClock);
    let tasks = TaskRoutes {
        store: store.clone(),
        auth: auth.clone(),
        tokens: config.tasks.token_secret.clone(),
        clock: clock.clone(),
        token_ttl: config.tasks.token_ttl,
        stream_url: config.tasks.stream_url.clone(),
    };
    let api = Api {
        auth,
        endpoints: tenants,
        attempts: Arc::new(DynamoAttempts::new(
            ddb.clone(),
            &config.deliveries_table,
            chrono::Duration::days(30),
        )),
        store: Arc::new(DynamoStore::new(
            ddb.clone(),
            &config.events_table,
            chrono::Duration::days(7),
            requests.clone(),
        )),
        cursors: Arc::new(DynamoCursors::new(
            ddb,
            &config.deliveries_table,
            chrono::Duration::days(30),
            requests.clone(),
        )),
        queue: Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(&aws),
            &config.delivery_queue_url,
            requests,
        )),
        clock,
        rotation_overlap: config.rotation_overlap,
        allow_private_networks: config.allow_private_networks,
        tasks,
    };
    run(service_fn(async |request: Request| {
        let response = api::handle(&api, request).await;
        burstline::metrics::flush();
        Ok::<_, Error>(response)
    }))
    .await
}
