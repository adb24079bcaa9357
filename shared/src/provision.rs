//! Creating Burstline's stream, tables and queues if they are missing — idempotently. Used by
//! `burstline admin init`, `burstline dev --aws-endpoint` and the integration tests; in AWS,
//! `template.yaml` creates the same resources.

use crate::aws::sdk_error;
use crate::error::{Error, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_kinesis::types::StreamStatus;
use aws_sdk_sqs::types::QueueAttributeName;
use std::time::Duration;

/// Names of every resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceNames {
    /// Kinesis stream.
    pub stream: String,
    /// Events table (events, heads, id markers).
    pub events_table: String,
    /// Tenants table (tenants, keys, endpoints).
    pub tenants_table: String,
    /// Deliveries table (the attempt log).
    pub deliveries_table: String,
    /// Delivery queue.
    pub delivery_queue: String,
    /// Its dead-letter queue.
    pub delivery_dlq: String,
}

impl ResourceNames {
    /// Names with a common prefix, e.g. `burstline` → `burstline-events`.
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            stream: format!("{prefix}-events"),
            events_table: format!("{prefix}-events"),
            tenants_table: format!("{prefix}-tenants"),
            deliveries_table: format!("{prefix}-deliveries"),
            delivery_queue: format!("{prefix}-deliveries"),
            delivery_dlq: format!("{prefix}-deliveries-dlq"),
        }
    }
}

/// What was provisioned, with the identifiers the adapters need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    /// Names used.
    pub names: ResourceNames,
    /// Stream ARN.
    pub stream_arn: String,
    /// Delivery queue URL.
    pub delivery_queue_url: String,
    /// Dead-letter queue URL.
    pub delivery_dlq_url: String,
}

/// Creates whatever is missing and waits until the stream is active.
pub async fn ensure(config: &aws_config::SdkConfig, names: &ResourceNames) -> Result<Provisioned> {
    let ddb = aws_sdk_dynamodb::Client::new(config);
    ensure_table(&ddb, &names.events_table, ScalarAttributeType::N).await?;
    ensure_table(&ddb, &names.tenants_table, ScalarAttributeType::S).await?;
    ensure_table(&ddb, &names.deliveries_table, ScalarAttributeType::S).await?;
    let stream_arn = ensure_stream(&aws_sdk_kinesis::Client::new(config), &names.stream).await?;
    let sqs = aws_sdk_sqs::Client::new(config);
    let dlq_url = ensure_queue(&sqs, &names.delivery_dlq, None).await?;
    let dlq_arn = queue_arn(&sqs, &dlq_url).await?;
    let redrive =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "20"}).to_string();
    let url = ensure_queue(&sqs, &names.delivery_queue, Some(redrive)).await?;
    Ok(Provisioned {
        names: names.clone(),
        stream_arn,
        delivery_queue_url: url,
        delivery_dlq_url: dlq_url,
    })
}

async fn ensure_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    sort: ScalarAttributeType,
) -> Result<()> {
    let exists = client.describe_table().table_name(name).send().await;
    if exists.is_ok() {
        return Ok(());
    }
    let attr = |n: &str, t: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(t)
            .build()
            .map_err(|e| Error::Internal(e.to_string()))
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .map_err(|e| Error::Internal(e.to_string()))
    };
    let created = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk", ScalarAttributeType::S)?)
        .attribute_definitions(attr("sk", sort)?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .send()
        .await;
    if let Err(e) = created {
        // Another process may have created it between describe and create.
        if !e
            .as_service_error()
            .is_some_and(|s| s.is_resource_in_use_exception())
        {
            return Err(sdk_error("CreateTable", e));
        }
    }
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name("expires_at")
        .enabled(true)
        .build()
        .map_err(|e| Error::Internal(e.to_string()))?;
    // Enabling TTL twice is an error on AWS; it is only ever reached right after creation.
    let _ = client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(ttl)
        .send()
        .await;
    Ok(())
}

async fn ensure_stream(client: &aws_sdk_kinesis::Client, name: &str) -> Result<String> {
    if client
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await
        .is_err()
    {
        let created = client
            .create_stream()
            .stream_name(name)
            .shard_count(1)
            .send()
            .await;
        if let Err(e) = created
            && !e
                .as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception())
        {
            return Err(sdk_error("CreateStream", e));
        }
    }
    for _ in 0..100 {
        let out = client
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("DescribeStreamSummary", e))?;
        if let Some(d) = out.stream_description_summary()
            && d.stream_status() == &StreamStatus::Active
        {
            return Ok(d.stream_arn().to_owned());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(Error::Internal(format!(
        "stream {name} did not become active"
    )))
}

async fn ensure_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    redrive: Option<String>,
) -> Result<String> {
    let mut req = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::VisibilityTimeout, "720");
    if let Some(policy) = redrive {
        req = req.attributes(QueueAttributeName::RedrivePolicy, policy);
    }
    // CreateQueue is idempotent for identical attributes.
    let out = req.send().await.map_err(|e| sdk_error("CreateQueue", e))?;
    let url = out
        .queue_url()
        .map(str::to_owned)
        .ok_or_else(|| Error::Internal("CreateQueue returned no URL".into()))?;
    // The message-size limit the adapters are built for (and the in-memory queue enforces),
    // set apart from CreateQueue so that queues made before it was pinned get it too.
    client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(
            QueueAttributeName::MaximumMessageSize,
            crate::queue::MAX_MESSAGE_BYTES.to_string(),
        )
        .send()
        .await
        .map_err(|e| sdk_error("SetQueueAttributes", e))?;
    Ok(url)
}

async fn queue_arn(client: &aws_sdk_sqs::Client, url: &str) -> Result<String> {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| sdk_error("GetQueueAttributes", e))?;
    out.attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| Error::Internal("queue has no ARN".into()))
}
