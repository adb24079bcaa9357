//! ingest Lambda: Function URL → [`ingest::handle`].

use burstline::auth::Authenticator;
use burstline::log::kinesis::KinesisLog;
use burstline::requests::RequestCounter;
use burstline::tenants::dynamodb::DynamoTenants;
use ingest::publish::RetryPolicy;
use ingest::{Ingest, IngestConfig};
use lambda_http::{Error, Request, run, service_fn, tracing};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = IngestConfig::from_env(&burstline::config::process_env)?;
    burstline::metrics::emf::install(&config.metrics_namespace)?;
    ingest::metrics::describe();
    let aws = burstline::aws::load_config(None).await;
    let requests = RequestCounter::default();
    let tenants = DynamoTenants::new(
        aws_sdk_dynamodb::Client::new(&aws),
        &config.tenants_table,
        requests.clone(),
    );
    let deps = Ingest {
        log: Arc::new(KinesisLog::new(
            aws_sdk_kinesis::Client::new(&aws),
            &config.stream_name,
            requests,
        )),
        auth: Authenticator::new(Arc::new(tenants), config.key_cache),
        limits: config.limits,
        retry: RetryPolicy {
            attempts: config.put_attempts,
            ..RetryPolicy::default()
        },
    };
    run(service_fn(async |request: Request| {
        let response = ingest::handle(&deps, request).await;
        burstline::metrics::flush();
        Ok::<_, Error>(response)
    }))
    .await
}
