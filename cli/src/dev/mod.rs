//! `burstline dev` (placeholder, being written).
use clap::Args;

/// Arguments.
#[derive(Debug, Args)]
pub struct DevArgs {}

/// Runs the command.
pub async fn run(_args: DevArgs) -> anyhow::Result<()> {
    anyhow::bail!("dev is not built yet")
}
