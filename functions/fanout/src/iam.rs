//! The AWS actions fanout's ports call, per resource; `template.yaml` grants exactly these,
//! plus the on-failure destination of its event source.

use burstline::iam::Grant;
use burstline::log::kinesis::KinesisLog;
use burstline::queue::sqs::SqsQueue;
use burstline::store::dynamodb::DynamoStore;
use burstline::tenants::dynamodb::DynamoTenants;

/// What fanout calls: `EventStore::heads`, `::commit` and `::find_event` (whose task holds an
/// id), `SubscriptionStore::subscriptions`, `DeliveryQueue::enqueue`, and `EventLog::put` for
/// `burstline.event.rejected`. Reading the stream is the event source mapping's.
pub const AWS_ACTIONS: &[Grant] = &[
    Grant {
        resource: "EVENTS_TABLE",
        methods: &[
            DynamoStore::HEADS,
            DynamoStore::COMMIT,
            DynamoStore::FIND_EVENT,
        ],
    },
    Grant {
        resource: "TENANTS_TABLE",
        methods: &[DynamoTenants::SUBSCRIPTIONS],
    },
    Grant {
        resource: "DELIVERY_QUEUE_URL",
        methods: &[SqsQueue::ENQUEUE],
    },
    Grant {
        resource: "EVENT_STREAM_NAME",
        methods: &[KinesisLog::PUT],
    },
];
