//! The attribute macros of `cache-runtime`. Depend on `cache-runtime`, which
//! re-exports them; this crate holds no runtime logic.
//!
//! Each macro follows one pipeline: parse the options (`options.rs`), check the
//! function (`signature.rs`), then generate a thin wrapper (`expand.rs`, and
//! `writes.rs` for `#[invalidate]` and `#[cache_put]`) that builds the key and hands
//! the original body to one runtime call. On an error the original function is
//! emitted unchanged next to the error, so the user sees one message rather than a
//! cascade.

#![deny(missing_docs)]

mod duration;
mod errors;
mod expand;
mod fingerprint;
mod options;
mod pipeline;
mod runtime;
mod segment;
mod signature;
mod targets;
mod writes;

use proc_macro::TokenStream;

/// Caches an async function's results in Redis, or in whatever backend its cache
/// uses.
///
/// ```
/// use cache_runtime::cached;
/// # #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// # struct User { id: u64 }
/// # #[derive(Debug)] struct DbError;
///
/// #[cached(ttl = 300, prefix = "user")]
/// async fn get_user(id: u64) -> Result<User, DbError> {
///     Ok(User { id }) // the slow part: a query, an HTTP call...
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # cache_runtime::install(cache_runtime::Cache::memory()).unwrap();
/// assert_eq!(get_user(7).await.unwrap(), User { id: 7 }); // a miss: the body runs
/// assert_eq!(get_user(7).await.unwrap(), User { id: 7 }); // a hit
/// # assert_eq!(cache_runtime::global().stats().hits, 1);
/// # }
/// ```
///
/// It goes on an `async fn` with a return type: a free function, an associated
/// function, a method with any receiver, a generic function. The signature stays as
/// written. Arguments (except those in `skip`) must implement serde's `Serialize`;
/// the stored value must implement `Serialize` and `Deserialize`. The return type
/// decides what is stored, through the type checker, so type aliases work:
///
/// | return type | stored |
/// |---|---|
/// | `Result<T, E>` | `Ok` values; errors never |
/// | `Option<T>` | `Some` values; `None` too with `cache_none` |
/// | any other type | every value |
///
/// # What it expands to
///
/// The body moves into an async closure with the declared return type, where
/// `return` and `?` keep their meaning, and the function becomes one runtime call.
/// For `get_user` above, roughly (simplified: the real code also passes each
/// argument through a check that puts a type error at the offending type; `__rt` is
/// the runtime's `__private` module, its interface to generated code, hidden and
/// without any stability promise):
///
/// ```ignore
/// async fn get_user(id: u64) -> Result<User, DbError> {
///     use cache_runtime::__private as __rt;
///     // One descriptor per function: prefix, fingerprint, TTL in ms, groups.
///     static __SITE: __rt::CachedFn = __rt::CachedFn::new(
///         "user",
///         concat!(module_path!(), "::get_user|prefix=user|self=0|args=(u64)|ret=Result<User,DbError>|version=0"),
///         300_000,
///         &[],
///     );
///     let cache: &Cache = __rt::global();          // or the `cache = ..` expression
///     let mut __key = __SITE.key(cache);           // namespace, prefix, fingerprint
///     __key.arg(&id);                              // each argument not in `skip`
///     // The caching and sharing rules, picked by the return type from one template
///     // (for Result<User, DbError>: store `Ok` values only; share clones).
///     let rules = __rt::Returns::<Result<User, DbError>>::NEW;
///     __rt::load(&__SITE, cache, __key, (rules.outcome(), rules.share()),
///         async move || -> Result<User, DbError> {
///             Ok(User { id })                      // the original body
///         })
///     .await
/// }
///
/// // Companions, with the function's visibility, for #[invalidate] and #[cache_put]:
/// fn get_user_entry(id: &u64) -> CacheEntry<Result<User, DbError>> { /* the same key */ }
/// fn get_user_entries() -> FunctionEntries { /* every entry of get_user */ }
/// ```
///
/// The runtime call does what you would otherwise write by hand around a Redis
/// client, and what is hard to get right there:
///
/// 1. Read the key, `namespace:user:<BLAKE3 digest of the fingerprint and the
///    arguments>`. A hit decodes the value and returns `Ok(value)`.
/// 2. On a miss, run the body once per key: concurrent callers in this process wait
///    for that run (single-flight), and a lease in the entry makes callers in other
///    processes wait too.
/// 3. Store the `Ok` value for 300 s, unless an invalidation or a write of the entry
///    happened meanwhile, and return the body's result.
/// 4. If Redis is down, slow (50 ms deadline by default) or returns bytes that do
///    not decode, run the body and return its result: the cache never fails a call.
///
/// # Options
///
/// Only `ttl` is required. Misuse (a missing or zero `ttl`, an unknown or repeated
/// option, a `skip` name that is not an argument, a value type that cannot be stored)
/// is a compile error at the offending token:
///
/// ```compile_fail
/// # use cache_runtime::cached;
/// #[cached(prefix = "user")] // error: missing `ttl`: add `ttl = <seconds>` or a duration such as `ttl = "5m"`
/// async fn get_user(id: u64) -> Option<String> { None }
/// ```
///
/// ## `ttl`
///
/// How long an entry lives: an integer of seconds, or a string of numbers with units
/// `ms`, `s`, `m`, `h`, `d`. Stored with millisecond precision; zero is an error.
///
/// ```
/// # use cache_runtime::cached;
/// #[cached(ttl = 300)]
/// async fn five_minutes() -> u64 { 1 }
///
/// #[cached(ttl = "1h30m")]
/// async fn ninety_minutes() -> u64 { 2 }
/// ```
///
/// ## `prefix`
///
/// The middle part of the key, so that entries can be recognised in Redis: 1 to 64
/// ASCII letters, digits, `_`, `-` and `.`. Default: the function's name.
///
/// ```
/// # use cache_runtime::cached;
/// #[cached(ttl = 60, prefix = "user.v2")] // keys `cache:user.v2:<digest>`
/// async fn get_user(id: u64) -> Option<String> { None }
/// ```
///
/// ## `skip(..)`
///
/// Arguments left out of the key: database pools, request contexts, loggers. They
/// need not implement `Serialize`.
///
/// ```
/// # use cache_runtime::cached;
/// struct Pool;
///
/// #[cached(ttl = 60, skip(pool))]
/// async fn count_orders(pool: &Pool, customer: u64) -> Result<u64, String> { Ok(3) }
/// ```
///
/// ## `include_self`
///
/// Puts `self` into the key; it must implement `Serialize`. By default a method's
/// receiver is not part of the key (its type is): `a.find(1)` and `b.find(1)` share
/// an entry.
///
/// ```
/// # use cache_runtime::cached;
/// #[derive(serde::Serialize)]
/// struct Region { name: String }
///
/// impl Region {
///     #[cached(ttl = 60, include_self)] // one entry per region
///     async fn population(&self) -> u64 { 1 }
/// }
/// ```
///
/// ## `cache = <expr>`
///
/// The cache to use instead of the global one, evaluated on each call: an expression
/// that gives a `&Cache`, or something that dereferences to a `Cache`, such as a
/// static, `self.cache`, or an argument named in `skip`.
///
/// ```
/// # use cache_runtime::cached;
/// use std::sync::LazyLock;
/// use cache_runtime::Cache;
///
/// static LOCAL: LazyLock<Cache> = LazyLock::new(Cache::memory);
///
/// #[cached(ttl = "10m", cache = LOCAL)]
/// async fn exchange_rate(from: String, to: String) -> Option<f64> { Some(1.1) }
///
/// struct Service { cache: Cache }
///
/// impl Service {
///     #[cached(ttl = 60, cache = self.cache)]
///     async fn price(&self, sku: u64) -> u64 { 100 }
/// }
/// ```
///
/// ## `cache_none`
///
/// For `Option<T>`: store `None` too (negative caching), so that a missing record is
/// not looked up again until the TTL passes. An error on other return types.
///
/// ```
/// # use cache_runtime::cached;
/// #[cached(ttl = 60, cache_none)]
/// async fn find_by_email(email: String) -> Option<u64> { None }
/// ```
///
/// ## `groups(..)`
///
/// Named groups (`CacheGroup` statics) the entries join, so that `#[invalidate]` can
/// remove them together with other functions' entries.
///
/// ```
/// # use cache_runtime::cached;
/// use cache_runtime::{CacheGroup, invalidate};
///
/// static CATALOG: CacheGroup = CacheGroup::new("catalog");
///
/// #[cached(ttl = 300, groups(CATALOG))]
/// async fn list_products(page: u32) -> Vec<String> { Vec::new() }
///
/// #[invalidate(CATALOG)] // drops every page
/// async fn import_products() -> Result<(), String> { Ok(()) }
/// ```
///
/// ## `early_refresh`
///
/// Recomputes a value shortly before it expires, so that a key under steady load
/// never misses (XFetch: a reader refreshes with a probability that rises as expiry
/// nears, and earlier the longer the value took to compute). The optional number is
/// XFetch's `beta`: 1 by default, larger refreshes earlier, at most 100. One reader
/// refreshes, under a lease; the others keep reading the stored value.
///
/// ```
/// # use cache_runtime::cached;
/// #[cached(ttl = "1m", early_refresh)]
/// async fn front_page() -> Vec<String> { Vec::new() }
///
/// #[cached(ttl = "1m", early_refresh = 2.0)]
/// async fn prices() -> Vec<u64> { Vec::new() }
/// ```
///
/// ## `stale_while_revalidate`
///
/// Keeps values that much longer than `ttl`: a read past the TTL but within the
/// window gets the stale value at once, and one reader, under a lease, recomputes it.
/// Same syntax as `ttl`.
///
/// ```
/// # use cache_runtime::cached;
/// #[cached(ttl = "1m", stale_while_revalidate = "30s")]
/// async fn dashboard() -> Vec<u64> { Vec::new() }
/// ```
///
/// ## `version`
///
/// A number mixed into the function's fingerprint. The fingerprint already holds the
/// signature and the return type as written; bump `version` when a value's meaning
/// changes in a way that neither shows (two fields of the same type swapped, a unit
/// changed), and the old entries are never read again.
///
/// ```
/// # use cache_runtime::cached;
/// #[cached(ttl = 60, version = 2)] // prices in cents now, not in euros
/// async fn price(sku: u64) -> u64 { 100 }
/// ```
///
/// ## `crate = ".."`
///
/// Where the runtime is, when `cache-runtime` is renamed or re-exported.
///
/// ```
/// mod platform {
///     pub use cache_runtime as cache;
/// }
///
/// #[platform::cache::cached(ttl = 60, crate = "crate::platform::cache")]
/// async fn answer() -> u64 { 42 }
/// # fn main() {}
/// ```
///
/// # Companions
///
/// Next to each cached function `f`, `#[cached]` generates, with the same visibility,
/// `f_entry(&key_args..) -> CacheEntry<Ret>` (the entry one call reads: `key()`,
/// `invalidate().await`, `put(&value).await`) and `f_entries() -> FunctionEntries`
/// (every entry of `f`: `invalidate().await`). They compute keys with the same code as
/// `f`, and are what `#[invalidate]` and `#[cache_put]` call. So a function named
/// `f_entry` in the same scope clashes, and `#[cached]` cannot go on a method of a
/// trait implementation.
///
/// ```
/// # use cache_runtime::cached;
/// #[cached(ttl = 60)]
/// async fn get_user(id: u64) -> Option<String> { Some(format!("user {id}")) }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// get_user_entry(&7).put(&"Ada".to_owned()).await; // write-through by hand
/// get_user_entry(&7).invalidate().await;           // one entry
/// get_user_entries().invalidate().await;           // all of them
/// # }
/// ```
///
/// The [attribute reference](https://docs.rs/cache-runtime/latest/cache_runtime/guide/attributes/index.html)
/// has the rules in full: keys of generic functions, deterministic serialization, and
/// the global cache's configuration from the environment.
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    pipeline::run::<options::Options>(args.into(), item.into()).into()
}

/// Removes cached entries after the function succeeds: `#[invalidate(get_user(id))]`.
///
/// ```
/// use cache_runtime::{cached, invalidate};
/// # struct Db;
/// # impl Db { async fn delete_user(&self, _: u64) -> Result<(), String> { Ok(()) } }
///
/// #[cached(ttl = 300, skip(db))]
/// async fn get_user(db: &Db, id: u64) -> Option<String> { Some(format!("user {id}")) }
///
/// #[invalidate(get_user(id))]
/// async fn delete_user(db: &Db, id: u64) -> Result<(), String> {
///     db.delete_user(id).await
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # cache_runtime::install(cache_runtime::Cache::memory()).unwrap();
/// get_user(&Db, 7).await;             // a miss: stored
/// delete_user(&Db, 7).await.unwrap(); // removed
/// get_user(&Db, 7).await;             // a miss again
/// # assert_eq!(cache_runtime::global().stats().hits, 0);
/// # }
/// ```
///
/// # Targets
///
/// A target is written like a call of a `#[cached]` function, with the arguments that
/// are part of its key (those in its `skip` are left out). It is rewritten to the
/// function's companion, so a misspelt function, a wrong number of arguments or an
/// argument of the wrong type is a compile error at that token.
///
/// | target | rewritten to | removes |
/// |---|---|---|
/// | `get_user(id)`, `users::get_user(id)` | `get_user_entry(&(id))` | one entry |
/// | `self.find(id)` | `self.find_entry(&(id))` | one entry of a method |
/// | `Self::load(id)` | `Self::load_entry(&(id))` | one entry of an associated function |
/// | `get_user(..)` | `get_user_entries()` | every entry of the function |
/// | `USER_LISTS` | the `CacheGroup` static | every entry of the group |
///
/// Several targets are applied in order: `#[invalidate(get_user(id), USER_LISTS)]`.
///
/// # What it expands to
///
/// The targets are evaluated first (the body may move the arguments they use), and
/// the entries removed after the body succeeds: `Ok` for a `Result`, always for other
/// return types. For `delete_user` above, roughly, in terms of the companion's public
/// API (the real code collects the targets into a list for one hidden runtime call):
///
/// ```ignore
/// async fn delete_user(db: &Db, id: u64) -> Result<(), String> {
///     let entry = get_user_entry(&(id));
///     let returned: Result<(), String> = async move {
///         db.delete_user(id).await                // the original body
///     }
///     .await;
///     if returned.is_ok() {
///         entry.invalidate().await;
///     }
///     returned
/// }
/// ```
///
/// `invalidate()` never fails the call: when Redis cannot be reached, the removal is
/// retried in the background until it lands or the entry has expired anyway, and no
/// load that started before it may store its value.
///
/// # Options
///
/// ## `before`
///
/// Removes the entries before the body runs instead. After is the default, because
/// removing first leaves a window in which a concurrent reader refills the entry from
/// the database before the write commits.
///
/// ```
/// # use cache_runtime::{cached, invalidate};
/// # #[cached(ttl = 60)] async fn get_user(id: u64) -> Option<String> { None }
/// #[invalidate(get_user(id), before)]
/// async fn purge_user(id: u64) {}
/// ```
///
/// ## `cache = <expr>`
///
/// The cache of the group targets (default: the global cache). Entry and function
/// targets always use their cached function's own cache, so `cache = ..` without a
/// group target is a compile error rather than a silent no-op.
///
/// ```
/// # use cache_runtime::{cached, invalidate};
/// use std::sync::LazyLock;
/// use cache_runtime::{Cache, CacheGroup};
///
/// static LOCAL: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// static PAGES: CacheGroup = CacheGroup::new("pages");
///
/// #[cached(ttl = 60, cache = LOCAL, groups(PAGES))]
/// async fn page(n: u32) -> String { n.to_string() }
///
/// #[invalidate(PAGES, cache = LOCAL)]
/// async fn publish() {}
/// ```
///
/// ## `crate = ".."`
///
/// Where the runtime is, when `cache-runtime` is renamed or re-exported; as for
/// `#[cached]`.
///
/// The [invalidation guide](https://docs.rs/cache-runtime/latest/cache_runtime/guide/invalidation/index.html)
/// has the details: groups, indexes, and the staleness guarantees when Redis fails.
#[proc_macro_attribute]
pub fn invalidate(args: TokenStream, item: TokenStream) -> TokenStream {
    pipeline::run::<writes::Invalidate>(args.into(), item.into()).into()
}

/// Writes the function's result into a cached function's entry after it succeeds
/// (write-through): `#[cache_put(get_user(user.id))]`.
///
/// ```
/// use cache_runtime::{cache_put, cached};
/// # #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// # struct User { id: u64, name: String }
///
/// #[cached(ttl = 300)]
/// async fn get_user(id: u64) -> Result<User, String> {
///     Ok(User { id, name: "from the database".into() })
/// }
///
/// #[cache_put(get_user(user.id))]
/// async fn update_user(user: User) -> Result<User, String> {
///     Ok(user) // saved
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # cache_runtime::install(cache_runtime::Cache::memory()).unwrap();
/// let ada = User { id: 7, name: "Ada".into() };
/// update_user(ada.clone()).await.unwrap();
/// assert_eq!(get_user(7).await.unwrap(), ada); // a hit, with the written value
/// # assert_eq!(cache_runtime::global().stats().hits, 1);
/// # }
/// ```
///
/// # Targets
///
/// The entries to write, each written like a call of a `#[cached]` function with its
/// key arguments, as for `#[invalidate]`: `get_user(id)`, `self.find(id)`,
/// `Self::load(id)`. A target names one entry: `get_user(..)` and groups are errors.
/// The value written is the one the cached function would store, taken from this
/// function's result: the `Ok` value of a `Result`, the `Some` value of an `Option`,
/// the value itself otherwise. It must have the type the cached function stores, or
/// the target does not compile.
///
/// # What it expands to
///
/// For `update_user` above, roughly, in terms of the companion's public API:
///
/// ```ignore
/// async fn update_user(user: User) -> Result<User, String> {
///     let entry = get_user_entry(&(user.id));     // before the body moves `user`
///     let returned: Result<User, String> = async move {
///         Ok(user)                                // the original body
///     }
///     .await;
///     if let Ok(value) = &returned {
///         entry.put(value).await;
///     }
///     returned
/// }
/// ```
///
/// The write revokes any load of the entry in progress, so that an older value loaded
/// meanwhile is not stored over it. It never fails the call: a write that cannot be
/// made becomes an invalidation of the entry, retried in the background like any
/// other.
///
/// # Options
///
/// `crate = ".."`, as for `#[cached]`. `cache = ..` is an error: each entry is
/// written in the cache of its cached function.
///
/// The [invalidation guide](https://docs.rs/cache-runtime/latest/cache_runtime/guide/invalidation/index.html)
/// has the details.
#[proc_macro_attribute]
pub fn cache_put(args: TokenStream, item: TokenStream) -> TokenStream {
    pipeline::run::<writes::CachePut>(args.into(), item.into()).into()
}
