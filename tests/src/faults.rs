//! Fault injection at the ports fanout uses: after the n-th call (counted across every
//! wrapped port) has *completed*, the wrapper crashes the invocation (panics) or reports an
//! error instead of the result. That simulates a function dying right after an AWS call took
//! effect, the hardest case for idempotency. The fault fires once.

use async_trait::async_trait;
use burstline::error::{Error, Result};
use burstline::event::Envelope;
use burstline::head::TaskHead;
use burstline::ids::{EventId, Seq, TaskId, TaskKey, TenantId};
use burstline::job::DeliveryJob;
use burstline::queue::DeliveryQueue;
use burstline::sequence::CommitChunk;
use burstline::store::EventStore;
use burstline::subscription::Subscription;
use burstline::tenants::SubscriptionStore;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;

/// How the injected fault shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The invocation panics: Lambda sees a crashed function.
    Crash,
    /// The port returns an error although the call took effect.
    Error,
}

#[derive(Debug, Default)]
struct State {
    calls: usize,
    armed: Option<(usize, FaultKind)>,
    log: Vec<&'static str>,
}

/// The shared call counter and trigger.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<State>>);

impl Faults {
    /// Fires `kind` once, right after call number `n` (1-based) completes.
    pub fn arm(&self, n: usize, kind: FaultKind) {
        let mut s = self.0.lock().unwrap();
        s.armed = Some((n, kind));
    }

    /// Calls made so far.
    pub fn calls(&self) -> usize {
        self.0.lock().unwrap().calls
    }

    /// Names of the calls made so far, in order.
    pub fn call_log(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().log.clone()
    }

    /// Whether the armed fault has fired.
    pub fn fired(&self) -> bool {
        self.0.lock().unwrap().armed.is_none()
    }

    fn after<T>(&self, name: &'static str, result: Result<T>) -> Result<T> {
        let fire = {
            let mut s = self.0.lock().unwrap();
            s.calls += 1;
            s.log.push(name);
            match s.armed {
                Some((n, kind)) if n == s.calls => {
                    s.armed = None;
                    Some(kind)
                }
                _ => None,
            }
        };
        match fire {
            Some(FaultKind::Crash) => panic!("injected crash after {name}"),
            Some(FaultKind::Error) => Err(Error::Injected(format!("after {name}"))),
            None => result,
        }
    }
}

/// An [`EventStore`] with faults.
pub struct FaultyStore(pub Arc<dyn EventStore>, pub Faults);
/// A [`DeliveryQueue`] with faults.
pub struct FaultyQueue(pub Arc<dyn DeliveryQueue>, pub Faults);
/// A [`SubscriptionStore`] with faults.
pub struct FaultySubscriptions(pub Arc<dyn SubscriptionStore>, pub Faults);

#[async_trait]
impl EventStore for FaultyStore {
    async fn heads(&self, keys: &[TaskKey]) -> Result<HashMap<TaskKey, TaskHead>> {
        self.1.after("heads", self.0.heads(keys).await)
    }
    async fn commit(&self, chunks: &[CommitChunk]) -> Result<()> {
        self.1.after("commit", self.0.commit(chunks).await)
    }
    async fn head(&self, key: &TaskKey) -> Result<Option<TaskHead>> {
        self.1.after("head", self.0.head(key).await)
    }
    async fn events(&self, key: &TaskKey, after: Seq, limit: usize) -> Result<Vec<Envelope>> {
        self.1
            .after("events", self.0.events(key, after, limit).await)
    }
    async fn events_at(&self, key: &TaskKey, seqs: &[Seq]) -> Result<Vec<Envelope>> {
        self.1.after("events_at", self.0.events_at(key, seqs).await)
    }
    async fn find_event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<(TaskId, Seq)>> {
        self.1
            .after("find_event", self.0.find_event(tenant, id).await)
    }
}

#[async_trait]
impl DeliveryQueue for FaultyQueue {
    async fn enqueue(&self, jobs: &[DeliveryJob], delay: std::time::Duration) -> Result<()> {
        self.1.after("enqueue", self.0.enqueue(jobs, delay).await)
    }
}

#[async_trait]
impl SubscriptionStore for FaultySubscriptions {
    async fn subscriptions(&self, tenant: &TenantId) -> Result<Option<Vec<Subscription>>> {
        self.1
            .after("subscriptions", self.0.subscriptions(tenant).await)
    }
}
