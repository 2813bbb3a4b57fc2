//! A gate that tasks wait at until the test opens it: for holding a function's body
//! at a chosen point, and knowing that it got there, without sleeping.

use tokio::sync::watch;

/// Closed when made; [`open`](Self::open) lets every waiter through, now and later.
#[derive(Debug)]
pub struct Gate {
    open: watch::Sender<bool>,
    arrivals: watch::Sender<usize>,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Self {
            open: watch::Sender::new(false),
            arrivals: watch::Sender::new(0),
        }
    }

    /// Opens the gate.
    pub fn open(&self) {
        self.open.send_replace(true);
    }

    /// Waits until the gate is open. Counts as an arrival.
    pub async fn wait(&self) {
        let mut open = self.open.subscribe();
        self.arrivals.send_modify(|n| *n += 1);
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = open.wait_for(|open| *open).await;
    }

    /// Waits until `count` tasks in all have arrived at the gate.
    pub async fn arrived(&self, count: usize) {
        let mut arrivals = self.arrivals.subscribe();
        let _ = arrivals.wait_for(|n| *n >= count).await;
    }
}
