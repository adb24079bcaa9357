//! The AWS actions ingest's ports call, per resource; `template.yaml` grants exactly these.

use burstline::iam::Grant;
use burstline::log::kinesis::KinesisLog;
use burstline::tenants::dynamodb::DynamoTenants;

/// What ingest calls: `EventLog::put`, and `TenantStore::key` for authentication.
pub const AWS_ACTIONS: &[Grant] = &[
    Grant {
        resource: "EVENT_STREAM_NAME",
        methods: &[KinesisLog::PUT],
    },
    Grant {
        resource: "TENANTS_TABLE",
        methods: &[DynamoTenants::KEY],
    },
];
