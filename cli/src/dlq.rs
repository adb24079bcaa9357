//! `burstline dlq`: inspect and redrive dead-lettered webhook jobs (talks to SQS directly).

use burstline::ids::EndpointId;
use burstline::job::DlqMessage;
use burstline::queue::QueueReader;
use burstline::queue::sqs::SqsQueue;
use burstline::redrive::redrive;
use burstline::requests::RequestCounter;
use clap::{Args, Subcommand};
use std::time::Duration;

/// `burstline dlq …`
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  burstline dlq list\n  burstline dlq redrive --endpoint ep_01JD… --dry-run\n  burstline dlq redrive"
)]
pub struct DlqArgs {
    /// AWS API endpoint (LocalStack, moto); default: AWS_ENDPOINT_URL, then real AWS.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    aws_endpoint: Option<String>,
    /// The dead-letter queue URL (stack output `DeliveryDlqUrl`).
    #[arg(long, global = true, env = "DELIVERY_DLQ_URL")]
    dlq_url: Option<String>,
    /// The delivery queue URL (stack output `DeliveryQueueUrl`), for redrive.
    #[arg(long, global = true, env = "DELIVERY_QUEUE_URL")]
    queue_url: Option<String>,
    #[command(subcommand)]
    command: DlqCommand,
}

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// Show dead letters: endpoint, task, seqs, reason and attempts.
    #[command(
        after_help = "Example:\n  burstline dlq list --dlq-url \"$DELIVERY_DLQ_URL\" --endpoint ep_01JD4Z6Q8K3M2N7P9R5T0V1W2X"
    )]
    List {
        /// Only this endpoint's.
        #[arg(long)]
        endpoint: Option<String>,
    },
    /// Put dead letters back on the delivery queue with a fresh retry schedule. Idempotent.
    #[command(
        after_help = "Examples:\n  burstline dlq redrive --dry-run\n  burstline dlq redrive --endpoint ep_01JD4Z6Q8K3M2N7P9R5T0V1W2X"
    )]
    Redrive {
        /// Only this endpoint's.
        #[arg(long)]
        endpoint: Option<String>,
        /// Report what would move without moving it.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs a dlq command.
pub async fn run(args: DlqArgs) -> anyhow::Result<()> {
    let aws = burstline::aws::load_config(args.aws_endpoint.as_deref()).await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let dlq_url = args
        .dlq_url
        .ok_or_else(|| anyhow::anyhow!("set --dlq-url or DELIVERY_DLQ_URL"))?;
    let dlq = SqsQueue::new(sqs.clone(), dlq_url, RequestCounter::default());
    let parse_ep = |e: Option<String>| -> anyhow::Result<Option<EndpointId>> {
        e.map(|e| EndpointId::parse(&e).map_err(|err| anyhow::anyhow!("endpoint {e:?}: {err}")))
            .transpose()
    };
    match args.command {
        DlqCommand::List { endpoint } => {
            let endpoint = parse_ep(endpoint)?;
            let mut handles = Vec::new();
            let mut shown = 0;
            loop {
                let messages = dlq.receive(10, Duration::ZERO).await?;
                if messages.is_empty() {
                    break;
                }
                for m in messages {
                    handles.push(m.receipt_handle.clone());
                    let Ok(msg) = serde_json::from_str::<DlqMessage>(&m.body) else {
                        println!("{}  (undecodable)", m.message_id);
                        continue;
                    };
                    let reason = match &msg {
                        DlqMessage::Dead { dead_letter } => dead_letter.reason.clone(),
                        DlqMessage::Raw(_) => "moved by the queue's redrive policy".to_owned(),
                    };
                    for job in msg
                        .jobs()
                        .iter()
                        .filter(|j| endpoint.as_ref().is_none_or(|e| &j.endpoint_id == e))
                    {
                        let seqs: Vec<String> =
                            job.events.iter().map(|r| r.seq.to_string()).collect();
                        println!(
                            "{}  {}  {}/{} seq {}  attempts {}  {}",
                            m.message_id,
                            job.endpoint_id,
                            job.tenant_id,
                            job.task_id,
                            seqs.join(","),
                            job.history.len(),
                            reason
                        );
                        shown += 1;
                    }
                }
            }
            dlq.release(&handles).await?;
            eprintln!("{shown} dead-lettered job(s)");
        }
        DlqCommand::Redrive { endpoint, dry_run } => {
            let endpoint = parse_ep(endpoint)?;
            let queue_url = args
                .queue_url
                .ok_or_else(|| anyhow::anyhow!("set --queue-url or DELIVERY_QUEUE_URL"))?;
            let queue = SqsQueue::new(sqs, queue_url, RequestCounter::default());
            let report = redrive(&dlq, &queue, endpoint.as_ref(), dry_run).await?;
            let events: usize = report.jobs.iter().map(|j| j.events.len()).sum();
            if dry_run {
                println!(
                    "would redrive {} job(s), {events} event(s); nothing changed",
                    report.jobs.len()
                );
            } else {
                println!(
                    "redrove {} job(s), {events} event(s); {} message(s) left in the DLQ",
                    report.jobs.len(),
                    report.left
                );
            }
        }
    }
    Ok(())
}
