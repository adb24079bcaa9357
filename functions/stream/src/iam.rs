//! The AWS actions the stream function's ports call, per resource; `template.yaml` grants
//! exactly these.

use burstline::iam::Grant;
use burstline::leases::dynamodb::DynamoLeases;
use burstline::store::dynamodb::DynamoStore;
use burstline::tenants::dynamodb::DynamoTenants;

/// What stream calls: task heads and events (replay and tail), API keys and the tenant's
/// `max_streams`, and its stream slot (`LeaseStore`, in the tenants table).
pub const AWS_ACTIONS: &[Grant] = &[
    Grant {
        resource: "EVENTS_TABLE",
        methods: &[DynamoStore::HEAD, DynamoStore::EVENTS],
    },
    Grant {
        resource: "TENANTS_TABLE",
        methods: &[
            DynamoTenants::KEY,
            DynamoTenants::TENANT,
            DynamoLeases::ACQUIRE,
            DynamoLeases::RENEW,
            DynamoLeases::RELEASE,
        ],
    },
];
