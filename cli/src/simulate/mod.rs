//! `burstline simulate` (placeholder, being written).
use clap::Args;

/// Arguments.
#[derive(Debug, Args)]
pub struct SimulateArgs {}

/// Runs the command.
pub async fn run(_args: SimulateArgs) -> anyhow::Result<()> {
    anyhow::bail!("simulate is not built yet")
}
