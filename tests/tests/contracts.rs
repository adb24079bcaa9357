//! The port contracts of `burstline_tests::contracts`, each run on the in-memory adapters and
//! on moto through the AWS SDK adapters: both must refuse exactly what AWS refuses.

use burstline_tests::contracts;
use burstline_tests::stack::Stack;

/// One test per flavour for each named scenario.
macro_rules! contracts {
    ($($name:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    contracts::$name(Stack::memory()).await;
                }
            )*
        }

        mod moto {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    contracts::$name(Stack::moto("contract").await).await;
                }
            )*
        }
    };
}

contracts![
    commit_takes_at_most_100_actions,
    commit_refuses_one_item_twice,
    commit_refuses_items_over_400_kb,
    commit_refuses_over_4_mb,
    heads_read_in_batches_of_100,
    enqueue_refuses_messages_over_256_kib,
    enqueue_refuses_delays_over_15_minutes,
    job_messages_are_grouped_by_tenant,
    permits_are_written_only_at_the_version_read,
    breaker_pause_is_stored_and_one_writer_wins_the_probe,
    delete_in_batches_of_10,
    put_takes_at_most_500_records,
    put_refuses_records_over_1_mib_and_requests_over_5_mib,
    put_refuses_partition_keys_over_256_characters,
    reads_return_at_most_10_000_records,
    billing_units_are_the_same_on_every_adapter,
];
