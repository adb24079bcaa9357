//! deliver Lambda: SQS event source → [`deliver::handle_until`] the invocation's deadline.

use burstline::attempts::dynamodb::DynamoAttempts;
use burstline::clock::SystemClock;
use burstline::cursor::dynamodb::DynamoCursors;
use burstline::log::kinesis::KinesisLog;
use burstline::queue::sqs::SqsQueue;
use burstline::requests::RequestCounter;
use burstline::seal::key_cache::KeyCachePolicy;
use burstline::seal::kms::KmsSealer;
use burstline::store::dynamodb::DynamoStore;
use burstline::tenants::Sealing;
use burstline::tenants::dynamodb::DynamoTenants;
use deliver::deadline::remaining;
use deliver::http::HttpSender;
use deliver::{Deliver, DeliverConfig};
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = DeliverConfig::from_env(&burstline::config::process_env)?;
    burstline::metrics::emf::install(&config.metrics_namespace)?;
    deliver::metrics::describe();
    let aws = burstline::aws::load_config(None).await;
    let ddb = aws_sdk_dynamodb::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let requests = RequestCounter::default();
    let days = |d: u32| chrono::Duration::days(i64::from(d));
    let deps = Deliver {
        store: Arc::new(DynamoStore::new(
            ddb.clone(),
            &config.events_table,
            days(7),
            requests.clone(),
        )),
        endpoints: Arc::new(
            DynamoTenants::new(ddb.clone(), &config.tenants_table, requests.clone()).with_sealing(
                Sealing::OpenOnly(Arc::new(KmsSealer::from_config(
                    &aws,
                    &config.sealing_key_arn,
                    KeyCachePolicy::default(),
                    requests.clone(),
                ))),
            ),
        ),
        queue: Arc::new(SqsQueue::new(
            sqs.clone(),
            &config.delivery_queue_url,
            requests.clone(),
        )),
        dead_letters: Arc::new(SqsQueue::new(
            sqs,
            &config.delivery_dlq_url,
            requests.clone(),
        )),
        attempts: Arc::new(DynamoAttempts::new(
            ddb.clone(),
            &config.deliveries_table,
            days(config.attempt_log_days),
        )),
        throttle: Arc::new(deliver::Throttle::new(Arc::new(
            burstline::permits::dynamodb::DynamoPermits::new(
                ddb.clone(),
                &config.deliveries_table,
                requests.clone(),
            ),
        ))),
        cursors: Arc::new(DynamoCursors::new(
            ddb,
            &config.deliveries_table,
            days(config.attempt_log_days),
            requests.clone(),
        )),
        log: Arc::new(KinesisLog::new(
            aws_sdk_kinesis::Client::new(&aws),
            &config.stream_name,
            requests,
        )),
        sender: Arc::new(HttpSender::new(
            config.timeout,
            config.allow_private_networks,
        )?),
        clock: Arc::new(SystemClock),
        policy: config.policy,
    };
    run(service_fn(async |event: LambdaEvent<_>| {
        let deadline = Instant::now() + remaining(event.context.deadline, SystemTime::now());
        let response = deliver::handle_until(&deps, event.payload, Some(deadline)).await;
        burstline::metrics::flush();
        Ok::<_, Error>(response)
    }))
    .await
}
