//! Serving a Function URL handler over real HTTP on 127.0.0.1, for clients such as the CLI.

use axum::body::{Body as AxumBody, to_bytes};
use axum::http::Request as AxumRequest;
use axum::response::Response as AxumResponse;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// A running server; dropping it stops it.
#[derive(Debug)]
pub struct Served {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `handler` (a `lambda_http` handler) at every path.
pub async fn serve<F, Fut>(handler: F) -> Served
where
    F: Fn(lambda_http::Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = lambda_http::Response<lambda_http::Body>> + Send + 'static,
{
    let handler = Arc::new(handler);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(move |req: AxumRequest<AxumBody>| {
        let handler = handler.clone();
        async move {
            let (parts, body) = req.into_parts();
            let bytes = to_bytes(body, 8 * 1024 * 1024).await.unwrap_or_default();
            let request = lambda_http::http::Request::from_parts(
                parts,
                lambda_http::Body::Binary(bytes.to_vec()),
            );
            let response = handler(request).await;
            let (parts, body) = response.into_parts();
            AxumResponse::from_parts(parts, AxumBody::from(body.as_ref().to_vec()))
        }
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Served { url, task }
}
