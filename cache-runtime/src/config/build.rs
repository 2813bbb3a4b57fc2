//! [`CacheConfig::build`]: the checks, and the assembly of a [`Cache`] from a
//! backend and its settings; and `Cache`'s own constructors, which skip the checks
//! of settings they do not take.

use std::time::Duration;

use super::tls::redis_client;
use super::{
    BackendChoice, CacheConfig, ConfigError, DEFAULT_LEASE_TIME, DEFAULT_MAX_VALUE_BYTES,
    DEFAULT_MEMORY_BYTES, DEFAULT_NAMESPACE, KeySecret, redact_url,
};
use crate::backend::Backend;
use crate::backend::memory::MemoryBackend;
use crate::backend::redis::RedisBackend;
use crate::cache::{Cache, Settings};
use crate::codec::MAX_VALUE_BYTES;
use crate::key::{MAX_NAMESPACE_LEN, SECRET_CONTEXT, is_valid_segment};
use crate::ttl::Ttl;

/// Shortest key secret accepted, in bytes.
const MIN_KEY_SECRET_LEN: usize = 16;

impl CacheConfig {
    /// Checks the configuration and builds the cache. Does not connect.
    pub fn build(self) -> Result<Cache, ConfigError> {
        if !is_valid_segment(&self.namespace, MAX_NAMESPACE_LEN) {
            return Err(ConfigError::Namespace(self.namespace));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout("operation"));
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout("connect"));
        }
        if !(1..=MAX_VALUE_BYTES).contains(&self.max_value_bytes) {
            return Err(ConfigError::MaxValueBytes(self.max_value_bytes));
        }
        let lease = match self.lease_time {
            Some(time) => Some(Ttl::from_duration(time).ok_or(ConfigError::ZeroTimeout("lease"))?),
            None => None,
        };
        let backend = match self.backend {
            BackendChoice::Redis { url } => {
                let client = redis_client(&url, &self.tls)?;
                Backend::Redis(Box::new(RedisBackend::new(
                    client,
                    redact_url(&url),
                    self.timeout,
                    self.connect_timeout,
                    self.breaker,
                    self.max_value_bytes,
                )))
            }
            BackendChoice::Memory => Backend::Memory(MemoryBackend::new(self.memory_bytes)),
            BackendChoice::Off => Backend::Off,
        };
        let key_secret = match &self.key_secret {
            Some(KeySecret(secret)) if secret.len() < MIN_KEY_SECRET_LEN => {
                return Err(ConfigError::KeySecret(secret.len()));
            }
            Some(KeySecret(secret)) => Some(blake3::derive_key(SECRET_CONTEXT, secret)),
            None => None,
        };
        let settings = Settings {
            namespace: self.namespace,
            lease,
            load_wait: load_wait(lease),
            key_secret,
            max_value_bytes: self.max_value_bytes,
        };
        Ok(Cache::new(backend, settings))
    }
}

impl Cache {
    /// An in-process cache with the default namespace and a 64 MiB bound.
    pub fn memory() -> Self {
        Self::new(
            Backend::Memory(MemoryBackend::new(DEFAULT_MEMORY_BYTES)),
            default_settings(Ttl::from_duration(DEFAULT_LEASE_TIME)),
        )
    }

    /// A cache that stores nothing: every call runs the function.
    pub fn off() -> Self {
        Self::new(Backend::Off, default_settings(None))
    }

    /// Builds the cache described by the environment (see [`CacheConfig::from_env`]).
    ///
    /// This never fails: a configuration that cannot be used is reported once, as an
    /// error through `tracing` (and on standard error when no `tracing` subscriber is
    /// installed), and the cache is turned [off](Self::off), so the application runs
    /// uncached rather than not at all.
    pub fn from_env() -> Self {
        match CacheConfig::from_env().and_then(CacheConfig::build) {
            Ok(cache) => cache,
            Err(err) => {
                let message = format!("cache-runtime: {err}; caching is off");
                tracing::error!(target: "cache_runtime", "{message}");
                if !tracing::dispatcher::has_been_set() {
                    eprintln!("{message}");
                }
                Self::off()
            }
        }
    }
}

/// The settings of a cache built without a configuration.
fn default_settings(lease: Option<Ttl>) -> Settings {
    Settings {
        namespace: DEFAULT_NAMESPACE.to_owned(),
        lease,
        load_wait: load_wait(lease),
        key_secret: None,
        max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
    }
}

/// How long a caller waits for another caller's load of the same key: the lease
/// time, or its default when leases are off.
fn load_wait(lease: Option<Ttl>) -> Duration {
    lease.map_or(DEFAULT_LEASE_TIME, Ttl::as_duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_url_error_hides_the_password() {
        let err = CacheConfig::redis("nosuchscheme://app:s3cret@host:6379")
            .build()
            .expect_err("unknown scheme");
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("invalid Redis URL"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[cfg(feature = "redis")] // the stand-in without it masks the whole URL
    #[test]
    fn debug_hides_the_password() {
        let shown = format!("{:?}", CacheConfig::redis("redis://app:s3cret@host:6379/0"));
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("app:***@host"), "{shown}");
    }

    #[test]
    fn namespace_and_timeouts_are_checked() {
        assert!(matches!(
            CacheConfig::memory().namespace("a:b").build(),
            Err(ConfigError::Namespace(_))
        ));
        assert!(matches!(
            CacheConfig::memory().timeout(Duration::ZERO).build(),
            Err(ConfigError::ZeroTimeout("operation"))
        ));
        assert!(
            CacheConfig::memory()
                .namespace("shop-prod.v2")
                .build()
                .is_ok()
        );
    }

    #[test]
    fn the_value_limit_is_checked() {
        assert_eq!(
            CacheConfig::memory().max_value_bytes,
            DEFAULT_MAX_VALUE_BYTES
        );
        for bad in [0, MAX_VALUE_BYTES + 1, usize::MAX] {
            let err = CacheConfig::memory()
                .max_value_bytes(bad)
                .build()
                .expect_err("out of range");
            assert!(
                matches!(err, ConfigError::MaxValueBytes(b) if b == bad),
                "{err}"
            );
            let shown = err.to_string();
            assert!(
                shown.contains("1 to 67108864 bytes") && shown.contains(&bad.to_string()),
                "{shown}"
            );
        }
        for good in [1, 4 << 20, MAX_VALUE_BYTES] {
            assert!(CacheConfig::memory().max_value_bytes(good).build().is_ok());
        }
    }

    #[test]
    fn key_secrets_are_checked_and_never_shown() {
        assert!(matches!(
            CacheConfig::memory().key_secret("short").build(),
            Err(ConfigError::KeySecret(5))
        ));
        let config = CacheConfig::memory().key_secret("a long enough s3cret value");
        assert!(!format!("{config:?}").contains("s3cret"));
        assert!(config.build().is_ok());
    }
}
