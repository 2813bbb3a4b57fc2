//! What `#[cached]` needs from the function's signature, checked.

use syn::spanned::Spanned;
use syn::{FnArg, GenericParam, Ident, ItemFn, Pat, ReturnType, Type};

use crate::errors::Errors;
use crate::fingerprint::canonical;
use crate::options::Options;

/// An argument that is part of the key.
pub(crate) struct KeyArg {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
    /// The type is (or contains) `impl Trait`: its concrete type is only known at run
    /// time, so its name is mixed into the key.
    pub(crate) opaque: bool,
}

/// The checked signature.
pub(crate) struct Signature {
    pub(crate) name: Ident,
    /// Every named argument, in order, key or skipped.
    pub(crate) args: Vec<(Ident, Type)>,
    pub(crate) key_args: Vec<KeyArg>,
    pub(crate) has_receiver: bool,
    pub(crate) include_self: bool,
    pub(crate) ret: Type,
    pub(crate) type_params: Vec<Ident>,
    pub(crate) const_params: Vec<Ident>,
}

impl Signature {
    /// The function's identity text, after the module path: name, prefix, the key's
    /// argument types and the return type as written, and the `version` option.
    pub(crate) fn fingerprint(&self, prefix: &str, version: u32) -> String {
        let args: Vec<String> = self.key_args.iter().map(|arg| canonical(&arg.ty)).collect();
        format!(
            "::{name}|prefix={prefix}|self={include_self}|args=({args})|ret={ret}|version={version}",
            name = self.name,
            include_self = u8::from(self.include_self),
            args = args.join(","),
            ret = canonical(&self.ret),
        )
    }
}

/// Checks `func` for use with `#[cached]`. Errors are recorded in `errors`; the
/// signature is returned when everything needed to expand could be read.
pub(crate) fn check(func: &ItemFn, options: &Options, errors: &mut Errors) -> Option<Signature> {
    let sig = &func.sig;
    let ret = match &sig.output {
        ReturnType::Type(_, ty) => {
            if let Some(borrowed) = stored_borrow(ty) {
                errors.push(syn::Error::new_spanned(
                    borrowed,
                    "a cached function cannot return a borrowed value: it could be written to the cache but never read back; return an owned type (`String` rather than `&str`, `Vec<T>` rather than `&[T]`)",
                ));
            }
            Some((**ty).clone())
        }
        ReturnType::Default => {
            errors.push(syn::Error::new(
                sig.ident.span(),
                "`#[cached]` needs a return type: a cached function returns the value to cache",
            ));
            None
        }
    };

    let skip = options.skip.as_slice();
    let mut has_receiver = false;
    let mut key_args = Vec::new();
    let mut args = Vec::new();
    let mut named = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(_) => has_receiver = true,
            FnArg::Typed(typed) => {
                let Pat::Ident(pat) = &*typed.pat else {
                    errors.push(syn::Error::new(
                        typed.pat.span(),
                        "arguments of a cached function need plain names, so they can be part of the key or skipped by name",
                    ));
                    continue;
                };
                named.push(&pat.ident);
                args.push((pat.ident.clone(), (*typed.ty).clone()));
                if !skip.contains(&pat.ident) {
                    key_args.push(KeyArg {
                        ident: pat.ident.clone(),
                        ty: (*typed.ty).clone(),
                        opaque: contains_impl(&typed.ty),
                    });
                }
            }
        }
    }
    for name in skip {
        if name == "self" {
            errors.push(syn::Error::new(
                name.span(),
                "`self` is not part of the key unless `include_self` is given; remove it from `skip`",
            ));
        } else if !named.contains(&name) {
            errors.push(syn::Error::new(
                name.span(),
                format!("`skip` names `{name}`, but the function has no argument of that name"),
            ));
        }
    }
    let include_self = options.include_self;
    if let Some(span) = include_self
        && !has_receiver
    {
        errors.push(syn::Error::new(
            span,
            "`include_self` needs a method with a `self` receiver",
        ));
    }

    let mut type_params = Vec::new();
    let mut const_params = Vec::new();
    for param in &sig.generics.params {
        match param {
            GenericParam::Type(ty) => type_params.push(ty.ident.clone()),
            GenericParam::Const(konst) => const_params.push(konst.ident.clone()),
            GenericParam::Lifetime(_) => {}
        }
    }

    Some(Signature {
        name: sig.ident.clone(),
        args,
        key_args,
        has_receiver,
        include_self: include_self.is_some() && has_receiver,
        ret: ret?,
        type_params,
        const_params,
    })
}

/// A reference in the part of the return type that would be stored: such a value
/// implements `Deserialize` only for borrowed input, so it could never be read back.
/// rustc reports that only as lifetime errors in the generated code, hence this
/// syntactic check. The error type of a `Result` is never stored and is skipped, and
/// so is everything inside `PhantomData`, function pointers and trait objects.
fn stored_borrow(ty: &Type) -> Option<&syn::TypeReference> {
    match ty {
        Type::Reference(reference) => Some(reference),
        Type::Paren(inner) => stored_borrow(&inner.elem),
        Type::Group(inner) => stored_borrow(&inner.elem),
        Type::Array(array) => stored_borrow(&array.elem),
        Type::Slice(slice) => stored_borrow(&slice.elem),
        Type::Tuple(tuple) => tuple.elems.iter().find_map(stored_borrow),
        Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?;
            if last.ident == "PhantomData" {
                return None;
            }
            let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
                return None;
            };
            let types = args.args.iter().filter_map(|arg| match arg {
                syn::GenericArgument::Type(ty) => Some(ty),
                _ => None,
            });
            let stored = if last.ident == "Result" {
                1
            } else {
                usize::MAX
            };
            types.take(stored).find_map(stored_borrow)
        }
        _ => None,
    }
}

fn contains_impl(ty: &Type) -> bool {
    fn any_impl(tokens: proc_macro2::TokenStream) -> bool {
        tokens.into_iter().any(|tree| match tree {
            proc_macro2::TokenTree::Ident(ident) => ident == "impl",
            proc_macro2::TokenTree::Group(group) => any_impl(group.stream()),
            _ => false,
        })
    }
    any_impl(quote::ToTokens::to_token_stream(ty))
}
