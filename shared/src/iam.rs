//! IAM permissions read off the ports: each AWS adapter names the actions every port method
//! calls, and each function composes the methods it calls into [`Grant`]s, one per resource.
//!
//! `tests/tests/template.rs` checks `template.yaml` against these both ways: every declared
//! action is allowed on its resource, and nothing else is (but what an event source needs).

/// The IAM actions one port method calls, as they are authorised: a `TransactWriteItems` of
/// Puts is `dynamodb:PutItem`, an SQS `SendMessageBatch` is `sqs:SendMessage`.
pub type Actions = &'static [&'static str];

/// The actions a function needs on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The configuration variable holding the resource's name or URL (`EVENTS_TABLE`), as the
    /// function's config reads it and `template.yaml` sets it.
    pub resource: &'static str,
    /// The [`Actions`] of every port method the function calls on that resource.
    pub methods: &'static [Actions],
}

impl Grant {
    /// Every action of the grant, each once, sorted.
    pub fn actions(&self) -> Vec<&'static str> {
        let mut all: Vec<&'static str> = self
            .methods
            .iter()
            .flat_map(|m| m.iter().copied())
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// The IAM action that authorises `operation`, a request as
/// [`RequestCounter`](crate::requests::RequestCounter) records it: batch forms are authorised
/// per entry, and the adapters' transactions hold only Puts.
pub fn authorised_as(operation: &str) -> &str {
    match operation {
        "dynamodb:TransactWriteItems" => "dynamodb:PutItem",
        "sqs:SendMessageBatch" => "sqs:SendMessage",
        "sqs:DeleteMessageBatch" => "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibilityBatch" => "sqs:ChangeMessageVisibility",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_the_union_of_the_methods() {
        let grant = Grant {
            resource: "T",
            methods: &[
                &["dynamodb:Query", "dynamodb:GetItem"],
                &["dynamodb:GetItem"],
            ],
        };
        assert_eq!(grant.actions(), ["dynamodb:GetItem", "dynamodb:Query"]);
    }

    #[test]
    fn batch_requests_are_authorised_per_entry() {
        assert_eq!(authorised_as("sqs:SendMessageBatch"), "sqs:SendMessage");
        assert_eq!(
            authorised_as("dynamodb:TransactWriteItems"),
            "dynamodb:PutItem"
        );
        assert_eq!(authorised_as("dynamodb:Query"), "dynamodb:Query");
    }
}
