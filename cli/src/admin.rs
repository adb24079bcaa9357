//! `burstline admin`: create resources, tenants and API keys against any AWS endpoint —
//! real AWS, LocalStack or moto (`--aws-endpoint` or `AWS_ENDPOINT_URL`).

use anyhow::{Context, bail};
use burstline::apikey::{ApiKey, KeyRecord, Scope};
use burstline::ids::TenantId;
use burstline::provision::{ResourceNames, ensure};
use burstline::requests::RequestCounter;
use burstline::tenant::Tenant;
use burstline::tenants::TenantStore;
use burstline::tenants::dynamodb::DynamoTenants;
use chrono::Utc;
use clap::{Args, Subcommand};

/// Where the resources live.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  burstline admin init --aws-endpoint http://127.0.0.1:4566\n  burstline admin tenant create acme\n  burstline admin key create --tenant acme --scopes ingest,stream,manage"
)]
pub struct AdminArgs {
    /// AWS API endpoint, e.g. http://127.0.0.1:4566 for LocalStack. Without it the SDK's
    /// defaults apply (AWS_ENDPOINT_URL, then real AWS).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    aws_endpoint: Option<String>,
    /// Tenants table (the stack output `TenantsTable`).
    #[arg(
        long,
        global = true,
        env = "TENANTS_TABLE",
        default_value = "burstline-tenants"
    )]
    tenants_table: String,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create the stream, tables and queues if missing (for LocalStack, moto or a sandbox
    /// account; `template.yaml` does this in a real deployment).
    #[command(
        after_help = "Example:\n  burstline admin init --aws-endpoint http://127.0.0.1:4566 --prefix burstline"
    )]
    Init {
        /// Resource name prefix.
        #[arg(long, default_value = "burstline")]
        prefix: String,
    },
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant.
    ///
    /// Example: burstline admin tenant create acme
    Create {
        /// Tenant id: 1-64 characters of [a-z0-9-].
        id: String,
        /// Most SSE streams the tenant may hold open at once.
        #[arg(long, default_value_t = burstline::tenant::DEFAULT_MAX_STREAMS)]
        max_streams: u32,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Create an API key. The key is printed once and stored only as a hash.
    ///
    /// Example: burstline admin key create --tenant acme --scopes ingest,stream,manage
    Create {
        /// Owning tenant.
        #[arg(long)]
        tenant: String,
        /// Comma-separated scopes: ingest, stream, manage.
        #[arg(long, default_value = "ingest,stream")]
        scopes: String,
    },
}

/// Runs an admin command.
pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let aws = burstline::aws::load_config(args.aws_endpoint.as_deref()).await;
    let tenants = || {
        DynamoTenants::new(
            aws_sdk_dynamodb::Client::new(&aws),
            &args.tenants_table,
            RequestCounter::default(),
        )
    };
    match args.command {
        AdminCommand::Init { prefix } => {
            let p = ensure(&aws, &ResourceNames::with_prefix(&prefix)).await?;
            println!("stream          {}", p.names.stream);
            println!("events table    {}", p.names.events_table);
            println!("tenants table   {}", p.names.tenants_table);
            println!("delivery queue  {}", p.delivery_queue_url);
            println!("dead letters    {}", p.delivery_dlq_url);
        }
        AdminCommand::Tenant(TenantCommand::Create { id, max_streams }) => {
            let id = TenantId::parse(&id).map_err(|e| anyhow::anyhow!("tenant id {id:?} {e}"))?;
            let mut tenant = Tenant::new(id.clone(), Utc::now());
            tenant.max_streams = max_streams;
            tenants()
                .create_tenant(&tenant)
                .await
                .with_context(|| format!("creating tenant {id}"))?;
            println!("created tenant {id}");
        }
        AdminCommand::Key(KeyCommand::Create { tenant, scopes }) => {
            let id = TenantId::parse(&tenant)
                .map_err(|e| anyhow::anyhow!("tenant id {tenant:?} {e}"))?;
            let scopes = Scope::parse_list(&scopes).map_err(anyhow::Error::msg)?;
            let store = tenants();
            if store.tenant(&id).await?.is_none() {
                bail!(
                    "tenant {id} does not exist; create it with `burstline admin tenant create {id}`"
                );
            }
            let key = ApiKey::generate()?;
            store
                .put_key(&KeyRecord {
                    hash: key.hash(),
                    tenant_id: id.clone(),
                    scopes: scopes.clone(),
                    prefix: key.display_prefix().to_owned(),
                    created_at: Utc::now(),
                })
                .await?;
            let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            eprintln!(
                "API key for tenant {id} with scopes {}. It is shown only this once:",
                names.join(",")
            );
            println!("{}", key.expose());
        }
    }
    Ok(())
}
