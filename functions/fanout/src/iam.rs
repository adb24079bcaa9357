//! The AWS actions fanout's ports call, per resource; `template.yaml` grants exactly these,
//! plus the on-failure destination of its event source.

use burstline::iam::Grant;
use burstline::queue::sqs::SqsQueue;
use burstline::store::dynamodb::DynamoStore;
use burstline::tenants::dynamodb::DynamoTenants;

/// What fanout calls: `EventStore::heads` and `::commit`, `SubscriptionStore::subscriptions`,
/// and `DeliveryQueue::enqueue`. Reading the stream is the event source mapping's.
pub const AWS_ACTIONS: &[Grant] = &[
    Grant {
        resource: "EVENTS_TABLE",
        methods: &[DynamoStore::HEADS, DynamoStore::COMMIT],
    },
    Grant {
        resource: "TENANTS_TABLE",
        methods: &[DynamoTenants::SUBSCRIPTIONS],
    },
    Grant {
        resource: "DELIVERY_QUEUE_URL",
        methods: &[SqsQueue::ENQUEUE],
    },
];
