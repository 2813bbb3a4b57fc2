//! Compile-time checks of `#[cached]` functions, written so that each mistake gives
//! one error, at the user's own type, in this crate's words.
//!
//! The generated code routes the return type and each key argument through these
//! helpers before calling the runtime. Plain trait bounds would also reject the same
//! code, but rustc would report serde's requirement, often several times, pointing at
//! the attribute. The techniques used here, and why:
//!
//! - `#[diagnostic::on_unimplemented]` on small marker traits gives the message.
//!   rustc shows it only when the bound fails on the type that lacks the serde impl
//!   itself, so each check names that type ([`StoredType`] picks `T` out of
//!   `Result<T, E>` and `Option<T>`).
//! - Bounds that name only a method's own type parameters make rustc point at the
//!   turbofish argument, which the macro writes with the user's span.
//! - "Deref specialization" ([`Checked`] → [`Serializable`] → [`Unserializable`])
//!   selects the one method whose bound reports the actual problem, and returns an
//!   unconstrained type from the failing ones, so nothing after it errors again.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::key::KeyHasher;
use crate::outcome::{AsIs, OkOnly, Probe, SomeAndNone, SomeOnly};

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

/// Feeds a key argument into a key if it is `Serialize`, and reports nothing if it is
/// not. The companions (`get_user_entry`) build their keys with it: the function's own
/// wrapper has already checked the same arguments, with a precise error, and a second
/// report of the same mistake from the companion would only add noise. When the
/// wrapper compiles, every argument is `Serialize` and this feeds exactly what the
/// wrapper feeds.
///
/// (Deref specialization again: `feed` on [`Unchecked`] needs `T: Serialize`; when
/// that does not hold, method resolution goes on to `NotFed`, whose `feed` does
/// nothing.)
pub struct Unchecked<'a, T: ?Sized>(NotFed<'a, T>);

/// See [`Unchecked`].
pub struct NotFed<'a, T: ?Sized>(&'a T);

impl<'a, T: ?Sized> Unchecked<'a, T> {
    /// Wraps `value`.
    pub fn new(value: &'a T) -> Self {
        Self(NotFed(value))
    }
}

impl<T: Serialize + ?Sized> Unchecked<'_, T> {
    /// Mixes the value into `key`.
    pub fn feed(&self, key: &mut KeyHasher<'_>) {
        key.arg(self.0.0);
    }
}

impl<'a, T: ?Sized> std::ops::Deref for Unchecked<'a, T> {
    type Target = NotFed<'a, T>;
    fn deref(&self) -> &NotFed<'a, T> {
        &self.0
    }
}

impl<T: ?Sized> NotFed<'_, T> {
    /// Does nothing: the wrapper reports the argument.
    pub fn feed(&self, _key: &mut KeyHasher<'_>) {}
}

impl<T: ?Sized> std::fmt::Debug for Unchecked<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unchecked")
    }
}

impl<T: ?Sized> std::fmt::Debug for NotFed<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NotFed")
    }
}
