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
    /// | `CACHE_MAX_VALUE_BYTES` | [largest value stored](Self::max_value_bytes), in bytes, 1 to 67108864 | `1048576` (1 MiB) |
    /// | `CACHE_TLS_CA_FILE` | PEM file of the CA certificates that sign a `rediss://` server's certificate ([`tls_root_certificate`](Self::tls_root_certificate)) | the public web roots |
    /// | `CACHE_TLS_CERT_FILE`, `CACHE_TLS_KEY_FILE` | PEM files of the client certificate chain and key, for mutual TLS ([`tls_client_certificate`](Self::tls_client_certificate)); both or neither | none |
    ///
    /// Values are checked when the cache is [built](Self::build).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables looked up by `lookup`, so that
    /// tests need not change the process's environment.
    fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| lookup(name).filter(|v: &String| !v.trim().is_empty());
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
        if let Some(bytes) = var("CACHE_MAX_VALUE_BYTES") {
            // The range is checked by `build`, with the setting made in code.
            let parsed = bytes
                .trim()
                .parse::<usize>()
                .map_err(|_| ConfigError::Env {
                    var: "CACHE_MAX_VALUE_BYTES",
                    value: bytes.clone(),
                    reason: "expected a whole number of bytes, from 1 to 67108864 (64 MiB)",
                })?;
            config = config.max_value_bytes(parsed);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_MAX_VALUE_BYTES;

    /// The configuration from the variables `vars` alone.
    fn from(vars: &[(&str, &str)]) -> Result<CacheConfig, ConfigError> {
        CacheConfig::from_vars(|name| {
            vars.iter()
                .find(|(var, _)| *var == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn the_value_limit_is_read_from_the_environment() {
        let limit = |config: CacheConfig| config.max_value_bytes;
        let unset = from(&[]).expect("no variables");
        assert_eq!(limit(unset), DEFAULT_MAX_VALUE_BYTES);
        let blank = from(&[("CACHE_MAX_VALUE_BYTES", "  ")]).expect("blank is unset");
        assert_eq!(limit(blank), DEFAULT_MAX_VALUE_BYTES);
        let set = from(&[("CACHE_MAX_VALUE_BYTES", " 4194304 ")]).expect("a number");
        assert_eq!(limit(set), 4 << 20);
    }

    #[test]
    fn a_bad_value_limit_in_the_environment_is_a_clear_error() {
        for bad in ["4MiB", "-1", "1.5", "0x100000", "99999999999999999999999"] {
            let err = from(&[("CACHE_MAX_VALUE_BYTES", bad)]).expect_err(bad);
            let shown = err.to_string();
            assert!(
                matches!(
                    err,
                    ConfigError::Env {
                        var: "CACHE_MAX_VALUE_BYTES",
                        ..
                    }
                ),
                "{bad}: {shown}"
            );
            assert!(
                shown.contains(bad) && shown.contains("whole number of bytes"),
                "{shown}"
            );
        }
        // A number out of range is refused when the cache is built.
        for (bad, value) in [("0", 0), ("67108865", (64 << 20) + 1)] {
            let config = from(&[("CACHE_MAX_VALUE_BYTES", bad)]).expect("a number");
            let err = config.build().expect_err(bad);
            assert!(
                matches!(err, ConfigError::MaxValueBytes(v) if v == value),
                "{err}"
            );
            assert!(err.to_string().contains("1 to 67108864 bytes"), "{err}");
        }
    }
}
