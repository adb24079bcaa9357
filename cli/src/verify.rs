//! `burstline verify`: check a webhook delivery the way an integrator would.

use anyhow::{Context, bail};
use burstline::signing::{WebhookSecret, verify};
use clap::Args;
use std::io::Read;

/// `burstline verify --secret whsec_… --header 'webhook-id: …' … < body`
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  burstline verify --secret \"$WHSEC\" \\\n    -H 'webhook-id: evt_01JD…' -H 'webhook-timestamp: 1764000000' \\\n    -H 'webhook-signature: v1,K5oZ…' < body.json\n\nExits 0 when a signature matches and the timestamp is fresh, 1 otherwise."
)]
pub struct VerifyArgs {
    /// The endpoint's signing secret.
    #[arg(long, env = "BURSTLINE_WEBHOOK_SECRET", hide_env_values = true)]
    secret: String,
    /// A received header, `name: value` (repeatable): webhook-id, webhook-timestamp,
    /// webhook-signature.
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// A file of received headers, one `name: value` per line (as an alternative to -H).
    #[arg(long)]
    headers_file: Option<std::path::PathBuf>,
    /// Accepted clock difference, in seconds.
    #[arg(long, default_value_t = 300)]
    tolerance: i64,
}

/// Runs `verify`; the body comes from stdin.
pub fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let secret =
        WebhookSecret::parse(&args.secret).map_err(|e| anyhow::anyhow!("--secret: {e}"))?;
    let mut lines = args.headers.clone();
    if let Some(path) = &args.headers_file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        lines.extend(text.lines().map(str::to_owned));
    }
    let find = |name: &str| -> Option<String> {
        lines.iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let id = find("webhook-id").context("missing webhook-id header")?;
    let ts: i64 = find("webhook-timestamp")
        .context("missing webhook-timestamp header")?
        .parse()
        .context("webhook-timestamp is not a number")?;
    let signature = find("webhook-signature").context("missing webhook-signature header")?;
    let mut body = Vec::new();
    std::io::stdin()
        .read_to_end(&mut body)
        .context("reading the body from stdin")?;
    let now = chrono::Utc::now().timestamp();
    if (now - ts).abs() > args.tolerance {
        bail!(
            "invalid: timestamp {ts} is {}s away from now (tolerance {}s)",
            (now - ts).abs(),
            args.tolerance
        );
    }
    if !verify(&secret, &id, ts, now, args.tolerance, &body, &signature) {
        bail!("invalid: no signature matches (wrong secret, or the body or headers were altered)");
    }
    println!("valid: {id}");
    Ok(())
}
