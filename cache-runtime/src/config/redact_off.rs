//! Stand-in for `redact.rs` in builds without the `redis` feature. They have no URL
//! parser and never connect to a URL, so a Redis URL is shown as its scheme alone.

/// `url` with everything after the scheme masked.
pub(crate) fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, _))
            if !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) =>
        {
            format!("{scheme}://***")
        }
        _ => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_scheme_is_shown() {
        assert_eq!(redact_url("redis://app:s3cret@host:6379/0"), "redis://***");
        assert_eq!(redact_url("unix:///s.sock?pass=s3cret"), "unix://***");
        assert_eq!(redact_url("app:s3cret@host://x"), "***");
    }
}
