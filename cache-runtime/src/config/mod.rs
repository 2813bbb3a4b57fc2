//! Building a [`Cache`](crate::Cache): from code with [`CacheConfig`], or from the
//! environment (`env.rs`). The checks and the assembly of a cache, and the cache's
//! own constructors (`Cache::memory`, `off`, `from_env`), are in `build.rs`; TLS
//! settings are in `tls.rs`; `redact.rs` keeps passwords out of messages.

mod build;
mod env;
#[cfg_attr(not(feature = "redis"), path = "redact_off.rs")]
mod redact;
#[cfg_attr(not(feature = "tls"), path = "tls_off.rs")]
mod tls;

use std::fmt;
use std::time::Duration;

use crate::backend::breaker::BreakerSettings;
use crate::codec::MAX_VALUE_BYTES;
use crate::key::MAX_NAMESPACE_LEN;

pub(crate) use redact::redact_url;
use tls::TlsSettings;

/// The URL used when `REDIS_URL` is not set: the local default every Redis guide uses.
pub(crate) const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/0";
/// The namespace used when none is configured.
pub(crate) const DEFAULT_NAMESPACE: &str = "cache";
/// Default deadline of one cache operation. Tens of milliseconds: long enough for a
/// healthy Redis on the same network many times over, short enough that an outage
/// costs callers milliseconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);
/// Default limit for establishing a TCP connection to Redis.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
/// Default lease time: how long one caller's load of a missing entry may keep the
/// other callers of that entry waiting, in this process and in others, before they
/// load it themselves; a load that takes longer is not stored. See
/// `docs/consistency.md`.
pub(crate) const DEFAULT_LEASE_TIME: Duration = Duration::from_secs(5);
/// Default size bound of the memory backend: 64 MiB of keys and values.
pub(crate) const DEFAULT_MEMORY_BYTES: u64 = 64 << 20;
/// Default largest value the cache writes and reads: 1 MiB, encoded.
///
/// A read must arrive within the deadline (50 ms by default), and on the one
/// multiplexed connection every reply waits for the replies before it: a value
/// delays every other call's read while it crosses. 1 MiB crosses a 1 Gbit/s link
/// in about 8 ms, a sixth of the default deadline; 4 MiB would take two thirds of it.
/// It is also memcached's default item limit. Larger values are not stored (counted
/// in `encode_failures`), and stored ones are misses that get replaced. See
/// `docs/failures.md`.
pub(crate) const DEFAULT_MAX_VALUE_BYTES: usize = 1 << 20;

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
    /// The largest value is 0 bytes, or more than the codec's hard limit, 64 MiB.
    #[error(
        "the largest cached value must be 1 to {MAX_VALUE_BYTES} bytes (64 MiB), not {0} bytes"
    )]
    MaxValueBytes(usize),
    /// The key secret is too short to be one.
    #[error("the key secret is {0} bytes long; use at least 16 (32 random bytes are best)")]
    KeySecret(usize),
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
    /// The TLS settings cannot be used: a certificate or key that is not PEM, a file
    /// that cannot be read, or certificates for a URL that is not `rediss://`. Never
    /// quotes key material.
    #[error("invalid TLS configuration: {0}")]
    Tls(String),
}

/// A key secret; never shown.
#[derive(Clone)]
struct KeySecret(Vec<u8>);

#[derive(Clone)]
enum BackendChoice {
    Redis { url: String },
    Memory,
    Off,
}

/// How to build a [`Cache`](crate::Cache): the backend, the namespace and the deadlines.
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
    /// The largest encoded value written or read.
    max_value_bytes: usize,
    /// `None`: leases off.
    lease_time: Option<Duration>,
    /// The secret the key digests are keyed with, if any.
    key_secret: Option<KeySecret>,
    tls: TlsSettings,
    breaker: BreakerSettings,
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
            .field("max_value_bytes", &self.max_value_bytes)
            .field("lease_time", &self.lease_time)
            .field("key_secret", &self.key_secret.as_ref().map(|_| "***"))
            // Whether certificates are set; never their contents (a key is secret).
            .field("tls_root_certificate", &self.tls.root_certificate.is_some())
            .field("tls_client_certificate", &self.tls.client.is_some())
            .field("breaker", &self.breaker)
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
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            lease_time: Some(DEFAULT_LEASE_TIME),
            key_secret: None,
            tls: TlsSettings::default(),
            breaker: BreakerSettings::default(),
        }
    }

    /// A Redis cache at `url` (`redis://[user:password@]host:port/db`, `rediss://` for
    /// TLS, or `unix:///path/to/redis.sock?user=..&pass=..&db=..`). Its password is
    /// never shown: see `docs/security.md`.
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

    /// The largest value the cache stores, in bytes as encoded (without the 24-byte
    /// header). A larger result is returned but not stored (counted in
    /// `encode_failures`); a larger stored value, from another program or a process
    /// with a higher limit, is read only up to this size plus one byte, so it costs a
    /// bounded transfer, and is a miss that gets replaced.
    ///
    /// Every read must arrive within the [deadline](Self::timeout), and while a value
    /// crosses the connection, every other call's reply waits behind it: keep this to
    /// what your link carries in a fraction of the deadline. Processes that share a
    /// namespace should use the same limit. From 1 byte to 64 MiB (the codec's hard
    /// limit); also read from `CACHE_MAX_VALUE_BYTES` by [`from_env`](Self::from_env).
    /// Default: 1 MiB. See `docs/failures.md`.
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = bytes;
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

    /// Keys every key digest with `secret` too, so that keys cannot be computed, or
    /// argument values confirmed from keys, without it: for deployments where callers
    /// choose arguments and see or share the Redis. Every process sharing the entries
    /// needs the same secret, and changing it changes every key (old entries become
    /// unreachable and expire). At least 16 bytes; use 32 random ones. It costs one
    /// BLAKE3 block per call. Also read from `CACHE_KEY_SECRET` by
    /// [`from_env`](Self::from_env). See `docs/keys-and-values.md`.
    pub fn key_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.key_secret = Some(KeySecret(secret.as_ref().to_vec()));
        self
    }

    /// The Redis endpoint's circuit breaker: after `failure_threshold` consecutive
    /// failures (errors or deadlines) it skips Redis for `open_for`, then lets one
    /// probe through at a time until `close_after` succeed. Default: 5 failures,
    /// 500 ms, 2 probes; a threshold of 0 turns it off. See `docs/failures.md`.
    pub fn circuit_breaker(mut self, settings: BreakerSettings) -> Self {
        self.breaker = settings;
        self
    }

    /// Trusts the certificate authorities in `pem` (one or more `CERTIFICATE` blocks)
    /// for a `rediss://` server, instead of the public web roots: for a server whose
    /// certificate a private CA signed. Without it, the server's certificate must chain
    /// to a root of the Mozilla program (the `webpki-roots` set, built in); the
    /// system's trust store is not read, so for a CA installed there, pass its bundle
    /// (for example `/etc/ssl/certs/ca-certificates.crt`). Checked when the cache is
    /// [built](Self::build): a PEM without a valid certificate is a
    /// [`ConfigError::Tls`].
    ///
    /// The host name or IP address in the URL must match the certificate.
    pub fn tls_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.root_certificate = Some(pem.into());
        self
    }

    /// Presents a client certificate chain and its private key (both PEM) to a
    /// `rediss://` server that requires one (mutual TLS, `tls-auth-clients yes`).
    /// Checked when the cache is [built](Self::build); the key is never printed.
    pub fn tls_client_certificate(
        mut self,
        certificate_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.client = Some((certificate_pem.into(), key_pem.into()));
        self
    }
}
