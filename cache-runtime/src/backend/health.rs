//! A health report for readiness endpoints: [`Cache::health`](crate::Cache::health).
//! Each backend fills in what it knows; it lives here, beside them, so that the
//! report and the backends do not import each other.

use std::time::Duration;

use super::breaker::BreakerState;

/// Which kind of storage a [`Cache`](crate::Cache) uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendKind {
    /// A Redis server.
    Redis,
    /// The bounded in-process memory store.
    Memory,
    /// Caching is off: every call runs the function.
    Off,
}

/// The state of a cache's backend at the time of the check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthReport {
    /// The backend that was checked.
    pub backend: BackendKind,
    /// Whether the backend answered within the deadline. A memory or off cache is
    /// always healthy.
    pub healthy: bool,
    /// Round trip of a `PING`, for Redis.
    pub latency: Option<Duration>,
    /// `redis_version` from `INFO server`.
    pub server_version: Option<String>,
    /// `connected_clients` from `INFO clients`.
    pub connected_clients: Option<u64>,
    /// Entries held, for the memory backend.
    pub entries: Option<u64>,
    /// Why the check failed, if it did. Never contains credentials.
    pub error: Option<String>,
    /// The state of the Redis endpoint's circuit breaker.
    pub breaker: Option<BreakerState>,
}

impl HealthReport {
    pub(crate) fn new(backend: BackendKind) -> Self {
        Self {
            backend,
            healthy: true,
            latency: None,
            server_version: None,
            connected_clients: None,
            entries: None,
            error: None,
            breaker: None,
        }
    }
}
