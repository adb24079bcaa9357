//! A real webhook receiver on 127.0.0.1: records every request and answers from a script.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How to answer one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status, empty body.
    Status(u16),
    /// This status with `Retry-After: <value>`.
    RetryAfter(u16, String),
    /// Wait, then 200 (for client timeouts).
    Slow(Duration),
    /// 302 to this location.
    Redirect(String),
}

/// A recorded request.
#[derive(Debug, Clone)]
pub struct Received {
    /// Lower-cased header names and values.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The headers as a map, for verifiers that take one (e.g. `standardwebhooks`).
    pub fn header_map(&self) -> axum::http::HeaderMap {
        self.headers
            .iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v.parse().ok()?)))
            .collect()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Debug, Default)]
struct Inner {
    script: VecDeque<Reply>,
    received: Vec<Received>,
}

/// The receiver. Dropping it stops the server.
#[derive(Debug)]
pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn hook(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: Bytes) -> Response {
    let reply = {
        let mut i = inner.lock().unwrap();
        i.received.push(Received {
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body: body.to_vec(),
        });
        i.script.pop_front()
    };
    match reply {
        None => StatusCode::OK.into_response(),
        Some(Reply::Status(s)) => StatusCode::from_u16(s).unwrap().into_response(),
        Some(Reply::RetryAfter(s, v)) => {
            (StatusCode::from_u16(s).unwrap(), [(header::RETRY_AFTER, v)]).into_response()
        }
        Some(Reply::Slow(d)) => {
            tokio::time::sleep(d).await;
            StatusCode::OK.into_response()
        }
        Some(Reply::Redirect(to)) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
    }
}

impl Receiver {
    /// Starts a receiver answering 200 unless scripted otherwise.
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner: Arc<Mutex<Inner>> = Arc::default();
        let app = Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            inner,
            task,
        }
    }

    /// Queues replies for the next requests, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.lock().unwrap().script.extend(replies);
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }
}

/// A server that reads a request, starts a response and then drops the connection.
pub async fn reset_mid_response() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 65536];
            let _ = sock.read(&mut buf).await;
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\npartial")
                .await;
            drop(sock);
        }
    });
    (format!("http://{addr}/hook"), task)
}

/// A URL on a port nothing listens on.
pub fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/hook")
}
