//! The AWS actions deliver's ports call, per resource; `template.yaml` grants exactly these.

use burstline::attempts::dynamodb::DynamoAttempts;
use burstline::cursor::dynamodb::DynamoCursors;
use burstline::iam::Grant;
use burstline::log::kinesis::KinesisLog;
use burstline::permits::dynamodb::DynamoPermits;
use burstline::queue::sqs::SqsQueue;
use burstline::seal::kms::KmsSealer;
use burstline::store::dynamodb::DynamoStore;
use burstline::tenants::dynamodb::DynamoTenants;

/// What deliver calls: the job's events (`EventStore::head`, `::events`, `::events_at`), the
/// endpoint and its health (`EndpointStore::endpoint`, `::update_endpoint`), the attempt log and
/// the delivery cursors (`DeliveryCursors::claim`, `::advance`, `::release`), the endpoints'
/// shared limits (`PermitStore::permits`, `::put_permits`), retries
/// (`DeliveryQueue::enqueue`), dead letters, and `EventLog::put` for
/// `burstline.endpoint.disabled`, and opening sealed endpoint secrets (`Sealer::open`, never
/// `::seal`). Receiving and deleting jobs is the event source mapping's.
pub const AWS_ACTIONS: &[Grant] = &[
    Grant {
        resource: "EVENTS_TABLE",
        methods: &[
            DynamoStore::HEAD,
            DynamoStore::EVENTS,
            DynamoStore::EVENTS_AT,
        ],
    },
    Grant {
        resource: "TENANTS_TABLE",
        methods: &[DynamoTenants::ENDPOINT, DynamoTenants::UPDATE_ENDPOINT],
    },
    Grant {
        resource: "DELIVERIES_TABLE",
        methods: &[
            DynamoAttempts::RECORD,
            DynamoCursors::CLAIM,
            DynamoCursors::ADVANCE,
            DynamoCursors::RELEASE,
            DynamoPermits::PERMITS,
            DynamoPermits::PUT_PERMITS,
        ],
    },
    Grant {
        resource: "DELIVERY_QUEUE_URL",
        methods: &[SqsQueue::ENQUEUE],
    },
    Grant {
        resource: "DELIVERY_DLQ_URL",
        methods: &[SqsQueue::DEAD_LETTER],
    },
    Grant {
        resource: "EVENT_STREAM_NAME",
        methods: &[KinesisLog::PUT],
    },
    Grant {
        resource: "SEALING_KEY_ARN",
        methods: &[KmsSealer::OPEN],
    },
];
