//! Building SDK configuration once, and turning SDK errors into [`Error`]s. Only adapters use
//! this module; SDK types stop there.

use crate::error::Error;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;

/// Independent requests of one port call (the `BatchGetItem` pages of a long key list, the
/// `SendMessageBatch` batches of many jobs) in flight at once: at AWS latencies one after
/// another adds tens of milliseconds per request; eight at a time stays far below any
/// throttling limit.
pub(crate) const MAX_CONCURRENT_REQUESTS: usize = 8;

/// Error codes that mean "slow down or try later" across Kinesis, DynamoDB and SQS.
const RETRYABLE_CODES: [&str; 9] = [
    "ThrottlingException",
    "Throttling",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "KMSThrottlingException",
    "LimitExceededException",
];

/// Error codes that mean "this request breaks a limit or is otherwise invalid": the service
/// refuses it as it stands, and only a different request can succeed. SQS's query-compatible
/// codes carry an `AWS.SimpleQueueService.` prefix; both spellings match.
const REFUSAL_CODES: [&str; 8] = [
    // DynamoDB (too many actions, item too large, one item twice in a transaction, …) and
    // Kinesis (too many records, a record too large).
    "ValidationException",
    // Kinesis: a request over 5 MiB, a partition key over 256 characters.
    "InvalidArgumentException",
    // SQS: a message over the queue's MaximumMessageSize, a delay over 900 s.
    "InvalidParameterValue",
    "BatchRequestTooLong",
    "TooManyEntriesInBatchRequest",
    "EmptyBatchRequest",
    "BatchEntryIdsNotDistinct",
    "InvalidMessageContents",
];

/// Whether a service error code means the request is refused as it stands.
pub(crate) fn is_refusal_code(code: &str) -> bool {
    REFUSAL_CODES
        .iter()
        .any(|c| code == *c || code.strip_suffix(c).is_some_and(|p| p.ends_with('.')))
}

/// Loads the AWS configuration from the environment (region, credentials, and
/// `AWS_ENDPOINT_URL` for LocalStack or moto). `endpoint` overrides the URL explicitly.
pub async fn load_config(endpoint: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// Converts any SDK error, keeping its service code and whether it is worth retrying. A
/// refusal ([`REFUSAL_CODES`]) becomes [`Error::Refused`], never retryable.
pub(crate) fn sdk_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if let SdkError::ServiceError(_) = &err
        && err.code().is_some_and(is_refusal_code)
    {
        return Error::Refused {
            operation,
            reason: DisplayErrorContext(&err).to_string(),
        };
    }
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(_) => err.code().is_some_and(|c| RETRYABLE_CODES.contains(&c)),
        _ => false,
    };
    Error::Aws {
        operation,
        message: DisplayErrorContext(&err).to_string(),
        retryable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_codes_match_with_or_without_the_sqs_prefix() {
        assert!(is_refusal_code("ValidationException"));
        assert!(is_refusal_code(
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
        ));
        assert!(!is_refusal_code("ProvisionedThroughputExceededException"));
        assert!(!is_refusal_code("XInvalidParameterValue"));
    }
}
