//! What `#[cached]`, `#[invalidate]` and `#[cache_put]` expand to: the runtime side
//! of the contract with `cache-macros`, so that the generated code is a handful of
//! calls and everything else is ordinary, tested Rust.
//!
//! For `#[cached(ttl = 60, prefix = "user")] async fn get_user(id: u64) -> R`, the
//! wrapper is about
//!
//! ```text
//! static SITE: CachedFn = CachedFn::new("user", "<fingerprint>", 60_000, &[]);
//! let mut key = SITE.key(global());
//! /* feed `id` into `key`, checked to be `Serialize` */
//! load(&SITE, global(), key, (rule, share), async move || -> R { /* the body */ }).await
//! ```
//!
//! and the companions `get_user_entry(&id)` and `get_user_entries()` are
//! `entry(&SITE, cache, key)` and `FunctionEntries::new(..)` over the same
//! descriptor data.
//! (Each generated item carries its own `static` descriptor: an associated function
//! without a receiver cannot name its siblings, since the macro cannot tell whether
//! it sits in an `impl` block, where they are `Self::get_user_entry`, or in a module.)
//!
//! [`Returns`] is the one template that picks a return type's rules, shared by the
//! three attributes: which results are stored or count as success (its `outcome`)
//! and how callers that waited share a result (its `share`). The choice is made by
//! method resolution at the generated call, where the return type is known
//! ("deref specialization", no imports needed): `Result<T, E>` and its aliases get
//! [`OkOnly`], `Option<T>` [`SomeOnly`], every other type [`AsIs`].

use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;

use crate::cache::Cache;
use crate::call;
use crate::checks::Checked;
use crate::entry::{CacheEntry, Invalidation, invalidate_all};
use crate::flight::{ByClone, ByEncoding, Share};
use crate::function::CachedFn;
use crate::key::KeyHasher;
use crate::outcome::{AsIs, OkOnly, Outcome, Probe, SomeOnly};

/// The return type `R` of a generated function, to pick its rules from; see the
/// module documentation of `expansion.rs`. Use [`Returns::NEW`].
pub struct Returns<R>(Fallback<R>);

/// What [`Returns`] falls back to when no more specific rule applies.
pub struct Fallback<R>(PhantomData<fn() -> R>);

impl<R> Returns<R> {
    /// The rules of `R`.
    pub const NEW: Self = Self(Fallback(PhantomData));

    /// Starts the check that `R` can be cached under `rule` (see
    /// [`crate::checks`]); the generated code goes on with `.rule::<R, _, _>()`.
    pub fn stored<O>(&self, rule: O) -> Checked<R, O> {
        Probe::<R>::new().stored(rule)
    }
}

impl<T, E> Returns<Result<T, E>> {
    /// `Result`: only `Ok` is stored and counts as success.
    pub fn outcome(&self) -> OkOnly {
        OkOnly
    }

    /// [`outcome`](Self::outcome), checked to be cacheable: see [`Returns::stored`].
    pub fn checked(&self) -> Checked<Result<T, E>, OkOnly> {
        self.stored(OkOnly)
    }
}

impl<T> Returns<Option<T>> {
    /// `Option`: only `Some` is stored; `None` is a success too.
    pub fn outcome(&self) -> SomeOnly {
        SomeOnly
    }

    /// [`outcome`](Self::outcome), checked to be cacheable: see [`Returns::stored`].
    pub fn checked(&self) -> Checked<Option<T>, SomeOnly> {
        self.stored(SomeOnly)
    }
}

impl<R: Clone + Send + Sync + 'static> Returns<R> {
    /// A `Clone` result is handed to the callers that waited for it, as a clone.
    pub fn share(&self) -> ByClone {
        ByClone
    }
}

impl<R> Fallback<R> {
    /// Any other type: every value is stored and is a success.
    pub fn outcome(&self) -> AsIs {
        AsIs
    }

    /// [`outcome`](Self::outcome), checked to be cacheable: see [`Returns::stored`].
    pub fn checked(&self) -> Checked<R, AsIs> {
        Probe::<R>::new().stored(AsIs)
    }

    /// Callers that waited decode the stored value instead.
    pub fn share(&self) -> ByEncoding {
        ByEncoding
    }
}

impl<R> Deref for Returns<R> {
    type Target = Fallback<R>;
    fn deref(&self) -> &Fallback<R> {
        &self.0
    }
}

impl<R> std::fmt::Debug for Returns<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Returns")
    }
}

impl<R> std::fmt::Debug for Fallback<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fallback")
    }
}

/// The cached call: the stored value under `key` on a hit, else `body`'s result,
/// stored as `rule` says; `share` says how callers that waited get it. See
/// [`call::cached`]. The key is finished first, so the arguments are no longer
/// borrowed when the body takes them.
#[inline]
pub fn load<'a, R, O, S, F>(
    site: &'static CachedFn,
    cache: &'a Cache,
    key: KeyHasher<'_>,
    (rule, share): (O, S),
    body: F,
) -> impl Future<Output = R> + use<'a, R, O, S, F>
where
    O: Outcome<R>,
    S: Share<R>,
    F: AsyncFnOnce() -> R,
{
    call::cached(cache, site, key.finish(), rule, share, body())
}

/// The entry under `key`, for `{name}_entry`.
pub fn entry<R, M>(site: &'static CachedFn, cache: &Cache, key: KeyHasher<'_>) -> CacheEntry<R, M> {
    CacheEntry::new(cache, site, key.finish())
}

/// Whether a writing function's result counts as success, by the rule [`Returns`]
/// picked for its return type: `Ok` for `Result`, always otherwise.
pub trait Succeeds<R> {
    /// Whether `ret` is a success.
    fn succeeded(&self, ret: &R) -> bool;
}

impl<T, E> Succeeds<Result<T, E>> for OkOnly {
    fn succeeded(&self, ret: &Result<T, E>) -> bool {
        ret.is_ok()
    }
}

impl<T> Succeeds<Option<T>> for SomeOnly {
    fn succeeded(&self, _ret: &Option<T>) -> bool {
        true
    }
}

impl<R> Succeeds<R> for AsIs {
    fn succeeded(&self, _ret: &R) -> bool {
        true
    }
}

/// `#[invalidate(...)]`: runs `body`, then applies `targets` if it succeeded by
/// `rule`. The targets were evaluated before the body could move what they use.
pub async fn invalidate_after<R, O, F, const N: usize>(
    targets: [Invalidation; N],
    rule: O,
    body: F,
) -> R
where
    O: Succeeds<R>,
    F: AsyncFnOnce() -> R,
{
    let ret = body().await;
    if rule.succeeded(&ret) {
        invalidate_all(&targets).await;
    }
    ret
}

/// `#[invalidate(..., before)]`: applies `targets`, then runs `body`.
pub async fn invalidate_before<R, F, const N: usize>(targets: [Invalidation; N], body: F) -> R
where
    F: AsyncFnOnce() -> R,
{
    invalidate_all(&targets).await;
    body().await
}

/// Runs the original body of a `#[cache_put]` function.
pub async fn run<R, F: AsyncFnOnce() -> R>(body: F) -> R {
    body().await
}

#[cfg(test)]
mod tests {
    use super::*;

    type Aliased<T> = Result<T, String>;

    #[test]
    fn rules_follow_the_type_through_aliases() {
        assert!(matches!(Returns::<Result<u8, ()>>::NEW.outcome(), OkOnly));
        assert!(matches!(Returns::<Aliased<u8>>::NEW.outcome(), OkOnly));
        assert!(matches!(Returns::<Option<u8>>::NEW.outcome(), SomeOnly));
        assert!(matches!(Returns::<Vec<u8>>::NEW.outcome(), AsIs));
    }

    #[test]
    fn clone_results_are_shared_by_clone() {
        struct Opaque;
        assert!(matches!(Returns::<Vec<u8>>::NEW.share(), ByClone));
        assert!(matches!(Returns::<Opaque>::NEW.share(), ByEncoding));
    }

    fn generic<T>() -> (AsIs, ByEncoding) {
        (Returns::<T>::NEW.outcome(), Returns::<T>::NEW.share())
    }

    #[test]
    fn a_bare_type_parameter_is_cached_as_it_is() {
        assert!(matches!(generic::<Result<u8, ()>>(), (AsIs, ByEncoding)));
    }

    #[test]
    fn writes_succeed_by_the_rule() {
        assert!(OkOnly.succeeded(&Ok::<u8, ()>(1)));
        assert!(!OkOnly.succeeded(&Err::<u8, ()>(())));
        assert!(SomeOnly.succeeded(&None::<u8>));
        assert!(AsIs.succeeded(&3));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_call_loads_once_then_hits() {
        static SITE: CachedFn = CachedFn::new("t", "expansion::tests::site", 60_000, &[]);
        let cache = Cache::memory();
        let call = |id: u64| {
            let mut key = SITE.key(&cache);
            key.arg(&id);
            let returns = Returns::<Option<u64>>::NEW;
            load(
                &SITE,
                &cache,
                key,
                (returns.outcome(), returns.share()),
                async move || -> Option<u64> { Some(id * 2) },
            )
        };
        assert_eq!(call(21).await, Some(42));
        assert_eq!(call(21).await, Some(42));
        assert_eq!(cache.stats().hits, 1);
        let mut key = SITE.key(&cache);
        key.arg(&21u64);
        let entry: CacheEntry<Option<u64>> = entry(&SITE, &cache, key);
        assert!(entry.key().is_some());
    }
}
