//! Building a [`Cache`]: from code with [`CacheConfig`], or from the environment.

use std::fmt;
use std::time::Duration;

use crate::backend::Backend;
use crate::backend::memory::MemoryBackend;
use crate::backend::redis::RedisBackend;
use crate::cache::Cache;
use crate::key::{MAX_NAMESPACE_LEN, is_valid_segment};
use crate::ttl::Ttl;

/// The URL used when `REDIS_URL` is not set: the local default every Redis guide uses.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/0";
/// The namespace used when none is configured.
pub const DEFAULT_NAMESPACE: &str = "cache";
/// Default deadline of one cache operation. Tens of milliseconds: long enough for a
/// healthy Redis on the same network many times over, short enough that an outage
/// costs callers milliseconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);
/// Default limit for establishing a TCP connection to Redis.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
/// Default lease time: how long one caller's load of a missing entry may keep the
/// other callers of that entry waiting, in this process and in others, before they
/// load it themselves; a load that takes longer is not stored. See
/// `docs/consistency.md`.
pub const DEFAULT_LEASE_TIME: Duration = Duration::from_secs(5);
/// Default size bound of the memory backend: 64 MiB of keys and values.
pub const DEFAULT_MEMORY_BYTES: u64 = 64 << 20;

/// What is wrong with a configuration. Messages never contain passwords.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The Redis URL could not be used.
    #[error("invalid Redis URL `{url}`: {reason}")]
    RedisUrl {
        /// The URL with any password replaced by `***`.
        url: String,
        /// What the Redis client said.
        reason: String,
    },
    /// The namespace is empty, too long, or has characters other than ASCII letters,
    /// digits, `_`, `-` and `.`.
    #[error(
        "invalid cache namespace `{0}`: use 1 to {MAX_NAMESPACE_LEN} ASCII letters, digits, `_`, `-` or `.`"
    )]
    Namespace(String),
    /// A timeout (or lease time) under a millisecond would turn every operation into
    /// a failure.
    #[error("the {0} timeout must be greater than zero")]
    ZeroTimeout(&'static str),
    /// An environment variable holds a value that cannot be used.
    #[error("environment variable {var}={value:?}: {reason}")]
    Env {
        /// The variable's name.
        var: &'static str,
        /// Its value (redacted when it is a URL).
        value: String,
        /// What is expected instead.
        reason: &'static str,
    },
}

#[derive(Clone)]
enum BackendChoice {
    Redis { url: String },
    Memory,
    Off,
}

/// How to build a [`Cache`]: the backend, the namespace and the deadlines.
///
/// ```
/// use std::time::Duration;
/// use cache_runtime::CacheConfig;
///
/// # fn main() -> Result<(), cache_runtime::ConfigError> {
/// let cache = CacheConfig::redis("redis://127.0.0.1:6379/0")
///     .namespace("shop-prod")
///     .timeout(Duration::from_millis(30))
///     .build()?;
/// assert_eq!(cache.namespace(), "shop-prod");
/// # Ok(()) }
/// ```
///
/// Building never connects: Redis is reached on first use, so an application starts
/// while Redis is down and the cache recovers when it comes back.
#[derive(Clone)]
pub struct CacheConfig {
    backend: BackendChoice,
    namespace: String,
    timeout: Duration,
    connect_timeout: Duration,
    memory_bytes: u64,
    /// `None`: leases off.
    lease_time: Option<Duration>,
}

impl fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match &self.backend {
            BackendChoice::Redis { url } => redact_url(url),
            BackendChoice::Memory => "memory".to_owned(),
            BackendChoice::Off => "off".to_owned(),
        };
        f.debug_struct("CacheConfig")
            .field("backend", &backend)
            .field("namespace", &self.namespace)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("memory_bytes", &self.memory_bytes)
            .field("lease_time", &self.lease_time)
            .finish()
    }
}

impl CacheConfig {
    fn with_backend(backend: BackendChoice) -> Self {
        Self {
            backend,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            lease_time: Some(DEFAULT_LEASE_TIME),
        }
    }

    /// A Redis cache at `url` (`redis://[user:password@]host:port/db`).
    pub fn redis(url: impl Into<String>) -> Self {
        Self::with_backend(BackendChoice::Redis { url: url.into() })
    }

    /// An in-process cache, bounded by [`memory_capacity`](Self::memory_capacity).
    pub fn memory() -> Self {
        Self::with_backend(BackendChoice::Memory)
    }

    /// No caching at all: every call runs the function.
    pub fn off() -> Self {
        Self::with_backend(BackendChoice::Off)
    }

    /// Reads the configuration from the environment:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `CACHE_BACKEND` | `redis`, `memory` or `off` | `redis` |
    /// | `REDIS_URL` | the Redis server | `redis://127.0.0.1:6379/0` |
    /// | `CACHE_NAMESPACE` | first part of every key | `cache` |
    /// | `CACHE_TIMEOUT_MS` | deadline of one operation | `50` |
    /// | `CACHE_LEASE_MS` | [lease time](Self::lease_time); `0` turns leases off | `5000` |
    ///
    /// Values are checked when the cache is [built](Self::build).
    pub fn from_env() -> Result<Self, ConfigError> {
        let var = |name| {
            std::env::var(name)
                .ok()
                .filter(|v: &String| !v.trim().is_empty())
        };
        let mut config = match var("CACHE_BACKEND").as_deref().map(str::trim) {
            None | Some("redis") => {
                Self::redis(var("REDIS_URL").unwrap_or_else(|| DEFAULT_REDIS_URL.to_owned()))
            }
            Some("memory") => Self::memory(),
            Some("off") => Self::off(),
            Some(other) => {
                return Err(ConfigError::Env {
                    var: "CACHE_BACKEND",
                    value: other.to_owned(),
                    reason: "expected `redis`, `memory` or `off`",
                });
            }
        };
        if let Some(namespace) = var("CACHE_NAMESPACE") {
            config = config.namespace(namespace.trim());
        }
        if let Some(ms) = var("CACHE_TIMEOUT_MS") {
            let parsed = ms.trim().parse::<u64>().map_err(|_| ConfigError::Env {
                var: "CACHE_TIMEOUT_MS",
                value: ms.clone(),
                reason: "expected a whole number of milliseconds",
            })?;
            config = config.timeout(Duration::from_millis(parsed));
        }
        if let Some(ms) = var("CACHE_LEASE_MS") {
            let parsed = ms.trim().parse::<u64>().map_err(|_| ConfigError::Env {
                var: "CACHE_LEASE_MS",
                value: ms.clone(),
                reason: "expected a whole number of milliseconds (0 turns leases off)",
            })?;
            config = match parsed {
                0 => config.without_leases(),
                ms => config.lease_time(Duration::from_millis(ms)),
            };
        }
        Ok(config)
    }

    /// The first part of every key, so that applications or environments sharing
    /// one Redis never read each other's entries. Default: `cache`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Deadline of one cache operation, connecting included. Default: 50 ms.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Limit for one TCP connection attempt to Redis. Default: 250 ms.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Upper bound of the memory backend in bytes of keys and values. Default: 64 MiB.
    pub fn memory_capacity(mut self, bytes: u64) -> Self {
        self.memory_bytes = bytes;
        self
    }

    /// How long one caller's load of a missing entry may keep the other callers of
    /// that entry waiting, here and in other processes, before they load it
    /// themselves. It is also the life of the lease in Redis: a caller that crashes
    /// while loading blocks the entry for at most this long, and a load that takes
    /// longer is not stored (and counted in `fills_revoked`). Set it above your
    /// slowest load. Default: 5 s. See `docs/consistency.md`.
    pub fn lease_time(mut self, lease_time: Duration) -> Self {
        self.lease_time = Some(lease_time);
        self
    }

    /// Turns leases off: a miss costs one round trip less, but a value loaded while
    /// the entry is invalidated can be written after the invalidation (stale until
    /// its TTL), and concurrent misses in different processes each run the function.
    /// Single-flight within one process stays on.
    pub fn without_leases(mut self) -> Self {
        self.lease_time = None;
        self
    }

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
        let lease = match self.lease_time {
            Some(time) => Some(Ttl::from_duration(time).ok_or(ConfigError::ZeroTimeout("lease"))?),
            None => None,
        };
        let backend = match self.backend {
            BackendChoice::Redis { url } => {
                let client =
                    redis::Client::open(url.as_str()).map_err(|err| ConfigError::RedisUrl {
                        url: redact_url(&url),
                        reason: scrub(&err.to_string(), &url),
                    })?;
                Backend::Redis(RedisBackend::new(
                    client,
                    redact_url(&url),
                    self.timeout,
                    self.connect_timeout,
                ))
            }
            BackendChoice::Memory => Backend::Memory(MemoryBackend::new(self.memory_bytes)),
            BackendChoice::Off => Backend::Off,
        };
        Ok(Cache::from_backend(backend, self.namespace, lease))
    }
}

/// `url` with its password (if any) replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Setting a password only fails for URLs that cannot have one.
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        // Unparseable: hide everything between the scheme and an `@`, if any.
        Err(_) => match (url.find("://"), url.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                format!("{}***{}", &url[..scheme_end + 3], &url[at..])
            }
            _ => url.to_owned(),
        },
    }
}

/// `message` with any credentials of `url` removed, for errors that quote the URL.
fn scrub(message: &str, url: &str) -> String {
    let mut message = message.replace(url, &redact_url(url));
    if let Ok(parsed) = url::Url::parse(url)
        && let Some(password) = parsed.password().filter(|p| !p.is_empty())
    {
        message = message.replace(password, "***");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("redis://app:s3cret@10.0.0.1:6379/0"),
            "redis://app:***@10.0.0.1:6379/0"
        );
        assert_eq!(redact_url("redis://127.0.0.1/"), "redis://127.0.0.1/");
        assert!(!redact_url("bad://user:s3cret@").contains("s3cret"));
    }

    #[test]
    fn bad_url_error_hides_the_password() {
        let err = CacheConfig::redis("nosuchscheme://app:s3cret@host:6379")
            .build()
            .expect_err("unknown scheme");
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("invalid Redis URL"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

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
}
