//! `burstline`: the command-line tool for operators and developers.

mod admin;
mod dev;
mod dlq;
mod endpoints;
mod send;
mod simulate;
mod tail;
mod verify;

use clap::{Parser, Subcommand};

/// `burstline dev` runs every function, the mappings and often a load generator in one process
/// on few cores; glibc's allocator spent about a third of its CPU in a profiled seed burst
/// (`perf`, malloc and free across threads). mimalloc keeps the emulator's own overhead out of
/// the modeled figures. (The Lambda functions keep the system allocator.)
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Burstline: the notification layer for AI-agent platforms.
#[derive(Debug, Parser)]
#[command(name = "burstline", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole stack locally: every function, the event-source mappings, a demo page.
    Dev(dev::DevArgs),
    /// Post events to ingest from flags, a file or stdin (NDJSON).
    Send(send::SendArgs),
    /// Load generator: simulated agent tasks, with a latency and loss summary.
    Simulate(simulate::SimulateArgs),
    /// Operator commands that talk to AWS directly: resources, tenants and API keys.
    Admin(admin::AdminArgs),
    /// Manage webhook endpoints (through the api).
    Endpoints(endpoints::EndpointsArgs),
    /// Inspect and redrive dead-lettered webhooks (SQS).
    Dlq(dlq::DlqArgs),
    /// Verify a received webhook's signature (body on stdin).
    Verify(verify::VerifyArgs),
    /// Follow a task's events over SSE until it ends.
    Tail(tail::TailArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("BURSTLINE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dev(args) => dev::run(args).await,
        Command::Send(args) => send::run(args).await,
        Command::Simulate(args) => simulate::run(args).await,
        Command::Admin(args) => admin::run(args).await,
        Command::Endpoints(args) => endpoints::run(args).await,
        Command::Dlq(args) => dlq::run(args).await,
        Command::Verify(args) => verify::run(args),
        Command::Tail(args) => tail::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
