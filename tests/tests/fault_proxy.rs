//! Self-test of [`FaultProxy`]: each mode, against a real `redis-server`, through
//! plain redis-rs clients and raw TCP sockets.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use cache_tests::RedisServer;
use cache_tests::fault_proxy::{FaultProxy, Mode};
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;

/// Bound on anything that should happen promptly, so a broken proxy fails the test
/// instead of hanging it.
const PROMPTLY: Duration = Duration::from_secs(5);
const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";
const PONG: &[u8] = b"+PONG\r\n";

/// A multiplexed connection through `proxy`, without redis-rs's own response
/// timeout, so the tests decide how long to wait.
async fn connect(proxy: &FaultProxy) -> redis::RedisResult<MultiplexedConnection> {
    let client = redis::Client::open(proxy.url()).expect("the proxy URL is valid");
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(PROMPTLY))
        .set_response_timeout(None);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

async fn ping(connection: &mut MultiplexedConnection) -> redis::RedisResult<String> {
    redis::cmd("PING").query_async(connection).await
}

/// Connects through `proxy` and pings, failing the test if that takes too long.
async fn connect_and_ping(proxy: &FaultProxy) -> redis::RedisResult<String> {
    tokio::time::timeout(PROMPTLY, async { ping(&mut connect(proxy).await?).await })
        .await
        .expect("connecting and pinging through the proxy hung")
}

/// A raw TCP connection through `proxy`, whose reads give up after [`PROMPTLY`].
fn raw_connect(proxy: &FaultProxy) -> TcpStream {
    let stream = TcpStream::connect(proxy.addr()).expect("the proxy accepts connections");
    stream
        .set_read_timeout(Some(PROMPTLY))
        .expect("read timeout is settable");
    stream
}

/// Sends a raw PING and reads the PONG.
fn raw_ping(stream: &mut TcpStream) {
    stream.write_all(PING).expect("PING is sent");
    let mut reply = [0; PONG.len()];
    stream.read_exact(&mut reply).expect("PONG is received");
    assert_eq!(reply, PONG);
}

/// What the next read on `stream` gives: `Ok(0)` after a FIN, an error after a RST.
fn raw_read(stream: &mut TcpStream) -> std::io::Result<usize> {
    let mut buffer = [0; 64];
    stream.read(&mut buffer)
}

/// A server behind a proxy in [`Mode::Pass`], with a redis-rs connection and a raw
/// socket through it, each checked with a `PING`.
async fn proxied() -> (RedisServer, FaultProxy, MultiplexedConnection, TcpStream) {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    let mut connection = connect(&proxy).await.expect("connects in Pass");
    assert_eq!(ping(&mut connection).await.expect("PING passes"), "PONG");
    let mut raw = raw_connect(&proxy);
    raw_ping(&mut raw);
    (server, proxy, connection, raw)
}

#[tokio::test]
async fn pass_forwards_both_ways() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    assert_eq!(proxy.mode(), Mode::Pass);
    assert_eq!(connect_and_ping(&proxy).await.expect("PING passes"), "PONG");

    // Also synchronously, and a second command on the same connection.
    let client = redis::Client::open(proxy.url()).expect("the proxy URL is valid");
    let mut connection = client
        .get_connection_with_timeout(PROMPTLY)
        .expect("connects through the proxy");
    let () = redis::cmd("SET")
        .arg("key")
        .arg("value")
        .query(&mut connection)
        .expect("SET passes");
    let value: String = redis::cmd("GET")
        .arg("key")
        .query(&mut connection)
        .expect("GET passes");
    assert_eq!(value, "value");
    assert_eq!(proxy.connections(), 2);
}

#[tokio::test]
async fn latency_delays_each_chunk() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    let mut connection = connect(&proxy).await.expect("connects in Pass");

    // Applies to a connection opened before the switch.
    let delay = Duration::from_millis(200);
    proxy.set_mode(Mode::Latency(delay));
    let started = Instant::now();
    assert_eq!(ping(&mut connection).await.expect("PING passes"), "PONG");
    // The request and the reply are each delayed.
    let elapsed = started.elapsed();
    assert!(elapsed >= 2 * delay, "PING took only {elapsed:?}");

    proxy.set_mode(Mode::Pass);
    assert_eq!(ping(&mut connection).await.expect("PING passes"), "PONG");
}

#[tokio::test]
async fn blackhole_forwards_nothing_until_pass() {
    let (_server, proxy, mut connection, mut raw) = proxied().await;

    proxy.set_mode(Mode::Blackhole);
    let timeout = Duration::from_millis(300);
    let reply = tokio::time::timeout(timeout, ping(&mut connection)).await;
    assert!(
        reply.is_err(),
        "PING got a reply through a blackhole: {reply:?}"
    );
    // New connections are accepted, but get no reply either.
    let accepted = proxy.connections();
    let reply =
        tokio::time::timeout(timeout, async { ping(&mut connect(&proxy).await?).await }).await;
    assert!(reply.is_err(), "a new connection got a reply: {reply:?}");
    assert_eq!(proxy.connections(), accepted + 1);
    // A raw socket too; its PING is held, not lost.
    raw.write_all(PING).expect("the kernel takes the PING");
    raw.set_read_timeout(Some(timeout))
        .expect("read timeout is settable");
    let read = raw_read(&mut raw);
    assert!(
        read.as_ref()
            .is_err_and(|err| matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "a raw PING got {read:?} through a blackhole"
    );

    proxy.set_mode(Mode::Pass);
    assert_eq!(connect_and_ping(&proxy).await.expect("PING passes"), "PONG");
    // Held bytes are delivered once forwarding resumes, so open connections stay in
    // step.
    raw.set_read_timeout(Some(PROMPTLY))
        .expect("read timeout is settable");
    let mut reply = [0; PONG.len()];
    raw.read_exact(&mut reply)
        .expect("the held PING is answered");
    assert_eq!(reply, PONG);
    let reply = tokio::time::timeout(PROMPTLY, ping(&mut connection))
        .await
        .expect("PING on the old connection hung");
    assert_eq!(reply.expect("PING passes on the old connection"), "PONG");
}

#[tokio::test]
async fn reset_kills_open_and_new_connections() {
    let (_server, proxy, mut connection, mut raw) = proxied().await;

    proxy.set_mode(Mode::Reset);
    let read = raw_read(&mut raw);
    assert!(
        read.as_ref()
            .is_err_and(|err| err.kind() == ErrorKind::ConnectionReset),
        "an open connection was not reset: {read:?}"
    );
    let reply = tokio::time::timeout(PROMPTLY, ping(&mut connection))
        .await
        .expect("PING on a reset connection hung");
    assert!(reply.is_err(), "PING on a reset connection: {reply:?}");
    let reply = connect_and_ping(&proxy).await;
    assert!(reply.is_err(), "PING on a new connection: {reply:?}");
    let read = raw_read(&mut raw_connect(&proxy));
    assert!(
        read.as_ref()
            .is_err_and(|err| err.kind() == ErrorKind::ConnectionReset),
        "a new connection was not reset: {read:?}"
    );

    proxy.set_mode(Mode::Pass);
    assert_eq!(connect_and_ping(&proxy).await.expect("PING passes"), "PONG");
    raw_ping(&mut raw_connect(&proxy));
}

#[tokio::test]
async fn close_ends_open_and_new_connections() {
    let (_server, proxy, mut connection, mut raw) = proxied().await;

    proxy.set_mode(Mode::Close);
    // A FIN: end of stream, not an error.
    assert_eq!(raw_read(&mut raw).expect("an open connection is closed"), 0);
    let reply = tokio::time::timeout(PROMPTLY, ping(&mut connection))
        .await
        .expect("PING on a closed connection hung");
    assert!(reply.is_err(), "PING on a closed connection: {reply:?}");
    let reply = connect_and_ping(&proxy).await;
    assert!(reply.is_err(), "PING on a new connection: {reply:?}");
    assert_eq!(
        raw_read(&mut raw_connect(&proxy)).expect("a new connection is closed"),
        0
    );

    proxy.set_mode(Mode::Pass);
    assert_eq!(connect_and_ping(&proxy).await.expect("PING passes"), "PONG");
    raw_ping(&mut raw_connect(&proxy));
}

#[test]
fn drop_closes_connections_and_the_port() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    let mut raw = raw_connect(&proxy);
    raw_ping(&mut raw);
    let addr = proxy.addr();

    drop(proxy);
    let read = raw_read(&mut raw);
    assert!(
        matches!(read, Ok(0)) || read.is_err(),
        "a connection outlived its proxy: {read:?}"
    );
    let connect = TcpStream::connect(addr);
    assert!(
        connect
            .as_ref()
            .is_err_and(|err| err.kind() == ErrorKind::ConnectionRefused),
        "the proxy port still accepts: {connect:?}"
    );
}

#[test]
#[should_panic(expected = "loopback")]
fn refuses_non_loopback_upstreams() {
    let _ = FaultProxy::start_to(([192, 0, 2, 1], 6379).into());
}
