//! The task routes' share of the api configuration. Variable names match `template.yaml`.

use burstline::Error;
use burstline::config::{Lookup, parsed, required};
use burstline::stream_token::{MIN_SECRET_BYTES, TokenSecret};
use std::time::Duration;

/// Settings of the task routes.
#[derive(Debug, Clone)]
pub struct TaskConfig {
    /// `STREAM_URL`: the stream function's URL, e.g. `https://abc.lambda-url.eu-west-1.on.aws`,
    /// used in links and token URLs.
    pub stream_url: String,
    /// `STREAM_TOKEN_SECRET`: HS256 secret shared with stream (at least 32 bytes).
    pub token_secret: TokenSecret,
    /// `STREAM_TOKEN_TTL_SECONDS` (300): how long a minted stream token opens its stream.
    pub token_ttl: Duration,
}

impl TaskConfig {
    /// Every variable this config reads.
    pub const VARS: [&'static str; 3] = [
        "STREAM_URL",
        "STREAM_TOKEN_SECRET",
        "STREAM_TOKEN_TTL_SECONDS",
    ];

    /// Reads the configuration, naming the variable at fault.
    pub fn from_env(env: Lookup<'_>) -> Result<Self, Error> {
        let token_secret =
            TokenSecret::new(required(env, "STREAM_TOKEN_SECRET")?).ok_or(Error::Config {
                var: "STREAM_TOKEN_SECRET",
                message: format!("must be at least {MIN_SECRET_BYTES} bytes"),
            })?;
        Ok(Self {
            stream_url: required(env, "STREAM_URL")?
                .trim_end_matches('/')
                .to_owned(),
            token_secret,
            token_ttl: Duration::from_secs(parsed(env, "STREAM_TOKEN_TTL_SECONDS", 300)?.max(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_normalises() {
        let env = |k: &str| match k {
            "STREAM_URL" => Some("https://s.example/".to_owned()),
            "STREAM_TOKEN_SECRET" => Some("s".repeat(40)),
            _ => None,
        };
        let c = TaskConfig::from_env(&env).unwrap();
        assert_eq!(c.stream_url, "https://s.example");
        assert_eq!(c.token_ttl, Duration::from_secs(300));
        let short = |k: &str| match k {
            "STREAM_TOKEN_SECRET" => Some("s".to_owned()),
            _ => env(k),
        };
        let err = TaskConfig::from_env(&short).unwrap_err().to_string();
        assert!(err.contains("STREAM_TOKEN_SECRET"), "{err}");
    }
}
