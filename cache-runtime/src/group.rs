//! Groups: sets of entries invalidated together, across functions ([`CacheGroup`]).
//!
//! # How groups are stored
//!
//! A group is an index: a Redis sorted set `{namespace}:#group:{name}` (or
//! `{namespace}:#fn:{prefix}:{id}` for a function's own group) whose members are the
//! keys of the group's entries, scored by their expiry time. Writing an entry adds it
//! to its indexes in the same round trip (and prunes members that have expired);
//! invalidating a group deletes the members in batches, each one atomic script. No
//! `KEYS`, `SCAN` or `FLUSHDB`, and nothing outside the namespace.
//! The price is one index member per entry and group (about the size of the key) and a
//! few extra commands, pipelined, per write. Reads are untouched.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use arrayvec::ArrayString;

use crate::key::{MAX_NAMESPACE_LEN, MAX_PREFIX_LEN, is_valid_segment};

/// Longest group name, in bytes.
pub(crate) const MAX_GROUP_NAME_LEN: usize = 64;

/// A named group of cache entries, invalidated together, across functions.
///
/// Every cached function's entries form a group of their own (invalidated with
/// `#[invalidate(list_users(..))]` or the `list_users_entries()` companion). Named
/// groups are declared once, as statics, and joined with `#[cached(groups(NAME))]`:
///
/// ```
/// use cache_runtime::{CacheGroup, cached};
///
/// pub static USER_LISTS: CacheGroup = CacheGroup::new("user-lists");
///
/// #[cached(ttl = 60, groups(USER_LISTS))]
/// async fn list_users(page: u32) -> Vec<String> {
///     vec![format!("page {page}")]
/// }
/// ```
///
/// Because a group is a Rust item, a misspelt group name does not compile. Invalidate
/// a group with `#[invalidate(USER_LISTS)]`; see [the guide](crate::guide::invalidation).
#[derive(Debug)]
pub struct CacheGroup {
    name: &'static str,
    /// The longest TTL of any entry written into the group by this process, in
    /// milliseconds: how long a failed invalidation of the group is retried.
    longest_ttl_ms: AtomicU64,
}

impl CacheGroup {
    /// A group named `name`: 1 to 64 ASCII letters, digits, `_`, `-` or `.`. An
    /// invalid name fails compilation of the `static` that holds the group.
    pub const fn new(name: &'static str) -> Self {
        assert!(
            is_valid_segment(name, MAX_GROUP_NAME_LEN),
            "a group name has 1 to 64 bytes: ASCII letters, digits, `_`, `-` and `.`"
        );
        Self {
            name,
            longest_ttl_ms: AtomicU64::new(0),
        }
    }

    /// The group's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn note_ttl(&self, ttl_ms: u64) {
        self.longest_ttl_ms.fetch_max(ttl_ms, Relaxed);
    }

    pub(crate) fn longest_ttl_ms(&self) -> u64 {
        self.longest_ttl_ms.load(Relaxed)
    }
}

const INDEX_CAPACITY: usize = MAX_NAMESPACE_LEN + 1 + 4 + MAX_PREFIX_LEN + 1 + 16;

/// The name of an index (a group's sorted set), stored inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct IndexKey(ArrayString<INDEX_CAPACITY>);

impl IndexKey {
    /// `{namespace}:#group:{name}`. `#` never occurs in namespaces or prefixes, so
    /// index keys never meet entry keys.
    pub(crate) fn group(namespace: &str, group: &CacheGroup) -> Self {
        Self::build(&[namespace, ":#group:", group.name])
    }

    /// `{namespace}:#fn:{prefix}:{id}`, `id` identifying the function.
    pub(crate) fn function(namespace: &str, prefix: &str, id: &str) -> Self {
        Self::build(&[namespace, ":#fn:", prefix, ":", id])
    }

    fn build(parts: &[&str]) -> Self {
        let mut key = ArrayString::new();
        for part in parts {
            // Every part is bounded, so this always fits; truncation would only make
            // an index unreachable, never mix two up.
            let _ = key.try_push_str(part);
        }
        Self(key)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static USERS: CacheGroup = CacheGroup::new("user-lists");

    #[test]
    fn index_keys_never_look_like_entry_keys() {
        let group = IndexKey::group("ns", &USERS);
        assert_eq!(group.as_str(), "ns:#group:user-lists");
        let function = IndexKey::function("ns", "user", "0123456789abcdef");
        assert_eq!(function.as_str(), "ns:#fn:user:0123456789abcdef");
        assert!(!is_valid_segment("#group", MAX_PREFIX_LEN));
        assert!(is_valid_segment("user-lists", MAX_GROUP_NAME_LEN));
        assert!(!is_valid_segment("a b", MAX_GROUP_NAME_LEN));
    }

    #[test]
    fn groups_remember_their_longest_ttl() {
        static G: CacheGroup = CacheGroup::new("g");
        G.note_ttl(5_000);
        G.note_ttl(1_000);
        assert_eq!(G.longest_ttl_ms(), 5_000);
    }
}
