//! Stand-in for the Redis backend in builds without the `redis` feature. A
//! configuration naming Redis fails to build there (see `config/tls_off.rs`), so no
//! value of this type can exist: every method is an empty match.

use std::convert::Infallible;
use std::time::Duration;

use super::BackendError;
use super::breaker::{BreakerSettings, BreakerState};
use crate::backend::health::HealthReport;
use crate::envelope::LeaseToken;
use crate::group::IndexKey;
use crate::key::CacheKey;
use crate::ttl::Ttl;

/// The Redis backend this build does not have. (A struct with a private empty
/// field rather than an empty enum, so that the code building one is not flagged
/// as unreachable.)
#[derive(Debug)]
pub(crate) struct RedisBackend {
    never: Infallible,
}

impl RedisBackend {
    pub(crate) fn new(
        client: Infallible,
        _endpoint: String,
        _deadline: Duration,
        _connect_timeout: Duration,
        _breaker: BreakerSettings,
        _max_value_bytes: usize,
    ) -> Self {
        match client {}
    }

    pub(crate) fn breaker(&self) -> (BreakerState, (u64, u64)) {
        match self.never {}
    }

    pub(crate) async fn get(&self, _key: &CacheKey) -> Result<Option<Vec<u8>>, BackendError> {
        match self.never {}
    }

    pub(crate) async fn set(
        &self,
        _key: &CacheKey,
        _bytes: &[u8],
        _ttl: Ttl,
        _indexes: &[IndexKey],
    ) -> Result<(), BackendError> {
        match self.never {}
    }

    pub(crate) async fn acquire(
        &self,
        _key: &CacheKey,
        _placeholder: &[u8],
        _lease: Ttl,
        _ttl: Ttl,
        _indexes: &[IndexKey],
    ) -> Result<Option<Vec<u8>>, BackendError> {
        match self.never {}
    }

    pub(crate) async fn fill(
        &self,
        _key: &CacheKey,
        _token: LeaseToken,
        _bytes: &[u8],
        _ttl: Ttl,
        _indexes: &[IndexKey],
    ) -> Result<bool, BackendError> {
        match self.never {}
    }

    pub(crate) async fn release(
        &self,
        _key: &CacheKey,
        _token: LeaseToken,
    ) -> Result<bool, BackendError> {
        match self.never {}
    }

    pub(crate) async fn lease_value(
        &self,
        _key: &CacheKey,
        _head: &[u8],
        _token: LeaseToken,
    ) -> Result<bool, BackendError> {
        match self.never {}
    }

    pub(crate) async fn delete(&self, _key: &CacheKey) -> Result<(), BackendError> {
        match self.never {}
    }

    pub(crate) async fn clear_index(&self, _index: &IndexKey) -> Result<(), BackendError> {
        match self.never {}
    }

    pub(crate) async fn take_over(
        &self,
        _key: &CacheKey,
        _found: &[u8],
        _placeholder: &[u8],
        _lease: Ttl,
    ) -> Result<bool, BackendError> {
        match self.never {}
    }

    pub(crate) async fn health(&self) -> HealthReport {
        match self.never {}
    }
}
