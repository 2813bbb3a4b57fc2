//! The envelope every stored value lives in.
//!
//! ```text
//! byte 0      format   0xC1 = envelope format 1
//! byte 1      codec    Codec::ID of the payload's codec (1 = bincode)
//! byte 2      flags    bit field; none defined yet, unknown bits make the entry a miss
//! byte 3      reserved 0
//! bytes 4-11  written  Unix time of the write, milliseconds, little endian
//! bytes 12-15 compute  how long the function took to produce the value, ms, LE
//! bytes 16..  payload  the value, encoded by the codec
//! ```
//!
//! Anything that does not match (another format, another codec, unknown flags,
//! truncation, a payload of the wrong type) decodes to an error, which the caller
//! treats as a miss; the next write replaces the entry.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Codec, CodecError, MAX_VALUE_BYTES};

/// The first byte of every envelope written by this version.
pub const FORMAT_V1: u8 = 0xC1;
/// Length of the envelope header in bytes.
pub const HEADER_LEN: usize = 16;
const KNOWN_FLAGS: u8 = 0;

/// Why stored bytes could not be read back as a value.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
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
    /// Flags this version does not understand.
    #[error("unknown envelope flags {0:#010b}")]
    Flags(u8),
    /// The payload is not a value of the expected type.
    #[error(transparent)]
    Payload(#[from] CodecError),
}

/// What the header says about a stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// When the value was written, in Unix milliseconds.
    pub written_at_ms: u64,
    /// How long the function took to compute the value, in milliseconds.
    pub compute_ms: u32,
}

impl Meta {
    /// Metadata for a value written now that took `compute` to produce.
    pub fn now(compute: Duration) -> Self {
        let written_at_ms = unix_millis();
        let compute_ms = u32::try_from(compute.as_millis()).unwrap_or(u32::MAX);
        Self {
            written_at_ms,
            compute_ms,
        }
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

/// Encodes `value` with codec `C` inside an envelope.
pub fn encode<C: Codec, T: Serialize + ?Sized>(
    value: &T,
    meta: Meta,
) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&[FORMAT_V1, C::ID, KNOWN_FLAGS, 0]);
    out.extend_from_slice(&meta.written_at_ms.to_le_bytes());
    out.extend_from_slice(&meta.compute_ms.to_le_bytes());
    C::encode(value, &mut out)?;
    if out.len() - HEADER_LEN > MAX_VALUE_BYTES {
        return Err(CodecError::Encode(format!(
            "value is {} bytes, more than the {MAX_VALUE_BYTES} bytes allowed",
            out.len() - HEADER_LEN
        )));
    }
    Ok(out)
}

/// Reads the header of an envelope and returns it with the payload.
pub fn open<C: Codec>(bytes: &[u8]) -> Result<(Meta, &[u8]), EnvelopeError> {
    let Some((header, payload)) = bytes.split_first_chunk::<HEADER_LEN>() else {
        return Err(EnvelopeError::Truncated(bytes.len()));
    };
    let [format, codec, flags, _reserved, rest @ ..] = *header;
    if format != FORMAT_V1 {
        return Err(EnvelopeError::Format(format));
    }
    if codec != C::ID {
        return Err(EnvelopeError::Codec {
            found: codec,
            expected: C::ID,
        });
    }
    if flags & !KNOWN_FLAGS != 0 {
        return Err(EnvelopeError::Flags(flags));
    }
    let (written, compute) = rest.split_at(8);
    let meta = Meta {
        written_at_ms: u64::from_le_bytes(written.try_into().unwrap_or_default()),
        compute_ms: u32::from_le_bytes(compute.try_into().unwrap_or_default()),
    };
    Ok((meta, payload))
}

/// Decodes a whole envelope holding a `T` written by codec `C`.
pub fn decode<C: Codec, T: DeserializeOwned>(bytes: &[u8]) -> Result<(Meta, T), EnvelopeError> {
    let (meta, payload) = open::<C>(bytes)?;
    Ok((meta, C::decode(payload)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Bincode;

    struct OtherCodec;
    impl Codec for OtherCodec {
        const ID: u8 = 200;
        fn encode<T: Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
            Bincode::encode(v, out)
        }
        fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
            Bincode::decode(bytes)
        }
    }

    const META: Meta = Meta {
        written_at_ms: 1_700_000_000_123,
        compute_ms: 42,
    };

    #[test]
    fn round_trip_keeps_value_and_meta() {
        let bytes = encode::<Bincode, _>(&("ada", 36u32), META).expect("encodes");
        assert_eq!(bytes[0], FORMAT_V1);
        assert_eq!(bytes[1], Bincode::ID);
        let (meta, value): (Meta, (String, u32)) = decode::<Bincode, _>(&bytes).expect("decodes");
        assert_eq!(meta, META);
        assert_eq!(value, ("ada".to_string(), 36));
    }

    #[test]
    fn header_layout_is_pinned() {
        let bytes = encode::<Bincode, _>(&7u8, META).expect("encodes");
        let mut expected = vec![0xC1, 1, 0, 0];
        expected.extend_from_slice(&1_700_000_000_123u64.to_le_bytes());
        expected.extend_from_slice(&42u32.to_le_bytes());
        expected.push(7);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = encode::<Bincode, _>(&"a longer string value", META).expect("encodes");
        for len in 0..bytes.len() {
            assert!(
                decode::<Bincode, String>(&bytes[..len]).is_err(),
                "len {len}"
            );
        }
    }

    #[test]
    fn foreign_entries_are_errors() {
        let mut bytes = encode::<Bincode, _>(&7u64, META).expect("encodes");
        assert!(matches!(
            decode::<OtherCodec, u64>(&bytes),
            Err(EnvelopeError::Codec { found: 1, .. })
        ));
        bytes[2] = 0b100;
        assert!(matches!(
            decode::<Bincode, u64>(&bytes),
            Err(EnvelopeError::Flags(_))
        ));
        bytes[0] = b'{';
        assert!(matches!(
            decode::<Bincode, u64>(&bytes),
            Err(EnvelopeError::Format(b'{'))
        ));
    }

    #[test]
    fn wrong_payload_type_is_an_error() {
        let bytes = encode::<Bincode, _>(&u64::MAX, META).expect("encodes");
        assert!(decode::<Bincode, u8>(&bytes).is_err());
    }
}
