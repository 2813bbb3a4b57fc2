//! What this repository's own tests, benchmarks and fuzz targets reach inside the
//! crate: the storage format (to write, read and corrupt entries the way the cache
//! does) and a default. Not a public API: no semver promise, hidden from the docs.
//! Everything here is described for users in `docs/keys-and-values.md`.

/// The value codec; see `crate::codec`.
pub mod codec {
    pub use crate::codec::{Bincode, Codec, CodecError, MAX_VALUE_BYTES};
}

/// The envelope around stored values; see `crate::envelope`.
pub mod envelope {
    pub use crate::envelope::{
        EnvelopeError, FORMAT, HEADER_LEN, MAX_ENTRY_BYTES, Meta, Opened, decode, encode, open,
    };
}

pub use crate::config::DEFAULT_TIMEOUT;
