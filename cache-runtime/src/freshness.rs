//! When a stored value is refreshed: probabilistic early expiration (XFetch) and
//! stale-while-revalidate.
//!
//! **Early refresh** (`#[cached(early_refresh)]`) follows Vattani, Chierichetti and
//! Lowenstein, *Optimal Probabilistic Cache Stampede Prevention* (VLDB 2015): a
//! reader recomputes the value ahead of its expiry when
//!
//! ```text
//! now - delta * beta * ln(rand()) >= expiry
//! ```
//!
//! with `delta` the time the last computation took (stored in the envelope), `beta`
//! the option's value (1 by default; larger refreshes earlier) and `rand()` uniform
//! in (0, 1]. The chance rises sharply as expiry nears, and more so the longer the
//! value takes to compute, so under load one reader refreshes shortly before expiry
//! and no reader ever finds the key gone.
//!
//! **Stale-while-revalidate** (`#[cached(stale_while_revalidate = "30s")]`) keeps the
//! value stored for that much longer than its TTL. A read past the TTL but within
//! that window gets the stale value at once, and one reader refreshes it.
//!
//! Either way the refreshing reader takes the lease on the value first (see
//! [`crate::lease`]), so across all processes one reader refreshes, the others keep
//! reading the stored value, and an invalidation during the refresh still wins. The
//! refreshing reader itself waits for the function, like on a miss.

use crate::envelope::Meta;
use crate::ttl::Ttl;

/// What to do with a value read from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// Serve it.
    Fresh,
    /// Serve it, unless this reader can take the lease to recompute it now.
    RefreshEarly,
    /// Past its TTL, within the stale window: serve it, and refresh it if this
    /// reader can take the lease.
    Stale,
}

/// How one function's values age.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Aging {
    /// How long values are fresh.
    pub(crate) ttl: Ttl,
    /// XFetch's `beta`; `0.0` turns early refresh off.
    pub(crate) early_beta: f64,
    /// How long values are kept past their TTL to be served stale; `0` for none.
    pub(crate) stale_ms: u64,
}

impl Aging {
    /// How long values are stored: fresh for the TTL, then stale for the window.
    pub(crate) const fn storage_ttl(&self) -> Ttl {
        self.ttl.plus_millis(self.stale_ms)
    }

    /// Whether values can be anything but fresh: `judge` needs calling only then.
    pub(crate) fn refreshes(&self) -> bool {
        self.early_beta > 0.0 || self.stale_ms > 0
    }

    /// Judges a value written as `meta` says, at `now_ms`, with `rand` uniform in
    /// (0, 1].
    pub(crate) fn judge(&self, meta: &Meta, now_ms: u64, rand: f64) -> Freshness {
        let expiry_ms = meta.written_at_ms.saturating_add(self.ttl.as_millis());
        if now_ms >= expiry_ms {
            // Without a stale window the store has removed the value at its TTL; one
            // still read here was written by a host whose clock runs behind. Serve it.
            return if self.stale_ms > 0 {
                Freshness::Stale
            } else {
                Freshness::Fresh
            };
        }
        if self.early_beta > 0.0 {
            let delta_ms = f64::from(meta.compute_us) / 1000.0;
            let ahead_ms = -delta_ms * self.early_beta * rand.ln();
            if now_ms as f64 + ahead_ms >= expiry_ms as f64 {
                return Freshness::RefreshEarly;
            }
        }
        Freshness::Fresh
    }
}

/// A uniform random number in (0, 1], for [`Aging::judge`].
pub(crate) fn unit_rand() -> f64 {
    1.0 - fastrand::f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRITTEN: u64 = 1_000_000;

    fn meta(compute_ms: u32) -> Meta {
        Meta {
            written_at_ms: WRITTEN,
            compute_us: compute_ms * 1000,
        }
    }

    fn aging(early_beta: f64, stale_ms: u64) -> Aging {
        Aging {
            ttl: Ttl::from_millis(10_000).expect("non-zero"),
            early_beta,
            stale_ms,
        }
    }

    #[test]
    fn without_options_values_stay_fresh_until_removed() {
        let plain = aging(0.0, 0);
        assert!(!plain.refreshes());
        assert!(aging(1.0, 0).refreshes() && aging(0.0, 1).refreshes());
        for now in [WRITTEN, WRITTEN + 9_999, WRITTEN + 20_000] {
            assert_eq!(plain.judge(&meta(500), now, 1e-9), Freshness::Fresh);
        }
    }

    #[test]
    fn values_are_stored_for_the_ttl_and_the_stale_window() {
        assert_eq!(aging(1.0, 0).storage_ttl().as_millis(), 10_000);
        assert_eq!(aging(0.0, 5_000).storage_ttl().as_millis(), 15_000);
        assert_eq!(aging(0.0, u64::MAX).storage_ttl().as_millis(), u64::MAX);
    }

    #[test]
    fn past_the_ttl_within_the_window_is_stale() {
        let swr = aging(0.0, 5_000);
        assert_eq!(swr.judge(&meta(1), WRITTEN + 9_999, 0.5), Freshness::Fresh);
        assert_eq!(swr.judge(&meta(1), WRITTEN + 10_000, 0.5), Freshness::Stale);
    }

    #[test]
    fn early_refresh_follows_xfetch() {
        let xfetch = aging(1.0, 0);
        // 100 ms to compute, 50 ms before expiry: refresh when -100 ln(r) >= 50,
        // that is when r <= e^-0.5 (about 0.61).
        let now = WRITTEN + 9_950;
        assert_eq!(xfetch.judge(&meta(100), now, 0.6), Freshness::RefreshEarly);
        assert_eq!(xfetch.judge(&meta(100), now, 0.62), Freshness::Fresh);
        // Right after the write only a vanishing draw refreshes.
        assert_eq!(xfetch.judge(&meta(100), WRITTEN, 0.001), Freshness::Fresh);
        // A larger beta refreshes earlier.
        let eager = aging(3.0, 0);
        assert_eq!(eager.judge(&meta(100), now, 0.8), Freshness::RefreshEarly);
        // The draw 1.0 (ln 1 = 0) never refreshes early.
        assert_eq!(xfetch.judge(&meta(100), now, 1.0), Freshness::Fresh);
    }

    #[test]
    fn refresh_probability_rises_towards_expiry() {
        let xfetch = aging(1.0, 0);
        let share = |before_expiry: u64| {
            let now = WRITTEN + 10_000 - before_expiry;
            let draws = 10_000;
            let refreshed = (1..=draws)
                .filter(|i| {
                    let rand = f64::from(*i) / f64::from(draws);
                    xfetch.judge(&meta(20), now, rand) == Freshness::RefreshEarly
                })
                .count();
            refreshed as f64 / f64::from(draws)
        };
        // P(refresh) = e^(-t/delta): 1 ms left of 20 -> 0.95, 20 -> 0.37, 100 -> 0.007.
        assert!((share(1) - 0.951).abs() < 0.01, "{}", share(1));
        assert!((share(20) - 0.368).abs() < 0.01, "{}", share(20));
        assert!(share(100) < 0.01, "{}", share(100));
    }

    #[test]
    fn unit_rand_is_in_the_half_open_unit_interval() {
        for _ in 0..10_000 {
            let r = unit_rand();
            assert!(r > 0.0 && r <= 1.0, "{r}");
        }
    }
}
