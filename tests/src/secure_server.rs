//! `redis-server` processes that need credentials: TLS with a certificate authority
//! generated for the test, and an ACL user with a password.

use std::ffi::OsString;
use std::path::Path;

use crate::redis_server::{RedisServer, entry_keys};

/// A certificate authority, and a server and a client certificate it signed, made
/// for one test (ECDSA P-256, with rcgen). The server certificate is for
/// `127.0.0.1` and `localhost`.
#[derive(Debug, Clone)]
pub struct TestCertificates {
    /// The CA's certificate, PEM: what a client trusts.
    pub ca: String,
    /// The server's certificate, PEM.
    pub server_certificate: String,
    /// The server's private key, PEM.
    pub server_key: String,
    /// A client certificate for mutual TLS, PEM.
    pub client_certificate: String,
    /// The client certificate's private key, PEM.
    pub client_key: String,
}

impl TestCertificates {
    /// Generates a new CA and the certificates it signs.
    ///
    /// # Panics
    /// When rcgen fails, which it does not for these fixed parameters.
    pub fn generate() -> Self {
        Self::try_generate().unwrap_or_else(|err| panic!("cannot generate certificates: {err}"))
    }

    fn try_generate() -> Result<Self, rcgen::Error> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let mut ca_params = CertificateParams::new(Vec::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "cache-runtime test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        let ca_key = KeyPair::generate()?;
        let ca = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf = |names: Vec<String>, purpose| -> Result<(String, String), rcgen::Error> {
            let mut params = CertificateParams::new(names.clone())?;
            if let Some(name) = names.first() {
                params
                    .distinguished_name
                    .push(DnType::CommonName, name.as_str());
            }
            params.use_authority_key_identifier_extension = true;
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![purpose];
            let key = KeyPair::generate()?;
            let certificate = params.signed_by(&key, &issuer)?;
            Ok((certificate.pem(), key.serialize_pem()))
        };
        let (server_certificate, server_key) = leaf(
            vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        let (client_certificate, client_key) = leaf(
            vec!["cache-runtime-test-client".to_owned()],
            ExtendedKeyUsagePurpose::ClientAuth,
        )?;
        Ok(Self {
            ca: ca.pem(),
            server_certificate,
            server_key,
            client_certificate,
            client_key,
        })
    }

    fn write_to(&self, dir: &Path) -> [OsString; 3] {
        let write = |name: &str, pem: &str| {
            let path = dir.join(name);
            std::fs::write(&path, pem)
                .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
            path.into_os_string()
        };
        [
            write("ca.pem", &self.ca),
            write("server.pem", &self.server_certificate),
            write("server-key.pem", &self.server_key),
        ]
    }
}

/// rustls needs a process-wide crypto provider for the harness's own TLS clients.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A `redis-server` that accepts only TLS connections (no plain port), with a
/// certificate signed by a CA generated for the test; killed when dropped.
#[derive(Debug)]
pub struct TlsRedisServer {
    server: RedisServer,
    certificates: TestCertificates,
    mutual: bool,
    /// Holds the PEM files the server reads.
    _files: tempfile::TempDir,
}

impl TlsRedisServer {
    /// Starts a TLS server that does not ask clients for certificates
    /// (`tls-auth-clients no`).
    ///
    /// # Panics
    /// When `redis-server` is not installed, lacks TLS or does not start.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// Starts a TLS server that requires a client certificate signed by its CA
    /// (mutual TLS, `tls-auth-clients yes`).
    ///
    /// # Panics
    /// When `redis-server` is not installed, lacks TLS or does not start.
    pub fn start_mutual() -> Self {
        Self::start_with(true)
    }

    fn start_with(mutual: bool) -> Self {
        let certificates = TestCertificates::generate();
        let files = tempfile::tempdir().unwrap_or_else(|err| panic!("no temporary dir: {err}"));
        let [ca, certificate, key] = certificates.write_to(files.path());
        let server = RedisServer::start_with(|port| {
            let mut args: Vec<OsString> = ["--port", "0", "--tls-port"]
                .into_iter()
                .map(OsString::from)
                .collect();
            args.push(port.to_string().into());
            args.extend([
                "--tls-cert-file".into(),
                certificate.clone(),
                "--tls-key-file".into(),
                key.clone(),
                "--tls-ca-cert-file".into(),
                ca.clone(),
                "--tls-auth-clients".into(),
                if mutual { "yes" } else { "no" }.into(),
            ]);
            args
        });
        Self {
            server,
            certificates,
            mutual,
            _files: files,
        }
    }

    /// The server's TLS port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `rediss://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/0", self.port())
    }

    /// The certificates the server was started with.
    pub fn certificates(&self) -> &TestCertificates {
        &self.certificates
    }

    /// A redis-rs client that trusts the test CA (and presents the client
    /// certificate to a mutual-TLS server), for inspecting the server directly.
    pub fn client(&self) -> redis::Client {
        ensure_crypto_provider();
        let client_tls = self.mutual.then(|| redis::ClientTlsConfig {
            client_cert: self.certificates.client_certificate.clone().into_bytes(),
            client_key: self.certificates.client_key.clone().into_bytes(),
        });
        redis::Client::build_with_tls(
            self.url(),
            redis::TlsCertificates {
                client_tls,
                root_cert: Some(self.certificates.ca.clone().into_bytes()),
            },
        )
        .unwrap_or_else(|err| panic!("bad test TLS client: {err}"))
    }

    /// The cache entry keys matching `pattern`, sorted; group indexes left out.
    pub fn entry_keys(&self, pattern: &str) -> Vec<String> {
        entry_keys(&self.client(), pattern)
    }

    /// Kills the server and waits for it to exit.
    pub fn kill(&mut self) {
        self.server.kill();
    }
}

/// A `redis-server` whose only enabled user is an ACL user with a password (the
/// `default` user is off, so unauthenticated connections can do nothing); killed
/// when dropped.
pub struct AclRedisServer {
    server: RedisServer,
    user: String,
    password: String,
}

impl std::fmt::Debug for AclRedisServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AclRedisServer")
            // Not the server: its arguments hold the password.
            .field("port", &self.port())
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl AclRedisServer {
    /// Starts a server with the user `user`, password `password`, allowed every
    /// command, key and channel.
    ///
    /// # Panics
    /// When `redis-server` is not installed or does not start.
    pub fn start(user: &str, password: &str) -> Self {
        Self::start_with_rules(user, password, &["~*", "&*", "+@all"])
    }

    /// Starts a server with the user `user`, password `password`, and the ACL
    /// `rules` (such as `~shop:*` or `+get`).
    ///
    /// # Panics
    /// When `redis-server` is not installed or does not start.
    pub fn start_with_rules(user: &str, password: &str, rules: &[&str]) -> Self {
        let server = RedisServer::start_with(|_| {
            let password = format!(">{password}");
            ["--user", user, "on", password.as_str()]
                .into_iter()
                .chain(rules.iter().copied())
                .chain(["--user", "default", "off"])
                .map(OsString::from)
                .collect()
        });
        Self {
            server,
            user: user.to_owned(),
            password: password.to_owned(),
        }
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `redis://<user>:<password>@127.0.0.1:<port>/0`, with the right password.
    pub fn url(&self) -> String {
        self.url_with_password(&self.password)
    }

    /// The server's URL with the user and `password` (right or wrong).
    pub fn url_with_password(&self, password: &str) -> String {
        format!(
            "redis://{}:{password}@127.0.0.1:{}/0",
            self.user,
            self.port()
        )
    }

    /// `redis://127.0.0.1:<port>/0`: no credentials, so as the disabled `default` user.
    pub fn anonymous_url(&self) -> String {
        self.server.url()
    }

    /// An authenticated redis-rs client, for inspecting the server directly.
    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).unwrap_or_else(|err| panic!("bad test URL: {err}"))
    }

    /// The cache entry keys matching `pattern`, sorted; group indexes left out.
    pub fn entry_keys(&self, pattern: &str) -> Vec<String> {
        entry_keys(&self.client(), pattern)
    }
}
