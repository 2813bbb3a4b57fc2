//! `#[invalidate(...)]` and `#[cache_put(...)]`: the attributes that change cached
//! entries after a write.
//!
//! Each target is written like a call of a `#[cached]` function and rewritten to the
//! companion that function's macro generated: `get_user(id)` becomes
//! `get_user_entry(&(id))`, `repo.find(id)` becomes `repo.find_entry(&(id))`, and
//! `get_user(..)` becomes `get_user_entries()`. The compiler then checks the name,
//! the number of arguments and their types, at the user's tokens. A bare path
//! (`USER_LISTS`) names a `CacheGroup`.
//!
//! The targets are evaluated before the body runs (the body may move the arguments
//! they use); the entries are removed or written after it succeeds.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ItemFn, Path, ReturnType, Token, Type};

use crate::expand::{body_block, probe_rule, runtime_import};
use crate::options::Errors;

/// Which attribute is being expanded.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Invalidate,
    CachePut,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Invalidate => "invalidate",
            Self::CachePut => "cache_put",
        }
    }
}

/// One parsed target.
enum Target {
    /// `get_user(id)`: the entry, as a companion call.
    Entry(TokenStream, Extent),
    /// `get_user(..)`: every entry of the function.
    Function(TokenStream),
    /// `USER_LISTS`: a group.
    Group(Path),
}

/// Where a target is written: its first token and its closing parenthesis. A
/// generated expression whose first token is located at `start` and last at `end`
/// is reported by rustc over the whole target.
#[derive(Clone, Copy)]
struct Extent {
    start: Span,
    end: Span,
}

struct Parsed {
    targets: Vec<Target>,
    before: bool,
    cache: Option<Expr>,
    krate: Path,
}

pub(crate) fn invalidate(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Invalidate, args, item)
}

pub(crate) fn cache_put(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::CachePut, args, item)
}

fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(err) => {
            let err = syn::Error::new(
                err.span(),
                format!("`#[{}]` goes on an `async fn`", kind.name()),
            )
            .to_compile_error();
            return quote!(#err #item);
        }
    };
    let mut errors = Errors::default();
    if func.sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            func.sig.fn_token.span,
            format!("`#[{}]` needs an `async fn`", kind.name()),
        ));
    }
    let parsed = errors.keep(parse(kind, args));
    match (errors.finish(), parsed) {
        (Ok(()), Some(parsed)) => wrap(kind, &func, &parsed),
        (result, _) => {
            let err = result.err().map(|err| err.to_compile_error());
            quote!(#err #func)
        }
    }
}

fn parse(kind: Kind, args: TokenStream) -> syn::Result<Parsed> {
    let exprs = syn::parse::Parser::parse2(Punctuated::<Expr, Token![,]>::parse_terminated, args)?;
    let mut errors = Errors::default();
    let mut parsed = Parsed {
        targets: Vec::new(),
        before: false,
        cache: None,
        krate: syn::parse_quote!(::cache_runtime),
    };
    let mut cache_at = None;
    let mut seen_crate = false;
    let mut unsupported = false;
    for expr in exprs {
        match classify(kind, expr) {
            Ok(Item::Target(target)) => parsed.targets.push(target),
            Ok(Item::Before(span)) => {
                if parsed.before {
                    errors.push(syn::Error::new(span, "duplicate option `before`"));
                }
                parsed.before = true;
            }
            Ok(Item::Cache(span, expr)) => {
                if cache_at.is_some() {
                    errors.push(syn::Error::new(span, "duplicate option `cache`"));
                }
                cache_at = Some(span);
                parsed.cache = Some(expr);
            }
            Ok(Item::Crate(span, path)) => {
                if seen_crate {
                    errors.push(syn::Error::new(span, "duplicate option `crate`"));
                }
                seen_crate = true;
                parsed.krate = path;
            }
            Err(err) => {
                unsupported = true;
                errors.push(err);
            }
        }
    }
    // Entries are written and invalidated in the cache of their `#[cached]` function,
    // so `cache = ..` only names where groups live. Accepting it elsewhere would let a
    // reader believe it redirects the targets.
    let has_group = (parsed.targets.iter()).any(|target| matches!(target, Target::Group(_)));
    if let Some(span) = cache_at
        && !has_group
        && !unsupported
    {
        errors.push(syn::Error::new(
            span,
            match kind {
                Kind::CachePut => "`#[cache_put]` writes each entry in the cache of its `#[cached]` function: set `cache = ..` there",
                Kind::Invalidate => "`cache = ..` names the cache of the groups to invalidate; entries and functions are invalidated in the cache of their `#[cached]` function: set it there",
            },
        ));
    }
    // A target that was rejected above already has its error: no second one here.
    if parsed.targets.is_empty() && !unsupported {
        errors.push(syn::Error::new(
            Span::call_site(),
            format!(
                "`#[{}]` needs at least one target, such as `get_user(id)`",
                kind.name()
            ),
        ));
    }
    errors.finish()?;
    Ok(parsed)
}

enum Item {
    Target(Target),
    Before(Span),
    Cache(Span, Expr),
    Crate(Span, Path),
}

fn classify(kind: Kind, expr: Expr) -> syn::Result<Item> {
    let forms = match kind {
        Kind::Invalidate => {
            "expected a call of a `#[cached]` function (`get_user(id)`, `self.find(id)`), all its entries (`get_user(..)`), a group (`USER_LISTS`), or an option (`before`, `cache = ..`, `crate = \"..\"`)"
        }
        Kind::CachePut => {
            "expected a call of a `#[cached]` function (`get_user(user.id)`, `self.find(id)`), or the option `crate = \"..\"`"
        }
    };
    match expr {
        Expr::Assign(assign) => {
            let Expr::Path(left) = &*assign.left else {
                return Err(syn::Error::new_spanned(&assign.left, forms));
            };
            let span = left.span();
            if left.path.is_ident("cache") {
                Ok(Item::Cache(span, *assign.right))
            } else if left.path.is_ident("crate") || is_crate_keyword(&left.path) {
                let Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(lit),
                    ..
                }) = &*assign.right
                else {
                    return Err(syn::Error::new_spanned(
                        &assign.right,
                        "expected the runtime's path as a string: `crate = \"my::cache_runtime\"`",
                    ));
                };
                Ok(Item::Crate(span, lit.parse()?))
            } else {
                Err(syn::Error::new(span, format!("unknown option; {forms}")))
            }
        }
        Expr::Path(path) if path.path.is_ident("before") => match kind {
            Kind::Invalidate => Ok(Item::Before(path.span())),
            Kind::CachePut => Err(syn::Error::new(
                path.span(),
                "`before` is an option of `#[invalidate]`: `#[cache_put]` writes the result, so it runs after the body",
            )),
        },
        Expr::Path(path) if kind == Kind::Invalidate && path.qself.is_none() => {
            Ok(Item::Target(Target::Group(path.path)))
        }
        Expr::Call(call) => {
            let Expr::Path(func) = &*call.func else {
                return Err(syn::Error::new_spanned(&call.func, forms));
            };
            let mut path = func.path.clone();
            let all = is_all(&call.args);
            if all && kind == Kind::CachePut {
                return Err(syn::Error::new_spanned(
                    &call.args,
                    "`#[cache_put]` writes one entry: name its arguments",
                ));
            }
            let Some(last) = path.segments.last_mut() else {
                return Err(syn::Error::new_spanned(&call.func, forms));
            };
            if all && !last.arguments.is_none() {
                return Err(all_with_turbofish(&last.arguments));
            }
            last.ident = companion(&last.ident, all, last.ident.span());
            if all {
                Ok(Item::Target(Target::Function(quote!(#path()))))
            } else {
                let args = by_ref(&call.args);
                let extent = Extent {
                    start: call.func.span(),
                    end: call.paren_token.span.close(),
                };
                Ok(Item::Target(Target::Entry(
                    quote!(#path(#(#args),*)),
                    extent,
                )))
            }
        }
        Expr::MethodCall(call) => {
            let all = is_all(&call.args);
            if all && kind == Kind::CachePut {
                return Err(syn::Error::new_spanned(
                    &call.args,
                    "`#[cache_put]` writes one entry: name its arguments",
                ));
            }
            if let (true, Some(turbofish)) = (all, &call.turbofish) {
                return Err(all_with_turbofish(turbofish));
            }
            let receiver = &call.receiver;
            let method = companion(
                &call.method,
                all,
                Span::call_site().located_at(call.method.span()),
            );
            let turbofish = &call.turbofish;
            if all {
                Ok(Item::Target(Target::Function(
                    quote!(#receiver.#method #turbofish()),
                )))
            } else {
                let args = by_ref(&call.args);
                let extent = Extent {
                    start: receiver.span(),
                    end: call.paren_token.span.close(),
                };
                Ok(Item::Target(Target::Entry(
                    quote!(#receiver.#method #turbofish(#(#args),*)),
                    extent,
                )))
            }
        }
        other => Err(syn::Error::new_spanned(other, forms)),
    }
}

fn is_crate_keyword(path: &Path) -> bool {
    path.segments.len() == 1 && path.leading_colon.is_none() && path.segments[0].ident == "crate"
}

/// `f::<T>(..)`: the function-wide form has no type arguments.
fn all_with_turbofish(turbofish: &impl quote::ToTokens) -> syn::Error {
    syn::Error::new_spanned(
        turbofish,
        "`(..)` names every entry of the function, whatever its type arguments: leave out the `::<..>`",
    )
}

/// `(..)`: every entry of the function.
fn is_all(args: &Punctuated<Expr, Token![,]>) -> bool {
    matches!(
        args.iter().collect::<Vec<_>>().as_slice(),
        [Expr::Range(range)] if range.start.is_none() && range.end.is_none()
    )
}

/// The companion's name, located at the user's name: `get_user_entry` or
/// `get_user_entries`. `span` is the user's span itself or, for methods, the call
/// site located there: rustc then reports an unknown method at the same place but
/// leaves out its "similar name" suggestion, which would name the companion
/// (`self.find_entry(id)`) where the user writes the method.
fn companion(name: &syn::Ident, all: bool, span: Span) -> syn::Ident {
    let suffix = if all { "entries" } else { "entry" };
    format_ident!("{}_{}", name, suffix, span = span)
}

/// The arguments as references, each at its own span.
fn by_ref(args: &Punctuated<Expr, Token![,]>) -> Vec<TokenStream> {
    args.iter()
        .map(|arg| quote_spanned!(arg.span()=> &(#arg)))
        .collect()
}

fn wrap(kind: Kind, func: &ItemFn, parsed: &Parsed) -> TokenStream {
    let (rt, import) = runtime_import(&parsed.krate);
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let ret: Type = match &sig.output {
        ReturnType::Type(_, ty) => (**ty).clone(),
        ReturnType::Default => syn::parse_quote!(()),
    };
    let body = body_block(&ret, block);
    let rule = probe_rule(&rt, &ret);
    let returned = format_ident!("__returned", span = Span::mixed_site());
    let targets = format_ident!("__targets", span = Span::mixed_site());
    let cache = format_ident!("__cache", span = Span::mixed_site());
    // A `cache` expression of the wrong type is reported at the expression, with the
    // expected type (`&Cache`) located there too.
    let (cache_ty, cache_expr) = match &parsed.cache {
        Some(expr) => {
            let at = expr.span();
            let rt_at = syn::Ident::new(&rt.to_string(), rt.span().located_at(at));
            (
                quote_spanned!(at=> &#rt_at::Cache),
                quote_spanned!(at=> &(#expr)),
            )
        }
        None => (quote!(&#rt::Cache), quote!(#rt::__private::global())),
    };

    let after = match kind {
        Kind::Invalidate => {
            let items = parsed.targets.iter().map(|target| match target {
                Target::Entry(call, _) | Target::Function(call) => {
                    quote_spanned!(call.span()=> #rt::__private::Invalidation::from(#call))
                }
                Target::Group(path) => {
                    quote_spanned!(path.span()=> #rt::__private::Invalidation::group(&#path, #cache))
                }
            });
            let uses_cache = parsed
                .targets
                .iter()
                .any(|target| matches!(target, Target::Group(_)));
            let cache_binding = uses_cache.then(|| quote!(let #cache: #cache_ty = #cache_expr;));
            let before = parsed
                .before
                .then(|| quote!(#rt::__private::invalidate_all(&#targets).await;));
            let after = (!parsed.before).then(|| {
                quote! {
                    if #rule.succeeded(&#returned) {
                        #rt::__private::invalidate_all(&#targets).await;
                    }
                }
            });
            return quote! {
                #(#attrs)*
                #vis #sig {
                    use #import;
                    #cache_binding
                    let #targets = [#(#items),*];
                    #before
                    let #returned: #ret = #body.await;
                    #after
                    #returned
                }
            };
        }
        Kind::CachePut => {
            // `classify` only gives entries to `#[cache_put]`.
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
            let value = format_ident!("__value", span = Span::mixed_site());
            // A value of the wrong type is reported over the target it does not fit:
            // `&*__value` starts at the target's first token and ends at its closing
            // parenthesis, in one syntax context, so rustc spans the whole target.
            let puts = targets.iter().zip(&entries).map(|((_, extent), entry)| {
                let borrow = quote_spanned!(Span::mixed_site().located_at(extent.start)=> &*);
                let value =
                    format_ident!("__value", span = Span::mixed_site().located_at(extent.end));
                quote!(#entry.put(#borrow #value).await;)
            });
            quote! {
                #(let #entries = #calls;)*
                let #returned: #ret = #body.await;
                if let ::core::option::Option::Some(#value) = #rule.written(&#returned) {
                    #(#puts)*
                }
                #returned
            }
        }
    };
    quote! {
        #(#attrs)*
        #vis #sig {
            use #import;
            #after
        }
    }
}
