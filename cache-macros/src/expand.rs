//! Generates the wrapper: the original signature, a static descriptor, the key, and
//! one call into the runtime with the original body as an `async move` block.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::ItemFn;
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;

use crate::options::{self, Errors, Options};
use crate::signature::{self, Signature, located_at};

/// `#[cached]`: parse, check, expand. On errors, the original function is emitted
/// next to them so the rest of the crate still sees it.
pub(crate) fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            let err = not_a_function(item.clone()).to_compile_error();
            return quote!(#err #item);
        }
    };
    let mut errors = Errors::default();
    let options = errors.keep(options::parse(args));
    let signature = signature::check(&func, options.as_ref(), &mut errors);
    match (errors.finish(), options, signature) {
        (Ok(()), Some(options), Some(signature)) => wrap(&func, &options, &signature),
        (result, _, _) => {
            let err = result.err().map(|err| err.to_compile_error());
            quote!(#err #func)
        }
    }
}

/// The error for an item that is not a function with a body, at the item's keyword
/// (`struct`, `impl`, ...) or, for a declaration without a body, at its `;`.
fn not_a_function(item: TokenStream) -> syn::Error {
    if let Ok(decl) = syn::parse2::<syn::TraitItemFn>(item.clone())
        && let (None, Some(semi)) = (&decl.default, decl.semi_token)
    {
        return syn::Error::new(
            semi.span,
            "`#[cached]` needs the function's body: it cannot go on a declaration without one",
        );
    }
    let keyword = |input: ParseStream<'_>| {
        input.call(syn::Attribute::parse_outer)?;
        input.parse::<syn::Visibility>()?;
        let span = input.span();
        input.parse::<TokenStream>()?;
        Ok(span)
    };
    let span = keyword.parse2(item).unwrap_or_else(|_| Span::call_site());
    syn::Error::new(span, "`#[cached]` goes on an `async fn`")
}

/// `tokens` with every span located at `at`; names still resolve where they did.
fn respan(tokens: TokenStream, at: Span) -> TokenStream {
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

fn wrap(func: &ItemFn, options: &Options, sig: &Signature) -> TokenStream {
    let krate = &options.krate;
    // The runtime's path is imported once, and the expansion names the import:
    // a `crate = "..."` path that does not resolve is then reported once, at the
    // option, and every use of the failed import is silently skipped by rustc.
    let rt = format_ident!("__cache_runtime");
    let krate_span = krate
        .segments
        .first()
        .map_or_else(Span::call_site, |s| s.ident.span());
    let import = respan(quote!(#krate as #rt), krate_span);
    let ItemFn {
        attrs,
        vis,
        sig: fn_sig,
        block,
    } = func;
    let ret = &sig.ret;

    let prefix = options
        .prefix
        .as_ref()
        .map_or_else(|| sig.name.to_string(), syn::LitStr::value);
    let fingerprint = sig.fingerprint(&prefix, options.version);
    let ttl_ms = options.ttl_ms;

    // Generated locals use mixed-site hygiene: the user's body cannot see them.
    let hygienic = |name: &str| format_ident!("{}", name, span = Span::mixed_site());
    let site = hygienic("__CACHED_FN");
    let cache = hygienic("__cache");
    let key = hygienic("__key");
    let rule = hygienic("__rule");

    // A `cache` expression of the wrong type is reported at the expression, with
    // the expected type (`&Cache`) located there too.
    let (cache_ty, cache_expr) = match &options.cache {
        Some(expr) => (
            respan(quote!(&#rt::Cache), expr.span()),
            quote_spanned!(expr.span()=> &(#expr)),
        ),
        None => (quote!(&#rt::Cache), quote!(#rt::__private::global())),
    };

    let mut key_parts = Vec::new();
    if sig.has_receiver {
        key_parts.push(quote!(#key.type_name(::core::any::type_name::<Self>());));
    }
    for param in &sig.type_params {
        key_parts.push(quote!(#key.type_name(::core::any::type_name::<#param>());));
    }
    for param in &sig.const_params {
        key_parts.push(quote!(#key.arg(&#param);));
    }
    if let (true, Some(at)) = (sig.include_self, options.include_self) {
        // A receiver that is not `Serialize` is reported at `include_self`.
        let path = respan(quote!(#rt::__private::Probe::<()>::key_self), at);
        let infer = quote_spanned!(at=> _);
        key_parts.push(quote_spanned!(at=> #path::<#infer, _>(&mut #key, &self);));
    }
    for arg in &sig.key_args {
        let span = arg.ty.span();
        let mut name = arg.ident.clone();
        name.set_span(located_at(span));
        if arg.opaque {
            key_parts.push(quote!(#key.type_name(::core::any::type_name_of_val(&#name));));
        }
        // An argument that is not `Serialize` is reported at its type: the type is
        // passed as written, and the bound names nothing else (`impl Trait` cannot
        // be written there, so it is inferred, and the error points at the `_`).
        // The local struct named like the argument lets the message name it in
        // `skip(..)`; it is declared in a block of its own, so it cannot shadow a
        // type or module of the same name.
        let ty = &arg.ty;
        let ty = if arg.opaque {
            quote_spanned!(span=> _)
        } else {
            quote!(#ty)
        };
        let arg_name = respan(quote!(#rt::__private::Probe::<()>::arg_name), span);
        let marker = &arg.ident;
        key_parts.push(quote_spanned! {span=>
            #arg_name({
                #[allow(non_camel_case_types, dead_code)]
                struct #marker {}
                ::core::marker::PhantomData::<#marker>
            })
            .feed(&mut #key, &#name)
            .key_arg::<#ty, _>();
        });
    }

    let ret_span = ret.span();
    let rt_at_ret = respan(quote!(#rt), ret_span);
    let rule_expr = match options.cache_none {
        Some(_) => quote_spanned!(ret_span=> #rt_at_ret::__private::some_and_none::<#ret, _>()),
        None => {
            let probe = quote_spanned!(ret_span=> (&&#rt_at_ret::__private::Probe::<#ret>::new()).outcome());
            quote!({
                use #rt::__private::{ProbeOption as _, ProbePlain as _, ProbeResult as _};
                #probe
            })
        }
    };
    // Errors about the return type (not serializable) land on the return type.
    let rule_expr = quote_spanned!(ret_span=> #rt_at_ret::__private::Probe::<#ret>::new().stored(#rule_expr).rule::<#ret, _, _>());

    quote! {
        #(#attrs)*
        #vis #fn_sig {
            use #import;
            static #site: #rt::__private::CachedFn = #rt::__private::CachedFn::new(
                #prefix,
                ::core::concat!(::core::module_path!(), #fingerprint),
                #ttl_ms,
            );
            let #cache: #cache_ty = #cache_expr;
            #[allow(unused_mut)]
            let mut #key = #site.key(#cache);
            #(#key_parts)*
            let #rule = #rule_expr;
            #rt::__private::cached(#cache, &#site, #key.finish(), #rule, async move {
                // Fixes the block's return type up front, so `?` and `return` in the
                // body keep their meaning.
                #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::empty_loop)]
                if false {
                    let __unreachable: #ret = loop {};
                    return __unreachable;
                }
                #block
            })
            .await
        }
    }
}
