//! `burstline admin` as a user runs it: the real binary against a moto server, honouring
//! `AWS_ENDPOINT_URL` like it would for LocalStack or real AWS.

use burstline::apikey::{ApiKey, Scope};
use burstline::requests::RequestCounter;
use burstline::tenants::TenantStore;
use burstline::tenants::dynamodb::DynamoTenants;
use burstline_tests::moto::Moto;
use burstline_tests::stack::unique_prefix;
use std::process::{Command, Output};

fn burstline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_burstline"))
        .args(args)
        .env("AWS_ENDPOINT_URL", &Moto::shared().endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("TENANTS_TABLE")
        .output()
        .expect("run burstline")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_tenant_and_key_against_an_aws_endpoint() {
    let prefix = unique_prefix("cli");
    let table = format!("{prefix}-tenants");
    let out = burstline(&["admin", "init", "--prefix", &prefix]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&table));
    // Idempotent: a second init changes nothing and succeeds.
    assert!(
        burstline(&["admin", "init", "--prefix", &prefix])
            .status
            .success()
    );

    let out = burstline(&[
        "admin",
        "--tenants-table",
        &table,
        "tenant",
        "create",
        "acme",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = burstline(&[
        "admin",
        "--tenants-table",
        &table,
        "tenant",
        "create",
        "acme",
    ]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );

    let out = burstline(&[
        "admin",
        "--tenants-table",
        &table,
        "key",
        "create",
        "--tenant",
        "acme",
        "--scopes",
        "ingest,stream",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout).trim().to_owned();
    let key = ApiKey::from_presented(&printed).expect("prints one bl_ key");
    assert!(text(&out.stderr).contains("only this once"));

    // The key is stored as its hash, with its tenant and scopes.
    let config = Moto::shared().sdk_config().await;
    let tenants = DynamoTenants::new(
        aws_sdk_dynamodb::Client::new(&config),
        &table,
        RequestCounter::default(),
    );
    let record = tenants.key(&key.hash()).await.unwrap().expect("stored");
    assert_eq!(record.tenant_id.as_str(), "acme");
    assert_eq!(record.scopes, vec![Scope::Ingest, Scope::Stream]);
    assert!(!format!("{record:?}").contains(key.expose()));
}

#[test]
fn bad_arguments_fail_with_a_clear_message() {
    let out = burstline(&["admin", "tenant", "create", "Not Valid"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("tenant id"),
        "{}",
        text(&out.stderr)
    );
    let out = burstline(&[
        "admin", "key", "create", "--tenant", "acme", "--scopes", "root",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("unknown scope 'root'"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn unknown_tenant_gets_no_key() {
    let prefix = unique_prefix("cli-nokey");
    assert!(
        burstline(&["admin", "init", "--prefix", &prefix])
            .status
            .success()
    );
    let table = format!("{prefix}-tenants");
    let out = burstline(&[
        "admin",
        "--tenants-table",
        &table,
        "key",
        "create",
        "--tenant",
        "ghost",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("does not exist"),
        "{}",
        text(&out.stderr)
    );
}
