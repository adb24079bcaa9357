//! In-memory [`DeliveryCursors`]: the same conditions as the DynamoDB adapter, counted as the
//! same requests.

use super::{Claim, Cursor, CursorKey, CursorLease, DeliveryCursors, Span};
use crate::delivery_order::may_claim;
use crate::error::{Error, Result};
use crate::ids::Seq;
use crate::requests::RequestCounter;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Cursors held in memory. Cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct MemoryCursors {
    cursors: Arc<Mutex<HashMap<CursorKey, Cursor>>>,
    requests: RequestCounter,
}

impl MemoryCursors {
    /// No cursors, counting requests in `requests`.
    pub fn new(requests: RequestCounter) -> Self {
        Self {
            cursors: Arc::default(),
            requests,
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<CursorKey, Cursor>>> {
        self.cursors
            .lock()
            .map_err(|_| Error::Internal("memory cursors lock poisoned".into()))
    }
}

#[async_trait]
impl DeliveryCursors for MemoryCursors {
    async fn cursor(&self, key: &CursorKey) -> Result<Option<Cursor>> {
        self.requests.record("dynamodb:GetItem");
        Ok(self.lock()?.get(key).cloned())
    }

    async fn claim(
        &self,
        key: &CursorKey,
        span: &Span,
        lease: &CursorLease,
        now: DateTime<Utc>,
    ) -> Result<Claim> {
        self.requests.record("dynamodb:UpdateItem");
        let mut cursors = self.lock()?;
        let current = cursors.get(key).cloned();
        if !may_claim(span, current.as_ref(), now) {
            return Ok(Claim::Refused(current));
        }
        let at = current.unwrap_or_else(Cursor::start);
        cursors.insert(
            key.clone(),
            Cursor {
                lease: Some(lease.clone()),
                ..at.clone()
            },
        );
        Ok(Claim::Granted(at))
    }

    async fn advance(
        &self,
        key: &CursorKey,
        holder: &str,
        epoch: u64,
        to: Seq,
        resume_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.requests.record("dynamodb:UpdateItem");
        let mut cursors = self.lock()?;
        let Some(c) = cursors.get_mut(key) else {
            return Ok(false);
        };
        if c.epoch != epoch || c.lease.as_ref().is_none_or(|l| l.holder != holder) {
            return Ok(false);
        }
        c.seq = to;
        c.lease = None;
        c.updated_at = Some(now);
        c.resume_at = resume_at;
        Ok(true)
    }

    async fn release(&self, key: &CursorKey, holder: &str) -> Result<()> {
        self.requests.record("dynamodb:UpdateItem");
        let mut cursors = self.lock()?;
        if let Some(c) = cursors.get_mut(key)
            && c.lease.as_ref().is_some_and(|l| l.holder == holder)
        {
            c.lease = None;
        }
        Ok(())
    }

    async fn rewind(
        &self,
        key: &CursorKey,
        expected: Option<(Seq, u64)>,
        to: Seq,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.requests.record("dynamodb:UpdateItem");
        let mut cursors = self.lock()?;
        let current = cursors.get(key).map(|c| (c.seq, c.epoch));
        if current != expected {
            return Ok(false);
        }
        let c = cursors.entry(key.clone()).or_insert_with(Cursor::start);
        c.seq = to;
        c.epoch = expected.map_or(1, |(_, e)| e + 1);
        c.updated_at = Some(now);
        c.resume_at = None;
        Ok(true)
    }
}
