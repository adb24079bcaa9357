//! Per-endpoint limits, acted on: before each request a job takes a permit — one of the
//! requests its process leased for the current second (when the endpoint sets a `rate_limit`)
//! and an in-flight slot: one of its leased slots when the endpoint sets `max_in_flight`, one
//! of the invocation's own otherwise: the endpoint's [`fair_share`] of the batch's job slots
//! ([`Throttle::for_batch`]). Leases come from the endpoint's
//! shared permits item ([`burstline::permits`]) with one conditional write each; an endpoint
//! that sets no limit never touches it. The decisions are [`burstline::endpoint_limits`]'s.
//!
//! Over the limit a job waits briefly — for the next second's window (at most
//! [`MAX_WAIT`] in all), or for one of its own process's requests to end — and otherwise is
//! deferred ([`Throttled::Defer`]): never failed, never counted as an attempt.

use burstline::Error;
use burstline::clock::Clock;
use burstline::cursor::new_holder;
use burstline::endpoint::Endpoint;
#[cfg(doc)]
use burstline::endpoint_limits::{DEFAULT_MAX_IN_FLIGHT, fair_share};
use burstline::endpoint_limits::{InFlight, Limits, grant, token_chunk};
use burstline::ids::{EndpointId, TenantId};
use burstline::permits::PermitStore;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::{debug, warn};

/// Longest a job waits in-process for a permit before it is deferred.
pub const MAX_WAIT: Duration = Duration::from_secs(2);
/// How far ahead of their lapse in-flight slots are renewed: a request timeout and a margin.
const RENEW_AHEAD: Duration = Duration::from_secs(12);
/// A deferred job looks again after this long.
const DEFER: Duration = Duration::from_secs(1);
/// Pause between looks while this process's own requests hold every slot.
const SLOT_POLL: Duration = Duration::from_millis(20);
/// Longest a job waits for a slot its own process holds: short, because the job holds one of
/// the invocation's job slots meanwhile, and an endpoint that hangs must not take those from
/// other endpoints' jobs.
const SLOT_WAIT: Duration = Duration::from_millis(100);

type Key = (TenantId, EndpointId);
/// What this process holds of each endpoint's shared limits.
type Held = Arc<Mutex<HashMap<Key, Local>>>;

/// What this process holds of one endpoint's limits.
#[derive(Debug, Default)]
struct Local {
    window: i64,
    tokens: u32,
    slots: u32,
    in_use: u32,
    until: Option<DateTime<Utc>>,
}

impl Local {
    fn fresh(&self, now: DateTime<Utc>) -> bool {
        self.until
            .is_some_and(|u| u > now + chrono::Duration::from_std(RENEW_AHEAD).unwrap_or_default())
    }

    fn can_take(&self, limits: Limits, now: DateTime<Utc>) -> bool {
        let token = limits.rate.is_none() || (self.window == now.timestamp() && self.tokens > 0);
        let slot = match limits.in_flight {
            InFlight::PerProcess(n) => self.in_use < n,
            InFlight::Shared(_) => self.in_use < self.slots && self.fresh(now),
        };
        token && slot
    }
}

/// The limits of every endpoint this process sends to. One per warm process (cloned deps
/// share it); each process is its own lease holder.
pub struct Throttle {
    store: Arc<dyn PermitStore>,
    holder: String,
    local: Held,
    /// The in-flight cap of each endpoint that sets no `max_in_flight`, in this batch (its
    /// fair share); [`DEFAULT_MAX_IN_FLIGHT`] for any endpoint not named.
    shares: HashMap<Key, u32>,
    /// Those caps, kept: a fair (FIFO) semaphore each, so jobs waiting for a slot are served
    /// in turn, none starved.
    own: Mutex<HashMap<Key, Arc<Semaphore>>>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

/// A request's permit: frees its in-flight slot when dropped.
#[derive(Debug)]
pub(crate) struct Permit {
    /// A slot of the endpoint's shared limits: counted in `local`.
    shared: Option<(Held, Key)>,
    /// A slot of the process's own default cap.
    _own: Option<OwnedSemaphorePermit>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some((local, key)) = &self.shared
            && let Ok(mut map) = local.lock()
            && let Some(l) = map.get_mut(key)
        {
            l.in_use = l.in_use.saturating_sub(1);
        }
    }
}

/// The answer to a request for a permit.
#[derive(Debug)]
pub(crate) enum Throttled {
    /// Send, holding this.
    Go(Permit),
    /// Over the limit: defer the job to then.
    Defer(DateTime<Utc>),
}

impl Throttle {
    /// Limits kept in `store`, this process a new holder.
    pub fn new(store: Arc<dyn PermitStore>) -> Self {
        Self {
            store,
            holder: new_holder(),
            local: Arc::default(),
            shares: HashMap::new(),
            own: Mutex::default(),
        }
    }

    /// This process's throttle for one batch: the same leases, and each endpoint that sets no
    /// `max_in_flight` capped at `shares` (its [`fair_share`] of the batch's job slots; the
    /// least share for any endpoint not named).
    pub fn for_batch(&self, shares: HashMap<(TenantId, EndpointId), u32>) -> Self {
        Self {
            store: self.store.clone(),
            holder: self.holder.clone(),
            local: self.local.clone(),
            shares,
            own: Mutex::default(),
        }
    }

    /// Another process's view of the same shared limits: a new lease holder holding nothing,
    /// as each concurrent invocation of a deployment is (`burstline dev` runs its invocations
    /// in one process).
    pub fn another_process(&self) -> Self {
        Self::new(self.store.clone())
    }

    /// A permit for one request to `endpoint`, waiting at most [`MAX_WAIT`].
    pub(crate) async fn acquire(
        &self,
        endpoint: &Endpoint,
        clock: &dyn Clock,
    ) -> Result<Throttled, Error> {
        let key = (endpoint.tenant_id.clone(), endpoint.id.clone());
        let mut limits = Limits::of(endpoint.rate_limit, endpoint.max_in_flight);
        if let InFlight::PerProcess(least) = limits.in_flight {
            limits.in_flight =
                InFlight::PerProcess(self.shares.get(&key).copied().unwrap_or(least));
        }
        let started = Instant::now();
        let defer = |now: DateTime<Utc>| {
            debug!(endpoint_id = %endpoint.id, "over the endpoint's limits: deferring");
            Ok(Throttled::Defer(
                now + chrono::Duration::from_std(DEFER).unwrap_or_default(),
            ))
        };
        if let InFlight::PerProcess(cap) = limits.in_flight
            && limits.rate.is_none()
        {
            // Only this process's own requests hold the endpoint's slots: wait in turn for one
            // to end, or make way for other endpoints' jobs.
            let own = self.own_slots(key, cap);
            // A free slot is taken without arming a timer (the common case, once per POST);
            // while jobs wait, freed slots go to them first, so this never jumps the queue.
            let slot = match own.clone().try_acquire_owned() {
                Ok(slot) => Ok(slot),
                Err(_) => match tokio::time::timeout(SLOT_WAIT, own.acquire_owned()).await {
                    Ok(Ok(slot)) => Ok(slot),
                    _ => Err(()),
                },
            };
            return match slot {
                Ok(slot) => Ok(Throttled::Go(Permit {
                    shared: None,
                    _own: Some(slot),
                })),
                Err(()) => defer(clock.now()),
            };
        }
        loop {
            let now = clock.now();
            if let Some(permit) = self.take(&key, limits, now) {
                return Ok(Throttled::Go(permit));
            }
            let waited = started.elapsed();
            let (want_tokens, want_slots, busy, gains) = {
                let map = self.lock();
                let l = map.get(&key);
                let (window, tokens, slots, in_use) =
                    l.map_or((0, 0, 0, 0), |l| (l.window, l.tokens, l.slots, l.in_use));
                let fresh = l.is_some_and(|l| l.fresh(now));
                let want_tokens = if window == now.timestamp() && tokens > 0 {
                    0
                } else {
                    token_chunk(limits)
                };
                let want_slots = match limits.in_flight {
                    InFlight::Shared(max) => {
                        (if in_use >= slots { in_use + 1 } else { slots }).min(max)
                    }
                    InFlight::PerProcess(_) => 0,
                };
                // A write that can bring nothing new is skipped: this process already holds
                // every slot the endpoint allows and they are all busy with its own requests.
                let gains = want_tokens > 0
                    || want_slots > slots
                    || (limits.shared_in_flight().is_some() && !fresh);
                (want_tokens, want_slots, in_use, gains)
            };
            if !gains {
                if busy > 0 && waited < SLOT_WAIT {
                    tokio::time::sleep(SLOT_POLL).await;
                    continue;
                }
                return defer(now);
            }
            let leased = self
                .lease(&key, limits, want_tokens, want_slots, now)
                .await?;
            if let Some(permit) = self.take(&key, limits, now) {
                return Ok(Throttled::Go(permit));
            }
            if waited >= MAX_WAIT {
                return defer(now);
            }
            if !leased {
                continue;
            }
            let (window, tokens) = {
                let map = self.lock();
                map.get(&key).map_or((0, 0), |l| (l.window, l.tokens))
            };
            if limits.rate.is_some() && (window != now.timestamp() || tokens == 0) {
                // This second's requests are spent: wait for the next window.
                let next = DateTime::from_timestamp(now.timestamp() + 1, 0).unwrap_or(now);
                let wait = (next - now)
                    .to_std()
                    .unwrap_or_default()
                    .max(Duration::from_millis(1));
                tokio::time::sleep(wait).await;
            } else if busy > 0 && waited < SLOT_WAIT {
                // Every slot is taken, some by this process's own requests: one ends soon.
                tokio::time::sleep(SLOT_POLL).await;
            } else {
                // Other invocations hold every slot.
                return defer(now);
            }
        }
    }

    /// Gives back the in-flight slots this process holds and does not use, so other
    /// invocations may have them (at the end of a batch).
    pub(crate) async fn release_idle(&self, clock: &dyn Clock) {
        let idle: Vec<Key> = {
            let map = self.lock();
            map.iter()
                .filter(|(_, l)| l.slots > 0 && l.in_use == 0)
                .map(|(k, _)| k.clone())
                .collect()
        };
        for key in idle {
            let limits = Limits::of(None, None);
            if let Err(e) = self.lease(&key, limits, 0, 0, clock.now()).await {
                warn!(error = %e, "releasing in-flight slots failed; they lapse by themselves");
            }
        }
    }

    /// The process's own slots for an endpoint without a `max_in_flight`.
    fn own_slots(&self, key: Key, cap: u32) -> Arc<Semaphore> {
        let mut own = self
            .own
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        own.entry(key)
            .or_insert_with(|| Arc::new(Semaphore::new(cap as usize)))
            .clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Local>> {
        self.local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn take(&self, key: &Key, limits: Limits, now: DateTime<Utc>) -> Option<Permit> {
        let mut map = self.lock();
        let l = map.entry(key.clone()).or_default();
        if !l.can_take(limits, now) {
            return None;
        }
        if limits.rate.is_some() {
            l.tokens -= 1;
        }
        l.in_use += 1;
        Some(Permit {
            shared: Some((self.local.clone(), key.clone())),
            _own: None,
        })
    }

    /// One conditional write of the shared item; false when another holder wrote first.
    async fn lease(
        &self,
        key: &Key,
        limits: Limits,
        want_tokens: u32,
        want_slots: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let (tenant, endpoint) = key;
        let (permits, version) = self.store.permits(tenant, endpoint).await?;
        let (next, g) = grant(&permits, limits, &self.holder, want_tokens, want_slots, now);
        if !self
            .store
            .put_permits(tenant, endpoint, &next, version)
            .await?
        {
            return Ok(false);
        }
        let mut map = self.lock();
        let l = map.entry(key.clone()).or_default();
        if l.window == g.window {
            l.tokens += g.tokens;
        } else {
            l.window = g.window;
            l.tokens = g.tokens;
        }
        l.slots = g.slots;
        l.until = Some(g.until);
        Ok(true)
    }
}
