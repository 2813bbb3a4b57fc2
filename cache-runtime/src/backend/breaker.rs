//! A circuit breaker per Redis endpoint.
//!
//! Deadlines bound what one operation costs, but while Redis is slow or unreachable
//! every call would still pay the full deadline. The breaker counts consecutive
//! failures (errors of the connection or the server's availability, and deadlines
//! passed); at the threshold it **opens**, and while open every operation fails at
//! once without touching the network, so a cached call costs little more than
//! calling the function. After the open interval it lets **one probe at a time**
//! through (half-open): each success lets the next probe through, and after enough
//! of them it **closes**; a failed probe opens it again.
//!
//! Replies that prove the server works (a `WRONGTYPE`, a script error) are not
//! failures. The state lives in atomics: admitting an operation while closed is one
//! load.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::{ErrorKind, RedisError, ServerErrorKind};

use super::BackendError;

/// Default number of consecutive failures that opens the breaker.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
/// Default time the breaker stays open before probing.
pub const DEFAULT_OPEN_FOR: Duration = Duration::from_millis(500);
/// Default number of successful probes that close the breaker.
pub const DEFAULT_CLOSE_AFTER: u32 = 2;

/// The breaker's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive failures that open the breaker; `0` turns the breaker off.
    pub failure_threshold: u32,
    /// How long it stays open before one probe is let through.
    pub open_for: Duration,
    /// Successful probes in a row that close it.
    pub close_after: u32,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failure_threshold: DEFAULT_FAILURE_THRESHOLD,
            open_for: DEFAULT_OPEN_FOR,
            close_after: DEFAULT_CLOSE_AFTER,
        }
    }
}

/// The breaker's state, as reported by [`HealthReport`](crate::HealthReport).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Operations go to Redis.
    Closed,
    /// Operations fail at once, without touching Redis.
    Open,
    /// Probing: one operation at a time goes to Redis.
    HalfOpen,
}

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

pub(crate) struct Breaker {
    settings: BreakerSettings,
    /// The endpoint, for logs.
    endpoint: String,
    state: AtomicU8,
    failures: AtomicU32,
    probe_successes: AtomicU32,
    probe_in_flight: AtomicBool,
    /// When the open interval ends, in ms since `epoch`.
    open_until_ms: AtomicU64,
    epoch: Instant,
    opened: AtomicU64,
    rejected: AtomicU64,
}

/// Leave to run one operation. Record its outcome with [`Breaker::record`]; dropped
/// unrecorded (the operation was cancelled), it frees the probe slot.
pub(crate) struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe {
            self.breaker.probe_in_flight.store(false, Ordering::Release);
        }
    }
}

impl Breaker {
    pub(crate) fn new(settings: BreakerSettings, endpoint: String) -> Self {
        Self {
            settings,
            endpoint,
            state: AtomicU8::new(CLOSED),
            failures: AtomicU32::new(0),
            probe_successes: AtomicU32::new(0),
            probe_in_flight: AtomicBool::new(false),
            open_until_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            opened: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn state(&self) -> BreakerState {
        match self.state.load(Ordering::Acquire) {
            OPEN => BreakerState::Open,
            HALF_OPEN => BreakerState::HalfOpen,
            _ => BreakerState::Closed,
        }
    }

    /// How often the breaker opened, and how many operations it turned away.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.opened.load(Ordering::Relaxed),
            self.rejected.load(Ordering::Relaxed),
        )
    }

    /// Leave to run an operation, or [`BackendError::CircuitOpen`].
    pub(crate) fn admit(&self) -> Result<Permit<'_>, BackendError> {
        let mut state = self.state.load(Ordering::Acquire);
        if state == CLOSED {
            return Ok(Permit {
                breaker: self,
                probe: false,
            });
        }
        if state == OPEN && self.now_ms() >= self.open_until_ms.load(Ordering::Acquire) {
            // The open interval is over: start probing.
            let _ =
                self.state
                    .compare_exchange(OPEN, HALF_OPEN, Ordering::AcqRel, Ordering::Acquire);
            state = self.state.load(Ordering::Acquire);
        }
        if state == HALF_OPEN
            && self
                .probe_in_flight
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            return Ok(Permit {
                breaker: self,
                probe: true,
            });
        }
        if state == CLOSED {
            return Ok(Permit {
                breaker: self,
                probe: false,
            });
        }
        self.rejected.fetch_add(1, Ordering::Relaxed);
        Err(BackendError::CircuitOpen)
    }

    /// Records the outcome of the operation `permit` was given for.
    pub(crate) fn record<T>(&self, permit: Permit<'_>, outcome: &Result<T, BackendError>) {
        let failed = outcome.as_ref().err().is_some_and(counts_as_failure);
        if permit.probe {
            if failed {
                self.open("a probe failed");
            } else {
                let successes = self.probe_successes.fetch_add(1, Ordering::AcqRel) + 1;
                if successes >= self.settings.close_after {
                    self.close();
                }
            }
            // Dropping the permit frees the probe slot for the next probe.
            return;
        }
        if !failed {
            if self.failures.load(Ordering::Relaxed) != 0 {
                self.failures.store(0, Ordering::Relaxed);
            }
            return;
        }
        let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        let threshold = self.settings.failure_threshold;
        if threshold > 0 && failures >= threshold && self.state.load(Ordering::Acquire) == CLOSED {
            self.open("consecutive failures reached the threshold");
        }
    }

    fn open(&self, why: &'static str) {
        let until = self
            .now_ms()
            .saturating_add(u64::try_from(self.settings.open_for.as_millis()).unwrap_or(u64::MAX));
        self.open_until_ms.store(until, Ordering::Release);
        self.probe_successes.store(0, Ordering::Release);
        let previous = self.state.swap(OPEN, Ordering::AcqRel);
        if previous == CLOSED {
            self.opened.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                target: "cache_runtime",
                endpoint = %self.endpoint,
                reason = why,
                open_for = ?self.settings.open_for,
                "circuit breaker opened: skipping Redis, calls run their functions directly"
            );
        }
    }

    fn close(&self) {
        self.failures.store(0, Ordering::Release);
        if self.state.swap(CLOSED, Ordering::AcqRel) != CLOSED {
            tracing::info!(
                target: "cache_runtime",
                endpoint = %self.endpoint,
                "circuit breaker closed: Redis answers again"
            );
        }
    }
}

/// Whether an error says the server is unavailable (as opposed to a reply from a
/// server that works).
fn counts_as_failure(err: &BackendError) -> bool {
    match err {
        BackendError::Timeout(_) => true,
        BackendError::CircuitOpen => false,
        BackendError::Redis(err) => unavailable(err),
    }
}

fn unavailable(err: &RedisError) -> bool {
    if err.is_unrecoverable_error() || err.is_io_error() || err.is_connection_dropped() {
        return true;
    }
    matches!(
        err.kind(),
        ErrorKind::AuthenticationFailed
            | ErrorKind::ClusterConnectionNotFound
            | ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ReadOnly
            )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(open_for: Duration) -> Breaker {
        Breaker::new(
            BreakerSettings {
                failure_threshold: 3,
                open_for,
                close_after: 2,
            },
            "test".into(),
        )
    }

    fn fail(breaker: &Breaker) {
        let permit = breaker.admit().expect("admitted");
        breaker.record::<()>(permit, &Err(BackendError::Timeout(Duration::ZERO)));
    }

    fn succeed(breaker: &Breaker) {
        let permit = breaker.admit().expect("admitted");
        breaker.record(permit, &Ok(()));
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let breaker = breaker(Duration::from_secs(60));
        fail(&breaker);
        fail(&breaker);
        succeed(&breaker);
        fail(&breaker);
        fail(&breaker);
        assert_eq!(
            breaker.state(),
            BreakerState::Closed,
            "the success reset the count"
        );
        fail(&breaker);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(matches!(breaker.admit(), Err(BackendError::CircuitOpen)));
        assert_eq!(breaker.counts(), (1, 1));
    }

    #[test]
    fn probes_one_at_a_time_then_closes() {
        let breaker = breaker(Duration::ZERO);
        for _ in 0..3 {
            fail(&breaker);
        }
        let probe = breaker.admit().expect("the open interval is over: a probe");
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert!(breaker.admit().is_err(), "one probe at a time");
        breaker.record(probe, &Ok(()));
        assert_eq!(
            breaker.state(),
            BreakerState::HalfOpen,
            "one success of two"
        );
        succeed(&breaker);
        assert_eq!(breaker.state(), BreakerState::Closed);
        succeed(&breaker);
    }

    #[test]
    fn a_failed_probe_reopens_and_a_cancelled_one_frees_the_slot() {
        let breaker = breaker(Duration::ZERO);
        for _ in 0..3 {
            fail(&breaker);
        }
        drop(breaker.admit().expect("a probe"));
        let probe = breaker.admit().expect("the cancelled probe freed its slot");
        breaker.record::<()>(probe, &Err(BackendError::Timeout(Duration::ZERO)));
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.counts().0, 1, "reopening is not a new opening");
    }

    #[test]
    fn server_replies_are_not_failures() {
        let wrong_type = RedisError::from((
            ErrorKind::Server(ServerErrorKind::ResponseError),
            "WRONGTYPE",
        ));
        assert!(!counts_as_failure(&BackendError::Redis(wrong_type)));
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(counts_as_failure(&BackendError::Redis(refused)));
        assert!(counts_as_failure(&BackendError::Timeout(Duration::ZERO)));
    }

    #[test]
    fn a_zero_threshold_never_opens() {
        let breaker = Breaker::new(
            BreakerSettings {
                failure_threshold: 0,
                ..BreakerSettings::default()
            },
            "test".into(),
        );
        for _ in 0..100 {
            fail(&breaker);
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
    }
}
