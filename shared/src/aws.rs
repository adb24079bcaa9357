//! Building SDK configuration once, and turning SDK errors into [`Error`]s. Only adapters use
//! this module; SDK types stop there.

use crate::error::Error;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;

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

/// Loads the AWS configuration from the environment (region, credentials, and
/// `AWS_ENDPOINT_URL` for LocalStack or moto). `endpoint` overrides the URL explicitly.
pub async fn load_config(endpoint: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// Converts any SDK error, keeping its service code and whether it is worth retrying.
pub(crate) fn sdk_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
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
