//! `#[invalidate(...)]` and `#[cache_put(...)]`: the attributes that change cached
//! entries after a write. Their arguments are parsed and checked in [`targets`];
//! this is their last step, the wrapper.
//!
//! The targets are evaluated before the body runs (the body may move the arguments
//! they use); the entries are removed or written after it succeeds.
//!
//! [`targets`]: crate::targets

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, ReturnType, Type};

use crate::errors::Errors;
use crate::pipeline::Attribute;
use crate::runtime::{self, Runtime, hygienic};
use crate::targets::{self, Extent, Kind, Parsed, Target};

/// `#[invalidate]`.
pub(crate) struct Invalidate(Parsed);

/// `#[cache_put]`.
pub(crate) struct CachePut(Parsed);

impl Attribute for Invalidate {
    const NAME: &'static str = "invalidate";
    const NEEDS_ASYNC: &'static str = "";
    type Checked = Parsed;

    fn parse(args: TokenStream) -> syn::Result<Self> {
        targets::parse(Kind::Invalidate, args).map(Self)
    }

    fn check(self, _func: &ItemFn, errors: &mut Errors) -> Option<Parsed> {
        targets::check(Kind::Invalidate, &self.0, errors);
        Some(self.0)
    }

    fn emit(parsed: Parsed, func: &ItemFn) -> TokenStream {
        invalidate(&parsed, func)
    }
}

impl Attribute for CachePut {
    const NAME: &'static str = "cache_put";
    const NEEDS_ASYNC: &'static str = "";
    type Checked = Parsed;

    fn parse(args: TokenStream) -> syn::Result<Self> {
        targets::parse(Kind::CachePut, args).map(Self)
    }

    fn check(self, _func: &ItemFn, errors: &mut Errors) -> Option<Parsed> {
        targets::check(Kind::CachePut, &self.0, errors);
        Some(self.0)
    }

    fn emit(parsed: Parsed, func: &ItemFn) -> TokenStream {
        cache_put(&parsed, func)
    }
}

/// The function's return type; `()` when it declares none.
fn return_type(func: &ItemFn) -> Type {
    match &func.sig.output {
        ReturnType::Type(_, ty) => (**ty).clone(),
        ReturnType::Default => syn::parse_quote!(()),
    }
}

/// `invalidate_after([targets], rule, body)`, or `invalidate_before([targets], body)`.
fn invalidate(parsed: &Parsed, func: &ItemFn) -> TokenStream {
    let rt = Runtime::new(parsed.krate.clone());
    let name = &rt.name;
    let import = rt.import();
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let ret = return_type(func);
    let body = runtime::body(&ret, block);
    let (binding, cache) = rt.cache(parsed.cache.as_ref().map(|(_, expr)| expr));
    let uses_cache = (parsed.targets.iter()).any(|target| matches!(target, Target::Group(_)));
    let binding = binding.filter(|_| uses_cache);
    let targets = parsed.targets.iter().map(|target| match target {
        Target::Entry(call, _) | Target::Function(call) => {
            quote_spanned!(call.span()=> #name::Invalidation::from(#call))
        }
        Target::Group(path) => {
            quote_spanned!(path.span()=> #name::Invalidation::group(&#path, #cache))
        }
    });
    let call = if parsed.before {
        quote!(#name::invalidate_before([#(#targets),*], #body))
    } else {
        let outcome = rt.outcome(&ret);
        quote!(#name::invalidate_after([#(#targets),*], #outcome, #body))
    };
    quote! {
        #(#attrs)*
        #vis #sig {
            use #import;
            #binding
            #call.await
        }
    }
}

/// Each entry evaluated up front, the body run, then each entry written with the
/// part of the result the writer's rule stores.
fn cache_put(parsed: &Parsed, func: &ItemFn) -> TokenStream {
    let rt = Runtime::new(parsed.krate.clone());
    let name = &rt.name;
    let import = rt.import();
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let ret = return_type(func);
    let body = runtime::body(&ret, block);
    let outcome = rt.outcome(&ret);
    // `targets::parse` only gives entries to `#[cache_put]`.
    let targets: Vec<(&TokenStream, Extent)> = parsed
        .targets
        .iter()
        .filter_map(|target| match target {
            Target::Entry(call, extent) => Some((call, *extent)),
            Target::Function(_) | Target::Group(_) => None,
        })
        .collect();
    let entries: Vec<syn::Ident> = (0..targets.len())
        .map(|i| format_ident!("__entry{}", i, span = Span::mixed_site()))
        .collect();
    let calls = targets.iter().map(|(call, _)| call);
    let returned = hygienic("__returned");
    let value = hygienic("__value");
    // A value of the wrong type is reported over the target it does not fit:
    // `&*__value` starts at the target's first token and ends at its closing
    // parenthesis, in one syntax context, so rustc spans the whole target.
    let puts = targets.iter().zip(&entries).map(|((_, extent), entry)| {
        let borrow = quote_spanned!(Span::mixed_site().located_at(extent.start)=> &*);
        let value = format_ident!("__value", span = Span::mixed_site().located_at(extent.end));
        quote!(#entry.put(#borrow #value).await;)
    });
    quote! {
        #(#attrs)*
        #vis #sig {
            use #import;
            #(let #entries = #calls;)*
            let #returned = #name::run(#body).await;
            if let ::core::option::Option::Some(#value) = #outcome.written(&#returned) {
                #(#puts)*
            }
            #returned
        }
    }
}
