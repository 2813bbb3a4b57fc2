//! Which results of a function are cached, decided by its return type.
//!
//! | return type | cached | on a hit |
//! |---|---|---|
//! | `Result<T, E>` (or an alias of it) | `Ok` values | `Ok(value)` |
//! | `Option<T>` | `Some` values | `Some(value)` |
//! | `Option<T>` with `cache_none` | `Some` and `None` | the stored option |
//! | any other `T` | every value | `value` |
//!
//! The choice is made by the type checker, not by reading the type's name, so type
//! aliases such as `type Result<T> = std::result::Result<T, MyError>` behave like the
//! type they name. It uses method resolution order ("autoref specialization"): the
//! generated code calls `(&&Probe::<R>::new()).outcome()`, and the most specific of
//! the three `Probe*` traits in scope wins. Inside a generic function whose return
//! type is a bare type parameter, the value is cached as it is.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A type that can be stored in the cache.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in the cache",
    label = "the cached value must implement `serde::Serialize` and `serde::de::DeserializeOwned`",
    note = "derive them: `#[derive(serde::Serialize, serde::Deserialize)]`"
)]
pub trait CacheValue: Serialize + DeserializeOwned {}

impl<T: Serialize + DeserializeOwned> CacheValue for T {}

/// Maps a function's return value `R` to the value stored in the cache and back.
pub trait Outcome<R> {
    /// What is stored.
    type Value: CacheValue;
    /// The part of `ret` to store, if it should be stored.
    fn cacheable(ret: &R) -> Option<&Self::Value>;
    /// Rebuilds the return value from a stored value.
    fn restore(value: Self::Value) -> R;
}

/// `Result<T, E>`: cache `Ok` only.
#[derive(Debug, Clone, Copy)]
pub struct OkOnly;
/// `Option<T>`: cache `Some` only.
#[derive(Debug, Clone, Copy)]
pub struct SomeOnly;
/// `Option<T>` with negative caching: cache `None` too.
#[derive(Debug, Clone, Copy)]
pub struct SomeAndNone;
/// Any other type: cache every value.
#[derive(Debug, Clone, Copy)]
pub struct AsIs;

impl<T: CacheValue, E> Outcome<Result<T, E>> for OkOnly {
    type Value = T;
    fn cacheable(ret: &Result<T, E>) -> Option<&T> {
        ret.as_ref().ok()
    }
    fn restore(value: T) -> Result<T, E> {
        Ok(value)
    }
}

impl<T: CacheValue> Outcome<Option<T>> for SomeOnly {
    type Value = T;
    fn cacheable(ret: &Option<T>) -> Option<&T> {
        ret.as_ref()
    }
    fn restore(value: T) -> Option<T> {
        Some(value)
    }
}

impl<T: CacheValue> Outcome<Option<T>> for SomeAndNone {
    type Value = Option<T>;
    fn cacheable(ret: &Option<T>) -> Option<&Option<T>> {
        Some(ret)
    }
    fn restore(value: Option<T>) -> Option<T> {
        value
    }
}

impl<T: CacheValue> Outcome<T> for AsIs {
    type Value = T;
    fn cacheable(ret: &T) -> Option<&T> {
        Some(ret)
    }
    fn restore(value: T) -> T {
        value
    }
}

impl OkOnly {
    /// Whether the call succeeded: `Ok`. Used by `#[invalidate]` and `#[cache_put]`.
    pub fn succeeded<T, E>(self, ret: &Result<T, E>) -> bool {
        ret.is_ok()
    }
    /// The value `#[cache_put]` writes: the `Ok` value.
    pub fn written<T, E>(self, ret: &Result<T, E>) -> Option<&T> {
        ret.as_ref().ok()
    }
}

impl SomeOnly {
    /// Whether the call succeeded: always, `None` included.
    pub fn succeeded<T>(self, _ret: &Option<T>) -> bool {
        true
    }
    /// The value `#[cache_put]` writes: the `Some` value.
    pub fn written<T>(self, ret: &Option<T>) -> Option<&T> {
        ret.as_ref()
    }
}

impl AsIs {
    /// Whether the call succeeded: always.
    pub fn succeeded<R>(self, _ret: &R) -> bool {
        true
    }
    /// The value `#[cache_put]` writes: the return value itself.
    pub fn written<R>(self, ret: &R) -> Option<&R> {
        Some(ret)
    }
}

/// A zero-sized stand-in for the return type `R`, used to pick its [`Outcome`].
pub struct Probe<R>(PhantomData<fn() -> R>);

impl<R> Probe<R> {
    /// The probe for `R`.
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<R> Default for Probe<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> Clone for Probe<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Probe<R> {}

impl<R> std::fmt::Debug for Probe<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Probe")
    }
}

/// Picks [`OkOnly`] for `Result`.
pub trait ProbeResult {
    /// The outcome rule.
    fn outcome(self) -> OkOnly;
}
impl<T, E> ProbeResult for &&Probe<Result<T, E>> {
    fn outcome(self) -> OkOnly {
        OkOnly
    }
}

/// Picks [`SomeOnly`] for `Option`.
pub trait ProbeOption {
    /// The outcome rule.
    fn outcome(self) -> SomeOnly;
}
impl<T> ProbeOption for &Probe<Option<T>> {
    fn outcome(self) -> SomeOnly {
        SomeOnly
    }
}

/// Picks [`AsIs`] for everything else.
pub trait ProbePlain {
    /// The outcome rule.
    fn outcome(self) -> AsIs;
}
impl<R> ProbePlain for Probe<R> {
    fn outcome(self) -> AsIs {
        AsIs
    }
}

/// Return types that can cache `None` (`cache_none`): only `Option<T>`, whose rule
/// `X` is [`SomeAndNone`].
#[diagnostic::on_unimplemented(
    message = "`cache_none` needs a function that returns `Option<T>`, not `{Self}`",
    label = "this return type is not an `Option`"
)]
pub trait CachesNone<X> {
    /// The rule.
    fn rule() -> X;
}
impl<T> CachesNone<SomeAndNone> for Option<T> {
    fn rule() -> SomeAndNone {
        SomeAndNone
    }
}

/// The outcome rule of `cache_none`. The rule is a parameter inferred from the one
/// impl, not a fixed type: for any other return type it stays unknown, so the only
/// error is the missing `CachesNone` impl, with no follow-up errors about the rule.
pub fn some_and_none<R: CachesNone<X>, X>() -> X {
    R::rule()
}

#[cfg(test)]
mod tests {
    use super::*;

    type MyResult<T> = Result<T, String>;

    #[test]
    // The `&&` is the autoref specialization under test, not a needless borrow.
    #[allow(clippy::needless_borrow)]
    fn rules_follow_the_type_through_aliases() {
        assert!(matches!(
            (&&Probe::<Result<u8, ()>>::new()).outcome(),
            OkOnly
        ));
        assert!(matches!((&&Probe::<MyResult<u8>>::new()).outcome(), OkOnly));
        assert!(matches!((&&Probe::<Option<u8>>::new()).outcome(), SomeOnly));
        assert!(matches!((&&Probe::<Vec<u8>>::new()).outcome(), AsIs));
    }

    #[test]
    fn ok_only_skips_errors() {
        assert_eq!(OkOnly::cacheable(&Ok::<u8, ()>(3)), Some(&3));
        assert_eq!(
            <OkOnly as Outcome<Result<u8, ()>>>::cacheable(&Err(())),
            None
        );
        assert_eq!(<OkOnly as Outcome<Result<u8, ()>>>::restore(4), Ok(4));
    }

    #[test]
    fn options() {
        assert_eq!(<SomeOnly as Outcome<Option<u8>>>::cacheable(&None), None);
        assert_eq!(
            <SomeAndNone as Outcome<Option<u8>>>::cacheable(&None),
            Some(&None)
        );
        assert_eq!(<SomeAndNone as Outcome<Option<u8>>>::restore(None), None);
    }
}
