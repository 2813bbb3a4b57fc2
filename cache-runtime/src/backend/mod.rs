//! Where entries are stored. Each backend moves opaque bytes (envelopes) under
//! [`CacheKey`]s and applies the TTL when writing; encoding, fallback and counting
//! happen above, in [`Cache`](crate::Cache).

// Without the `redis` feature the breaker's settings and state stay public (the
// configuration and the health report name them), but nothing runs a breaker.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) mod breaker;
pub(crate) mod health;
pub(crate) mod memory;
#[cfg_attr(not(feature = "redis"), path = "redis_off.rs")]
pub(crate) mod redis;

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use self::health::{BackendKind, HealthReport};
use crate::envelope::LeaseToken;
use crate::group::IndexKey;
use crate::key::CacheKey;
use crate::ttl::Ttl;

/// A failed backend operation.
// Without the `redis` feature nothing fails: the memory backend and `off` answer
// every operation, and no deadline runs out.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
#[derive(Debug, thiserror::Error)]
pub(crate) enum BackendError {
    /// Redis answered with an error or the connection failed.
    #[cfg(feature = "redis")]
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// The operation did not finish within its deadline.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The circuit breaker is open: Redis was not asked.
    #[error("circuit breaker open")]
    CircuitOpen,
}

/// Bytes read from a backend.
#[derive(Debug)]
pub(crate) enum Stored {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl Stored {
    /// The bytes, shareable.
    pub(crate) fn into_shared(self) -> Arc<[u8]> {
        match self {
            Self::Owned(bytes) => bytes.into(),
            Self::Shared(bytes) => bytes,
        }
    }
}

impl Deref for Stored {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Self::Owned(bytes) => bytes,
            Self::Shared(bytes) => bytes,
        }
    }
}

/// What [`Backend::acquire`] found.
#[derive(Debug)]
pub(crate) enum Acquired {
    /// The key was empty; the caller now holds the lease.
    Granted,
    /// The key holds these bytes: a value, another caller's lease, or garbage.
    Found(Stored),
}

/// The configured backend. An enum rather than a trait object: the set is closed,
/// dispatch costs a branch instead of an allocation per call, and new backends
/// (cluster, a local tier) are new variants.
#[derive(Debug)]
pub(crate) enum Backend {
    Redis(Box<redis::RedisBackend>),
    Memory(memory::MemoryBackend),
    Off,
}

impl Backend {
    pub(crate) fn kind(&self) -> BackendKind {
        match self {
            Self::Redis(_) => BackendKind::Redis,
            Self::Memory(_) => BackendKind::Memory,
            Self::Off => BackendKind::Off,
        }
    }

    pub(crate) async fn get(&self, key: &CacheKey) -> Result<Option<Stored>, BackendError> {
        match self {
            Self::Redis(redis) => Ok(redis.get(key).await?.map(Stored::Owned)),
            Self::Memory(memory) => Ok(memory.get(key).map(Stored::Shared)),
            Self::Off => Ok(None),
        }
    }

    /// Writes `bytes` under `key` for `ttl`, and records the key in `indexes` (the
    /// groups it belongs to) in the same step, so that a stored entry is always reachable from
    /// its groups.
    pub(crate) async fn set(
        &self,
        key: &CacheKey,
        bytes: Arc<[u8]>,
        ttl: Ttl,
        indexes: &[IndexKey],
    ) -> Result<(), BackendError> {
        match self {
            Self::Redis(redis) => redis.set(key, &bytes, ttl, indexes).await,
            Self::Memory(memory) => {
                memory.set(*key, bytes, ttl, indexes);
                Ok(())
            }
            Self::Off => Ok(()),
        }
    }

    /// Takes the lease on `key` if it is empty, by storing `placeholder` for `lease`;
    /// otherwise returns what `key` holds. Either way the key is recorded in
    /// `indexes` (for `ttl`, the entry's own), so that invalidating an index deletes
    /// a placeholder too. See [`crate::lease`].
    pub(crate) async fn acquire(
        &self,
        key: &CacheKey,
        placeholder: &[u8],
        lease: Ttl,
        ttl: Ttl,
        indexes: &[IndexKey],
    ) -> Result<Acquired, BackendError> {
        let found = match self {
            Self::Redis(redis) => {
                (redis.acquire(key, placeholder, lease, ttl, indexes).await?).map(Stored::Owned)
            }
            Self::Memory(memory) => {
                (memory.acquire(*key, placeholder, lease, indexes)).map(Stored::Shared)
            }
            Self::Off => None,
        };
        Ok(found.map_or(Acquired::Granted, Acquired::Found))
    }

    /// Writes `bytes` under `key` for `ttl` if the lease `token` is still in place
    /// there, recording the key in `indexes`. Returns whether it was written.
    pub(crate) async fn fill(
        &self,
        key: &CacheKey,
        token: LeaseToken,
        bytes: Arc<[u8]>,
        ttl: Ttl,
        indexes: &[IndexKey],
    ) -> Result<bool, BackendError> {
        match self {
            Self::Redis(redis) => redis.fill(key, token, &bytes, ttl, indexes).await,
            Self::Memory(memory) => Ok(memory.fill(*key, token, bytes, ttl, indexes)),
            Self::Off => Ok(false),
        }
    }

    /// Replaces the dead placeholder `found` under `key` with `placeholder` for
    /// `lease`, if `key` still holds exactly `found`. Returns whether it did.
    pub(crate) async fn take_over(
        &self,
        key: &CacheKey,
        found: &[u8],
        placeholder: &[u8],
        lease: Ttl,
    ) -> Result<bool, BackendError> {
        match self {
            Self::Redis(redis) => redis.take_over(key, found, placeholder, lease).await,
            Self::Memory(memory) => Ok(memory.take_over(*key, found, placeholder, lease)),
            Self::Off => Ok(false),
        }
    }

    /// Gives the lease `token` on `key` back, if it is still in place. Returns
    /// whether it was.
    pub(crate) async fn release(
        &self,
        key: &CacheKey,
        token: LeaseToken,
    ) -> Result<bool, BackendError> {
        match self {
            Self::Redis(redis) => redis.release(key, token).await,
            Self::Memory(memory) => Ok(memory.release(*key, token)),
            Self::Off => Ok(false),
        }
    }

    /// Takes the lease `token` on the unleased value under `key` whose header starts
    /// with `head`, to refresh it. Returns whether it was taken.
    pub(crate) async fn lease_value(
        &self,
        key: &CacheKey,
        head: &[u8],
        token: LeaseToken,
    ) -> Result<bool, BackendError> {
        match self {
            Self::Redis(redis) => redis.lease_value(key, head, token).await,
            Self::Memory(memory) => Ok(memory.lease_value(*key, head, token)),
            Self::Off => Ok(false),
        }
    }

    /// Removes the entry under `key`.
    pub(crate) async fn delete(&self, key: &CacheKey) -> Result<(), BackendError> {
        match self {
            Self::Redis(redis) => redis.delete(key).await,
            Self::Memory(memory) => {
                memory.delete(key);
                Ok(())
            }
            Self::Off => Ok(()),
        }
    }

    /// Removes every entry recorded in `index`, and the index. When it returns, every
    /// entry recorded before it started is gone, even if another removal of the same
    /// index ran concurrently.
    pub(crate) async fn clear_index(&self, index: &IndexKey) -> Result<(), BackendError> {
        match self {
            Self::Redis(redis) => redis.clear_index(index).await,
            Self::Memory(memory) => {
                memory.clear_index(index);
                Ok(())
            }
            Self::Off => Ok(()),
        }
    }

    /// The circuit breaker's state and counts (times opened, operations turned
    /// away), for backends that have one.
    pub(crate) fn breaker(&self) -> Option<(breaker::BreakerState, (u64, u64))> {
        match self {
            Self::Redis(redis) => Some(redis.breaker()),
            Self::Memory(_) | Self::Off => None,
        }
    }

    pub(crate) async fn health(&self) -> HealthReport {
        match self {
            Self::Redis(redis) => redis.health().await,
            Self::Memory(memory) => memory.health(),
            Self::Off => HealthReport::new(BackendKind::Off),
        }
    }
}
