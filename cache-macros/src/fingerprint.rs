//! The text that identifies a cached function in its keys.
//!
//! Types are rendered from their tokens with one space only between two words, so the
//! text does not depend on how the compiler pretty-prints token streams (which has
//! changed between releases) and keys stay stable across toolchains.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::ToTokens;

/// `tokens` in a canonical, whitespace-independent form.
pub(crate) fn canonical(tokens: &impl ToTokens) -> String {
    let mut out = String::new();
    write_canonical(tokens.to_token_stream(), &mut out);
    out
}

fn write_canonical(tokens: TokenStream, out: &mut String) {
    for tree in tokens {
        match tree {
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::None => ("", ""),
                };
                out.push_str(open);
                write_canonical(group.stream(), out);
                out.push_str(close);
            }
            TokenTree::Punct(punct) => out.push(punct.as_char()),
            TokenTree::Ident(ident) => push_word(out, &ident.to_string()),
            TokenTree::Literal(literal) => push_word(out, &literal.to_string()),
        }
    }
}

fn push_word(out: &mut String, word: &str) {
    let ends_in_word = out
        .chars()
        .last()
        .is_some_and(|c| c.is_alphanumeric() || c == '_');
    if ends_in_word {
        out.push(' ');
    }
    out.push_str(word);
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn spacing_does_not_matter() {
        let a: syn::Type = syn::parse_quote!(Result<Vec<User>, DbError>);
        let b: syn::Type = syn::parse_str("Result < Vec<User> ,DbError >").expect("type");
        assert_eq!(canonical(&a), "Result<Vec<User>,DbError>");
        assert_eq!(canonical(&a), canonical(&b));
    }

    #[test]
    fn words_stay_apart() {
        let ty: syn::Type = syn::parse_quote!(&'static mut dyn Fn(u8) -> [u8; 4]);
        assert_eq!(canonical(&ty), "&'static mut dyn Fn(u8)->[u8;4]");
    }
}
