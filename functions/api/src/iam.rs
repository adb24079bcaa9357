//! The AWS actions the api's ports call, per resource; `template.yaml` grants exactly these.

use burstline::attempts::dynamodb::DynamoAttempts;
use burstline::cursor::dynamodb::DynamoCursors;
use burstline::iam::Grant;
use burstline::queue::sqs::SqsQueue;
use burstline::seal::kms::KmsSealer;
use burstline::store::dynamodb::DynamoStore;
use burstline::tenants::dynamodb::DynamoTenants;

/// What the api calls: API keys and the whole `EndpointStore`, task heads and events (status,
/// result, replay), `AttemptLog::list`, and for replays `DeliveryQueue::enqueue` and
/// `DeliveryCursors::cursor`, `::rewind`; sealing and opening endpoint secrets (`Sealer`).
pub const AWS_ACTIONS: &[Grant] = &[
    Grant {
        resource: "TENANTS_TABLE",
        methods: &[
            DynamoTenants::KEY,
            DynamoTenants::CREATE_ENDPOINT,
            DynamoTenants::ENDPOINT,
            DynamoTenants::ENDPOINTS,
            DynamoTenants::UPDATE_ENDPOINT,
            DynamoTenants::DELETE_ENDPOINT,
        ],
    },
    Grant {
        resource: "EVENTS_TABLE",
        methods: &[DynamoStore::HEAD, DynamoStore::EVENTS],
    },
    Grant {
        resource: "DELIVERIES_TABLE",
        methods: &[
            DynamoAttempts::LIST,
            DynamoCursors::CURSOR,
            DynamoCursors::REWIND,
        ],
    },
    Grant {
        resource: "DELIVERY_QUEUE_URL",
        methods: &[SqsQueue::ENQUEUE],
    },
    Grant {
        resource: "SEALING_KEY_ARN",
        methods: &[KmsSealer::SEAL, KmsSealer::OPEN],
    },
];
