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

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[cfg(feature = "redis")]
use redis::{ErrorKind, RedisError, ServerErrorKind};

use super::BackendError;

/// Default number of consecutive failures that opens the breaker.
pub(crate) const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
/// Default time the breaker stays open before probing.
pub(crate) const DEFAULT_OPEN_FOR: Duration = Duration::from_millis(500);
/// Default number of successful probes that close the breaker.
pub(crate) const DEFAULT_CLOSE_AFTER: u32 = 2;

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

/// The state and its generation share one word, so that every transition is one
/// compare-and-swap from the word an operation was admitted under: an outcome that
/// arrives after the state moved on (an operation admitted before the breaker opened
/// that fails after it closed again, say) cannot move it.
const STATE_BITS: u64 = 2;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;
const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;

fn state_of(word: u64) -> u64 {
    word & STATE_MASK
}

/// The word for `state` in the generation after `word`'s.
fn next(word: u64, state: u64) -> u64 {
    ((word >> STATE_BITS).wrapping_add(1) << STATE_BITS) | state
}

/// `probe_started_ms` when no probe is running.
const NO_PROBE: u64 = u64::MAX;

pub(crate) struct Breaker {
    settings: BreakerSettings,
    /// The endpoint, for logs.
    endpoint: String,
    /// State (low bits) and generation (the rest).
    word: AtomicU64,
    /// Consecutive failures in the current closed generation.
    failures: AtomicU32,
    /// Successful probes in the current half-open generation.
    probe_successes: AtomicU32,
    /// When the running probe was admitted, in ms since `epoch`, or [`NO_PROBE`].
    probe_started_ms: AtomicU64,
    /// A probe older than this no longer holds the slot: its caller stopped polling
    /// it without dropping it.
    probe_expiry_ms: u64,
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
    /// The state word it was admitted under.
    word: u64,
    /// For a probe: when it was admitted (its claim on the slot).
    probe_started_ms: Option<u64>,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Some(started) = self.probe_started_ms {
            // Only its own claim: an expired probe must not free a newer probe's slot.
            let _ = self.breaker.probe_started_ms.compare_exchange(
                started,
                NO_PROBE,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }
}

impl Breaker {
    /// A breaker for operations bounded by `deadline`.
    pub(crate) fn new(settings: BreakerSettings, endpoint: String, deadline: Duration) -> Self {
        Self {
            settings,
            endpoint,
            word: AtomicU64::new(CLOSED),
            failures: AtomicU32::new(0),
            probe_successes: AtomicU32::new(0),
            probe_started_ms: AtomicU64::new(NO_PROBE),
            probe_expiry_ms: millis(deadline.saturating_mul(2)).max(1),
            open_until_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            opened: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        millis(self.epoch.elapsed())
    }

    pub(crate) fn state(&self) -> BreakerState {
        match state_of(self.word.load(Ordering::Acquire)) {
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
        let mut word = self.word.load(Ordering::Acquire);
        if state_of(word) == CLOSED {
            return Ok(self.permit(word, None));
        }
        let now = self.now_ms();
        if state_of(word) == OPEN && now >= self.open_until_ms.load(Ordering::Acquire) {
            // The open interval is over: start probing (or see who else did).
            self.transition(word, HALF_OPEN);
            word = self.word.load(Ordering::Acquire);
        }
        match state_of(word) {
            CLOSED => return Ok(self.permit(word, None)),
            HALF_OPEN => {
                if let Some(started) = self.claim_probe_slot(now) {
                    let probe = self.permit(word, Some(started));
                    // Closed or reopened by the previous probe meanwhile?
                    let current = self.word.load(Ordering::Acquire);
                    if current == word {
                        return Ok(probe);
                    }
                    drop(probe);
                    if state_of(current) == CLOSED {
                        return Ok(self.permit(current, None));
                    }
                }
            }
            _ => {}
        }
        self.rejected.fetch_add(1, Ordering::Relaxed);
        Err(BackendError::CircuitOpen)
    }

    fn permit(&self, word: u64, probe_started_ms: Option<u64>) -> Permit<'_> {
        Permit {
            breaker: self,
            word,
            probe_started_ms,
        }
    }

    /// Takes the probe slot if it is free or its probe has expired; returns the claim.
    fn claim_probe_slot(&self, now: u64) -> Option<u64> {
        let current = self.probe_started_ms.load(Ordering::Acquire);
        let free = current == NO_PROBE || now.saturating_sub(current) >= self.probe_expiry_ms;
        (free
            && (self.probe_started_ms)
                .compare_exchange(current, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok())
        .then_some(now)
    }

    /// Records the outcome of the operation `permit` was given for. Outcomes of
    /// operations admitted under an earlier state are ignored.
    pub(crate) fn record<T>(&self, permit: Permit<'_>, outcome: &Result<T, BackendError>) {
        if self.word.load(Ordering::Acquire) != permit.word {
            return;
        }
        let failed = outcome.as_ref().err().is_some_and(counts_as_failure);
        if permit.probe_started_ms.is_some() {
            if failed {
                self.transition(permit.word, OPEN);
            } else {
                let successes = self.probe_successes.fetch_add(1, Ordering::AcqRel) + 1;
                if successes >= self.settings.close_after {
                    self.transition(permit.word, CLOSED);
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
        if threshold > 0 && failures >= threshold {
            self.transition(permit.word, OPEN);
        }
    }

    /// Moves from the state word `from` to `to`, unless another thread moved first.
    fn transition(&self, from: u64, to: u64) {
        if to == OPEN {
            // Set before the state: whoever sees OPEN sees its interval.
            let until = self.now_ms().saturating_add(millis(self.settings.open_for));
            self.open_until_ms.store(until, Ordering::Release);
        }
        // The counters of the new state start from zero. (Racing a transition that
        // another thread won, this may drop one count of the new state: that only
        // delays its next transition by one operation.)
        match to {
            CLOSED => self.failures.store(0, Ordering::Release),
            HALF_OPEN => self.probe_successes.store(0, Ordering::Release),
            _ => {}
        }
        let moved = self
            .word
            .compare_exchange(from, next(from, to), Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if !moved {
            return;
        }
        match (state_of(from), to) {
            (CLOSED, OPEN) => {
                self.opened.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    target: "cache_runtime",
                    endpoint = %self.endpoint,
                    open_for = ?self.settings.open_for,
                    "circuit breaker opened after consecutive failures: calls run their functions without asking Redis"
                );
            }
            (HALF_OPEN, OPEN) => tracing::debug!(
                target: "cache_runtime",
                endpoint = %self.endpoint,
                "circuit breaker probe failed: open again"
            ),
            (_, CLOSED) => tracing::info!(
                target: "cache_runtime",
                endpoint = %self.endpoint,
                "circuit breaker closed: Redis answers again"
            ),
            _ => {}
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Whether an error says the server is unavailable (as opposed to a reply from a
/// server that works).
fn counts_as_failure(err: &BackendError) -> bool {
    match err {
        BackendError::Timeout(_) => true,
        BackendError::CircuitOpen => false,
        #[cfg(feature = "redis")]
        BackendError::Redis(err) => unavailable(err),
    }
}

#[cfg(feature = "redis")]
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
mod tests;
