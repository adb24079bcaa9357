//! The stream function behind a real HTTP/1.1 server on 127.0.0.1, for clients that speak
//! HTTP (the `burstline tail` binary, the benchmark). Requests are handed to
//! [`stream::handle`] as the Lambda runtime would; the streaming body is written chunk by
//! chunk.

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use stream::Streamer;
use tokio::net::TcpListener;

/// Serves `deps` on a free loopback port until the runtime stops; returns the base URL.
pub async fn serve(deps: Streamer) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let deps = deps.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<Incoming>| {
                    let deps = deps.clone();
                    async move {
                        let (parts, _) = req.into_parts();
                        let request =
                            lambda_http::http::Request::from_parts(parts, lambda_http::Body::Empty);
                        Ok::<_, Infallible>(stream::handle(&deps, request).await)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}
