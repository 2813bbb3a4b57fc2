//! The rule for the parts of a key the user names: 1 to 64 ASCII letters, digits,
//! `_`, `-` or `.`. A `:` would blur the parts of the key.
//!
//! The runtime applies the same rule (`cache_runtime::key::is_valid_segment`); this
//! macro crate cannot depend on it, so it checks the rule here, once, at compile time.

use syn::LitStr;

/// Longest key segment: the same bound as the runtime's `MAX_PREFIX_LEN` (in its
/// crate-private `key` module).
const MAX_SEGMENT_LEN: usize = 64;

/// Checks that `lit` is a valid key segment; `what` names it in the error (`prefix`).
pub(crate) fn check(lit: &LitStr, what: &str) -> syn::Result<()> {
    let text = lit.value();
    let valid = !text.is_empty()
        && text.len() <= MAX_SEGMENT_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if valid {
        return Ok(());
    }
    Err(syn::Error::new(
        lit.span(),
        format!(
            "invalid {what}: use 1 to {MAX_SEGMENT_LEN} ASCII letters, digits, `_`, `-` or `.` (a `:` would blur the parts of the key)"
        ),
    ))
}
