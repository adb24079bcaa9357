//! `burstline send` (placeholder, being written).
use clap::Args;

/// Arguments.
#[derive(Debug, Args)]
pub struct SendArgs {}

/// Runs the command.
pub async fn run(_args: SendArgs) -> anyhow::Result<()> {
    anyhow::bail!("send is not built yet")
}
