//! The pieces of generated code shared by the three attributes: the runtime path,
//! the `cache = expr` binding, the body as an async closure, the rules of a return
//! type, and generated names.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Block, Expr, Path, Type};

/// The runtime as generated code names it: `crate = "..."` or `::cache_runtime`,
/// its `__private` module imported once per generated body as `__rt`. A path that does not
/// resolve is then reported once, at the option, and every use of the failed
/// import is silently skipped by rustc.
pub(crate) struct Runtime {
    /// The path as written, for signatures (outside the bodies).
    pub(crate) krate: Path,
    /// The imported name, for bodies.
    pub(crate) name: syn::Ident,
}

impl Runtime {
    pub(crate) fn new(krate: Path) -> Self {
        Self {
            krate,
            name: format_ident!("__rt"),
        }
    }

    /// `use <crate>::__private as __rt;`, located at the `crate = ".."` option.
    pub(crate) fn import(&self) -> TokenStream {
        let Self { krate, name } = self;
        let at = krate
            .segments
            .first()
            .map_or_else(Span::call_site, |s| s.ident.span());
        respan(quote!(#krate::__private as #name), at)
    }

    /// `__rt::#item`, every token located at `at`.
    pub(crate) fn private_at(&self, item: &str, at: Span) -> TokenStream {
        let name = &self.name;
        let item = format_ident!("{}", item);
        respan(quote!(#name::#item), at)
    }

    /// The rule `Returns::<ret>::NEW.outcome()` picks for `ret`: `OkOnly` for a
    /// `Result` (or an alias of it), `SomeOnly` for an `Option`, `AsIs` otherwise.
    pub(crate) fn outcome(&self, ret: &Type) -> TokenStream {
        let returns = self.returns(ret);
        quote_spanned!(ret.span()=> #returns.outcome())
    }

    /// `Returns::<ret>::NEW`, the runtime's template for the rules of `ret`, located
    /// at the return type so that errors about it land there.
    pub(crate) fn returns(&self, ret: &Type) -> TokenStream {
        let returns = self.private_at("Returns", ret.span());
        quote_spanned!(ret.span()=> #returns::<#ret>::NEW)
    }

    /// Binds the cache: `&(expr)`, checked to be a `&Cache` with the error at the
    /// expression, or the global cache. Returns the binding (if any) and the
    /// expression that names the cache afterwards.
    pub(crate) fn cache(&self, expr: Option<&Expr>) -> (Option<TokenStream>, TokenStream) {
        let name = &self.name;
        match expr {
            Some(expr) => {
                let at = expr.span();
                let ty = respan(quote!(&#name::Cache), at);
                let cache = hygienic("__cache");
                let binding = quote_spanned!(at=> let #cache: #ty = &(#expr););
                (Some(binding), quote!(#cache))
            }
            None => (None, quote!(#name::global())),
        }
    }
}

/// The original body as an async closure with the declared return type, so that
/// `?` and `return` keep their meaning: `async move || -> Ret { ... }`.
pub(crate) fn body(ret: &Type, block: &Block) -> TokenStream {
    quote!(async move || -> #ret #block)
}

/// Generated names use mixed-site hygiene: the user's body cannot see them.
pub(crate) fn hygienic(name: &str) -> syn::Ident {
    format_ident!("{}", name, span = Span::mixed_site())
}

/// `tokens` with every span located at `at`; names still resolve where they did.
pub(crate) fn respan(tokens: TokenStream, at: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Group(group) => {
                let mut new = Group::new(group.delimiter(), respan(group.stream(), at));
                new.set_span(group.span().located_at(at));
                TokenTree::Group(new)
            }
            mut other => {
                other.set_span(other.span().located_at(at));
                other
            }
        })
        .collect()
}

/// A span with call-site hygiene (so it names the user's variables) located at `at`
/// (so errors point there).
pub(crate) fn located_at(at: Span) -> Span {
    Span::call_site().located_at(at)
}
