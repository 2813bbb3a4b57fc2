//! How values are turned into bytes.
//!
//! The [`Codec`] trait keeps the value format replaceable: keys and macros never
//! depend on it, and every stored value records its codec's [`Codec::ID`] in the
//! [envelope](crate::envelope), so switching codecs turns old entries into misses
//! instead of misreads.
//!
//! The default is [`Bincode`], pinned to bincode 2.0.1 with its serde support. (The
//! bincode 3.0.0 release only contains a `compile_error!`, and the project is no longer
//! maintained; a codec such as postcard can be added beside it without touching keys.)

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest encoded value ever accepted, in bytes (64 MiB): the ceiling of
/// [`CacheConfig::max_value_bytes`](crate::CacheConfig::max_value_bytes), whose
/// default is far lower. Decoding never allocates more than this on behalf of a
/// stored value, however corrupted its length prefixes are.
pub const MAX_VALUE_BYTES: usize = 64 << 20;

/// A value codec failed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The value could not be encoded (or was larger than [`MAX_VALUE_BYTES`]).
    #[error("could not encode the value: {0}")]
    Encode(String),
    /// The bytes are not a value of the expected type.
    #[error("could not decode the value: {0}")]
    Decode(String),
}

/// Encodes values to bytes and back.
pub trait Codec: Send + Sync + 'static {
    /// The codec's identifier in the envelope. Never reuse an identifier for a
    /// different encoding.
    const ID: u8;

    /// Appends the encoding of `value` to `out`.
    fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError>;

    /// Decodes a whole value from `bytes`; trailing bytes are an error.
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError>;
}

/// bincode 2 with its standard configuration and a [`MAX_VALUE_BYTES`] limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bincode;

const BINCODE: bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_VALUE_BYTES>,
> = bincode::config::standard().with_limit::<MAX_VALUE_BYTES>();

impl Codec for Bincode {
    const ID: u8 = 1;

    fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        bincode::serde::encode_into_std_write(value, out, BINCODE)
            .map(drop)
            .map_err(|err| CodecError::Encode(err.to_string()))
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
        let (value, read) = bincode::serde::decode_from_slice(bytes, BINCODE)
            .map_err(|err| CodecError::Decode(err.to_string()))?;
        if read != bytes.len() {
            return Err(CodecError::Decode(format!(
                "{} trailing bytes after the value",
                bytes.len() - read
            )));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut out = Vec::new();
        Bincode::encode(&(7u64, "seven".to_string()), &mut out).expect("encodes");
        let back: (u64, String) = Bincode::decode(&out).expect("decodes");
        assert_eq!(back, (7, "seven".to_string()));
    }

    #[test]
    fn trailing_bytes_and_wrong_types_are_errors() {
        let mut out = Vec::new();
        Bincode::encode(&1u8, &mut out).expect("encodes");
        out.push(0);
        assert!(Bincode::decode::<u8>(&out).is_err());
        assert!(Bincode::decode::<String>(&[0xff, 0xff]).is_err());
    }

    #[test]
    fn huge_length_prefix_is_refused_without_allocating_it() {
        // A varint claiming a u64::MAX-long byte string.
        let bytes = [0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(Bincode::decode::<Vec<u8>>(&bytes).is_err());
    }
}
