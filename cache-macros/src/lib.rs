//! The attribute macros of `cache-runtime`. Depend on `cache-runtime`, which
//! re-exports them; this crate holds no runtime logic.
//!
//! Each macro follows one pipeline: parse the options ([`options`]), check the
//! function ([`signature`]), then generate a thin wrapper ([`expand`]) that builds the
//! key and hands the original body to one runtime call. On an error the original
//! function is emitted unchanged next to the error, so the user sees one message
//! rather than a cascade.

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

/// Caches an async function's results in Redis (or the configured backend).
///
/// See the documentation of `cache_runtime` and `docs/attributes.md`.
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    pipeline::run::<options::Options>(args.into(), item.into()).into()
}

/// Removes cached entries after the function succeeds: `#[invalidate(get_user(id))]`.
///
/// Targets: `f(args)` (one entry of a `#[cached]` function), `f(..)` (all its
/// entries), `self.method(args)` or `Self::f(args)`, and group statics (`USERS`).
/// Options: `before` (remove before the body runs instead), `cache = expr` (the cache
/// of group targets), `crate = "path"`. See `docs/invalidation.md`.
#[proc_macro_attribute]
pub fn invalidate(args: TokenStream, item: TokenStream) -> TokenStream {
    pipeline::run::<writes::Invalidate>(args.into(), item.into()).into()
}

/// Writes the function's result into a cached function's entry after it succeeds
/// (write-through): `#[cache_put(get_user(user.id))]`.
///
/// See `docs/invalidation.md`.
#[proc_macro_attribute]
pub fn cache_put(args: TokenStream, item: TokenStream) -> TokenStream {
    pipeline::run::<writes::CachePut>(args.into(), item.into()).into()
}
