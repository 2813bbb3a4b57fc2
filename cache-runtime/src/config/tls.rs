//! `rediss://`: the Redis client with TLS, over rustls, and the checks of the
//! certificates a configuration names.

#[cfg(test)]
use super::CacheConfig;
use super::ConfigError;
use super::redact::{redact_url, scrub};

/// Certificates (PEM) for a `rediss://` server, beyond what the URL says.
#[derive(Clone, Default)]
pub(crate) struct TlsSettings {
    /// Trusted instead of the public roots.
    pub(crate) root_certificate: Option<Vec<u8>>,
    /// The certificate chain and private key presented for mutual TLS.
    pub(crate) client: Option<(Vec<u8>, Vec<u8>)>,
}

/// The client for `url`, with the TLS settings for a `rediss://` URL.
pub(crate) fn redis_client(url: &str, tls: &TlsSettings) -> Result<redis::Client, ConfigError> {
    let url_error = |err: redis::RedisError| ConfigError::RedisUrl {
        url: redact_url(url),
        reason: scrub(&err.to_string(), url),
    };
    let info = redis::IntoConnectionInfo::into_connection_info(url).map_err(url_error)?;
    let custom = tls.root_certificate.is_some() || tls.client.is_some();
    if !matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. }) {
        if custom {
            return Err(ConfigError::Tls(format!(
                "TLS certificates are set, but the Redis URL `{}` does not use TLS \
                 (use `rediss://`)",
                redact_url(url)
            )));
        }
        return redis::Client::open(info).map_err(url_error);
    }
    ensure_crypto_provider();
    if !custom {
        return redis::Client::open(info).map_err(url_error);
    }
    if let Some(pem) = &tls.root_certificate {
        check_certificates(pem, "the TLS root certificate")?;
    }
    let client_tls = match &tls.client {
        Some((chain, key)) => {
            check_client_identity(chain, key)?;
            Some(redis::ClientTlsConfig {
                client_cert: chain.clone(),
                client_key: key.clone(),
            })
        }
        None => None,
    };
    let certificates = redis::TlsCertificates {
        client_tls,
        root_cert: tls.root_certificate.clone(),
    };
    redis::Client::build_with_tls(info, certificates)
        .map_err(|err| ConfigError::Tls(scrub(&err.to_string(), url)))
}

/// rustls needs a process-wide crypto provider: installs ring's unless the
/// application installed one, so that `rediss://` works without setup.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Fails only when another thread installed one meanwhile, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Checks that `pem` holds at least one certificate and nothing malformed.
fn check_certificates(pem: &[u8], what: &str) -> Result<(), ConfigError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut found = 0_usize;
    for certificate in CertificateDer::pem_slice_iter(pem) {
        certificate.map_err(|err| ConfigError::Tls(format!("{what} is not valid PEM: {err}")))?;
        found += 1;
    }
    if found == 0 {
        return Err(ConfigError::Tls(format!(
            "{what} holds no PEM `CERTIFICATE` block"
        )));
    }
    Ok(())
}

/// Checks a client certificate chain and key as rustls will use them: the key must
/// parse and belong to the first certificate. Errors never quote the key.
fn check_client_identity(chain: &[u8], key: &[u8]) -> Result<(), ConfigError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    check_certificates(chain, "the TLS client certificate")?;
    let certificates = CertificateDer::pem_slice_iter(chain)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| ConfigError::Tls(format!("the TLS client certificate: {err}")))?;
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|_| {
        ConfigError::Tls("the TLS client key holds no valid PEM private key".to_owned())
    })?;
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| std::sync::Arc::new(rustls::crypto::ring::default_provider()));
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| {
            builder
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_client_auth_cert(certificates, key)
        })
        .map(drop)
        .map_err(|err| {
            ConfigError::Tls(format!(
                "the TLS client certificate and key cannot be used together: {err}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rediss_builds_without_certificates() {
        let cache = CacheConfig::redis("rediss://app:s3cret@redis.example.com:6380/0").build();
        assert!(cache.is_ok(), "{cache:?}");
    }

    #[test]
    fn tls_settings_are_checked_and_never_printed() {
        let tls_error = |config: CacheConfig| match config.build() {
            Err(ConfigError::Tls(reason)) => reason,
            other => panic!("expected a TLS error, got {other:?}"),
        };
        let reason = tls_error(
            CacheConfig::redis("rediss://127.0.0.1:6380/0").tls_root_certificate("no pem here"),
        );
        assert!(reason.contains("no PEM `CERTIFICATE` block"), "{reason}");
        let reason = tls_error(
            CacheConfig::redis("redis://app:s3cret@127.0.0.1:6379/0")
                .tls_root_certificate("-----BEGIN CERTIFICATE-----"),
        );
        assert!(reason.contains("rediss://"), "{reason}");
        assert!(!reason.contains("s3cret"), "{reason}");

        let key = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleQ==\n-----END PRIVATE KEY-----\n";
        let shown = format!(
            "{:?}",
            CacheConfig::redis("rediss://127.0.0.1:6380/0").tls_client_certificate("cert", key)
        );
        assert!(shown.contains("tls_client_certificate: true"), "{shown}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
    }
}
