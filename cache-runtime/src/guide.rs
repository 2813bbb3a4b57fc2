//! The guide pages that belong next to the API: the attribute reference and
//! invalidation. Documentation only: these modules hold no items.
//!
//! They are the pages `docs/attributes.md` and `docs/invalidation.md` of the
//! repository, included as they are (`cache-runtime/docs/` links to them, so that they
//! are part of the published crate). The rest of the guide is in the repository:
//! [consistency], [failures], [keys and values], [security] and [benchmarks].
//!
//! [consistency]: https://github.com/cache-runtime/cache-runtime/blob/main/docs/consistency.md
//! [failures]: https://github.com/cache-runtime/cache-runtime/blob/main/docs/failures.md
//! [keys and values]: https://github.com/cache-runtime/cache-runtime/blob/main/docs/keys-and-values.md
//! [security]: https://github.com/cache-runtime/cache-runtime/blob/main/docs/security.md
//! [benchmarks]: https://github.com/cache-runtime/cache-runtime/blob/main/docs/benchmarks.md

// The pages link to each other with reference links whose definitions, at the end of
// each page, are relative paths: right on GitHub, dead on docs.rs. In Markdown the
// first definition of a label wins, so the definitions below, put before each page,
// send the same labels to the included pages or to the repository instead.

/// The definitions that replace `attributes.md`'s relative links.
macro_rules! attributes_links {
    () => {
        "[consistency]: https://github.com/cache-runtime/cache-runtime/blob/main/docs/consistency.md
[early refresh]: https://github.com/cache-runtime/cache-runtime/blob/main/docs/consistency.md#early-refresh-and-stale-while-revalidate
[invalidation]: crate::guide::invalidation
[keys-and-values]: https://github.com/cache-runtime/cache-runtime/blob/main/docs/keys-and-values.md
[changing a cached type]: https://github.com/cache-runtime/cache-runtime/blob/main/docs/keys-and-values.md#changing-a-cached-type
[one bad key]: https://github.com/cache-runtime/cache-runtime/blob/main/docs/failures.md#one-bad-key
"
    };
}

/// The definitions that replace `invalidation.md`'s relative links.
macro_rules! invalidation_links {
    () => {
        "[consistency]: https://github.com/cache-runtime/cache-runtime/blob/main/docs/consistency.md
[guarantees]: https://github.com/cache-runtime/cache-runtime/blob/main/docs/consistency.md#the-guarantees
"
    };
}

#[doc = attributes_links!()]
#[doc = include_str!("../docs/attributes.md")]
pub mod attributes {}

#[doc = invalidation_links!()]
#[doc = include_str!("../docs/invalidation.md")]
pub mod invalidation {}

#[cfg(test)]
mod tests {
    const PAGES: [(&str, &str, &str); 2] = [
        (
            "attributes.md",
            include_str!("../docs/attributes.md"),
            attributes_links!(),
        ),
        (
            "invalidation.md",
            include_str!("../docs/invalidation.md"),
            invalidation_links!(),
        ),
    ];

    fn is_relative(target: &str) -> bool {
        !(target.starts_with("http://")
            || target.starts_with("https://")
            || target.starts_with('#'))
    }

    /// Every relative link of an included page is a reference link that the API docs
    /// point elsewhere: an inline `[text](other.md)` would be dead on docs.rs.
    #[test]
    fn included_pages_have_no_relative_links_left() {
        for (page, text, links) in PAGES {
            let mut in_code = false;
            for line in text.lines() {
                if line.trim_start().starts_with("```") {
                    in_code = !in_code;
                }
                if in_code {
                    continue;
                }
                for (_, rest) in line
                    .match_indices("](")
                    .map(|(at, _)| line.split_at(at + 2))
                {
                    let target = rest.split(')').next().unwrap_or_default();
                    assert!(
                        !is_relative(target),
                        "{page}: inline link to `{target}`: use a reference link, \
                         defined at the end of the page and in guide.rs"
                    );
                }
                if let Some((label, target)) =
                    line.strip_prefix('[').and_then(|l| l.split_once("]: "))
                    && is_relative(target)
                {
                    assert!(
                        links.contains(&format!("[{label}]: ")),
                        "{page}: the link `[{label}]` has no replacement in guide.rs"
                    );
                }
            }
        }
    }
}
