//! Event-source mapping emulation, written once: the drivers that feed Kinesis records and SQS
//! messages to the fanout and deliver handlers with Lambda's semantics. Integration tests run
//! them against moto; `burstline dev` runs them against memory or any AWS endpoint.

pub mod kinesis;
pub mod sqs;

use std::future::Future;
use tokio::time::Instant;

/// Runs one invocation as its own task, so a panic in the handler is seen as what it is on
/// Lambda: a crashed invocation (a function error), not a crash of the driver.
pub(crate) async fn invoke<F, Fut, T, E>(handler: &F, event: T) -> Result<Fut::Output, String>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<E, String>> + Send + 'static,
    E: Send + 'static,
{
    invoke_until(handler(event), None).await
}

/// Runs one invocation as its own task and, as Lambda does at the function's timeout, stops it
/// at `deadline`: a timed-out invocation is a function error, whatever it had not finished.
pub(crate) async fn invoke_until<Fut, E>(
    call: Fut,
    deadline: Option<Instant>,
) -> Result<Fut::Output, String>
where
    Fut: Future<Output = Result<E, String>> + Send + 'static,
    E: Send + 'static,
{
    let mut task = tokio::spawn(call);
    let joined = match deadline {
        None => (&mut task).await,
        Some(at) => match tokio::time::timeout_at(at, &mut task).await {
            Ok(joined) => joined,
            Err(_) => {
                task.abort();
                return Err("invocation timed out".into());
            }
        },
    };
    joined.map_err(|join| format!("invocation crashed: {join}"))
}
