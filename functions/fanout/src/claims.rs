//! Who owns an event id: decided per tenant across the whole batch (SPEC §4.2, §4.6). Pure.
//!
//! Within a tenant an id is an idempotency key, stored once with one id marker. A batch can
//! carry an id more than once: a producer resubmitting it (same task), or a tenant reusing it
//! for another task. DynamoDB refuses a transaction that writes one marker twice, so the
//! decision is made here, before any plan, for every record of the batch at once.

use burstline::head::StreamPosition;
use burstline::ids::{EventId, TaskId, TenantId};
use burstline::sequence::Incoming;
use std::collections::{HashMap, HashSet};

/// A tenant's id, the key of an id marker.
pub type IdKey = (TenantId, EventId);

/// Where ids are already stored, as far as this invocation has learned (`find_event`).
pub type Holders = HashMap<IdKey, TaskId>;

/// What a record's id means for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The first use of a new id: the record is stored.
    New,
    /// The id belongs to the record's own task already (stored, or earlier in the batch): an
    /// idempotent resubmission, skipped.
    Duplicate,
    /// The id belongs to another task of the tenant: the record is set aside.
    Conflict {
        /// The task that holds the id.
        holder: TaskId,
        /// Whether the holder's use is stored already (else it is earlier in this batch).
        stored: bool,
    },
}

/// Decides every record's claim. `records` are the batch's records in stream order (all
/// tasks, all tenants); `stored` names the task holding an id that is already stored.
///
/// Rules, per tenant and id: a stored holder owns the id; otherwise the first record in
/// stream order does. A record of the owning task is [`Claim::New`] if it is that first
/// record of a not-yet-stored id, else [`Claim::Duplicate`]; a record of any other task is a
/// [`Claim::Conflict`]. Returns one claim per record, in order.
pub fn decide(records: &[&Incoming], stored: &Holders) -> Vec<Claim> {
    let mut first: HashMap<IdKey, &TaskId> = HashMap::new();
    records
        .iter()
        .map(|r| {
            let key: IdKey = (r.event.tenant_id.clone(), r.event.id.clone());
            let task = &r.event.task_id;
            if let Some(holder) = stored.get(&key) {
                return if holder == task {
                    Claim::Duplicate
                } else {
                    Claim::Conflict {
                        holder: holder.clone(),
                        stored: true,
                    }
                };
            }
            match first.get(&key) {
                None => {
                    first.insert(key, task);
                    Claim::New
                }
                Some(holder) if *holder == task => Claim::Duplicate,
                Some(holder) => Claim::Conflict {
                    holder: (*holder).clone(),
                    stored: false,
                },
            }
        })
        .collect()
}

/// Ids used by more than one task of a tenant in this batch: the only ones whose owner can
/// depend on what is already stored, so fanout looks them up before deciding.
pub fn contested(records: &[&Incoming]) -> Vec<IdKey> {
    let mut tasks: HashMap<IdKey, HashSet<&TaskId>> = HashMap::new();
    let mut order: Vec<IdKey> = Vec::new();
    for r in records {
        let key: IdKey = (r.event.tenant_id.clone(), r.event.id.clone());
        let set = tasks.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            HashSet::new()
        });
        set.insert(&r.event.task_id);
    }
    order.retain(|k| tasks.get(k).is_some_and(|t| t.len() > 1));
    order
}

/// The positions of records whose claim keeps them out of the store.
pub fn excluded(records: &[&Incoming], claims: &[Claim]) -> HashSet<StreamPosition> {
    records
        .iter()
        .zip(claims)
        .filter(|(_, c)| **c != Claim::New)
        .map(|(r, _)| r.position.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burstline::event::NewEvent;

    fn rec(n: u64, tenant: &str, task: &str, id: &str) -> Incoming {
        Incoming {
            position: StreamPosition::new("s0", n.to_string()),
            event: NewEvent {
                id: id.parse().unwrap(),
                event_type: "x".parse().unwrap(),
                tenant_id: tenant.parse().unwrap(),
                task_id: task.parse().unwrap(),
                time: chrono::Utc::now(),
                data: serde_json::Value::Null,
                traceparent: None,
            },
        }
    }

    fn conflict(holder: &str, stored: bool) -> Claim {
        Claim::Conflict {
            holder: holder.parse().unwrap(),
            stored,
        }
    }

    #[test]
    fn first_use_in_stream_order_wins_per_tenant() {
        let recs = [
            rec(1, "acme", "a", "step-1"),
            rec(2, "acme", "b", "step-1"),
            rec(3, "acme", "a", "step-1"),
            rec(4, "other", "b", "step-1"),
            rec(5, "acme", "b", "step-2"),
        ];
        let refs: Vec<&Incoming> = recs.iter().collect();
        let claims = decide(&refs, &Holders::new());
        assert_eq!(
            claims,
            [
                Claim::New,
                conflict("a", false),
                Claim::Duplicate,
                Claim::New, // another tenant's id space
                Claim::New,
            ]
        );
        let out = excluded(&refs, &claims);
        assert_eq!(out.len(), 2);
        assert!(out.contains(&recs[1].position) && out.contains(&recs[2].position));
    }

    #[test]
    fn a_stored_holder_owns_the_id_over_the_batch() {
        let recs = [rec(1, "acme", "b", "x"), rec(2, "acme", "a", "x")];
        let refs: Vec<&Incoming> = recs.iter().collect();
        let stored: Holders = [(
            ("acme".parse().unwrap(), "x".parse().unwrap()),
            "a".parse().unwrap(),
        )]
        .into();
        // b reused a's id; a's own record is a resubmission.
        assert_eq!(
            decide(&refs, &stored),
            [conflict("a", true), Claim::Duplicate]
        );
    }

    #[test]
    fn only_ids_shared_by_tasks_are_contested() {
        let recs = [
            rec(1, "acme", "a", "x"),
            rec(2, "acme", "a", "x"),
            rec(3, "acme", "a", "y"),
            rec(4, "acme", "b", "y"),
            rec(5, "zeta", "c", "x"),
        ];
        let refs: Vec<&Incoming> = recs.iter().collect();
        assert_eq!(
            contested(&refs),
            [("acme".parse().unwrap(), "y".parse().unwrap())]
        );
    }
}
