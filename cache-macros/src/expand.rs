//! Generates the wrapper: the original signature, a static descriptor, the key, and
//! one call into the runtime with the original body as an `async move` block.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ItemFn;
use syn::spanned::Spanned;

use crate::options::{self, Errors, Options};
use crate::signature::{self, Signature, located_at};

/// `#[cached]`: parse, check, expand. On errors, the original function is emitted
/// next to them so the rest of the crate still sees it.
pub(crate) fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(err) => {
            let err = syn::Error::new(err.span(), "`#[cached]` goes on an `async fn`");
            let err = err.to_compile_error();
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

fn wrap(func: &ItemFn, options: &Options, sig: &Signature) -> TokenStream {
    let krate = &options.krate;
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

    let cache_expr = match &options.cache {
        Some(expr) => quote_spanned!(expr.span()=> &(#expr)),
        None => quote!(#krate::__private::global()),
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
    if sig.include_self {
        key_parts.push(quote!(#key.arg(&self);));
    }
    for arg in &sig.key_args {
        let span = arg.ty.span();
        let mut name = arg.ident.clone();
        name.set_span(located_at(span));
        if arg.opaque {
            key_parts.push(quote!(#key.type_name(::core::any::type_name_of_val(&#name));));
        }
        key_parts.push(quote_spanned!(span=> #key.arg(&#name);));
    }

    let ret_span = ret.span();
    let rule_expr = match options.cache_none {
        Some(_) => quote_spanned!(ret_span=> #krate::__private::some_and_none::<#ret>()),
        None => quote_spanned!(ret_span=> {
            #[allow(unused_imports)]
            use #krate::__private::{ProbeOption as _, ProbePlain as _, ProbeResult as _};
            (&&#krate::__private::Probe::<#ret>::new()).outcome()
        }),
    };
    // Errors about the return type (not serializable) land on the return type.
    let mut rule_arg = rule.clone();
    rule_arg.set_span(Span::mixed_site().located_at(ret_span));

    quote! {
        #(#attrs)*
        #vis #fn_sig {
            static #site: #krate::__private::CachedFn = #krate::__private::CachedFn::new(
                #prefix,
                ::core::concat!(::core::module_path!(), #fingerprint),
                #ttl_ms,
            );
            let #cache: &#krate::Cache = #cache_expr;
            #[allow(unused_mut)]
            let mut #key = #site.key(#cache);
            #(#key_parts)*
            let #rule = #rule_expr;
            #krate::__private::cached(#cache, &#site, #key.finish(), #rule_arg, async move {
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
