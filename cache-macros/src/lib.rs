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
mod expand;
mod fingerprint;
mod options;
mod signature;

use proc_macro::TokenStream;

/// Caches an async function's results in Redis (or the configured backend).
///
/// See the documentation of `cache_runtime` and `docs/attributes.md`.
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::cached(args.into(), item.into()).into()
}
