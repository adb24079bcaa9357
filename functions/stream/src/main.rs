//! stream Lambda: response-streaming Function URL → [`stream::handle`].

use burstline::auth::Authenticator;
use burstline::clock::SystemClock;
use burstline::leases::dynamodb::DynamoLeases;
use burstline::requests::RequestCounter;
use burstline::store::dynamodb::DynamoStore;
use burstline::tenants::dynamodb::DynamoTenants;
use lambda_http::{Error, Request, run_with_streaming_response, service_fn, tracing};
use std::sync::Arc;
use stream::{StreamConfig, Streamer};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = StreamConfig::from_env(&burstline::config::process_env)?;
    burstline::metrics::emf::install(&config.metrics_namespace)?;
    stream::metrics::describe();
    let aws = burstline::aws::load_config(None).await;
    let ddb = aws_sdk_dynamodb::Client::new(&aws);
    let requests = RequestCounter::default();
    let tenants = Arc::new(DynamoTenants::new(
        ddb.clone(),
        &config.tenants_table,
        requests.clone(),
    ));
    let deps = Streamer {
        store: Arc::new(DynamoStore::new(
            ddb.clone(),
            &config.events_table,
            config.settings.retention,
            requests.clone(),
        )),
        tenants: tenants.clone(),
        leases: Arc::new(DynamoLeases::new(ddb, &config.tenants_table, requests)),
        auth: Authenticator::new(tenants, config.key_cache),
        tokens: config.token_secret,
        clock: Arc::new(SystemClock),
        settings: config.settings,
    };
    run_with_streaming_response(service_fn(async |request: Request| {
        let response = stream::handle(&deps, request).await;
        burstline::metrics::flush();
        Ok::<_, Error>(response)
    }))
    .await
}
