//! Starting, stopping and restarting a real `redis-server`.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a server may take to report that it accepts connections.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
const READY_LINE: &str = "Ready to accept connections";

/// A `redis-server` child process, killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    /// Arguments after the defaults (a later one wins), kept for restarts.
    extra_args: Vec<OsString>,
}

/// A loopback TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|err| panic!("cannot reserve a loopback port: {err}"))
}

impl RedisServer {
    /// Starts a server on a free loopback port and waits until it accepts connections.
    ///
    /// # Panics
    /// When `redis-server` is not installed or does not start: the test must fail.
    pub fn start() -> Self {
        let mut last_error = String::new();
        // Another process may grab the port between `free_port` and the bind; retry.
        for _ in 0..5 {
            match Self::try_start_on(free_port()) {
                Ok(server) => return server,
                Err(err) => last_error = err,
            }
        }
        panic!("redis-server did not start: {last_error}");
    }

    /// Starts a server on `port` (for example one reserved with [`free_port`] before an
    /// application was started against it).
    pub fn start_on(port: u16) -> Self {
        Self::try_start_on(port).unwrap_or_else(|err| panic!("redis-server did not start: {err}"))
    }

    /// Starts a server on a free loopback port with `args(port)` after the default
    /// arguments (for TLS, ACL users...), and waits until it accepts connections.
    pub(crate) fn start_with(args: impl Fn(u16) -> Vec<OsString>) -> Self {
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            match Self::try_start_with(port, args(port)) {
                Ok(server) => return server,
                Err(err) => last_error = err,
            }
        }
        panic!("redis-server did not start: {last_error}");
    }

    fn try_start_on(port: u16) -> Result<Self, String> {
        Self::try_start_with(port, Vec::new())
    }

    fn try_start_with(port: u16, extra_args: Vec<OsString>) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|err| format!("no temporary directory: {err}"))?;
        let mut server = Self {
            child: None,
            port,
            dir,
            extra_args,
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--logfile", "", "--daemonize", "no"])
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| {
                if err.kind() == std::io::ErrorKind::NotFound {
                    "`redis-server` is not installed or not on PATH. These tests need a real \
                     Redis: install it (`sudo apt-get install redis-server`, or run \
                     `scripts/test.sh`, which does it for you)"
                        .to_owned()
                } else {
                    format!("cannot run redis-server: {err}")
                }
            })?;
        let stdout = child.stdout.take().ok_or("redis-server has no stdout")?;
        let (ready_tx, ready_rx) = mpsc::channel();
        // Read the log until the server says it is ready, then keep draining it so
        // the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut log = String::new();
            let mut ready_tx = Some(ready_tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(tx) = ready_tx.as_ref() {
                    log.push_str(&line);
                    log.push('\n');
                    if line.contains(READY_LINE) {
                        let _ = tx.send(Ok(()));
                        ready_tx = None;
                    }
                }
            }
            if let Some(tx) = ready_tx {
                let _ = tx.send(Err(log));
            }
        });
        match ready_rx.recv_timeout(READY_TIMEOUT) {
            Ok(Ok(())) => {
                self.child = Some(child);
                Ok(())
            }
            Ok(Err(log)) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("redis-server exited on port {}:\n{log}", self.port))
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!(
                    "redis-server on port {} was not ready within {READY_TIMEOUT:?}",
                    self.port
                ))
            }
        }
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// A redis-rs client for inspecting or tampering with the server directly.
    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).unwrap_or_else(|err| panic!("bad test URL: {err}"))
    }

    /// The cache entry keys matching `pattern`, sorted; group indexes
    /// (`namespace:#...`) are left out. Uses `KEYS`, which is fine on a test server.
    pub fn entry_keys(&self, pattern: &str) -> Vec<String> {
        entry_keys(&self.client(), pattern)
    }

    /// Kills the server (SIGKILL, as a crash would) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn()
            .unwrap_or_else(|err| panic!("redis-server did not restart: {err}"));
    }

    /// Whether the server process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `KEYS pattern` through `client`, sorted, without group indexes (`namespace:#...`).
pub(crate) fn entry_keys(client: &redis::Client, pattern: &str) -> Vec<String> {
    let mut connection = client
        .get_connection()
        .unwrap_or_else(|err| panic!("test server unreachable: {err}"));
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(pattern)
        .query(&mut connection)
        .unwrap_or_else(|err| panic!("KEYS failed: {err}"));
    keys.retain(|key| !key.contains(":#"));
    keys.sort();
    keys
}
