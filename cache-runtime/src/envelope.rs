//! The envelope every stored value lives in, and the lease placeholder.
//!
//! ```text
//! byte 0       format   0xC2 = envelope format 2
//! byte 1       codec    Codec::ID of the payload's codec (1 = bincode)
//! byte 2       flags    bit 0 LEASED: a caller is refreshing this value
//!                       bit 1 PLACEHOLDER: no value yet, a caller is loading it
//!                       other bits: unknown, the entry is a miss
//! byte 3       reserved 0
//! bytes 4-11   written  Unix time of the write, milliseconds, little endian
//! bytes 12-15  compute  how long the function took to produce the value, µs, LE;
//!                       in a placeholder: the lease time, ms, LE
//! bytes 16-23  lease    the lease holder's token, LE; 0 when not leased
//! bytes 24..   payload  the value, encoded by the codec (empty in a placeholder)
//! ```
//!
//! The lease lives in the entry itself, so that everything that replaces or deletes
//! the entry (an invalidation, a write-through) also revokes the lease: a fill only
//! lands while bytes 16-23 still hold the filler's token (see `crate::lease`).
//!
//! A placeholder states its own lease (write time plus lease time), so that one
//! that outlives it, because it was stored without an expiry or by a holder with a
//! longer lease that crashed, is known to be dead and can be taken over.
//!
//! Anything that does not match (another format, another codec, unknown flags,
//! truncation, a payload of the wrong type) decodes to an error, which the caller
//! treats as a miss; the next write replaces the entry.

use std::num::NonZeroU64;
use std::ops::Range;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Bincode, Codec, CodecError, MAX_VALUE_BYTES};

/// The first byte of every envelope written by this version.
pub const FORMAT: u8 = 0xC2;
/// Length of the envelope header in bytes.
pub const HEADER_LEN: usize = 24;
/// The longest entry this version writes or reads: a header and the largest value.
/// Backends read at most one byte more, so an enormous entry costs a bounded read.
pub const MAX_ENTRY_BYTES: usize = HEADER_LEN + MAX_VALUE_BYTES;
/// Flag: a caller holds a lease to refresh this value.
pub(crate) const LEASED: u8 = 0b01;
/// Flag: the entry holds no value, only the lease of the caller loading it.
pub(crate) const PLACEHOLDER: u8 = 0b10;
const KNOWN_FLAGS: u8 = LEASED | PLACEHOLDER;
/// Where the flags byte is.
pub(crate) const FLAGS_AT: usize = 2;
/// Where the lease token is.
pub(crate) const TOKEN_AT: Range<usize> = 16..24;
/// The part of the header that identifies one written value: format, codec, flags,
/// reserved and write time.
pub(crate) const HEAD_LEN: usize = 12;

/// Why stored bytes could not be read back as a value.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Nothing readable: an empty string, or a Redis type other than a string.
    #[error("entry is empty or not a string")]
    Empty,
    /// Shorter than the header.
    #[error("entry is truncated ({0} bytes)")]
    Truncated(usize),
    /// Written by another envelope format.
    #[error("unknown envelope format {0:#04x}")]
    Format(u8),
    /// Written with another codec.
    #[error("entry was written by codec {found}, expected {expected}")]
    Codec {
        /// Codec id in the entry.
        found: u8,
        /// Codec id this reader uses.
        expected: u8,
    },
    /// Longer than the largest value accepted: the configured
    /// [`max_value_bytes`](crate::CacheConfig::max_value_bytes), and never more than
    /// [`MAX_ENTRY_BYTES`].
    #[error("entry is larger than the largest value accepted")]
    Oversized,
    /// Flags this version does not understand, or a lease flag without a token.
    #[error("unknown envelope flags {0:#010b}")]
    Flags(u8),
    /// The entry is a lease placeholder: a caller is loading the value.
    #[error("entry holds a lease, not a value")]
    Placeholder,
    /// The payload is not a value of the expected type.
    #[error(transparent)]
    Payload(#[from] CodecError),
}

/// What the header says about a stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// When the value was written, in Unix milliseconds.
    pub written_at_ms: u64,
    /// How long the function took to compute the value, in microseconds.
    pub compute_us: u32,
}

impl Meta {
    /// Metadata for a value written now that took `compute` to produce.
    pub fn now(compute: Duration) -> Self {
        Self {
            written_at_ms: unix_millis(),
            compute_us: u32::try_from(compute.as_micros()).unwrap_or(u32::MAX),
        }
    }

    /// How long the function took to compute the value. (Read in the envelope's
    /// tests; early refresh reads `compute_us` directly.)
    #[cfg(test)]
    pub(crate) fn compute(&self) -> Duration {
        Duration::from_micros(u64::from(self.compute_us))
    }
}

/// The token of one lease: random, never zero (zero means "no lease").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct LeaseToken(NonZeroU64);

impl LeaseToken {
    /// A new random token.
    pub(crate) fn random() -> Self {
        Self(NonZeroU64::new(fastrand::u64(1..)).unwrap_or(NonZeroU64::MIN))
    }

    /// The token as stored in bytes 16-23.
    pub(crate) fn to_bytes(self) -> [u8; 8] {
        self.0.get().to_le_bytes()
    }
}

/// Milliseconds since the Unix epoch: the clock of write times and index scores.
pub(crate) fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// The first bytes of a header: format, codec, flags, reserved, write time.
fn head(codec: u8, flags: u8, written_at_ms: u64) -> [u8; HEAD_LEN] {
    let mut head = [0; HEAD_LEN];
    head[..4].copy_from_slice(&[FORMAT, codec, flags, 0]);
    head[4..].copy_from_slice(&written_at_ms.to_le_bytes());
    head
}

/// Encodes `value` with codec `C` inside an envelope, not leased.
pub fn encode<C: Codec, T: Serialize + ?Sized>(
    value: &T,
    meta: Meta,
) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&head(C::ID, 0, meta.written_at_ms));
    out.extend_from_slice(&meta.compute_us.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    C::encode(value, &mut out)?;
    if out.len() - HEADER_LEN > MAX_VALUE_BYTES {
        return Err(CodecError::Encode(format!(
            "value is {} bytes, more than the {MAX_VALUE_BYTES} bytes allowed",
            out.len() - HEADER_LEN
        )));
    }
    Ok(out)
}

/// The placeholder a caller stores under an empty key while it loads the value,
/// for a lease of `lease`.
pub(crate) fn placeholder<C: Codec>(token: LeaseToken, lease: Duration) -> [u8; HEADER_LEN] {
    let mut out = [0; HEADER_LEN];
    out[..HEAD_LEN].copy_from_slice(&head(C::ID, LEASED | PLACEHOLDER, unix_millis()));
    let lease_ms = u32::try_from(lease.as_millis()).unwrap_or(u32::MAX);
    out[HEAD_LEN..TOKEN_AT.start].copy_from_slice(&lease_ms.to_le_bytes());
    out[TOKEN_AT].copy_from_slice(&token.to_bytes());
    out
}

/// Whether the placeholder `bytes` is dead at `now` (Unix ms): its lease has run out,
/// or it claims a write time more than a lease in the future, which no live holder
/// can have. A placeholder that states no lease time (written by an earlier version)
/// is given `default_lease`.
pub(crate) fn placeholder_dead(bytes: &[u8], now: u64, default_lease: Duration) -> bool {
    let Some(header) = bytes.get(..HEADER_LEN) else {
        return false;
    };
    let written = le_u64(&header[4..HEAD_LEN]);
    let lease = match le_u64(&header[HEAD_LEN..TOKEN_AT.start]) {
        0 => u64::try_from(default_lease.as_millis()).unwrap_or(u64::MAX),
        ms => ms,
    };
    now >= written.saturating_add(lease) || written > now.saturating_add(lease)
}

/// The head of an unleased value written at `meta`'s time: what a caller that read
/// that value expects to find when it takes the lease to refresh it.
pub(crate) fn unleased_head<C: Codec>(meta: &Meta) -> [u8; HEAD_LEN] {
    head(C::ID, 0, meta.written_at_ms)
}

/// An opened entry.
#[derive(Debug)]
pub enum Opened<'a> {
    /// A value, possibly leased by a caller that is refreshing it.
    Value {
        /// Its header.
        meta: Meta,
        /// Whether a caller holds a lease to refresh it.
        leased: bool,
        /// The encoded value.
        payload: &'a [u8],
    },
    /// No value: a caller is loading it.
    Placeholder,
}

/// Reads the header of an entry.
pub fn open<C: Codec>(bytes: &[u8]) -> Result<Opened<'_>, EnvelopeError> {
    if bytes.is_empty() {
        return Err(EnvelopeError::Empty);
    }
    if bytes.len() > MAX_ENTRY_BYTES {
        return Err(EnvelopeError::Oversized);
    }
    let Some((header, payload)) = bytes.split_first_chunk::<HEADER_LEN>() else {
        return Err(EnvelopeError::Truncated(bytes.len()));
    };
    let [format, codec, flags, _reserved, ..] = *header;
    if format != FORMAT {
        return Err(EnvelopeError::Format(format));
    }
    let token = le_u64(&header[TOKEN_AT]);
    let leased = flags & LEASED != 0;
    if flags & !KNOWN_FLAGS != 0 || leased != (token != 0) {
        return Err(EnvelopeError::Flags(flags));
    }
    if flags & PLACEHOLDER != 0 {
        return if leased && payload.is_empty() {
            Ok(Opened::Placeholder)
        } else {
            Err(EnvelopeError::Flags(flags))
        };
    }
    if codec != C::ID {
        return Err(EnvelopeError::Codec {
            found: codec,
            expected: C::ID,
        });
    }
    let meta = Meta {
        written_at_ms: le_u64(&header[4..12]),
        compute_us: u32::try_from(le_u64(&header[12..16])).unwrap_or(u32::MAX),
    };
    Ok(Opened::Value {
        meta,
        leased,
        payload,
    })
}

/// A little-endian integer of up to 8 bytes.
fn le_u64(bytes: &[u8]) -> u64 {
    let mut wide = [0; 8];
    let len = bytes.len().min(8);
    wide[..len].copy_from_slice(&bytes[..len]);
    u64::from_le_bytes(wide)
}

/// Decodes a whole envelope holding a `T` written by codec `C`.
pub fn decode<C: Codec, T: DeserializeOwned>(bytes: &[u8]) -> Result<(Meta, T), EnvelopeError> {
    match open::<C>(bytes)? {
        Opened::Value { meta, payload, .. } => Ok((meta, C::decode(payload)?)),
        Opened::Placeholder => Err(EnvelopeError::Placeholder),
    }
}

/// Decodes stored bytes with the cache's codec, without counting or reporting.
pub(crate) fn read<V: DeserializeOwned>(stored: &[u8]) -> Result<Decoded<V>, EnvelopeError> {
    match open::<Bincode>(stored)? {
        Opened::Value {
            meta,
            leased,
            payload,
        } => Ok(Decoded::Value(Found {
            value: Bincode::decode(payload)?,
            meta,
            leased,
        })),
        Opened::Placeholder => Ok(Decoded::Placeholder),
    }
}

/// What stored bytes turned out to be.
pub(crate) enum Decoded<V> {
    Value(Found<V>),
    Placeholder,
    /// Not an entry this function can read; `Cache::decode` counted and reported it.
    Garbage,
}

/// A value read from the cache.
pub(crate) struct Found<V> {
    pub(crate) value: V,
    pub(crate) meta: Meta,
    /// Whether a caller holds the lease to refresh it.
    pub(crate) leased: bool,
}

#[cfg(test)]
mod tests;
