//! Webhook jobs: what fanout enqueues in SQS and deliver consumes.
//!
//! A job names one endpoint and a run of one task's events by `(seq, id)`; deliver loads the
//! envelopes from the store. Jobs are enqueued *before* the commit that stores their events
//! (so a crash can never lose one), which means a job may reach deliver before its events are
//! visible, or refer to an assignment that lost its commit to a duplicate. `through` settles
//! both: once the task head's position is at or after it, the commit has happened, and a ref
//! whose stored event has another id is stale and is dropped — its replacement job was
//! enqueued before the winning commit.
//!
//! Each job also carries its place in the endpoint × task delivery order ([`Chain`]); see
//! [`crate::delivery_order`].

use crate::delivery_order::{Chain, chain_runs};
use crate::event::EventType;
use crate::head::StreamPosition;
use crate::ids::{EndpointId, EventId, Seq, TaskId, TaskKey, TenantId};
use crate::sequence::TaskPlan;
use crate::subscription::Subscription;
use serde::{Deserialize, Serialize};

/// At most this many events per job, keeping SQS messages far below 256 KB.
pub const MAX_EVENTS_PER_JOB: usize = 100;
/// Jobs are bundled into SQS messages of at most this many bytes, so ten fit one
/// `SendMessageBatch` (256 KiB) in the common case.
pub const MAX_MESSAGE_BYTES: usize = 24 * 1024;

/// A reference to one stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRef {
    /// Assigned seq.
    pub seq: Seq,
    /// Event id; must match the stored event at `seq`.
    pub id: EventId,
    /// Event type, so deliver can log and filter without a read.
    #[serde(rename = "type")]
    pub event_type: EventType,
}

/// One webhook job: an endpoint and a run of one task's events, in seq order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryJob {
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Task whose events these are.
    pub task_id: TaskId,
    /// Destination.
    pub endpoint_id: EndpointId,
    /// Events, ascending seq.
    pub events: Vec<EventRef>,
    /// The task head reaches this position when the events' commit has landed.
    pub through: StreamPosition,
    /// Attempts made so far (0 for a fresh job).
    #[serde(default)]
    pub attempt: u32,
    /// Not to be attempted before this time: how waits longer than SQS's 15-minute delay
    /// are chained (deliver re-enqueues a job that is not yet due).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<chrono::DateTime<chrono::Utc>>,
    /// Times deliver found the events not yet committed and looked again later.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub commit_waits: u32,
    /// Every attempt so far, oldest first: what a dead letter needs to be understood.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<AttemptSummary>,
    /// Its place in the endpoint × task order. `None`: delivered outside the order, as soon as
    /// received — redriven dead letters, and jobs enqueued before ordering existed (messages
    /// without the field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<Chain>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One delivery attempt, as carried in the job and the dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptSummary {
    /// When the attempt started.
    pub at: chrono::DateTime<chrono::Utc>,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// Time to the response (or the failure).
    pub latency_ms: u64,
    /// Error class when there was no usable response: `timeout`, `connect`, `refused_address`, …
    pub error: Option<String>,
}

/// A job that will not be delivered by itself: the DLQ message, with everything needed to
/// understand and redrive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The job, with the events still undelivered and the attempt history.
    pub job: DeliveryJob,
    /// Why it stopped: `retries exhausted`, `410 Gone`, `HTTP 400`, `endpoint disabled`, …
    pub reason: String,
    /// The endpoint's URL at the time.
    pub url: Option<String>,
    /// When it was dead-lettered.
    pub dead_at: chrono::DateTime<chrono::Utc>,
}

/// A message in the dead-letter queue: a [`DeadLetter`] from deliver, or a raw job message
/// moved there by the queue's redrive policy after repeated crashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DlqMessage {
    /// Written by deliver.
    Dead {
        /// The letter.
        dead_letter: Box<DeadLetter>,
    },
    /// Moved by SQS.
    Raw(JobMessage),
}

impl DeadLetter {
    /// The DLQ message, grouped by the job's tenant like the job itself.
    pub fn to_outgoing(&self) -> Outgoing {
        Outgoing {
            group: self.job.tenant_id.to_string(),
            body: self.to_body(),
        }
    }

    /// The DLQ message body: `{"dead_letter":{…}}`.
    pub fn to_body(&self) -> String {
        serde_json::to_string(&serde_json::json!({ "dead_letter": self })).unwrap_or_default()
    }
}

impl DlqMessage {
    /// The jobs to redrive.
    pub fn jobs(&self) -> Vec<DeliveryJob> {
        match self {
            DlqMessage::Dead { dead_letter } => vec![dead_letter.job.clone()],
            DlqMessage::Raw(m) => m.jobs.clone(),
        }
    }
}

impl DeliveryJob {
    /// The task the job belongs to.
    pub fn task_key(&self) -> TaskKey {
        TaskKey::new(self.tenant_id.clone(), self.task_id.clone())
    }
}

/// The SQS message body: jobs of one endpoint, each handled (and retried) on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    /// The jobs, in enqueue order.
    pub jobs: Vec<DeliveryJob>,
}

/// One SQS message on its way out: the body, and the `MessageGroupId` it is sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The owning tenant: with SQS fair queues, a tenant that holds most in-flight messages
    /// (a backlog, slow consumers) no longer delays the other tenants' messages.
    pub group: String,
    /// The message body.
    pub body: String,
}

/// Bundles jobs into message bodies: one endpoint per message, in order, each body at most
/// [`MAX_MESSAGE_BYTES`] unless a single job is larger. Bundling is what keeps a burst across
/// many tasks to about one `SendMessageBatch` per fanout batch.
pub fn pack_messages(jobs: &[DeliveryJob]) -> Vec<String> {
    pack_grouped(jobs).into_iter().map(|m| m.body).collect()
}

/// [`pack_messages`], each message with its tenant as the group (an endpoint has one tenant,
/// so every job of a message shares it).
pub fn pack_grouped(jobs: &[DeliveryJob]) -> Vec<Outgoing> {
    let mut by_endpoint: Vec<(&EndpointId, &TenantId, Vec<String>)> = Vec::new();
    for job in jobs {
        let json = serde_json::to_string(job).unwrap_or_default();
        match by_endpoint
            .iter_mut()
            .find(|(ep, tenant, _)| *ep == &job.endpoint_id && *tenant == &job.tenant_id)
        {
            Some((_, _, list)) => list.push(json),
            None => by_endpoint.push((&job.endpoint_id, &job.tenant_id, vec![json])),
        }
    }
    let mut out = Vec::new();
    for (_, tenant, list) in by_endpoint {
        let message = |jobs: &[String]| Outgoing {
            group: tenant.to_string(),
            body: format!("{{\"jobs\":[{}]}}", jobs.join(",")),
        };
        let mut current: Vec<String> = Vec::new();
        let mut size = 0;
        for json in list {
            if !current.is_empty() && size + json.len() + 1 > MAX_MESSAGE_BYTES {
                out.push(message(&current));
                current.clear();
                size = 0;
            }
            size += json.len() + 1;
            current.push(json);
        }
        if !current.is_empty() {
            out.push(message(&current));
        }
    }
    out
}

/// Decodes a message body into its jobs.
pub fn unpack_message(body: &str) -> Result<Vec<DeliveryJob>, serde_json::Error> {
    serde_json::from_str::<JobMessage>(body).map(|m| m.jobs)
}

/// The jobs a plan needs: per enabled endpoint whose filters match, the matching events in
/// runs of at most [`MAX_EVENTS_PER_JOB`], chained per endpoint from where the base head says
/// the endpoint's chain ends. Records the new chain ends in the plan's head, so they commit
/// with the events.
pub fn jobs_for(plan: &mut TaskPlan, subscriptions: &[Subscription]) -> Vec<DeliveryJob> {
    let Some(through) = plan.head.position.clone() else {
        return Vec::new();
    };
    let mut jobs = Vec::new();
    for sub in subscriptions {
        let refs: Vec<EventRef> = plan
            .events
            .iter()
            .map(|a| &a.envelope)
            .filter(|e| sub.wants(&e.event_type))
            .map(|e| EventRef {
                seq: e.seq,
                id: e.id.clone(),
                event_type: e.event_type.clone(),
            })
            .collect();
        let Some(last) = refs.last().map(|r| r.seq) else {
            continue;
        };
        let after = plan
            .base
            .as_ref()
            .and_then(|b| b.chain_ends.get(&sub.endpoint_id))
            .copied()
            .unwrap_or_default();
        let seqs: Vec<Seq> = refs.iter().map(|r| r.seq).collect();
        for (run, chain) in chain_runs(after, &seqs, last, 0, MAX_EVENTS_PER_JOB) {
            jobs.push(DeliveryJob {
                tenant_id: plan.key.tenant_id.clone(),
                task_id: plan.key.task_id.clone(),
                endpoint_id: sub.endpoint_id.clone(),
                events: refs[run].to_vec(),
                through: through.clone(),
                attempt: 0,
                not_before: None,
                commit_waits: 0,
                history: Vec::new(),
                chain: Some(chain),
            });
        }
        plan.head
            .chain_ends
            .insert(sub.endpoint_id.clone(), last.max(after));
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::NewEvent;
    use crate::sequence::{Incoming, plan_task};
    use crate::subscription::EventFilter;
    use chrono::Utc;
    use std::collections::HashSet;

    #[test]
    fn jobs_follow_filters_and_chunk() {
        let key = TaskKey::new("acme".parse().unwrap(), "run".parse().unwrap());
        let recs: Vec<Incoming> = (1..=150u64)
            .map(|n| Incoming {
                position: StreamPosition::new("s0", n.to_string()),
                event: NewEvent {
                    id: format!("e{n}").parse().unwrap(),
                    event_type: EventType::parse(if n % 2 == 0 {
                        "tool_call.started"
                    } else {
                        "token.delta"
                    })
                    .unwrap(),
                    tenant_id: key.tenant_id.clone(),
                    task_id: key.task_id.clone(),
                    time: Utc::now(),
                    data: serde_json::Value::Null,
                    traceparent: None,
                },
            })
            .collect();
        let plan = plan_task(&key, None, &recs, &HashSet::new(), Utc::now()).unwrap();
        let sub = |f: &str, enabled| Subscription {
            endpoint_id: EndpointId::generate(),
            filters: vec![EventFilter::parse(f).unwrap()],
            enabled,
        };
        let all = sub("*", true);
        let tools = sub("tool_call.*", true);
        let off = sub("*", false);
        let mut plan = plan;
        let jobs = jobs_for(&mut plan, &[all.clone(), tools.clone(), off.clone()]);
        let count = |ep: &EndpointId| -> usize {
            jobs.iter()
                .filter(|j| &j.endpoint_id == ep)
                .map(|j| j.events.len())
                .sum()
        };
        assert_eq!(count(&all.endpoint_id), 150);
        assert_eq!(count(&tools.endpoint_id), 75);
        assert_eq!(
            jobs.len(),
            3,
            "150 events split into 100 + 50, plus one job of 75"
        );
        assert!(
            jobs.iter()
                .all(|j| j.through == StreamPosition::new("s0", "150"))
        );
        let many: Vec<DeliveryJob> = (0..40).map(|_| jobs[0].clone()).collect();
        let bodies = pack_messages(&many);
        assert!(bodies.len() > 1 && bodies.iter().all(|b| b.len() <= MAX_MESSAGE_BYTES));
        assert_eq!(
            bodies
                .iter()
                .map(|b| unpack_message(b).unwrap().len())
                .sum::<usize>(),
            40
        );
        let seqs: Vec<u64> = jobs[0].events.iter().map(|r| r.seq.0).collect();
        assert_eq!(seqs, (1..=100).collect::<Vec<_>>());

        // Chains: per endpoint, each job starts where the previous one ends; the head records
        // where each chain ends, and the next plan continues from there.
        let spans = |jobs: &[DeliveryJob], ep: &EndpointId| -> Vec<(u64, u64)> {
            jobs.iter()
                .filter(|j| &j.endpoint_id == ep)
                .map(|j| j.chain.as_ref().map(|c| (c.after.0, c.upto.0)).unwrap())
                .collect()
        };
        assert_eq!(spans(&jobs, &all.endpoint_id), [(0, 100), (100, 150)]);
        assert_eq!(spans(&jobs, &tools.endpoint_id), [(0, 150)]);
        assert_eq!(plan.head.chain_ends.get(&all.endpoint_id), Some(&Seq(150)));
        assert_eq!(plan.head.chain_ends.get(&off.endpoint_id), None);
        let more: Vec<Incoming> = (151..=153u64)
            .map(|n| Incoming {
                position: StreamPosition::new("s0", n.to_string()),
                event: NewEvent {
                    id: format!("e{n}").parse().unwrap(),
                    event_type: EventType::parse("token.delta").unwrap(),
                    tenant_id: key.tenant_id.clone(),
                    task_id: key.task_id.clone(),
                    time: Utc::now(),
                    data: serde_json::Value::Null,
                    traceparent: None,
                },
            })
            .collect();
        let mut next =
            plan_task(&key, Some(&plan.head), &more, &HashSet::new(), Utc::now()).unwrap();
        let jobs = jobs_for(&mut next, &[all.clone(), tools.clone()]);
        assert_eq!(spans(&jobs, &all.endpoint_id), [(150, 153)]);
        assert!(spans(&jobs, &tools.endpoint_id).is_empty(), "filtered out");
        assert_eq!(
            next.head.chain_ends.get(&tools.endpoint_id),
            Some(&Seq(150))
        );
    }

    #[test]
    fn jobs_without_a_chain_still_decode() {
        let old = r#"{"jobs":[{"tenant_id":"acme","task_id":"t","endpoint_id":"ep_1",
            "events":[{"seq":1,"id":"e1","type":"x"}],
            "through":{"shard_id":"s","sequence_number":"1"}}]}"#;
        let jobs = unpack_message(old).unwrap();
        assert_eq!(jobs[0].chain, None, "delivered outside the order");
    }
}
