//! Keeping passwords out of what is shown: URLs with the password replaced, and
//! messages scrubbed of it.

/// `url` with its password (if any) replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Setting a password only fails for URLs that cannot have one.
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        // Unparseable: hide everything between the scheme and an `@`, if any.
        Err(_) => match (url.find("://"), url.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                format!("{}***{}", &url[..scheme_end + 3], &url[at..])
            }
            _ => url.to_owned(),
        },
    }
}

/// `message` with any credentials of `url` removed, for errors that quote the URL.
pub(crate) fn scrub(message: &str, url: &str) -> String {
    let mut message = message.replace(url, &redact_url(url));
    if let Ok(parsed) = url::Url::parse(url)
        && let Some(password) = parsed.password().filter(|p| !p.is_empty())
    {
        message = message.replace(password, "***");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("redis://app:s3cret@10.0.0.1:6379/0"),
            "redis://app:***@10.0.0.1:6379/0"
        );
        assert_eq!(redact_url("redis://127.0.0.1/"), "redis://127.0.0.1/");
        assert!(!redact_url("bad://user:s3cret@").contains("s3cret"));
    }
}
