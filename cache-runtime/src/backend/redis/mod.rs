//! The Redis backend: one reconnecting, multiplexed connection, connected lazily.
//!
//! redis-rs's `ConnectionManager` pipelines concurrent commands over one connection
//! (which is what reaches Redis's throughput; a pool of single connections does not)
//! and reconnects in the background after the connection drops. It is created on the
//! first operation, so an application starts while Redis is down, and it needs no
//! runtime until then.
//!
//! Every operation runs under one deadline that covers waiting for the connection as
//! well as the reply: a dead, slow or unreachable Redis costs a caller at most that
//! deadline (a read, at most twice that: see [`slow_read`]), never the seconds of a
//! TCP connect timeout. And every operation passes
//! the endpoint's circuit breaker ([`super::breaker`]): after repeated failures,
//! operations fail at once without waiting for any deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

mod connection;
mod indexes;
mod scripts;
mod slow_read;

use self::connection::SharedConnection;
use self::indexes::Recording;
use super::BackendError;
use super::breaker::{Breaker, BreakerSettings, BreakerState};
use crate::backend::health::{BackendKind, HealthReport};
use crate::envelope::{HEADER_LEN, LeaseToken};
use crate::group::IndexKey;
use crate::key::CacheKey;
use crate::ttl::Ttl;

pub(crate) struct RedisBackend {
    deadline: Duration,
    connection: SharedConnection,
    /// The server address without credentials, for logs.
    endpoint: String,
    breaker: Breaker,
    /// The longest entry read or written: the header and the largest value
    /// (`CacheConfig::max_value_bytes`).
    max_entry_bytes: usize,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("endpoint", &self.endpoint)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl RedisBackend {
    pub(crate) fn new(
        client: redis::Client,
        endpoint: String,
        deadline: Duration,
        connect_timeout: Duration,
        breaker: BreakerSettings,
        max_value_bytes: usize,
    ) -> Self {
        Self {
            deadline,
            connection: SharedConnection::new(client, connect_timeout),
            breaker: Breaker::new(breaker, endpoint.clone(), deadline),
            endpoint,
            max_entry_bytes: HEADER_LEN.saturating_add(max_value_bytes),
        }
    }

    /// The shared connection, created on first use (inside the caller's runtime);
    /// see [`connection`].
    fn connection(&self) -> Result<ConnectionManager, BackendError> {
        Ok(self.connection.get()?)
    }

    /// Runs one operation through the circuit breaker and under the deadline.
    async fn within_deadline<T>(
        &self,
        operation: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, BackendError> {
        let permit = self.breaker.admit()?;
        let outcome = match tokio::time::timeout(self.deadline, operation).await {
            Ok(result) => result.map_err(BackendError::from),
            Err(_) => Err(BackendError::Timeout(self.deadline)),
        };
        self.breaker.record(permit, &outcome);
        outcome
    }

    /// The breaker's state, and how often it opened and turned operations away.
    pub(crate) fn breaker(&self) -> (BreakerState, (u64, u64)) {
        (self.breaker.state(), self.breaker.counts())
    }

    /// Reads the entry under `key`, at most the longest entry plus one byte of it
    /// (`GETRANGE`, which costs what `GET` does): an enormous foreign value costs a
    /// bounded transfer rather than the whole value, and then fails to decode as
    /// [`Oversized`](crate::envelope::EnvelopeError::Oversized). A key holding
    /// another Redis type reads as empty bytes, which do not decode either; both are
    /// then replaced like any unreadable entry (see `crate::lease`). A read that runs
    /// out of time is followed up by [`slow_read`], which tells a slow Redis from one
    /// slow key for the breaker.
    pub(crate) async fn get(&self, key: &CacheKey) -> Result<Option<Vec<u8>>, BackendError> {
        let mut connection = self.connection()?;
        let mut get = redis::cmd("GETRANGE");
        get.arg(key.as_str()).arg(0).arg(self.max_entry_bytes);
        let permit = self.breaker.admit()?;
        let read = async {
            match get.query_async::<Vec<u8>>(&mut connection).await {
                // No entry is empty, so an empty reply is a missing key.
                Ok(bytes) if bytes.is_empty() => Ok(None),
                Ok(bytes) => Ok(Some(bytes)),
                Err(err) if err.code() == Some("WRONGTYPE") => Ok(Some(Vec::new())),
                Err(err) => Err(BackendError::from(err)),
            }
        };
        let Ok(outcome) = tokio::time::timeout(self.deadline, read).await else {
            return Err(self.read_timed_out(key, &mut connection, permit).await);
        };
        self.breaker.record(permit, &outcome);
        outcome
    }

    /// Writes `bytes` under `key`, expiring after `ttl` (`SET key value PX ttl`),
    /// recording the key in `indexes` before and after it, in the same round trip.
    pub(crate) async fn set(
        &self,
        key: &CacheKey,
        bytes: &[u8],
        ttl: Ttl,
        indexes: &[IndexKey],
    ) -> Result<(), BackendError> {
        let mut set = redis::cmd("SET");
        set.arg(key.as_str())
            .arg(bytes)
            .arg("PX")
            .arg(ttl.as_millis());
        self.indexed(key, ttl, indexes, Recording::Around, set)
            .await
    }

    /// Takes the lease on `key` if it is empty (storing `placeholder` for `lease`),
    /// or returns what it holds; records the key in `indexes` after it, in the same
    /// round trip.
    pub(crate) async fn acquire(
        &self,
        key: &CacheKey,
        placeholder: &[u8],
        lease: Ttl,
        ttl: Ttl,
        indexes: &[IndexKey],
    ) -> Result<Option<Vec<u8>>, BackendError> {
        let mut acquire = script(scripts::ACQUIRE, key.as_str());
        (acquire.arg(placeholder).arg(lease.as_millis())).arg(self.max_entry_bytes);
        self.indexed(key, ttl, indexes, Recording::After, acquire)
            .await
    }

    /// Writes `bytes` under `key` if the caller's lease `token` is still there, and
    /// records the key in `indexes` after it, in the same round trip. Returns whether it was
    /// written.
    pub(crate) async fn fill(
        &self,
        key: &CacheKey,
        token: LeaseToken,
        bytes: &[u8],
        ttl: Ttl,
        indexes: &[IndexKey],
    ) -> Result<bool, BackendError> {
        let mut fill = script(scripts::FILL, key.as_str());
        fill.arg(&token.to_bytes()).arg(bytes).arg(ttl.as_millis());
        self.indexed(key, ttl, indexes, Recording::After, fill)
            .await
    }

    /// Gives the lease `token` on `key` back, if it is still there. Returns whether
    /// it was.
    pub(crate) async fn release(
        &self,
        key: &CacheKey,
        token: LeaseToken,
    ) -> Result<bool, BackendError> {
        let mut connection = self.connection()?;
        let mut eval = script(scripts::RELEASE, key.as_str());
        eval.arg(&token.to_bytes());
        self.within_deadline(eval.query_async(&mut connection))
            .await
    }

    /// Takes the lease `token` on the value under `key` whose header starts with
    /// `head`, for a refresh. Returns whether it was taken.
    pub(crate) async fn lease_value(
        &self,
        key: &CacheKey,
        head: &[u8],
        token: LeaseToken,
    ) -> Result<bool, BackendError> {
        let mut connection = self.connection()?;
        let mut eval = script(scripts::LEASE_VALUE, key.as_str());
        eval.arg(head).arg(&token.to_bytes());
        self.within_deadline(eval.query_async(&mut connection))
            .await
    }

    /// `UNLINK key`: removes the entry, freeing its memory off Redis's main thread.
    pub(crate) async fn delete(&self, key: &CacheKey) -> Result<(), BackendError> {
        let mut connection = self.connection()?;
        let mut unlink = redis::cmd("UNLINK");
        unlink.arg(key.as_str());
        self.within_deadline(unlink.query_async::<()>(&mut connection))
            .await
    }

    /// Deletes the entries the index lists, in batches of one atomic script each
    /// ([`scripts::CLEAR_INDEX`]), until the index is empty. A key added concurrently
    /// is either deleted, or stays in the index for the next invalidation; a batch
    /// that fails or times out either happened whole or not at all, so the retry
    /// finds every entry it did not delete still listed. Each batch has its own
    /// deadline.
    pub(crate) async fn clear_index(&self, index: &IndexKey) -> Result<(), BackendError> {
        const BATCH: usize = 512;
        let mut connection = self.connection()?;
        loop {
            let mut clear = script(scripts::CLEAR_INDEX, index.as_str());
            clear.arg(BATCH);
            let cleared: usize = self
                .within_deadline(clear.query_async(&mut connection))
                .await?;
            if cleared < BATCH {
                return Ok(());
            }
        }
    }

    /// Replaces the dead placeholder `found` under `key` with `placeholder`, for
    /// `lease`, if the key still holds `found`. Returns whether it did.
    pub(crate) async fn take_over(
        &self,
        key: &CacheKey,
        found: &[u8],
        placeholder: &[u8],
        lease: Ttl,
    ) -> Result<bool, BackendError> {
        let mut connection = self.connection()?;
        let mut eval = script(scripts::TAKE_OVER, key.as_str());
        eval.arg(found).arg(placeholder).arg(lease.as_millis());
        self.within_deadline(eval.query_async(&mut connection))
            .await
    }

    pub(crate) async fn health(&self) -> HealthReport {
        let mut report = HealthReport::new(BackendKind::Redis);
        report.breaker = Some(self.breaker.state());
        match self.probe(&mut report).await {
            Ok(()) => report,
            Err(err) => {
                report.healthy = false;
                report.error = Some(format!("{} ({})", err, self.endpoint));
                report
            }
        }
    }

    async fn probe(&self, report: &mut HealthReport) -> Result<(), BackendError> {
        let mut connection = self.connection()?;
        let started = Instant::now();
        self.within_deadline(redis::cmd("PING").query_async::<String>(&mut connection))
            .await?;
        report.latency = Some(started.elapsed());
        let info: String = self
            .within_deadline(redis::cmd("INFO").query_async(&mut connection))
            .await?;
        report.server_version = info_field(&info, "redis_version").map(str::to_owned);
        report.connected_clients =
            info_field(&info, "connected_clients").and_then(|v| v.parse().ok());
        Ok(())
    }
}

/// `EVAL script 1 key`, ready for the script's arguments.
/// `EVAL script 1 key`: each script names one key.
fn script(script: &str, key: &str) -> redis::Cmd {
    let mut eval = redis::cmd("EVAL");
    eval.arg(script).arg(1).arg(key);
    eval
}

/// The value of `field` in an `INFO` reply (`field:value` lines).
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name == field).then(|| value.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::info_field;

    #[test]
    fn reads_info_fields() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n# Clients\r\nconnected_clients:3\r\n";
        assert_eq!(info_field(info, "redis_version"), Some("7.0.15"));
        assert_eq!(info_field(info, "connected_clients"), Some("3"));
        assert_eq!(info_field(info, "missing"), None);
    }
}
