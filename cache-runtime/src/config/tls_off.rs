//! Stand-in for `tls.rs` in builds without the `tls` feature: the same names, and a
//! configuration error naming the missing feature for whatever needs it (a
//! `rediss://` URL or certificates; without the `redis` feature, any Redis URL).

use super::ConfigError;
use super::redact::redact_url;

/// Certificates (PEM) for a `rediss://` server, which this build cannot use.
#[derive(Clone, Default)]
pub(crate) struct TlsSettings {
    /// Trusted instead of the public roots.
    pub(crate) root_certificate: Option<Vec<u8>>,
    /// The certificate chain and private key presented for mutual TLS.
    pub(crate) client: Option<(Vec<u8>, Vec<u8>)>,
}

/// The client for `url`, which must not need TLS.
#[cfg(feature = "redis")]
pub(crate) fn redis_client(url: &str, tls: &TlsSettings) -> Result<redis::Client, ConfigError> {
    let tls_url =
        url::Url::parse(url).is_ok_and(|url| matches!(url.scheme(), "rediss" | "valkeys"));
    if tls_url || tls.root_certificate.is_some() || tls.client.is_some() {
        let what = if tls_url {
            "a `rediss://` URL"
        } else {
            "TLS certificates"
        };
        return Err(ConfigError::Tls(format!(
            "{what} ({}) need TLS, and this build of cache-runtime has none: \
             enable its `tls` feature (on by default)",
            redact_url(url)
        )));
    }
    redis::Client::open(url).map_err(|err| ConfigError::RedisUrl {
        url: redact_url(url),
        reason: super::redact::scrub(&err.to_string(), url),
    })
}

/// Refuses every Redis URL: this build has no Redis client.
#[cfg(not(feature = "redis"))]
pub(crate) fn redis_client(
    url: &str,
    _tls: &TlsSettings,
) -> Result<std::convert::Infallible, ConfigError> {
    Err(ConfigError::RedisUrl {
        url: redact_url(url),
        reason: "this build of cache-runtime has no Redis client: enable its `redis` \
                 feature (on by default), or use the memory backend \
                 (`CacheConfig::memory()`, `CACHE_BACKEND=memory`)"
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::CacheConfig;

    fn refusal(config: CacheConfig) -> String {
        let err = config
            .build()
            .expect_err("needs a feature this build lacks");
        format!("{err}")
    }

    #[cfg(feature = "redis")]
    #[test]
    fn tls_needs_the_tls_feature() {
        let shown = refusal(CacheConfig::redis(
            "rediss://app:s3cret@cache.example.com:6380/0",
        ));
        assert!(shown.contains("`tls` feature"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
        let shown = refusal(CacheConfig::redis("redis://h:6379/0").tls_root_certificate("pem"));
        assert!(shown.contains("`tls` feature"), "{shown}");
        assert!(CacheConfig::redis("redis://h:6379/0").build().is_ok());
    }

    #[cfg(not(feature = "redis"))]
    #[test]
    fn redis_needs_the_redis_feature() {
        let shown = refusal(CacheConfig::redis("redis://app:s3cret@h:6379/0"));
        assert!(shown.contains("`redis` feature"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(CacheConfig::memory().build().is_ok());
        assert!(CacheConfig::off().build().is_ok());
    }
}
