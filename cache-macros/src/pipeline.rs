//! The one shape every attribute follows: parse its arguments, check them against
//! the function, emit the wrapper. Errors from every step are collected; on any
//! error the original function is emitted unchanged next to them, so the user sees
//! those errors and not a cascade of "cannot find function".

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ItemFn;
use syn::parse::{ParseStream, Parser};

use crate::errors::Errors;

/// One attribute macro.
pub(crate) trait Attribute: Sized {
    /// Its name, as written after `#[`.
    const NAME: &'static str;
    /// Why it needs an `async fn`, appended to that error.
    const NEEDS_ASYNC: &'static str;
    /// What `check` makes of the arguments.
    type Checked;

    /// Parses the attribute's arguments.
    fn parse(args: TokenStream) -> syn::Result<Self>;
    /// Checks the arguments against the function; records errors in `errors`.
    fn check(self, func: &ItemFn, errors: &mut Errors) -> Option<Self::Checked>;
    /// The generated code, replacing `func`.
    fn emit(checked: Self::Checked, func: &ItemFn) -> TokenStream;
}

/// Runs the pipeline of `A` on one function.
pub(crate) fn run<A: Attribute>(args: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            let err = not_a_function(A::NAME, item.clone()).to_compile_error();
            return quote!(#err #item);
        }
    };
    let mut errors = Errors::default();
    let parsed = errors.keep(A::parse(args));
    if func.sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            func.sig.fn_token.span,
            format!("`#[{}]` needs an `async fn`{}", A::NAME, A::NEEDS_ASYNC),
        ));
    }
    let checked = parsed.and_then(|parsed| parsed.check(&func, &mut errors));
    match (errors.finish(), checked) {
        (Ok(()), Some(checked)) => A::emit(checked, &func),
        (result, _) => {
            let err = result.err().map(|err| err.to_compile_error());
            quote!(#err #func)
        }
    }
}

/// The error for an item that is not a function with a body, at the item's keyword
/// (`struct`, `impl`, ...) or, for a declaration without a body, at its `;`.
fn not_a_function(name: &str, item: TokenStream) -> syn::Error {
    if let Ok(decl) = syn::parse2::<syn::TraitItemFn>(item.clone())
        && let (None, Some(semi)) = (&decl.default, decl.semi_token)
    {
        return syn::Error::new(
            semi.span,
            format!(
                "`#[{name}]` needs the function's body: it cannot go on a declaration without one"
            ),
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
    syn::Error::new(span, format!("`#[{name}]` goes on an `async fn`"))
}
