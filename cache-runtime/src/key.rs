//! Cache keys: `{namespace}:{prefix}:{digest}`.
//!
//! The digest is BLAKE3, keyed per function: the key is derived once from the
//! function's fingerprint (its module path, name, prefix, and the argument and return
//! types as written), so a changed signature never reads the old entries. The
//! arguments are then serialized with bincode, and the digest is the keyed BLAKE3
//! hash of that byte sequence. Only the first 128 bits of the digest are kept, as 32
//! lowercase hex digits: short enough for compact keys, far beyond collision range.
//!
//! Arguments never appear in the key in readable form, so keys leak nothing and
//! formatting changes (`Debug`, `Display`) cannot alter them.
//!
//! Keys are derived on every call, hits included, so this is a hot path. The
//! serialized arguments are collected in a small inline buffer and hashed in one go
//! when they fit in it ([`INLINE_INPUT_LEN`] bytes, which covers ids, short strings
//! and small structs); only longer input is streamed through an incremental hasher,
//! which lives on the heap because it is large. The finished key lives inline in a
//! [`CacheKey`]. So for arguments that fit, deriving a key does not touch the heap.
//! (How the bytes reach BLAKE3 does not change the digest: hashing in one call and
//! streaming give the same result.)
//!
//! The layout is version 1 of the key format and is pinned by a golden test: changing
//! anything here changes every key and must come with a new
//! [`IDENTITY_CONTEXT`].

use std::fmt;
use std::sync::OnceLock;

use arrayvec::{ArrayString, ArrayVec};
use serde::Serialize;

/// Longest namespace accepted by [`CacheConfig`](crate::CacheConfig), in bytes.
pub(crate) const MAX_NAMESPACE_LEN: usize = 48;
/// Longest `prefix` accepted by `#[cached]`, in bytes.
pub(crate) const MAX_PREFIX_LEN: usize = 64;

const DIGEST_BYTES: usize = 16;
/// Serialized arguments (and run-time type names) up to this many bytes are hashed
/// from an inline buffer, without touching the heap.
pub(crate) const INLINE_INPUT_LEN: usize = 256;
const KEY_CAPACITY: usize = MAX_NAMESPACE_LEN + 1 + MAX_PREFIX_LEN + 1 + 2 * DIGEST_BYTES;

/// BLAKE3 `derive_key` context that turns a configured key secret into a hash key.
pub(crate) const SECRET_CONTEXT: &str = "cache-runtime 2026-11-22 key secret v1";

/// BLAKE3 `derive_key` context for per-function hash keys (version 1 of the key format).
pub(crate) const IDENTITY_CONTEXT: &str = "cache-runtime 2026-11-22 function identity v1";

/// How arguments are encoded before hashing: bincode's standard configuration
/// (little endian, variable-length integers). Part of the key format.
const ARG_ENCODING: bincode::config::Configuration = bincode::config::standard();

/// Whether `segment` may be used as a namespace, prefix or group name: 1 to `max`
/// bytes of ASCII letters, digits, `_`, `-` and `.`. Colons are excluded because they
/// separate the parts of a key, and `#` because it marks index keys. The runtime's
/// one statement of the rule: the configuration checks namespaces with it, and
/// [`CacheGroup::new`](crate::CacheGroup::new) group names, at compile time.
/// (`cache-macros` applies the same rule to `prefix` at compile time.)
pub(crate) const fn is_valid_segment(segment: &str, max: usize) -> bool {
    let bytes = segment.as_bytes();
    if bytes.is_empty() || bytes.len() > max {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.') {
            return false;
        }
        i += 1;
    }
    true
}

/// A finished cache key, stored inline (no heap allocation).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey(ArrayString<KEY_CAPACITY>);

impl CacheKey {
    /// The key as sent to the backend.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({:?})", self.as_str())
    }
}

/// The stable identity of one cached function: its fingerprint text and the BLAKE3
/// key derived from it on first use.
#[derive(Debug)]
pub(crate) struct FnIdentity {
    fingerprint: &'static str,
    hash_key: OnceLock<[u8; 32]>,
}

impl FnIdentity {
    /// An identity for `fingerprint`; usable in a `static`.
    pub(crate) const fn new(fingerprint: &'static str) -> Self {
        Self {
            fingerprint,
            hash_key: OnceLock::new(),
        }
    }

    #[inline]
    fn hash_key(&self) -> &[u8; 32] {
        self.hash_key
            .get_or_init(|| blake3::derive_key(IDENTITY_CONTEXT, self.fingerprint.as_bytes()))
    }

    /// 16 hex digits naming this function in its group index key. Derived from the
    /// identity, so it changes whenever the function's keys do.
    pub(crate) fn index_id(&self) -> ArrayString<16> {
        let mut id = ArrayString::new();
        for byte in &self.hash_key()[..8] {
            id.push(char::from(HEX[usize::from(byte >> 4)]));
            id.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        id
    }
}

/// Why a key could not be derived. The call then runs uncached.
#[derive(Debug, thiserror::Error)]
#[error("an argument could not be serialized for the cache key: {0}")]
pub struct KeyError(#[from] bincode::error::EncodeError);

/// Builds one [`CacheKey`]: feed type names and arguments in a fixed order, then
/// [`finish`](Self::finish).
pub struct KeyHasher<'a> {
    hash_key: [u8; 32],
    namespace: &'a str,
    prefix: &'a str,
    input: Input,
    error: Option<KeyError>,
}

impl fmt::Debug for KeyHasher<'_> {
    // Not the input: it holds the arguments, which keys never reveal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyHasher")
            .field("namespace", &self.namespace)
            .field("prefix", &self.prefix)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// The hash input so far: inline while it fits, then streamed into a hasher. (A
/// `blake3::Hasher` is about 2 KB; keeping one inline would make every key, and
/// every cached call's future, that much larger to build and move.)
#[allow(
    clippy::large_enum_variant,
    reason = "inline on purpose: the buffer is what keeps short keys off the heap"
)]
enum Input {
    Inline(ArrayVec<u8, INLINE_INPUT_LEN>),
    Streamed(Box<blake3::Hasher>),
}

impl Input {
    #[inline]
    fn update(&mut self, hash_key: &[u8; 32], bytes: &[u8]) {
        match self {
            Self::Inline(buffer) => {
                if buffer.try_extend_from_slice(bytes).is_err() {
                    self.spill(hash_key, bytes);
                }
            }
            Self::Streamed(hasher) => {
                hasher.update(bytes);
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn spill(&mut self, hash_key: &[u8; 32], bytes: &[u8]) {
        let mut hasher = Box::new(blake3::Hasher::new_keyed(hash_key));
        if let Self::Inline(buffer) = self {
            hasher.update(buffer);
        }
        hasher.update(bytes);
        *self = Self::Streamed(hasher);
    }

    #[inline]
    fn finalize(&self, hash_key: &[u8; 32]) -> blake3::Hash {
        match self {
            Self::Inline(buffer) => blake3::keyed_hash(hash_key, buffer),
            Self::Streamed(hasher) => hasher.finalize(),
        }
    }
}

impl<'a> KeyHasher<'a> {
    /// Starts a key in `namespace` for the function with `prefix` and `identity`.
    #[inline]
    pub(crate) fn new(namespace: &'a str, prefix: &'a str, identity: &FnIdentity) -> Self {
        Self {
            hash_key: *identity.hash_key(),
            namespace,
            prefix,
            input: Input::Inline(ArrayVec::new()),
            error: None,
        }
    }

    /// Keys the digest with `secret` as well as the function's identity: the hash key
    /// becomes the keyed BLAKE3 hash, under `secret`, of the function's hash key. Call
    /// it first, before any input. See `CacheConfig::key_secret`.
    #[inline]
    pub(crate) fn with_secret(mut self, secret: &[u8; 32]) -> Self {
        self.hash_key = blake3::keyed_hash(secret, &self.hash_key).into();
        self
    }

    /// Mixes in a type name known only at run time: a generic parameter's or `Self`'s.
    /// Two instantiations of one generic function therefore never share entries.
    #[inline]
    pub fn type_name(&mut self, name: &str) {
        self.input
            .update(&self.hash_key, &(name.len() as u64).to_le_bytes());
        self.input.update(&self.hash_key, name.as_bytes());
    }

    /// Mixes in one argument, serialized with bincode.
    ///
    /// The function's fingerprint fixes the argument types, and bincode encodes each
    /// type self-delimitingly, so the sequence of arguments maps to the hash input
    /// one to one.
    #[inline]
    pub fn arg<T: Serialize + ?Sized>(&mut self, value: &T) {
        if self.error.is_some() {
            return;
        }
        let writer = InputWriter {
            input: &mut self.input,
            hash_key: &self.hash_key,
        };
        if let Err(err) = bincode::serde::encode_into_writer(value, writer, ARG_ENCODING) {
            self.error = Some(KeyError(err));
        }
    }

    /// The finished key, or the first serialization error.
    #[inline]
    pub fn finish(self) -> Result<CacheKey, KeyError> {
        if let Some(err) = self.error {
            return Err(err);
        }
        let digest = self.input.finalize(&self.hash_key);
        let mut hex = [0u8; 2 * DIGEST_BYTES];
        for (pair, byte) in hex
            .chunks_exact_mut(2)
            .zip(&digest.as_bytes()[..DIGEST_BYTES])
        {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0x0f)];
        }
        // Hex digits are ASCII, so this never fails; it costs one length check.
        let hex = std::str::from_utf8(&hex).unwrap_or_default();
        let mut key = ArrayString::new();
        // Namespace and prefix lengths are bounded (see `is_valid_segment`), so the
        // key always fits; `try_push_str` keeps that an invariant rather than a panic.
        for part in [self.namespace, ":", self.prefix, ":", hex] {
            key.try_push_str(part).map_err(|_| {
                KeyError(bincode::error::EncodeError::Other(
                    "namespace or prefix longer than the key format allows",
                ))
            })?;
        }
        Ok(CacheKey(key))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Adapts the hash input to bincode's writer interface.
struct InputWriter<'h> {
    input: &'h mut Input,
    hash_key: &'h [u8; 32],
}

impl bincode::enc::write::Writer for InputWriter<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.input.update(self.hash_key, bytes);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
