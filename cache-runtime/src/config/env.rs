//! [`CacheConfig::from_env`]: the configuration from environment variables.

use std::time::Duration;

use super::{CacheConfig, ConfigError, DEFAULT_REDIS_URL};

impl CacheConfig {
    /// Reads the configuration from the environment:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `CACHE_BACKEND` | `redis`, `memory` or `off` | `redis` |
    /// | `REDIS_URL` | the Redis server | `redis://127.0.0.1:6379/0` |
    /// | `CACHE_NAMESPACE` | first part of every key | `cache` |
    /// | `CACHE_TIMEOUT_MS` | deadline of one operation | `50` |
    /// | `CACHE_KEY_SECRET` | a [key secret](Self::key_secret) | none |
    /// | `CACHE_LEASE_MS` | [lease time](Self::lease_time); `0` turns leases off | `5000` |
    /// | `CACHE_TLS_CA_FILE` | PEM file of the CA certificates that sign a `rediss://` server's certificate ([`tls_root_certificate`](Self::tls_root_certificate)) | the public web roots |
    /// | `CACHE_TLS_CERT_FILE`, `CACHE_TLS_KEY_FILE` | PEM files of the client certificate chain and key, for mutual TLS ([`tls_client_certificate`](Self::tls_client_certificate)); both or neither | none |
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
        if let Some(secret) = var("CACHE_KEY_SECRET") {
            config = config.key_secret(secret);
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
        if let Some(path) = var("CACHE_TLS_CA_FILE") {
            config = config.tls_root_certificate(read_pem_file("CACHE_TLS_CA_FILE", &path)?);
        }
        match (var("CACHE_TLS_CERT_FILE"), var("CACHE_TLS_KEY_FILE")) {
            (Some(cert), Some(key)) => {
                config = config.tls_client_certificate(
                    read_pem_file("CACHE_TLS_CERT_FILE", &cert)?,
                    read_pem_file("CACHE_TLS_KEY_FILE", &key)?,
                );
            }
            (None, None) => {}
            (Some(path), None) => {
                return Err(ConfigError::Env {
                    var: "CACHE_TLS_CERT_FILE",
                    value: path,
                    reason: "set CACHE_TLS_KEY_FILE too: a client certificate needs its key",
                });
            }
            (None, Some(path)) => {
                return Err(ConfigError::Env {
                    var: "CACHE_TLS_KEY_FILE",
                    value: path,
                    reason: "set CACHE_TLS_CERT_FILE too: a client key needs its certificate",
                });
            }
        }
        Ok(config)
    }
}

/// Reads the PEM file named by the environment variable `var`.
fn read_pem_file(var: &'static str, path: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path.trim())
        .map_err(|err| ConfigError::Tls(format!("cannot read {var} `{}`: {err}", path.trim())))
}
