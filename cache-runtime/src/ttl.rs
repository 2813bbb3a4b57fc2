//! Time to live: how long a cached entry stays valid.
//!
//! `#[cached(ttl = ...)]` checks the value at compile time (it must not be zero) and
//! stores it in the function's [`CachedFn`](crate::__private::CachedFn) descriptor.
//! Backends receive it as a [`Ttl`] when an entry is written: Redis as `SET .. PX <ms>`,
//! the memory backend as a per-entry expiry.

use std::num::NonZeroU64;
use std::time::Duration;

/// A non-zero time to live with millisecond precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Ttl(NonZeroU64);

impl Ttl {
    /// A TTL of `millis` milliseconds, or `None` when `millis` is zero.
    pub(crate) const fn from_millis(millis: u64) -> Option<Self> {
        match NonZeroU64::new(millis) {
            Some(ms) => Some(Self(ms)),
            None => None,
        }
    }

    /// A TTL from a [`Duration`], rounded down to whole milliseconds; `None` below 1 ms.
    pub(crate) fn from_duration(duration: Duration) -> Option<Self> {
        Self::from_millis(u64::try_from(duration.as_millis()).ok()?)
    }

    /// This TTL plus `millis` milliseconds, saturating: still non-zero.
    pub(crate) const fn plus_millis(self, millis: u64) -> Self {
        Self(self.0.saturating_add(millis))
    }

    /// The TTL in milliseconds, as sent to Redis with `PX`.
    pub(crate) const fn as_millis(self) -> u64 {
        self.0.get()
    }

    /// The TTL as a [`Duration`].
    pub(crate) const fn as_duration(self) -> Duration {
        Duration::from_millis(self.0.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_not_a_ttl() {
        assert_eq!(Ttl::from_millis(0), None);
        assert_eq!(Ttl::from_duration(Duration::from_micros(999)), None);
        assert_eq!(
            Ttl::from_duration(Duration::MAX),
            None,
            "too long for u64 ms"
        );
    }

    #[test]
    fn durations_become_milliseconds() {
        let ttl = Ttl::from_duration(Duration::from_secs(300)).expect("non-zero");
        assert_eq!(ttl.as_millis(), 300_000);
        assert_eq!(ttl.as_duration(), Duration::from_secs(300));
        assert_eq!(
            ttl.plus_millis(5),
            Ttl::from_millis(300_005).expect("non-zero")
        );
        assert_eq!(ttl.plus_millis(u64::MAX).as_millis(), u64::MAX, "saturates");
    }
}
