//! fanout Lambda: Kinesis event source → [`fanout::handle`].

use burstline::log::kinesis::KinesisLog;
use burstline::queue::sqs::SqsQueue;
use burstline::requests::RequestCounter;
use burstline::store::dynamodb::DynamoStore;
use burstline::tenants::dynamodb::DynamoTenants;
use fanout::{Fanout, FanoutConfig, directory::Directory};
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = FanoutConfig::from_env(&burstline::config::process_env)?;
    let aws = burstline::aws::load_config(None).await;
    let ddb = aws_sdk_dynamodb::Client::new(&aws);
    let requests = RequestCounter::default();
    let retention = chrono::Duration::days(i64::from(config.retention_days));
    let deps = Fanout {
        store: Arc::new(DynamoStore::new(
            ddb.clone(),
            &config.events_table,
            retention,
            requests.clone(),
        )),
        queue: Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(&aws),
            &config.delivery_queue_url,
            requests.clone(),
        )),
        directory: Directory::new(
            Arc::new(DynamoTenants::new(
                ddb,
                &config.tenants_table,
                requests.clone(),
            )),
            config.subscription_cache,
        ),
        log: Arc::new(KinesisLog::new(
            aws_sdk_kinesis::Client::new(&aws),
            &config.stream_name,
            requests,
        )),
    };
    run(service_fn(async |event: LambdaEvent<_>| {
        Ok::<_, Error>(fanout::handle(&deps, event.payload).await)
    }))
    .await
}
