//! Duration literals: `ttl = 300` (seconds) or `ttl = "5m"`, `"1h30m"`, `"250ms"`;
//! the same for `stale_while_revalidate`.

use syn::Lit;

const UNITS: &[(&str, u64)] = &[
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// The TTL in milliseconds, checked to be non-zero and to fit a `u64`.
pub(crate) fn ttl_millis(lit: &Lit) -> syn::Result<u64> {
    let millis = millis(lit, "the TTL", "ttl")?;
    if millis == 0 {
        return Err(syn::Error::new(
            lit.span(),
            "TTL must be greater than zero; to turn caching off, remove `#[cached]`",
        ));
    }
    Ok(millis)
}

/// The `stale_while_revalidate` window in milliseconds, checked to be non-zero.
pub(crate) fn stale_millis(lit: &Lit) -> syn::Result<u64> {
    let millis = millis(lit, "the stale window", "stale_while_revalidate")?;
    if millis == 0 {
        return Err(syn::Error::new(
            lit.span(),
            "the stale window must be greater than zero; to serve nothing stale, remove `stale_while_revalidate`",
        ));
    }
    Ok(millis)
}

/// A duration option in milliseconds: whole seconds or a duration string. `what`
/// names the value in messages, `option` the option.
fn millis(lit: &Lit, what: &str, option: &str) -> syn::Result<u64> {
    match lit {
        Lit::Int(int) => int
            .base10_parse::<u64>()?
            .checked_mul(1_000)
            .ok_or_else(|| {
                let mut what = what.strip_prefix("the ").unwrap_or(what).to_owned();
                if let Some(first) = what.get_mut(..1) {
                    first.make_ascii_uppercase();
                }
                syn::Error::new(int.span(), format!("{what} is too large"))
            }),
        Lit::Str(text) => {
            parse_duration(&text.value()).map_err(|reason| syn::Error::new(text.span(), reason))
        }
        other => Err(syn::Error::new(
            other.span(),
            format!(
                "expected {what} in seconds (`{option} = 300`) or as a duration (`{option} = \"5m\"`)"
            ),
        )),
    }
}

/// Parses `<number><unit>` groups such as `5m` or `1h30m` into milliseconds.
fn parse_duration(text: &str) -> Result<u64, String> {
    let invalid = || {
        format!(
            "invalid duration `{text}`: use groups of a number and a unit (ms, s, m, h, d), such as \"90s\" or \"1h30m\""
        )
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let letters = rest[digits..]
            .bytes()
            .take_while(u8::is_ascii_alphabetic)
            .count();
        if digits == 0 || letters == 0 {
            return Err(invalid());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        let unit = &rest[digits..digits + letters];
        let scale = UNITS
            .iter()
            .find_map(|(name, scale)| (*name == unit).then_some(*scale))
            .ok_or_else(invalid)?;
        total = number
            .checked_mul(scale)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| format!("duration `{text}` is too large"))?;
        rest = rest[digits + letters..].trim_start();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert_eq!(parse_duration("90s"), Ok(90_000));
        assert_eq!(parse_duration("5m"), Ok(300_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("1d"), Ok(86_400_000));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
