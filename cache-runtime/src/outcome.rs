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

use crate::key::KeyHasher;

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

// Compile-time checks with precise errors. The generated code calls these before
// the runtime, so that a type that cannot be cached is reported once, at the type,
// in the crate's own words. rustc shows a bound's `on_unimplemented` text when the
// bound fails on a type that lacks a serde impl itself (rather than on a type built
// from it), so each check names the type whose serde impls decide.

/// The type whose serde impls decide whether a function returning `Self` can be
/// cached under the rule `O`: `T` for `Result<T, E>` and `Option<T>`, `Self`
/// otherwise.
pub trait StoredType<O> {
    /// The type that must implement `Serialize` and `Deserialize`.
    type Type;
}
impl<T, E> StoredType<OkOnly> for Result<T, E> {
    type Type = T;
}
impl<T> StoredType<SomeOnly> for Option<T> {
    type Type = T;
}
impl<T> StoredType<SomeAndNone> for Option<T> {
    type Type = T;
}
impl<T> StoredType<AsIs> for T {
    type Type = T;
}

/// A cached value's serialization half, checked with a message of its own.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in the cache: it does not implement `serde::Serialize`",
    label = "the cached value must implement `serde::Serialize` and `serde::Deserialize`",
    note = "derive them: `#[derive(serde::Serialize, serde::Deserialize)]`"
)]
pub trait StoreSerialize: Serialize {}
impl<T: Serialize> StoreSerialize for T {}

/// A cached value's deserialization half, checked with a message of its own.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be read back from the cache: it does not implement `serde::Deserialize`",
    label = "the cached value must implement `serde::Serialize` and `serde::Deserialize`",
    note = "derive them: `#[derive(serde::Serialize, serde::Deserialize)]`; a value that borrows (`&str`, `&[u8]`) cannot be read back, use an owned type (`String`, `Vec<u8>`)"
)]
pub trait StoreDeserialize: DeserializeOwned {}
impl<T: DeserializeOwned> StoreDeserialize for T {}

/// An argument that is part of the cache key. `N` is a local type named like the
/// argument, declared by the generated code so that the message can name it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of the cache key: it does not implement `serde::Serialize`",
    label = "this argument is part of the cache key, so its type must implement `serde::Serialize`",
    note = "derive `serde::Serialize` for it, or leave the argument out of the key with `skip({N})`"
)]
pub trait KeyArg<N>: Serialize {}
impl<T: Serialize + ?Sized, N> KeyArg<N> for T {}

/// The receiver, part of the cache key with `include_self`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of the cache key: it does not implement `serde::Serialize`",
    label = "`include_self` makes the receiver part of the cache key, so it must implement `serde::Serialize`",
    note = "derive `serde::Serialize` for it, or remove `include_self`"
)]
pub trait KeySelf: Serialize {}
impl<T: Serialize + ?Sized> KeySelf for T {}

impl Probe<()> {
    /// Names a key argument: `N` is a local type named like it.
    pub fn arg_name<N>(_name: PhantomData<N>) -> ArgName<N> {
        ArgName(PhantomData)
    }

    /// Mixes the receiver `value` into `key` (`include_self`). As in
    /// [`ArgName::key_arg`], the bound names only `A`, which the generated code
    /// leaves to inference with a `_` located at `include_self`.
    pub fn key_self<A, R>(key: &mut KeyHasher<'_>, value: &R)
    where
        R: Same<A>,
        A: KeySelf,
    {
        key.arg(value.same_ref());
    }
}

/// The name of a key argument; see [`KeyArg`] and [`Probe::arg_name`].
pub struct ArgName<N>(PhantomData<N>);

impl<N> std::fmt::Debug for ArgName<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ArgName")
    }
}

impl<N> ArgName<N> {
    /// Starts mixing the argument `value` into `key`; the generated code goes on
    /// with `.key_arg::<A, _>()`.
    pub fn feed<'k, 'v, R>(
        self,
        key: &'k mut KeyHasher<'v>,
        value: &'k R,
    ) -> FeedArg<'k, 'v, R, N> {
        FeedArg {
            key,
            value,
            name: PhantomData,
        }
    }
}

/// One key argument on its way into the key; see [`ArgName::feed`].
pub struct FeedArg<'k, 'v, R, N> {
    key: &'k mut KeyHasher<'v>,
    value: &'k R,
    name: PhantomData<N>,
}

impl<R, N> std::fmt::Debug for FeedArg<'_, '_, R, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FeedArg")
    }
}

impl<R, N> FeedArg<'_, '_, R, N> {
    /// Mixes the argument into the key. `A` is the argument's type as written (the
    /// generated code passes it explicitly, or `_` for `impl Trait`). The bound
    /// names only the method's own parameters, so rustc points at `A`; it is
    /// written on `<A as Itself>::Type` (which is `A`) because rustc then leaves
    /// out its "required by a bound introduced by this call" label, which would
    /// point at the generated call.
    pub fn key_arg<A, M>(self)
    where
        N: Same<M>,
        R: Same<A>,
        <A as Itself>::Type: KeyArg<M>,
    {
        let _ = self.name;
        self.key.arg(self.value.same_ref());
    }
}

impl<R> Probe<R> {
    /// Starts the check that the return type `R` can be cached under `rule`; the
    /// generated code goes on with `.rule::<R, _, _>()`.
    pub fn stored<O>(self, rule: O) -> Checked<R, O> {
        Checked {
            rule,
            next: Serializable(Unserializable(PhantomData)),
        }
    }
}

// The check is "deref specialization": method resolution tries `rule` on `Checked`,
// whose impl requires the stored type to be `Serialize + DeserializeOwned`; when it
// is not, resolution derefs to `Serializable` (impl requires `Serialize`), then to
// `Unserializable` (no requirement). The `rule` methods of the last two have bounds
// that cannot hold there, so exactly one error is reported, naming the missing
// trait. Their result is an unconstrained type, so the rest of the expansion cannot
// add errors of its own. Their bounds name only the method's own parameters, so
// rustc points at `Ret`, the return type as written, in the turbofish.

/// A rule under which the return type `R` can be cached. See [`Probe::stored`].
pub struct Checked<R, O> {
    rule: O,
    next: Serializable<R, O>,
}

/// See [`Checked`].
pub struct Serializable<R, O>(Unserializable<R, O>);

/// See [`Checked`].
pub struct Unserializable<R, O>(PhantomData<fn() -> (R, O)>);

impl<R, O> std::fmt::Debug for Checked<R, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Checked")
    }
}

impl<R, O> std::fmt::Debug for Serializable<R, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Serializable")
    }
}

impl<R, O> std::fmt::Debug for Unserializable<R, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unserializable")
    }
}

impl<R, O> std::ops::Deref for Checked<R, O> {
    type Target = Serializable<R, O>;
    fn deref(&self) -> &Serializable<R, O> {
        &self.next
    }
}

impl<R, O> std::ops::Deref for Serializable<R, O> {
    type Target = Unserializable<R, O>;
    fn deref(&self) -> &Unserializable<R, O> {
        &self.0
    }
}

impl<R, O> Checked<R, O>
where
    R: StoredType<O>,
    R::Type: Serialize + DeserializeOwned,
{
    /// The rule (`Rule` and `X` are inferred as `O`). `Ret` is unused here, but the
    /// generated call passes it to whichever `rule` method resolution picks.
    #[allow(clippy::extra_unused_type_parameters)]
    pub fn rule<Ret, Rule, X>(self) -> X
    where
        O: Same<Rule> + Same<X>,
    {
        self.rule.same()
    }
}

impl<R, O> Serializable<R, O>
where
    R: StoredType<O>,
    R::Type: Serialize,
{
    /// Reports that the stored type is not `DeserializeOwned`. Never runs.
    pub fn rule<Ret, Rule, X>(&self) -> X
    where
        O: Same<Rule>,
        Ret: StoredType<Rule>,
        <Ret as StoredType<Rule>>::Type: StoreDeserialize,
    {
        unreachable!("the return type of a cached function failed its compile-time check")
    }
}

impl<R, O> Unserializable<R, O> {
    /// Reports that the stored type is not `Serialize`. Never runs.
    pub fn rule<Ret, Rule, X>(&self) -> X
    where
        O: Same<Rule>,
        Ret: StoredType<Rule>,
        <Ret as StoredType<Rule>>::Type: StoreSerialize,
    {
        unreachable!("the return type of a cached function failed its compile-time check")
    }
}

/// `Self`, through a projection; see [`FeedArg::key_arg`].
pub trait Itself {
    /// `Self`.
    type Type: ?Sized;
}
impl<T: ?Sized> Itself for T {
    type Type = T;
}

/// `Self` and `X` are the same type. Lets the type checker infer `X` from `Self`.
pub trait Same<X> {
    /// `self` as an `X`.
    fn same(self) -> X;
    /// `&self` as an `&X`.
    fn same_ref(&self) -> &X;
}
impl<X> Same<X> for X {
    fn same(self) -> X {
        self
    }
    fn same_ref(&self) -> &X {
        self
    }
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
