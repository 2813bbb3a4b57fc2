//! The arguments of `#[invalidate(...)]` and `#[cache_put(...)]`, parsed and checked.
//!
//! Each target is written like a call of a `#[cached]` function and rewritten to the
//! companion that function's macro generated: `get_user(id)` becomes
//! `get_user_entry(&(id))`, `repo.find(id)` becomes `repo.find_entry(&(id))`, and
//! `get_user(..)` becomes `get_user_entries()`. The compiler then checks the name,
//! the number of arguments and their types, at the user's tokens. A bare path
//! (`USER_LISTS`) names a `CacheGroup`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Path, Token};

use crate::errors::Errors;

/// Which attribute is being expanded.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    Invalidate,
    CachePut,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Invalidate => "invalidate",
            Self::CachePut => "cache_put",
        }
    }
}

/// One parsed target.
pub(crate) enum Target {
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
pub(crate) struct Extent {
    pub(crate) start: Span,
    pub(crate) end: Span,
}

/// The arguments of one attribute.
pub(crate) struct Parsed {
    pub(crate) targets: Vec<Target>,
    pub(crate) before: bool,
    /// `cache = ..`, and where the option is written.
    pub(crate) cache: Option<(Span, Expr)>,
    pub(crate) krate: Path,
}

/// Parses the arguments of `#[invalidate]` or `#[cache_put]`: targets and options,
/// each in a form the attribute accepts, each option once.
pub(crate) fn parse(kind: Kind, args: TokenStream) -> syn::Result<Parsed> {
    let exprs = syn::parse::Parser::parse2(Punctuated::<Expr, Token![,]>::parse_terminated, args)?;
    let mut errors = Errors::default();
    let mut parsed = Parsed {
        targets: Vec::new(),
        before: false,
        cache: None,
        krate: crate::options::default_crate_path(),
    };
    let mut seen_crate = false;
    for expr in exprs {
        match errors.keep(classify(kind, expr)) {
            Some(Item::Target(target)) => parsed.targets.push(target),
            Some(Item::Before(span)) => {
                if parsed.before {
                    errors.push(syn::Error::new(span, "duplicate option `before`"));
                }
                parsed.before = true;
            }
            Some(Item::Cache(span, expr)) => {
                if parsed.cache.is_some() {
                    errors.push(syn::Error::new(span, "duplicate option `cache`"));
                }
                parsed.cache = Some((span, expr));
            }
            Some(Item::Crate(span, path)) => {
                if seen_crate {
                    errors.push(syn::Error::new(span, "duplicate option `crate`"));
                }
                seen_crate = true;
                parsed.krate = path;
            }
            None => {}
        }
    }
    errors.finish()?;
    Ok(parsed)
}

/// Checks the parsed arguments as a whole: at least one target, and `cache = ..`
/// only where it means something.
pub(crate) fn check(kind: Kind, parsed: &Parsed, errors: &mut Errors) {
    // Entries are written and invalidated in the cache of their `#[cached]` function,
    // so `cache = ..` only names where groups live. Accepting it elsewhere would let a
    // reader believe it redirects the targets.
    let has_group = (parsed.targets.iter()).any(|target| matches!(target, Target::Group(_)));
    if let Some((span, _)) = &parsed.cache
        && !has_group
    {
        errors.push(syn::Error::new(
            *span,
            match kind {
                Kind::CachePut => "`#[cache_put]` writes each entry in the cache of its `#[cached]` function: set `cache = ..` there",
                Kind::Invalidate => "`cache = ..` names the cache of the groups to invalidate; entries and functions are invalidated in the cache of their `#[cached]` function: set it there",
            },
        ));
    }
    if parsed.targets.is_empty() {
        errors.push(syn::Error::new(
            Span::call_site(),
            format!(
                "`#[{}]` needs at least one target, such as `get_user(id)`",
                kind.name()
            ),
        ));
    }
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
