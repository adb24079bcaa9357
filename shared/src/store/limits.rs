//! What DynamoDB accepts from the event store, as pure checks on the shape of a request: the
//! key and size of every item a transaction writes. The in-memory store refuses exactly the
//! transactions DynamoDB refuses, counted on the very items the DynamoDB adapter would send.

use std::collections::HashSet;

/// `TransactWriteItems` takes at most 100 actions…
pub const MAX_ACTIONS: usize = 100;
/// …whose items total at most 4 MB…
pub const MAX_TOTAL_BYTES: usize = 4 * 1024 * 1024;
/// …each item at most 400 KB (attribute names and values).
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// `BatchGetItem` reads at most 100 keys per request.
pub const MAX_KEYS_PER_BATCH_GET: usize = 100;

/// One action of a transaction: the key of the item it writes, and the item's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// The item's full primary key, rendered (`pk` and `sk`).
    pub key: String,
    /// The item's size as DynamoDB counts it.
    pub bytes: usize,
}

/// Why DynamoDB would refuse a `TransactWriteItems` of `actions`, or `None` if it accepts it:
/// more than [`MAX_ACTIONS`], the same item twice ("Transaction request cannot include
/// multiple operations on one item"), an item over [`MAX_ITEM_BYTES`], or over
/// [`MAX_TOTAL_BYTES`] in all.
pub fn transaction_refusal(actions: &[Action]) -> Option<String> {
    if actions.len() > MAX_ACTIONS {
        return Some(format!(
            "{} actions; a transaction takes at most {MAX_ACTIONS}",
            actions.len()
        ));
    }
    let mut seen = HashSet::new();
    if let Some(twice) = actions.iter().find(|a| !seen.insert(&a.key)) {
        return Some(format!(
            "the item {} is written twice in one transaction",
            twice.key
        ));
    }
    if let Some(big) = actions.iter().find(|a| a.bytes > MAX_ITEM_BYTES) {
        return Some(format!(
            "the item {} has {} bytes; at most {MAX_ITEM_BYTES}",
            big.key, big.bytes
        ));
    }
    total_refusal(actions)
}

/// Why DynamoDB would refuse `actions` for their total size alone, or `None`.
pub fn total_refusal(actions: &[Action]) -> Option<String> {
    let total: usize = actions.iter().map(|a| a.bytes).sum();
    (total > MAX_TOTAL_BYTES)
        .then(|| format!("{total} bytes in one transaction; at most {MAX_TOTAL_BYTES}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(key: &str, bytes: usize) -> Action {
        Action {
            key: key.into(),
            bytes,
        }
    }

    #[test]
    fn each_limit_is_refused_just_past_it() {
        let many: Vec<Action> = (0..MAX_ACTIONS)
            .map(|i| action(&i.to_string(), 10))
            .collect();
        assert_eq!(transaction_refusal(&many), None);
        let more: Vec<Action> = (0..=MAX_ACTIONS)
            .map(|i| action(&i.to_string(), 10))
            .collect();
        assert!(transaction_refusal(&more).is_some());
        assert!(transaction_refusal(&[action("a", 1), action("b", 1), action("a", 1)]).is_some());
        assert_eq!(transaction_refusal(&[action("a", MAX_ITEM_BYTES)]), None);
        assert!(transaction_refusal(&[action("a", MAX_ITEM_BYTES + 1)]).is_some());
        let full: Vec<Action> = (0..10)
            .map(|i| action(&i.to_string(), MAX_ITEM_BYTES))
            .collect();
        assert_eq!(transaction_refusal(&full), None);
        let over: Vec<Action> = (0..11)
            .map(|i| action(&i.to_string(), MAX_ITEM_BYTES))
            .collect();
        assert!(transaction_refusal(&over).is_some());
    }
}
