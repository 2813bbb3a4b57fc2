//! A throttle: lets one event through per interval and counts the rest.
//!
//! When Redis goes away, every cached call fails its cache operation; logging each
//! one would bury the application's own logs. A [`Throttle`] lets one report through
//! per interval and counts the rest, so the next report says how many were folded in.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Lets one event through per interval.
#[derive(Debug)]
pub(crate) struct Throttle {
    interval_ms: u64,
    origin: Instant,
    next_allowed_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl Throttle {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            origin: Instant::now(),
            next_allowed_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when this event should be reported, `n` being how many were held back
    /// since the last report; `None` when it should only be counted.
    pub(crate) fn admit(&self) -> Option<u64> {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = self.next_allowed_ms.load(Relaxed);
        if now >= next
            && self
                .next_allowed_ms
                .compare_exchange(next, now.saturating_add(self.interval_ms), Relaxed, Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Relaxed));
        }
        self.suppressed.fetch_add(1, Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_report_per_interval_then_the_count() {
        let throttle = Throttle::new(Duration::from_secs(3600));
        assert_eq!(throttle.admit(), Some(0));
        for _ in 0..5 {
            assert_eq!(throttle.admit(), None);
        }
        // Open the window again by hand instead of waiting an hour.
        throttle.next_allowed_ms.store(0, Relaxed);
        assert_eq!(throttle.admit(), Some(5));
    }
}
