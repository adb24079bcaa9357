//! Sending webhooks: the [`WebhookSender`] port and its reqwest adapter, which enforces the
//! SSRF policy at connect time (SPEC §5).

use crate::outcome::{Failure, Observed, parse_retry_after};
use crate::request::Header;
use async_trait::async_trait;
use burstline::endpoint::validate_url;
use burstline::ssrf::is_public;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::error::Error as StdError;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Most bytes of a response body read; the rest is ignored.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// What one POST produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The observed result.
    pub observed: Observed,
    /// Time until the response (or failure).
    pub latency: Duration,
}

/// POSTing one webhook.
#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// POSTs `body` with `headers` to `url`.
    async fn post(&self, url: &str, headers: &[Header], body: Vec<u8>) -> Sent;
}

/// Refused by the SSRF policy; found in an error's source chain.
#[derive(Debug)]
struct NotPublic(String);

impl std::fmt::Display for NotPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} resolves to no public address", self.0)
    }
}

impl StdError for NotPublic {}

/// Resolves names itself and keeps only addresses webhooks may reach, so a hostname that
/// points at loopback, a private network or cloud metadata is refused when connecting, after
/// any DNS tricks. With `allow_private` (local development only) everything passes.
#[derive(Debug, Clone, Copy)]
struct PublicResolver {
    allow_private: bool,
}

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(NotPublic(host)) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The production sender: one keep-alive client per warm Lambda, reused across invocations.
#[derive(Debug, Clone)]
pub struct HttpSender {
    client: reqwest::Client,
    allow_private: bool,
}

impl HttpSender {
    /// A sender with `timeout` for connecting and for the whole exchange. Redirects are never
    /// followed. `allow_private` lifts the SSRF policy: unsafe, for local development only.
    pub fn new(timeout: Duration, allow_private: bool) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(PublicResolver { allow_private })
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            client,
            allow_private,
        })
    }
}

fn failure_of(err: &reqwest::Error) -> Failure {
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<NotPublic>() {
            return Failure::RefusedAddress;
        }
        source = e.source();
    }
    if err.is_timeout() {
        Failure::Timeout
    } else if err.is_connect() {
        Failure::Connect
    } else {
        Failure::Interrupted
    }
}

#[async_trait]
impl WebhookSender for HttpSender {
    async fn post(&self, url: &str, headers: &[Header], body: Vec<u8>) -> Sent {
        let started = Instant::now();
        // Literal IP hosts bypass the resolver, so the policy is checked here as well.
        if validate_url(url, self.allow_private).is_err() {
            return Sent {
                observed: Observed::Failed(Failure::RefusedAddress),
                latency: started.elapsed(),
            };
        }
        let mut request = self.client.post(url).body(body);
        for (name, value) in headers {
            request = request.header(name.as_ref(), value);
        }
        let observed = match request.send().await {
            Err(e) => Observed::Failed(failure_of(&e)),
            Ok(mut response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
                // Read (and discard) at most 64 KiB so the connection can be reused; a body
                // that breaks off counts as an interrupted attempt.
                let mut read = 0;
                let mut broken = None;
                while read < MAX_RESPONSE_BYTES {
                    match response.chunk().await {
                        Ok(Some(chunk)) => read += chunk.len(),
                        Ok(None) => break,
                        Err(e) => {
                            broken = Some(failure_of(&e));
                            break;
                        }
                    }
                }
                match broken {
                    Some(f) if (200..300).contains(&status) => Observed::Failed(f),
                    _ => Observed::Response {
                        status,
                        retry_after,
                    },
                }
            }
        };
        Sent {
            observed,
            latency: started.elapsed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[tokio::test]
    async fn the_resolver_refuses_names_that_resolve_to_loopback() {
        let strict = PublicResolver {
            allow_private: false,
        };
        let err = match strict.resolve(Name::from_str("localhost").unwrap()).await {
            Err(e) => e,
            Ok(_) => panic!("localhost must be refused"),
        };
        assert!(err.is::<NotPublic>(), "{err}");
        let dev = PublicResolver {
            allow_private: true,
        };
        let addrs: Vec<SocketAddr> = dev
            .resolve(Name::from_str("localhost").unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }

    #[tokio::test]
    async fn a_hostname_resolving_to_loopback_is_refused_when_connecting() {
        // `localhost` is also refused by name, so use a name that only the resolver catches:
        // the machine's own hostname when it maps to loopback (as in /etc/hosts here).
        let Some(host) = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
        else {
            return;
        };
        let resolves_to_loopback = tokio::net::lookup_host((host.as_str(), 0))
            .await
            .map(|mut a| a.all(|a| a.ip().is_loopback()))
            .unwrap_or(false);
        if !resolves_to_loopback || host.is_empty() {
            // The resolver test above covers the policy on machines without such a name.
            return;
        }
        let sender = HttpSender::new(Duration::from_secs(2), false).unwrap();
        let sent = sender
            .post(&format!("https://{host}:9/hook"), &[], b"{}".to_vec())
            .await;
        assert_eq!(sent.observed, Observed::Failed(Failure::RefusedAddress));
    }
}
