//! Event-source mapping emulation, written once: the drivers that feed Kinesis records and SQS
//! messages to the fanout and deliver handlers with Lambda's semantics. Integration tests run
//! them against moto; `burstline dev` runs them against memory or any AWS endpoint.

pub mod kinesis;
pub mod sqs;

use std::future::Future;

/// Runs one invocation as its own task, so a panic in the handler is seen as what it is on
/// Lambda: a crashed invocation (a function error), not a crash of the driver.
pub(crate) async fn invoke<F, Fut, T, E>(handler: &F, event: T) -> Result<Fut::Output, String>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<E, String>> + Send + 'static,
    E: Send + 'static,
{
    match tokio::spawn(handler(event)).await {
        Ok(output) => Ok(output),
        Err(join) => Err(format!("invocation crashed: {join}")),
    }
}
