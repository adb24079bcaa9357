//! The response body: frames handed over a channel by the session task, each polled out as
//! its own chunk so the runtime writes it at once. Never has a known length, so no
//! `content-length` is ever set.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// An SSE (or short JSON) response body.
#[derive(Debug, Default)]
pub struct SseBody {
    first: Option<Bytes>,
    rx: Option<mpsc::Receiver<Bytes>>,
}

impl SseBody {
    /// No bytes (204).
    pub fn empty() -> Self {
        Self::default()
    }

    /// A complete body, e.g. a JSON error or a throttled stream.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Self {
            first: Some(bytes.into()),
            rx: None,
        }
    }

    /// A body that yields what is sent into the channel, and ends when every sender is gone.
    pub fn channel(rx: mpsc::Receiver<Bytes>) -> Self {
        Self {
            first: None,
            rx: Some(rx),
        }
    }
}

impl Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(bytes) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(bytes))));
        }
        match self.rx.as_mut() {
            Some(rx) => rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.rx.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        // Unknown on purpose: a known size would make the runtime send content-length.
        SizeHint::default()
    }
}
