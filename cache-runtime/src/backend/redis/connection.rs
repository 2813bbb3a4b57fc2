//! The shared connection: one redis-rs `ConnectionManager`, created on first use and
//! made again when the Tokio runtime it was created on shuts down.
//!
//! A `ConnectionManager` lives on the runtime of its first use: its reader task,
//! and the timers of a reconnection in progress, belong to that runtime. When that
//! runtime shuts down while the cache lives on (a cache in a `static` used by one
//! `#[tokio::test]` after another, or by short `block_on` calls), using the manager
//! from another runtime would poll a timer of the dead runtime, which panics. So a
//! small task on the runtime watches for its shutdown (the task is dropped then),
//! and the next operation makes a new manager on its own runtime.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::oneshot;

/// The current connection, if one was made.
pub(super) struct SharedConnection {
    client: redis::Client,
    connect_timeout: Duration,
    current: ArcSwapOption<Connection>,
    /// Held while a connection is made, so that concurrent first uses make one.
    making: Mutex<()>,
}

struct Connection {
    manager: ConnectionManager,
    /// Set once the runtime the manager was made on has shut down.
    orphaned: Arc<AtomicBool>,
    /// Ends the watching task when the connection is replaced or dropped.
    _stop_watching: Option<oneshot::Sender<()>>,
}

/// Sets the flag when dropped: with its task, when the runtime shuts down.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

impl SharedConnection {
    pub(super) fn new(client: redis::Client, connect_timeout: Duration) -> Self {
        Self {
            client,
            connect_timeout,
            current: ArcSwapOption::empty(),
            making: Mutex::new(()),
        }
    }

    /// A handle on the connection, made first if there is none usable.
    pub(super) fn get(&self) -> redis::RedisResult<ConnectionManager> {
        if let Some(connection) = &*self.current.load()
            && !connection.orphaned.load(Ordering::Acquire)
        {
            return Ok(connection.manager.clone());
        }
        self.make()
    }

    #[cold]
    fn make(&self) -> redis::RedisResult<ConnectionManager> {
        let _making = self.making.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(connection) = &*self.current.load()
            && !connection.orphaned.load(Ordering::Acquire)
        {
            return Ok(connection.manager.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            // The backend's deadline bounds every call, including the wait for a
            // connection; a second per-response timer would only repeat it.
            .set_response_timeout(None)
            // Fail a reconnection attempt quickly; the next command starts another.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(100));
        let manager = ConnectionManager::new_lazy_with_config(self.client.clone(), config)?;
        let orphaned = Arc::new(AtomicBool::new(false));
        let stop_watching = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            let (stop, stopped) = oneshot::channel::<()>();
            let set_on_drop = SetOnDrop(Arc::clone(&orphaned));
            runtime.spawn(async move {
                let _set_on_drop = set_on_drop;
                // Resolves when the connection is replaced or dropped; the task is
                // dropped unfinished when the runtime shuts down.
                let _ = stopped.await;
            });
            stop
        });
        self.current.store(Some(Arc::new(Connection {
            manager: manager.clone(),
            orphaned,
            _stop_watching: stop_watching,
        })));
        Ok(manager)
    }
}
