//! `#[cached]`'s last step: the wrapper and its two companions.
//!
//! ```text
//! async fn get_user(id: u64) -> R {                  // the original signature
//!     static SITE: CachedFn = ...;                    // the descriptor
//!     let mut key = SITE.key(global());               // the key, each part checked
//!     load(&SITE, global(), key, rules, async move || -> R { body }).await
//! }
//! fn get_user_entry(id: &u64) -> CacheEntry<R> { static SITE ..; key ..; entry(..) }
//! fn get_user_entries() -> FunctionEntries { static SITE ..; FunctionEntries::new(..) }
//! ```
//!
//! Each item carries the descriptor and, where it needs one, the key: an associated
//! function without a receiver cannot name its siblings (the macro cannot tell
//! whether they are `Self::get_user_entry` or `get_user_entry`), so the wrapper
//! cannot call its entry companion. The key is built by one template
//! ([`Site::key`]) in both; the wrapper checks each part, with errors at the user's
//! tokens, and the companion feeds the same values unchecked, so each mistake is
//! reported once.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::ItemFn;
use syn::spanned::Spanned;

use crate::errors::Errors;
use crate::options::{self, Options};
use crate::pipeline::Attribute;
use crate::runtime::{self, Runtime, hygienic, located_at, respan};
use crate::signature::{self, Signature};

impl Attribute for Options {
    const NAME: &'static str = "cached";
    const NEEDS_ASYNC: &'static str = ": the cache is read and written asynchronously";
    type Checked = (Options, Signature);

    fn parse(args: TokenStream) -> syn::Result<Self> {
        options::parse(args)
    }

    fn check(self, func: &ItemFn, errors: &mut Errors) -> Option<Self::Checked> {
        signature::check(func, &self, errors).map(|sig| (self, sig))
    }

    fn emit((options, sig): Self::Checked, func: &ItemFn) -> TokenStream {
        let site = Site {
            rt: Runtime::new(options.krate.clone()),
            options: &options,
            sig: &sig,
        };
        let wrapper = site.wrapper(func);
        let companions = site.companions(func);
        quote!(#wrapper #companions)
    }
}

/// How the generated code reaches the arguments: the wrapper has them by value, the
/// entry companion by reference.
#[derive(Clone, Copy, PartialEq)]
enum Args {
    ByValue,
    ByRef,
}

/// One cached function, checked: what its generated items are made of.
struct Site<'a> {
    rt: Runtime,
    options: &'a Options,
    sig: &'a Signature,
}

impl Site<'_> {
    /// The start of every generated body: the runtime import, the descriptor, and
    /// the cache binding; and the expression naming the cache.
    fn preamble(&self) -> (TokenStream, TokenStream) {
        let Self {
            rt, options, sig, ..
        } = self;
        let name = &rt.name;
        let import = rt.import();
        let prefix = options
            .prefix
            .as_ref()
            .map_or_else(|| sig.name.to_string(), syn::LitStr::value);
        let fingerprint = sig.fingerprint(&prefix, options.version);
        let ttl_ms = options.ttl_ms;
        let groups = &options.groups;
        let early_refresh = options
            .early_refresh
            .map(|beta| quote!(.early_refresh(#beta)));
        let stale = options
            .stale_ms
            .map(|ms| quote!(.stale_while_revalidate(#ms)));
        let site = hygienic("__SITE");
        let (binding, cache) = rt.cache(options.cache.as_ref());
        let preamble = quote! {
            use #import;
            static #site: #name::CachedFn = #name::CachedFn::new(
                #prefix,
                ::core::concat!(::core::module_path!(), #fingerprint),
                #ttl_ms,
                &[#(&#groups),*],
            ) #early_refresh #stale;
            #binding
        };
        (preamble, cache)
    }

    /// The statements that build the key of one call into `__key`: type names known
    /// only at run time, const parameters, the receiver (`include_self`) and the key
    /// arguments. The wrapper checks each part, with errors at the user's tokens; the
    /// entry companion feeds the same values unchecked, so a mistake is reported once.
    fn key(&self, cache: &TokenStream, args: Args) -> TokenStream {
        let Self {
            rt, options, sig, ..
        } = self;
        let name = &rt.name;
        let key = hygienic("__key");
        let site = hygienic("__SITE");
        let mut parts = Vec::new();
        if sig.has_receiver {
            parts.push(quote!(#key.type_name(::core::any::type_name::<Self>());));
        }
        for param in &sig.type_params {
            parts.push(quote!(#key.type_name(::core::any::type_name::<#param>());));
        }
        for param in &sig.const_params {
            parts.push(quote!(#key.arg(&#param);));
        }
        if let (true, Some(at)) = (sig.include_self, options.include_self) {
            parts.push(match args {
                Args::ByRef => quote!(#name::Unchecked::new(self).feed(&mut #key);),
                Args::ByValue => {
                    // A receiver that is not `Serialize` is reported at `include_self`.
                    let path = respan(quote!(#name::Probe::<()>::key_self), at);
                    let infer = quote_spanned!(at=> _);
                    quote_spanned!(at=> #path::<#infer, _>(&mut #key, &self);)
                }
            });
        }
        for arg in &sig.key_args {
            let span = arg.ty.span();
            let mut ident = arg.ident.clone();
            ident.set_span(located_at(span));
            let value = match args {
                Args::ByValue => quote!(&#ident),
                Args::ByRef => quote!(&*#ident),
            };
            if arg.opaque {
                parts.push(quote!(#key.type_name(::core::any::type_name_of_val(#value));));
            }
            if args == Args::ByRef {
                parts.push(quote!(#name::Unchecked::new(#value).feed(&mut #key);));
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
                ty.to_token_stream()
            };
            let arg_name = respan(quote!(#name::Probe::<()>::arg_name), span);
            // Generated, so rustc's naming lints leave it alone.
            let mut marker = arg.ident.clone();
            marker.set_span(Span::mixed_site());
            parts.push(quote_spanned! {span=>
                #arg_name({ struct #marker {} ::core::marker::PhantomData::<#marker> })
                .feed(&mut #key, #value)
                .key_arg::<#ty, _>();
            });
        }
        let mutable = (!parts.is_empty()).then(|| quote!(mut));
        quote! {
            let #mutable #key = #site.key(#cache);
            #(#parts)*
        }
    }

    /// The rules of the return type: the checked outcome rule (which results are
    /// stored) and the sharing rule. Errors about the return type (not
    /// serializable, not an `Option` with `cache_none`) land on it.
    fn rules(&self) -> TokenStream {
        let ret = &self.sig.ret;
        let at = ret.span();
        let returns = self.rt.returns(ret);
        let checked = match self.options.cache_none {
            Some(_) => {
                let some_and_none = self.rt.private_at("some_and_none", at);
                quote_spanned!(at=> #returns.stored(#some_and_none::<#ret, _>()))
            }
            None => quote_spanned!(at=> #returns.checked()),
        };
        quote_spanned!(at=> (#checked.rule::<#ret, _, _>(), #returns.share()))
    }

    fn wrapper(&self, func: &ItemFn) -> TokenStream {
        let ItemFn {
            attrs,
            vis,
            sig,
            block,
        } = func;
        let (preamble, cache) = self.preamble();
        let key = self.key(&cache, Args::ByValue);
        let rules = self.rules();
        let body = runtime::body(&self.sig.ret, block);
        let (name, site, key_var) = (&self.rt.name, hygienic("__SITE"), hygienic("__key"));
        quote! {
            #(#attrs)*
            #vis #sig {
                #preamble
                #key
                #name::load(&#site, #cache, #key_var, #rules, #body).await
            }
        }
    }

    /// `{name}_entry(..)` and `{name}_entries(..)`: typed access to the entries of the
    /// function, for `#[invalidate]`, `#[cache_put]` and programmatic use.
    ///
    /// They take the receiver (as `&self`) if the function has one, and by reference
    /// the arguments they need: `_entry` the key arguments, both any skipped argument
    /// the `cache = ...` expression uses.
    fn companions(&self, func: &ItemFn) -> TokenStream {
        let Self {
            rt, options, sig, ..
        } = self;
        let krate = &options.krate;
        let vis = &func.vis;
        let name = &sig.name;
        let used_by_cache: Vec<&syn::Ident> = options
            .cache
            .as_ref()
            .map(|expr| mentioned_idents(expr.to_token_stream()))
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
        // Lints about the copied signature are the user's function's, not these.
        let lints = {
            let mut lints = Vec::new();
            if generics.lifetimes().next().is_some() {
                lints.push(quote!(clippy::needless_lifetimes));
            }
            if !used_by_cache.is_empty() {
                lints.push(quote!(unused_variables));
            }
            (!lints.is_empty()).then(|| quote!(#[allow(#(#lints),*)]))
        };

        let entry_fn = format_ident!("{}_entry", name);
        let entries_fn = format_ident!("{}_entries", name);
        let ret = &sig.ret;
        let entry_type = match options.cache_none {
            Some(_) => quote!(#krate::CacheEntry<#ret, #krate::__private::WithNone>),
            None => quote!(#krate::CacheEntry<#ret>),
        };
        let (preamble, cache) = self.preamble();
        let key = self.key(&cache, Args::ByRef);
        let rt = &rt.name;
        let site = hygienic("__SITE");
        let key_var = hygienic("__key");
        let entry_doc = format!("The cache entry [`{name}`] reads for these arguments.");
        let entries_doc = format!("Every cache entry of [`{name}`].");
        quote! {
            #[doc = #entry_doc]
            #lints
            #vis fn #entry_fn #generics (#receiver #(#entry_params),*) -> #entry_type #where_clause {
                #preamble
                #key
                #rt::entry(&#site, #cache, #key_var)
            }

            #[doc = #entries_doc]
            #lints
            #vis fn #entries_fn #entries_generics (#receiver #(#entries_params),*) -> #krate::FunctionEntries #entries_where {
                #preamble
                #rt::FunctionEntries::new(#cache, &#site)
            }
        }
    }
}

/// Every identifier in `tokens`.
fn mentioned_idents(tokens: TokenStream) -> Vec<syn::Ident> {
    let mut found = Vec::new();
    for tree in tokens {
        match tree {
            proc_macro2::TokenTree::Ident(ident) => found.push(ident),
            proc_macro2::TokenTree::Group(group) => found.extend(mentioned_idents(group.stream())),
            _ => {}
        }
    }
    found
}
