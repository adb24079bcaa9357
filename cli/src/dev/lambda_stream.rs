//! Lambda's response streaming, as `--aws-model` serves it: "streamed responses are not
//! interrupted or stopped when the invoking client connection is broken". The function's body
//! is driven to its end in a task of its own, whatever the client does: a stream whose client
//! left goes on running (and holding its slot) until it ends by itself, at its terminal event,
//! idle cutoff or segment end, as a deployed one does. Without the model, dev drops the body
//! when the client goes, which ends the stream at its next frame.

use axum::body::{Body, HttpBody};
use bytes::Bytes;
use std::convert::Infallible;
use tokio::sync::mpsc;

/// Frames buffered between the function and a slow client (the runtime's send buffer).
const BUFFERED_FRAMES: usize = 64;

/// A body that forwards `function`'s frames to the client while it reads, and keeps running
/// `function` to completion, discarding its frames, once the client has gone.
pub fn run_to_completion<B>(function: B) -> Body
where
    B: HttpBody<Data = Bytes, Error = Infallible> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Bytes>(BUFFERED_FRAMES);
    tokio::spawn(async move {
        let mut function = std::pin::pin!(function);
        let mut client = Some(tx);
        while let Some(Ok(frame)) =
            std::future::poll_fn(|cx| function.as_mut().poll_frame(cx)).await
        {
            let (Some(tx), Ok(data)) = (&client, frame.into_data()) else {
                continue;
            };
            if tx.send(data).await.is_err() {
                // The client left; Lambda never tells the function.
                client = None;
            }
        }
    });
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|data| (Ok::<_, Infallible>(data), rx))
    }))
}
