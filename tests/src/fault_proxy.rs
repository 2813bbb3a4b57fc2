//! A TCP proxy on loopback that sits between a client and a server (typically a
//! [`RedisServer`](crate::RedisServer)) and injects network faults on demand.
//!
//! ```no_run
//! use cache_tests::RedisServer;
//! use cache_tests::fault_proxy::{FaultProxy, Mode};
//!
//! let server = RedisServer::start();
//! let proxy = FaultProxy::start(server.port());
//! let client = redis::Client::open(proxy.url()).expect("valid URL");
//! // ... connect through the proxy, then:
//! proxy.set_mode(Mode::Reset);
//! // every open connection has now been reset, and new ones are reset on accept
//! proxy.set_mode(Mode::Pass);
//! # drop(client);
//! ```
//!
//! The proxy runs on its own thread with its own Tokio runtime, so it works the same
//! whatever runtime (or none) the test uses, including a `current_thread` test that
//! blocks. Dropping the [`FaultProxy`] stops it and closes all its connections.

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// Size of one read, and so the largest chunk forwarded at once.
const CHUNK: usize = 16 * 1024;
/// Bytes a direction may hold read but not yet forwarded (under latency) before the
/// proxy stops reading and lets TCP flow control push back on the sender.
const MAX_QUEUED: usize = 1024 * 1024;
/// How long [`FaultProxy::set_mode`] waits for a reset or close to reach every open
/// connection.
const APPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a gracefully closed connection is drained (so that unread bytes do not
/// turn the close into a reset) before it is dropped.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// What a [`FaultProxy`] does to its connections. It applies to open connections and
/// to new ones alike, from the moment [`FaultProxy::set_mode`] is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward both ways, as fast as possible.
    Pass,
    /// Forward both ways, each chunk held back by this one-way delay from the moment
    /// the proxy read it. A request-reply round trip takes at least twice the delay.
    Latency(Duration),
    /// Keep connections open and accept new ones, but forward nothing either way, so
    /// the peer never gets a reply.
    ///
    /// Bytes are held, not discarded: the proxy stops reading, so they wait in its
    /// queue and in the kernel's socket buffers (until those fill and the sender's
    /// writes block). When the mode goes back to [`Mode::Pass`] or [`Mode::Latency`],
    /// forwarding resumes on the connections still open and the held bytes are
    /// delivered in order, as TCP would after a network partition heals, so a
    /// request-reply stream stays in step. Unlike a real partition, the kernel still
    /// completes TCP handshakes and acknowledges bytes (up to the buffer sizes), so
    /// the client sees its connects and writes succeed; only replies never come.
    Blackhole,
    /// Reset every open connection (TCP RST, both towards the client and towards the
    /// upstream server), and reset each new connection right after accepting it.
    Reset,
    /// Close every open connection gracefully (FIN, both towards the client and
    /// towards the upstream server), and close each new connection right after
    /// accepting it.
    Close,
}

impl Mode {
    /// The delay to forward with, or `None` when nothing may be forwarded.
    fn forward_delay(self) -> Option<Duration> {
        match self {
            Mode::Pass => Some(Duration::ZERO),
            Mode::Latency(delay) => Some(delay),
            Mode::Blackhole | Mode::Reset | Mode::Close => None,
        }
    }

    /// Whether this mode ends connections.
    fn kills(self) -> bool {
        matches!(self, Mode::Reset | Mode::Close)
    }
}

/// A fault-injecting TCP proxy on a free 127.0.0.1 port, forwarding to a loopback
/// server. Stopped, with all its connections closed, when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    port: u16,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// State shared by the [`FaultProxy`] handle and its thread.
#[derive(Debug)]
struct Shared {
    mode: watch::Sender<Mode>,
    accepted: AtomicUsize,
    /// Connections that forward (or are about to) and that no reset or close has
    /// reached yet.
    serving: Mutex<usize>,
    serving_changed: Condvar,
}

impl Shared {
    /// Counts a connection as serving until the returned guard is dropped.
    fn begin_serving(self: &Arc<Self>) -> ServingGuard {
        *self.serving.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        ServingGuard(Arc::clone(self))
    }
}

/// Counts one serving connection; see [`Shared::serving`].
#[derive(Debug)]
struct ServingGuard(Arc<Shared>);

impl Drop for ServingGuard {
    fn drop(&mut self) {
        let mut serving = self
            .0
            .serving
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *serving -= 1;
        if *serving == 0 {
            self.0.serving_changed.notify_all();
        }
    }
}

impl FaultProxy {
    /// Starts a proxy, in [`Mode::Pass`], forwarding to `127.0.0.1:<upstream_port>`.
    ///
    /// # Panics
    /// When no loopback port can be bound or the proxy thread cannot start.
    pub fn start(upstream_port: u16) -> Self {
        Self::start_to(SocketAddr::from((Ipv4Addr::LOCALHOST, upstream_port)))
    }

    /// Starts a proxy, in [`Mode::Pass`], forwarding to `upstream`.
    ///
    /// # Panics
    /// When `upstream` is not a loopback address (tests never reach out of the
    /// machine), or when no loopback port can be bound or the proxy thread cannot
    /// start.
    pub fn start_to(upstream: SocketAddr) -> Self {
        assert!(
            upstream.ip().is_loopback(),
            "FaultProxy forwards to loopback addresses only, not to {upstream}"
        );
        // Bound here, so the port accepts connections as soon as `start` returns.
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
            .unwrap_or_else(|err| panic!("FaultProxy cannot bind a loopback port: {err}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|err| panic!("FaultProxy listener has no address: {err}"))
            .port();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|err| panic!("FaultProxy cannot build its Tokio runtime: {err}"));
        let shared = Arc::new(Shared {
            mode: watch::Sender::new(Mode::Pass),
            accepted: AtomicUsize::new(0),
            serving: Mutex::new(0),
            serving_changed: Condvar::new(),
        });
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{port}"))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener).unwrap_or_else(|err| {
                        panic!("FaultProxy cannot register its listener: {err}")
                    });
                    tokio::select! {
                        () = accept_loop(listener, upstream, thread_shared) => {}
                        _ = shutdown_rx => {}
                    }
                });
                // Dropping the runtime drops every connection task, and so closes
                // every socket, before the thread ends.
                drop(runtime);
            })
            .unwrap_or_else(|err| panic!("FaultProxy cannot start its thread: {err}"));
        Self {
            port,
            upstream,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The proxy's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The proxy's address, `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `redis://127.0.0.1:<port>/0`, for a Redis client that goes through the proxy.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The address the proxy forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self.shared.mode.borrow()
    }

    /// Switches the mode, for open connections and new ones.
    ///
    /// Once this returns, no byte the proxy reads afterwards is forwarded unless
    /// the mode allows it. For [`Mode::Reset`] and [`Mode::Close`], it returns only
    /// once every connection that was open has been reset or sent its FIN (both
    /// towards the client and towards the server), so a test can go straight on to
    /// observe the failure. Connections reset or closed stay so: switching back to
    /// [`Mode::Pass`] lets new connections through, it does not revive old ones.
    ///
    /// # Panics
    /// When a reset or close does not reach every connection within a few seconds.
    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.send_replace(mode);
        if mode.kills() {
            let serving = self
                .shared
                .serving
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let (serving, wait) = self
                .shared
                .serving_changed
                .wait_timeout_while(serving, APPLY_TIMEOUT, |serving| *serving > 0)
                .unwrap_or_else(PoisonError::into_inner);
            assert!(
                !wait.timed_out(),
                "FaultProxy: {mode:?} did not reach {} connection(s) within {APPLY_TIMEOUT:?}",
                *serving
            );
        }
    }

    /// How many connections the proxy has accepted so far, whatever it did with them.
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic on the proxy thread has been reported already; do not panic
            // again while dropping.
            let _ = thread.join();
        }
    }
}

/// Accepts connections until the proxy is dropped, handling each per the mode.
async fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(_) => {
                // Out of file descriptors, or a connection gone before it was
                // accepted: try again shortly.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        // Counted before the mode is read, so a concurrent `set_mode(Reset | Close)`
        // either waits for this connection or is seen by it.
        let serving = shared.begin_serving();
        let mode = *shared.mode.borrow();
        match mode {
            Mode::Reset => {
                reset(client);
                drop(serving);
            }
            Mode::Close => {
                let mut client = client;
                let _ = client.shutdown().await;
                drop(serving);
                tokio::spawn(drain_and_drop(client, None));
            }
            Mode::Pass | Mode::Latency(_) | Mode::Blackhole => {
                tokio::spawn(serve(client, upstream, serving, shared.mode.subscribe()));
            }
        }
    }
}

/// Forwards between `client` and a new connection to `upstream` until either side
/// ends it, or until a reset or close is asked for.
async fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    serving: ServingGuard,
    modes: watch::Receiver<Mode>,
) {
    let mut server: Option<TcpStream> = None;
    let kill = {
        let forward = async {
            let server = server.insert(TcpStream::connect(upstream).await?);
            let _ = server.set_nodelay(true);
            let _ = client.set_nodelay(true);
            let (client_read, client_write) = client.split();
            let (server_read, server_write) = server.split();
            tokio::try_join!(
                pump(client_read, server_write, modes.clone()),
                pump(server_read, client_write, modes.clone()),
            )
            .map(|_| ())
        };
        tokio::select! {
            kill = wait_for_kill(modes.clone()) => Some(kill),
            // Ended by a peer (or an error): just close both sides.
            _ = forward => None,
        }
    };
    match kill {
        Some(Mode::Reset) => {
            reset(client);
            if let Some(server) = server {
                reset(server);
            }
            drop(serving);
        }
        Some(_) => {
            let _ = client.shutdown().await;
            if let Some(server) = server.as_mut() {
                let _ = server.shutdown().await;
            }
            drop(serving);
            drain_and_drop(client, server).await;
        }
        None => {
            drop(client);
            drop(server);
            drop(serving);
        }
    }
}

/// Waits until the mode is [`Mode::Reset`] or [`Mode::Close`], and returns it.
async fn wait_for_kill(mut modes: watch::Receiver<Mode>) -> Mode {
    loop {
        let mode = *modes.borrow_and_update();
        if mode.kills() {
            return mode;
        }
        if modes.changed().await.is_err() {
            // The proxy is going away, and this task with it.
            std::future::pending::<()>().await;
        }
    }
}

/// Copies `from` to `to` chunk by chunk, as the mode allows; when `from` ends,
/// forwards the end (half-close) once everything read has been written.
async fn pump<R, W>(mut from: R, mut to: W, mut modes: watch::Receiver<Mode>) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut queue: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let mut queued = 0;
    let mut ended = false;
    let mut buffer = vec![0; CHUNK];
    loop {
        let Some(delay) = modes.borrow_and_update().forward_delay() else {
            // Hold everything (stop reading too) until the mode allows forwarding.
            if modes.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
            continue;
        };
        let due = queue.front().map(|(read_at, _)| *read_at + delay);
        if due.is_some_and(|due| due <= Instant::now()) {
            if let Some((_, chunk)) = queue.pop_front() {
                queued -= chunk.len();
                to.write_all(&chunk).await?;
            }
            continue;
        }
        if ended && queue.is_empty() {
            return to.shutdown().await;
        }
        tokio::select! {
            changed = modes.changed() => {
                if changed.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            read = from.read(&mut buffer), if !ended && queued < MAX_QUEUED => {
                let read = read?;
                if read == 0 {
                    ended = true;
                } else {
                    queue.push_back((Instant::now(), buffer[..read].to_vec()));
                    queued += read;
                }
            }
            () = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {}
        }
    }
}

/// Drops `stream` with a zero linger time, so the kernel sends a TCP RST.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// Reads and discards what the peers still send after our FIN, for a while, so that
/// closing the sockets with unread bytes does not turn the graceful close into a
/// reset.
async fn drain_and_drop(client: TcpStream, server: Option<TcpStream>) {
    async fn drain(mut stream: TcpStream) {
        let mut buffer = vec![0; CHUNK];
        while let Ok(1..) = stream.read(&mut buffer).await {}
    }
    let drains = async {
        tokio::join!(drain(client), async {
            if let Some(server) = server {
                drain(server).await;
            }
        })
    };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, drains).await;
}
