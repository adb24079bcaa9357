//! The permits port: one small item per endpoint holding the shared state of its limits
//! ([`crate::endpoint_limits::Permits`]), read and written with a version so concurrent deliver
//! invocations never both spend the same share.

pub mod dynamodb;
pub mod memory;

use crate::endpoint_limits::Permits;
use crate::error::Result;
use crate::ids::{EndpointId, TenantId};
use async_trait::async_trait;

/// Reading and conditionally writing an endpoint's permits.
#[async_trait]
pub trait PermitStore: Send + Sync {
    /// The permits and their version (`0`: absent, read as empty).
    async fn permits(&self, tenant: &TenantId, endpoint: &EndpointId) -> Result<(Permits, u64)>;

    /// Writes `permits` at version `expected + 1` if the item is still at `expected`; false
    /// when another invocation wrote first (read again and re-decide).
    async fn put_permits(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        permits: &Permits,
        expected: u64,
    ) -> Result<bool>;
}
