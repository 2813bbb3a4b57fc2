//! Keeping passwords out of what is shown: URLs with their passwords replaced by
//! `***`, and messages scrubbed of them.
//!
//! redis-rs (1.x) reads a password from two places of a URL: the userinfo of the
//! TCP schemes (`redis`, `rediss`, `valkey`, `valkeys`: `user:password@` or
//! `:password@`, percent-decoded), and the `pass` query parameter of the unix-socket
//! schemes (`unix`, `redis+unix`, `valkey+unix`, form-decoded: `+` is a space). Both
//! are masked whatever the scheme, and so is a `password` parameter, which redis-rs
//! ignores but which is easily written by mistake. User names are not secret: they
//! stay, to tell which credentials a message is about.

use std::ops::Range;

use url::{Url, form_urlencoded};

/// What replaces a password.
const MASK: &str = "***";
/// The query parameters whose values are masked.
const SECRET_PARAMS: [&str; 2] = ["pass", "password"];

/// `url` with every password replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    let redacted = parse_plainly(url).and_then(|mut parsed| {
        if parsed.password().is_some() {
            parsed.set_password(Some(MASK)).ok()?;
        }
        if let Some(query) = parsed.query() {
            let masked = mask(query, param_spans(query, 0));
            parsed.set_query(Some(&masked));
        }
        Some(String::from(parsed))
    });
    redacted.unwrap_or_else(|| mask(url, loose_spans(url)))
}

/// `message` with the passwords of `url` removed, for errors that may quote them:
/// each quote of the whole URL becomes the redacted URL, and every other occurrence
/// of a password, decoded or encoded, is masked, even inside a longer word (a
/// password that is part of the host name masks that part of the name).
pub(crate) fn scrub(message: &str, url: &str) -> String {
    let redacted = redact_url(url);
    let secrets = secrets(url);
    let mut quotes = vec![url.to_owned()];
    quotes.extend(Url::parse(url).ok().map(String::from));
    let mut scrubbed = String::with_capacity(message.len());
    let mut rest = message;
    // The URL first, so that the host in it stays whole.
    while let Some((at, len)) = first_quote(rest, &quotes) {
        scrubbed.push_str(&mask(&rest[..at], occurrences(&rest[..at], &secrets)));
        scrubbed.push_str(&redacted);
        rest = &rest[at + len..];
    }
    scrubbed.push_str(&mask(rest, occurrences(rest, &secrets)));
    scrubbed
}

/// `url` parsed, unless the parser's reading may differ from what its writer meant:
/// an `@` outside the userinfo and query (`redis:user:pass@host`, a `/` or `#` in a
/// password) may follow a password, so such URLs are masked loosely.
fn parse_plainly(url: &str) -> Option<Url> {
    let parsed = Url::parse(url).ok()?;
    let stray_at =
        parsed.path().contains('@') || parsed.fragment().is_some_and(|f| f.contains('@'));
    (!parsed.cannot_be_a_base() && !stray_at).then_some(parsed)
}

/// Where to mask a URL that is not [parsed plainly](parse_plainly): everything from
/// the scheme to the last `@`, and the values of the secret parameters after the
/// first `?` (up to the next `&`, a fragment included).
fn loose_spans(url: &str) -> Vec<Range<usize>> {
    let start = after_scheme(url).unwrap_or(0);
    let mut spans = Vec::new();
    if let Some(at) = url[start..].rfind('@') {
        spans.push(start..start + at);
    }
    if let Some(question) = url[start..].find('?') {
        let query = start + question + 1;
        spans.extend(param_spans(&url[query..], query));
    }
    spans
}

/// Where what follows `scheme://` starts, if `url` starts so (a `://` further on,
/// in a query say, ends no scheme).
fn after_scheme(url: &str) -> Option<usize> {
    let at = url.find("://")?;
    let scheme = &url[..at];
    let valid = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(at + 3)
}

/// The values of the secret parameters of `query` (`key=value&...`, keys
/// form-decoded as redis-rs decodes them), as spans shifted by `offset`.
fn param_spans(query: &str, offset: usize) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut start = offset;
    for pair in query.split('&') {
        if let Some((key, value)) = pair.split_once('=')
            && SECRET_PARAMS.contains(&decode(key, Decoding::Form).as_str())
        {
            // The value ends the pair.
            let value_start = start + pair.len() - value.len();
            spans.push(value_start..value_start + value.len());
        }
        start += pair.len() + 1;
    }
    spans
}

/// The userinfo password as written in a plainly parsed `url`: after the first `:`
/// of what precedes the last `@` of the authority.
fn written_userinfo_password(url: &str) -> Option<&str> {
    let start = after_scheme(url)?;
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| start + at);
    let userinfo = &url[start..start + url[start..end].rfind('@')?];
    userinfo.split_once(':').map(|(_, password)| password)
}

/// The query as written in a plainly parsed `url` (where no `?` precedes it).
fn written_query(url: &str) -> Option<&str> {
    let (_, query) = url.split_once('?')?;
    Some(query.split_once('#').map_or(query, |(query, _)| query))
}

/// How a password written in a URL is decoded.
#[derive(Clone, Copy)]
enum Decoding {
    /// Userinfo: `%XX` only.
    Percent,
    /// Query: `%XX`, and `+` is a space.
    Form,
}

fn decode(written: &str, decoding: Decoding) -> String {
    let spaced;
    let written = match decoding {
        Decoding::Percent => written,
        Decoding::Form => {
            spaced = written.replace('+', " ");
            &spaced
        }
    };
    percent_encoding::percent_decode_str(written)
        .decode_utf8_lossy()
        .into_owned()
}

/// Every form in which a password of `url` may appear in a message: as written in
/// the URL, as the URL parser normalized it, decoded, and encoded again.
fn secrets(url: &str) -> Vec<String> {
    let mut written: Vec<(String, Decoding)> = Vec::new();
    match parse_plainly(url) {
        Some(parsed) => {
            let userinfo = [parsed.password(), written_userinfo_password(url)];
            for password in userinfo.into_iter().flatten() {
                written.push((password.to_owned(), Decoding::Percent));
            }
            for query in [parsed.query(), written_query(url)].into_iter().flatten() {
                for span in param_spans(query, 0) {
                    written.push((query[span].to_owned(), Decoding::Form));
                }
            }
        }
        // Which part is which is unknown: both decodings.
        None => {
            for span in loose_spans(url) {
                written.push((url[span.clone()].to_owned(), Decoding::Percent));
                written.push((url[span].to_owned(), Decoding::Form));
            }
        }
    }
    let mut secrets = Vec::new();
    for (form, decoding) in written {
        let plain = decode(&form, decoding);
        secrets.push(form_urlencoded::byte_serialize(plain.as_bytes()).collect());
        secrets.extend(userinfo_encoded(&plain));
        secrets.push(plain);
        secrets.push(form);
    }
    secrets.retain(|secret| !secret.is_empty());
    secrets.sort();
    secrets.dedup();
    secrets
}

/// `password` percent-encoded as the URL parser writes a userinfo password.
fn userinfo_encoded(password: &str) -> Option<String> {
    let mut url = Url::parse("redis://host").ok()?;
    url.set_password(Some(password)).ok()?;
    url.password().map(str::to_owned)
}

/// Where any of `secrets` occurs in `text`, overlapping occurrences included.
fn occurrences(text: &str, secrets: &[String]) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        let mut from = 0;
        while let Some(at) = text[from..].find(secret.as_str()) {
            let start = from + at;
            spans.push(start..start + secret.len());
            from = start + text[start..].chars().next().map_or(1, char::len_utf8);
        }
    }
    spans
}

/// The earliest (then longest) quote in `text`: where, and its length.
fn first_quote(text: &str, quotes: &[String]) -> Option<(usize, usize)> {
    quotes
        .iter()
        .filter(|quote| !quote.is_empty())
        .filter_map(|quote| text.find(quote.as_str()).map(|at| (at, quote.len())))
        .min_by_key(|&(at, len)| (at, std::cmp::Reverse(len)))
}

/// `text` with each run of overlapping or adjacent non-empty `spans` replaced by one
/// [`MASK`].
fn mask(text: &str, mut spans: Vec<Range<usize>>) -> String {
    spans.retain(|span| !span.is_empty());
    spans.sort_by_key(|span| span.start);
    let mut merged: Vec<Range<usize>> = Vec::new();
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    let mut masked = String::with_capacity(text.len());
    let mut shown_to = 0;
    for span in merged {
        masked.push_str(&text[shown_to..span.start]);
        masked.push_str(MASK);
        shown_to = span.end;
    }
    masked.push_str(&text[shown_to..]);
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every password below contains this, so that no part of one may show.
    const MARK: &str = "s3cret";

    /// `(url, what is shown)` for every form in which redis-rs reads a password.
    const PARSED: &[(&str, &str)] = &[
        // userinfo of the TCP schemes, with and without a user
        (
            "redis://app:s3cret@10.0.0.1:6379/0",
            "redis://app:***@10.0.0.1:6379/0",
        ),
        (
            "rediss://app:s3cret@cache.example.com:6380/0#insecure",
            "rediss://app:***@cache.example.com:6380/0#insecure",
        ),
        ("valkey://:s3cret@10.0.0.1/2", "valkey://:***@10.0.0.1/2"),
        (
            "valkeys://app:s3cret@10.0.0.1",
            "valkeys://app:***@10.0.0.1",
        ),
        // percent-encoded, and an `@` the URL parser encodes itself
        ("redis://app:p%40ss%2Fs3cret@h:1/0", "redis://app:***@h:1/0"),
        ("redis://app:p@ss-s3cret@h:1/0", "redis://app:***@h:1/0"),
        // `pass` in the query of the unix-socket schemes; the user stays
        (
            "redis+unix:///run/redis.sock?pass=s3cret",
            "redis+unix:///run/redis.sock?pass=***",
        ),
        (
            "unix:///run/redis.sock?user=app&pass=s3cret&db=2",
            "unix:///run/redis.sock?user=app&pass=***&db=2",
        ),
        (
            "valkey+unix:///run/v.sock?pass=a%26b+s3cret#x",
            "valkey+unix:///run/v.sock?pass=***#x",
        ),
        // every occurrence, a percent-encoded key, and `password`, which
        // redis-rs ignores but which is easily written by mistake
        (
            "unix:///run/redis.sock?pass=s3cret-1&pass=s3cret-2",
            "unix:///run/redis.sock?pass=***&pass=***",
        ),
        (
            "unix:///run/redis.sock?p%61ss=s3cret",
            "unix:///run/redis.sock?p%61ss=***",
        ),
        ("redis://h/0?password=s3cret", "redis://h/0?password=***"),
        ("rediss://h/0?pass=s3cret", "rediss://h/0?pass=***"),
        // a password that is part of the host hides the password, not the host
        (
            "redis://app:s3cret@s3cret.example.com/0",
            "redis://app:***@s3cret.example.com/0",
        ),
    ];

    /// `(url, what is shown)` for URLs the parser rejects, or reads otherwise than
    /// meant: everything up to the last `@` is hidden, and `pass` values in what
    /// looks like a query.
    const LOOSE: &[(&str, &str)] = &[
        ("redis://app:s3cret@[::1/0", "redis://***@[::1/0"),
        (
            "redis://app:s3cret@127.0.0.1:notaport/0",
            "redis://***@127.0.0.1:notaport/0",
        ),
        ("redis://app:pa/s3cret@h:1/0", "redis://***@h:1/0"),
        ("redis://app:pa#s3cret@h:1/0", "redis://***@h:1/0"),
        ("app:s3cret@h:1", "***@h:1"),
        ("redis:app:s3cret@h:1/0", "***@h:1/0"),
        ("app:s3cret@h?next=redis://x", "***@h?next=redis://x"),
        (
            "unix://[bad?user=app&pass=s3cret&db=0",
            "unix://[bad?user=app&pass=***&db=0",
        ),
    ];

    #[test]
    fn every_password_form_is_masked() {
        for (url, shown) in PARSED.iter().chain(LOOSE) {
            assert_eq!(redact_url(url), *shown, "{url}");
        }
    }

    #[test]
    fn urls_without_a_password_are_shown_as_they_are() {
        for url in [
            "redis://127.0.0.1/",
            "redis://app@10.0.0.1:6379/0",
            "unix:///run/redis.sock?user=app&db=1",
            "not a url",
        ] {
            assert_eq!(redact_url(url), url);
        }
        // An empty password is no secret.
        assert!(!redact_url("redis://app:@h/0").contains("***"));
    }

    #[test]
    fn messages_lose_the_decoded_and_the_encoded_password() {
        let cases = [
            ("redis://app:p%40ss%2Fs3cret@h:1/0", "p@ss/s3cret"),
            ("redis://app:p@ss-s3cret@h:1/0", "p@ss-s3cret"),
            (
                "unix:///run/redis.sock?user=app&pass=a%26b+s3cret",
                "a&b s3cret",
            ),
            ("redis://:s3cret%20x@h:1/0", "s3cret x"),
        ];
        for (url, decoded) in cases {
            let encoded =
                url::form_urlencoded::byte_serialize(decoded.as_bytes()).collect::<String>();
            let message = format!("failed: {url}; password {decoded}, or {encoded}; for app");
            let scrubbed = scrub(&message, url);
            assert!(!scrubbed.contains(MARK), "{url}: {scrubbed}");
            assert!(scrubbed.contains(&redact_url(url)), "{url}: {scrubbed}");
            assert!(scrubbed.ends_with("for app"), "{url}: {scrubbed}");
        }
    }

    /// What redis-rs itself reads as the password of each URL it accepts is what
    /// is masked: in the shown URL, and in a message that quotes it alone.
    #[cfg(feature = "tls")] // redis-rs parses `rediss://` URLs only with TLS
    #[test]
    fn the_password_redis_rs_reads_is_never_shown() {
        let mut read = 0;
        for (url, _) in PARSED {
            let Ok(info) = redis::IntoConnectionInfo::into_connection_info(*url) else {
                continue;
            };
            let Some(password) = info.redis_settings().password() else {
                continue;
            };
            read += 1;
            assert!(password.contains(MARK), "{url}: {password}");
            assert!(redact_url(url).contains(MASK), "{url}");
            let scrubbed = scrub(&format!("AUTH app {password}"), url);
            assert_eq!(scrubbed, "AUTH app ***", "{url}");
        }
        // Every URL but the two whose parameters redis-rs ignores.
        assert_eq!(read, PARSED.len() - 2);
    }

    #[test]
    fn a_password_inside_the_host_leaves_the_shown_url_whole() {
        let url = "redis://app:local@localhost:6379/0";
        let scrubbed = scrub(&format!("{url}: refused by localhost"), url);
        assert_eq!(
            scrubbed,
            "redis://app:***@localhost:6379/0: refused by ***host"
        );
    }

    #[test]
    fn an_empty_password_scrubs_nothing() {
        for url in [
            "redis://app:@h:1/0",
            "unix:///s.sock?pass=",
            "redis://h:1/0",
        ] {
            assert_eq!(scrub("refused by h", url), "refused by h");
        }
    }
}
