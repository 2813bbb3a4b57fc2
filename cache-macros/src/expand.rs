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

/// How the key-building code refers to the arguments: the wrapper has them by value,
/// the companions by reference.
#[derive(Clone, Copy, PartialEq)]
enum Args {
    ByValue,
    ByRef,
    /// No key: the function-wide companion.
    None,
}

/// The pieces shared by the wrapper and its companions.
struct Shared<'a> {
    options: &'a Options,
    sig: &'a Signature,
    /// The runtime path as imported inside each generated body.
    rt: syn::Ident,
    import: TokenStream,
    prefix: String,
}

impl Shared<'_> {
    /// The statements every generated body starts with: the runtime import, the
    /// static descriptor, the cache, and (unless `args` is `None`) the key (`#key`,
    /// not yet finished).
    fn preamble(&self, args: Args) -> TokenStream {
        let Self {
            options,
            sig,
            rt,
            import,
            prefix,
            ..
        } = self;
        let fingerprint = sig.fingerprint(prefix, options.version);
        let ttl_ms = options.ttl_ms;
        let groups = &options.groups;
        let site = hygienic("__CACHED_FN");
        let cache = hygienic("__cache");
        let key = hygienic("__key");

        // A `cache` expression of the wrong type is reported at the expression, with
        // the expected type (`&Cache`) located there too.
        let (cache_ty, cache_expr) = match &options.cache {
            Some(expr) => (
                respan(quote!(&#rt::Cache), expr.span()),
                quote_spanned!(expr.span()=> &(#expr)),
            ),
            None => (quote!(&#rt::Cache), quote!(#rt::__private::global())),
        };

        let early_refresh = options
            .early_refresh
            .map(|beta| quote!(.early_refresh(#beta)));
        let stale = options
            .stale_ms
            .map(|ms| quote!(.stale_while_revalidate(#ms)));
        let statics = quote! {
            use #import;
            static #site: #rt::__private::CachedFn = #rt::__private::CachedFn::new(
                #prefix,
                ::core::concat!(::core::module_path!(), #fingerprint),
                #ttl_ms,
                &[#(&#groups),*],
            ) #early_refresh #stale;
        };
        let cache_binding = quote!(let #cache: #cache_ty = #cache_expr;);
        if args == Args::None {
            return quote!(#statics #cache_binding);
        }
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
        if args == Args::ByRef && sig.include_self {
            key_parts.push(quote!(#rt::__private::Unchecked::new(self).feed(&mut #key);));
        } else if let (true, Some(at)) = (sig.include_self, options.include_self) {
            // A receiver that is not `Serialize` is reported at `include_self`.
            let path = respan(quote!(#rt::__private::Probe::<()>::key_self), at);
            let infer = quote_spanned!(at=> _);
            key_parts.push(quote_spanned!(at=> #path::<#infer, _>(&mut #key, &self);));
        }
        for arg in &sig.key_args {
            let span = arg.ty.span();
            let mut name = arg.ident.clone();
            name.set_span(located_at(span));
            let value = match args {
                Args::ByValue => quote!(&#name),
                Args::ByRef | Args::None => quote!(&*#name),
            };
            if arg.opaque {
                key_parts.push(quote!(#key.type_name(::core::any::type_name_of_val(#value));));
            }
            if args == Args::ByRef {
                // The wrapper reports arguments that cannot be keyed; see `Unchecked`.
                key_parts.push(quote!(#rt::__private::Unchecked::new(#value).feed(&mut #key);));
                continue;
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
                .feed(&mut #key, #value)
                .key_arg::<#ty, _>();
            });
        }

        quote! {
            #statics
            #cache_binding
            #[allow(unused_mut)]
            let mut #key = #site.key(#cache);
            #(#key_parts)*
        }
    }

    /// The outcome rule of the return type, checked to be cacheable.
    fn rule(&self) -> TokenStream {
        let rt = &self.rt;
        let ret = &self.sig.ret;
        let ret_span = ret.span();
        let rt_at_ret = respan(quote!(#rt), ret_span);
        let rule_expr = match self.options.cache_none {
            Some(_) => {
                quote_spanned!(ret_span=> #rt_at_ret::__private::some_and_none::<#ret, _>())
            }
            None => probe_rule(rt, ret),
        };
        // Errors about the return type (not serializable) land on the return type.
        quote_spanned!(ret_span=> #rt_at_ret::__private::Probe::<#ret>::new().stored(#rule_expr).rule::<#ret, _, _>())
    }

    /// The entry type of the companions: `CacheEntry<Ret>` or, with `cache_none`,
    /// `CacheEntry<Ret, WithNone>`.
    fn entry_type(&self) -> TokenStream {
        let krate = &self.options.krate;
        let ret = &self.sig.ret;
        match self.options.cache_none {
            Some(_) => quote!(#krate::CacheEntry<#ret, #krate::__private::WithNone>),
            None => quote!(#krate::CacheEntry<#ret>),
        }
    }
}

/// The rule `(&&Probe::<Ret>::new()).outcome()` picks for `ret`: by method
/// resolution, so type aliases count as what they name.
pub(crate) fn probe_rule(rt: &syn::Ident, ret: &syn::Type) -> TokenStream {
    let ret_span = ret.span();
    let rt_at_ret = respan(quote!(#rt), ret_span);
    let probe =
        quote_spanned!(ret_span=> (&&#rt_at_ret::__private::Probe::<#ret>::new()).outcome());
    quote!({
        #[allow(unused_imports)]
        use #rt::__private::{ProbeOption as _, ProbePlain as _, ProbeResult as _};
        #probe
    })
}

/// How callers that waited for a concurrent call get its result:
/// `(&Probe::<Ret>::new()).share()`, by cloning it if `Ret` is `Clone`.
fn share_rule(rt: &syn::Ident, ret: &syn::Type) -> TokenStream {
    quote!({
        #[allow(unused_imports)]
        use #rt::__private::{ShareByClone as _, ShareByEncoding as _};
        (&#rt::__private::Probe::<#ret>::new()).share()
    })
}

/// Generated locals use mixed-site hygiene: the user's body cannot see them.
fn hygienic(name: &str) -> syn::Ident {
    format_ident!("{}", name, span = Span::mixed_site())
}

/// The runtime path imported once per generated body, and the import. A
/// `crate = "..."` path that does not resolve is then reported once, at the option,
/// and every use of the failed import is silently skipped by rustc.
pub(crate) fn runtime_import(krate: &syn::Path) -> (syn::Ident, TokenStream) {
    let rt = format_ident!("__cache_runtime");
    let krate_span = krate
        .segments
        .first()
        .map_or_else(Span::call_site, |s| s.ident.span());
    let import = respan(quote!(#krate as #rt), krate_span);
    (rt, import)
}

/// The async block holding the original body, with its return type fixed up front
/// so `?` and `return` in the body keep their meaning.
pub(crate) fn body_block(ret: &syn::Type, block: &syn::Block) -> TokenStream {
    quote! {
        async move {
            #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::empty_loop)]
            if false {
                let __unreachable: #ret = loop {};
                return __unreachable;
            }
            #block
        }
    }
}

fn wrap(func: &ItemFn, options: &Options, sig: &Signature) -> TokenStream {
    let (rt, import) = runtime_import(&options.krate);
    let prefix = options
        .prefix
        .as_ref()
        .map_or_else(|| sig.name.to_string(), syn::LitStr::value);
    let shared = Shared {
        options,
        sig,
        rt,
        import,
        prefix,
    };
    let ItemFn {
        attrs,
        vis,
        sig: fn_sig,
        block,
    } = func;
    let rt = &shared.rt;
    let site = hygienic("__CACHED_FN");
    let cache = hygienic("__cache");
    let key = hygienic("__key");
    let rule = hygienic("__rule");
    let preamble = shared.preamble(Args::ByValue);
    let rule_expr = shared.rule();
    let share_expr = share_rule(rt, &sig.ret);
    let body = body_block(&sig.ret, block);
    let companions = companions(func, &shared);

    quote! {
        #(#attrs)*
        #vis #fn_sig {
            #preamble
            let #rule = #rule_expr;
            #rt::__private::cached(#cache, &#site, #key.finish(), #rule, #share_expr, #body).await
        }

        #companions
    }
}

/// `{name}_entry(..)` and `{name}_entries(..)`: typed access to the entries of the
/// function, for `#[invalidate]`, `#[cache_put]` and programmatic use.
///
/// They take the receiver (as `&self`) if the function has one, and by reference the
/// arguments they need: `_entry` the key arguments, both any skipped argument the
/// `cache = ...` expression uses.
fn companions(func: &ItemFn, shared: &Shared<'_>) -> TokenStream {
    let sig = shared.sig;
    let options = shared.options;
    let krate = &options.krate;
    let vis = &func.vis;
    let name = &sig.name;
    let used_by_cache: Vec<&syn::Ident> = options
        .cache
        .as_ref()
        .map(|expr| mentioned_idents(quote!(#expr)))
        .map(|mentioned| {
            sig.args
                .iter()
                .map(|(ident, _)| ident)
                .filter(|ident| mentioned.contains(ident))
                .collect()
        })
        .unwrap_or_default();
    let receiver = sig.has_receiver.then(|| quote!(&self,));
    let param = |(ident, ty): &(syn::Ident, syn::Type)| quote!(#ident: &#ty);
    let entry_params = sig
        .args
        .iter()
        .filter(|(ident, _)| {
            used_by_cache.contains(&ident) || sig.key_args.iter().any(|arg| &arg.ident == ident)
        })
        .map(param);
    let entries_params: Vec<TokenStream> = sig
        .args
        .iter()
        .filter(|(ident, _)| used_by_cache.contains(&ident))
        .map(param)
        .collect();

    let generics = &func.sig.generics;
    let where_clause = &generics.where_clause;
    // The function-wide companion needs the generics only when its parameters do.
    let (entries_generics, entries_where) = if entries_params.is_empty() {
        (None, None)
    } else {
        (Some(generics), where_clause.as_ref())
    };

    let entry_fn = format_ident!("{}_entry", name);
    let entries_fn = format_ident!("{}_entries", name);
    let entry_type = shared.entry_type();
    let site = hygienic("__CACHED_FN");
    let cache = hygienic("__cache");
    let key = hygienic("__key");
    let rt = &shared.rt;
    let entry_preamble = shared.preamble(Args::ByRef);
    let entries_preamble = shared.preamble(Args::None);
    let entry_doc = format!(
        "The cache entry that [`{name}`] reads for these arguments: its key, \
         `invalidate()` and `put(..)`. Generated by `#[cached]`."
    );
    let entries_doc = format!(
        "Every cache entry of [`{name}`], whatever its arguments, with `invalidate()`. \
         Generated by `#[cached]`."
    );
    quote! {
        #[doc = #entry_doc]
        #[allow(clippy::needless_lifetimes, unused_variables)]
        #vis fn #entry_fn #generics (#receiver #(#entry_params),*) -> #entry_type #where_clause {
            #entry_preamble
            #rt::CacheEntry::new(#cache, &#site, #key.finish())
        }

        #[doc = #entries_doc]
        #[allow(clippy::needless_lifetimes, unused_variables)]
        #vis fn #entries_fn #entries_generics (#receiver #(#entries_params),*) -> #krate::FunctionEntries #entries_where {
            #entries_preamble
            #rt::FunctionEntries::new(#cache, &#site)
        }
    }
}

/// Every identifier in `tokens`.
fn mentioned_idents(tokens: TokenStream) -> Vec<syn::Ident> {
    let mut found = Vec::new();
    for tree in tokens {
        match tree {
            TokenTree::Ident(ident) => found.push(ident),
            TokenTree::Group(group) => found.extend(mentioned_idents(group.stream())),
            _ => {}
        }
    }
    found
}
