//! The options of `#[cached(...)]`: parsed, checked for duplicates, validated.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Expr, Ident, Lit, LitInt, LitStr, Path};

use crate::duration::{stale_millis, ttl_millis};
use crate::errors::Errors;
use crate::segment;

const VALID: &str = "ttl, prefix, skip, include_self, cache, cache_none, groups, version, early_refresh, stale_while_revalidate, crate";

/// Validated options of one `#[cached]` attribute.
pub(crate) struct Options {
    pub(crate) ttl_ms: u64,
    pub(crate) prefix: Option<LitStr>,
    pub(crate) skip: Vec<Ident>,
    pub(crate) groups: Vec<Path>,
    pub(crate) include_self: Option<Span>,
    pub(crate) cache: Option<Expr>,
    pub(crate) cache_none: Option<Span>,
    pub(crate) version: u32,
    /// XFetch's `beta`, when early refresh is on.
    pub(crate) early_refresh: Option<f64>,
    /// The stale-while-revalidate window in milliseconds.
    pub(crate) stale_ms: Option<u64>,
    pub(crate) krate: Path,
}

/// One option's value, remembering that it was given so a repeat is an error.
struct Slot<T>(Option<T>);

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<T> Slot<T> {
    fn set(&mut self, meta: &ParseNestedMeta<'_>, value: T) -> syn::Result<()> {
        if self.0.is_some() {
            let name = meta
                .path
                .get_ident()
                .map_or_else(String::new, ToString::to_string);
            return Err(meta.error(format!("duplicate option `{name}`")));
        }
        self.0 = Some(value);
        Ok(())
    }
}

#[derive(Default)]
struct Raw {
    ttl: Slot<Lit>,
    prefix: Slot<LitStr>,
    skip: Slot<Vec<Ident>>,
    groups: Slot<Vec<Path>>,
    include_self: Slot<Span>,
    cache: Slot<Expr>,
    cache_none: Slot<Span>,
    version: Slot<LitInt>,
    /// The span of the option, and its value if one was given.
    early_refresh: Slot<(Span, Option<Lit>)>,
    stale_while_revalidate: Slot<Lit>,
    krate: Slot<LitStr>,
}

impl Raw {
    fn accept(&mut self, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
        let name = meta
            .path
            .get_ident()
            .map_or_else(String::new, ToString::to_string);
        match name.as_str() {
            "ttl" => self.ttl.set(&meta, meta.value()?.parse()?),
            "prefix" => self.prefix.set(&meta, meta.value()?.parse()?),
            "skip" => {
                let mut names = Vec::new();
                meta.parse_nested_meta(|arg| {
                    names.push(arg.path.require_ident()?.clone());
                    Ok(())
                })?;
                self.skip.set(&meta, names)
            }
            "groups" => {
                let mut paths = Vec::new();
                meta.parse_nested_meta(|group| {
                    paths.push(group.path.clone());
                    Ok(())
                })?;
                self.groups.set(&meta, paths)
            }
            "include_self" => self.include_self.set(&meta, flag(&meta)?),
            "cache" => self.cache.set(&meta, meta.value()?.parse()?),
            "cache_none" => self.cache_none.set(&meta, flag(&meta)?),
            "version" => self.version.set(&meta, meta.value()?.parse()?),
            "early_refresh" => {
                let span = meta.path.span();
                let beta = if meta.input.peek(syn::Token![=]) {
                    Some(meta.value()?.parse()?)
                } else {
                    flag(&meta)?;
                    None
                };
                self.early_refresh.set(&meta, (span, beta))
            }
            "stale_while_revalidate" => self
                .stale_while_revalidate
                .set(&meta, meta.value()?.parse()?),
            "crate" => self.krate.set(&meta, meta.value()?.parse()?),
            _ => Err(meta.error(format!(
                "unknown option `{}`; valid options are: {VALID}",
                display_path(&meta.path)
            ))),
        }
    }

    fn validate(self) -> syn::Result<Options> {
        let mut errors = Errors::default();
        let ttl_ms = match &self.ttl.0 {
            Some(lit) => errors.keep(ttl_millis(lit)).unwrap_or(1),
            None => {
                errors.push(syn::Error::new(
                    Span::call_site(),
                    "missing `ttl`: add `ttl = <seconds>` or a duration such as `ttl = \"5m\"`",
                ));
                1
            }
        };
        if let Some(prefix) = &self.prefix.0 {
            errors.keep(segment::check(prefix, "prefix"));
        }
        let version = match &self.version.0 {
            Some(lit) => errors.keep(lit.base10_parse::<u32>()).unwrap_or(0),
            None => 0,
        };
        let early_refresh = match &self.early_refresh.0 {
            Some((_, None)) => Some(1.0),
            Some((_, Some(lit))) => errors.keep(beta(lit)),
            None => None,
        };
        let stale_ms = match &self.stale_while_revalidate.0 {
            Some(lit) => errors.keep(stale_millis(lit)),
            None => None,
        };
        let krate = match &self.krate.0 {
            Some(lit) => errors
                .keep(lit.parse::<Path>())
                .unwrap_or_else(default_crate_path),
            None => default_crate_path(),
        };
        errors.finish()?;
        Ok(Options {
            ttl_ms,
            prefix: self.prefix.0,
            skip: self.skip.0.unwrap_or_default(),
            groups: self.groups.0.unwrap_or_default(),
            include_self: self.include_self.0,
            cache: self.cache.0,
            cache_none: self.cache_none.0,
            version,
            early_refresh,
            stale_ms,
            krate,
        })
    }
}

/// Parses and validates the attribute's arguments.
pub(crate) fn parse(args: TokenStream) -> syn::Result<Options> {
    let mut raw = Raw::default();
    syn::meta::parser(|meta| raw.accept(meta)).parse2(args)?;
    raw.validate()
}

/// The `beta` of `early_refresh = <beta>`: a positive number, at most 100.
fn beta(lit: &Lit) -> syn::Result<f64> {
    let value = match lit {
        Lit::Float(float) => float.base10_parse::<f64>()?,
        Lit::Int(int) => int.base10_parse::<f64>()?,
        other => {
            return Err(syn::Error::new(
                other.span(),
                "expected a number (`early_refresh = 1.5`), or `early_refresh` alone for 1",
            ));
        }
    };
    if !(value > 0.0 && value <= 100.0) {
        return Err(syn::Error::new(lit.span(), BETA_RANGE));
    }
    Ok(value)
}

const BETA_RANGE: &str = "expected a number greater than 0 and at most 100: `early_refresh = 1.0` refreshes as XFetch prescribes, larger values refresh earlier";

fn flag(meta: &ParseNestedMeta<'_>) -> syn::Result<Span> {
    if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
        return Err(meta.error(format!("`{}` takes no value", display_path(&meta.path))));
    }
    Ok(meta
        .path
        .segments
        .first()
        .map_or_else(Span::call_site, |s| s.ident.span()))
}

fn display_path(path: &Path) -> String {
    crate::fingerprint::canonical(path)
}

pub(crate) fn default_crate_path() -> Path {
    syn::parse_quote!(::cache_runtime)
}
