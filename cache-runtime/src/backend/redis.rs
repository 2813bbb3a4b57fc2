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
//! deadline, never the seconds of a TCP connect timeout.

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::BackendError;
use crate::health::{BackendKind, HealthReport};
use crate::key::CacheKey;
use crate::ttl::Ttl;

pub(crate) struct RedisBackend {
    client: redis::Client,
    deadline: Duration,
    connect_timeout: Duration,
    connection: OnceLock<ConnectionManager>,
    /// The server address without credentials, for logs.
    endpoint: String,
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
    ) -> Self {
        Self {
            client,
            deadline,
            connect_timeout,
            connection: OnceLock::new(),
            endpoint,
        }
    }

    /// The shared connection, created on first use (inside the caller's runtime).
    fn connection(&self) -> Result<ConnectionManager, BackendError> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            // The deadline below bounds every call, including the wait for a connection;
            // a second per-response timer would only repeat it.
            .set_response_timeout(None)
            // Fail a reconnection attempt quickly; the next command starts another.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(100));
        let created = ConnectionManager::new_lazy_with_config(self.client.clone(), config)?;
        Ok(self.connection.get_or_init(|| created).clone())
    }

    async fn within_deadline<T>(
        &self,
        operation: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, BackendError> {
        match tokio::time::timeout(self.deadline, operation).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(BackendError::Timeout(self.deadline)),
        }
    }

    pub(crate) async fn get(&self, key: &CacheKey) -> Result<Option<Vec<u8>>, BackendError> {
        let mut connection = self.connection()?;
        let get = redis::cmd("GET").arg(key.as_str()).to_owned();
        self.within_deadline(get.query_async(&mut connection)).await
    }

    /// Writes `bytes` under `key`, expiring after `ttl` (`SET key value PX ttl`).
    pub(crate) async fn set(
        &self,
        key: &CacheKey,
        bytes: &[u8],
        ttl: Ttl,
    ) -> Result<(), BackendError> {
        let mut connection = self.connection()?;
        let set = redis::cmd("SET")
            .arg(key.as_str())
            .arg(bytes)
            .arg("PX")
            .arg(ttl.as_millis())
            .to_owned();
        self.within_deadline(set.query_async::<()>(&mut connection))
            .await
    }

    pub(crate) async fn health(&self) -> HealthReport {
        let mut report = HealthReport::new(BackendKind::Redis);
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
