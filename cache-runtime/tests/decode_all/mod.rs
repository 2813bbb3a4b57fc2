//! Decodes bytes as a stored entry of every type in a fixed set, and checks the
//! decoder's invariants: it must never panic, and whatever it accepts must be
//! consistent.
//!
//! Shared, so that both run exactly the same decoding, by
//! - `cache-runtime/tests/decoder_smoke.rs`, a short deterministic run in the test suite;
//! - `fuzz/fuzz_targets/envelope.rs`, the cargo-fuzz target for long runs (it includes
//!   this file with `#[path]`).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

use cache_runtime::testing::codec::{Bincode, Codec};
use cache_runtime::testing::envelope::{
    self, EnvelopeError, HEADER_LEN, MAX_ENTRY_BYTES, Meta, Opened,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A struct with nested containers: strings, sequences, both map kinds, options, an enum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: u64,
    pub name: String,
    pub tags: Vec<String>,
    pub scores: HashMap<String, i64>,
    pub index: BTreeMap<u32, Vec<u8>>,
    pub nested: Vec<Vec<Option<String>>>,
    pub active: bool,
    pub shape: Shape,
}

/// An enum with every kind of variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shape {
    Empty,
    Count(u32),
    Pair(i16, String),
    Named {
        label: String,
        parts: Vec<u16>,
        extra: Option<(u8, char)>,
    },
}

/// How the bytes of one input fared, per type: `true` when they decoded as that type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// `envelope::open` accepted the header (a value or a placeholder).
    pub opened: bool,
    pub u64: bool,
    pub string: bool,
    pub bytes: bool,
    pub option: bool,
    pub record: bool,
    pub shape: bool,
}

impl Outcome {
    /// Whether the bytes decoded as any of the types.
    pub fn any_value(&self) -> bool {
        self.u64 || self.string || self.bytes || self.option || self.record || self.shape
    }
}

/// A valid header for a value written at `written_at_ms`, not leased.
pub fn header(written_at_ms: u64) -> [u8; HEADER_LEN] {
    let mut header = [0; HEADER_LEN];
    header[0] = envelope::FORMAT;
    header[1] = Bincode::ID;
    header[4..12].copy_from_slice(&written_at_ms.to_le_bytes());
    header
}

/// Decodes `bytes` as they are, and as the payload behind a valid header (so that a
/// fuzzer spends its time in the payload decoder rather than in finding a header).
/// Panics only when an invariant of the decoder does not hold.
pub fn decode_all(bytes: &[u8]) -> [Outcome; 2] {
    let mut wrapped = Vec::with_capacity(HEADER_LEN + bytes.len());
    wrapped.extend_from_slice(&header(1_700_000_000_000));
    wrapped.extend_from_slice(bytes);
    [decode_entry(bytes), decode_entry(&wrapped)]
}

/// Opens `bytes` and decodes them as every type.
pub fn decode_entry(bytes: &[u8]) -> Outcome {
    let opened = envelope::open::<Bincode>(bytes);
    if bytes.is_empty() {
        assert!(matches!(opened, Err(EnvelopeError::Empty)), "{opened:?}");
    } else if bytes.len() < HEADER_LEN {
        assert!(
            matches!(opened, Err(EnvelopeError::Truncated(len)) if len == bytes.len()),
            "{} bytes opened as {opened:?}",
            bytes.len()
        );
    } else if bytes.len() > MAX_ENTRY_BYTES {
        assert!(
            matches!(opened, Err(EnvelopeError::Oversized)),
            "{opened:?}"
        );
    }
    let value = match &opened {
        Ok(Opened::Value { meta, payload, .. }) => Some((*meta, *payload)),
        Ok(Opened::Placeholder) => {
            assert_eq!(bytes.len(), HEADER_LEN, "a placeholder has no payload");
            None
        }
        Err(_) => None,
    };
    Outcome {
        opened: opened.is_ok(),
        u64: check::<u64>(bytes, value),
        string: check::<String>(bytes, value),
        bytes: check::<Vec<u8>>(bytes, value),
        option: check::<Option<String>>(bytes, value),
        record: check::<Record>(bytes, value),
        shape: check::<Shape>(bytes, value),
    }
}

/// Decodes `bytes` as a `T`, and checks that the result agrees with what `open` said
/// (`opened`: the meta and payload of a value) and survives a round trip.
fn check<T>(bytes: &[u8], opened: Option<(Meta, &[u8])>) -> bool
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let decoded = envelope::decode::<Bincode, T>(bytes);
    let Some((meta, payload)) = opened else {
        assert!(
            decoded.is_err(),
            "decoded {decoded:?} from an entry that does not open as a value"
        );
        return false;
    };
    let direct = Bincode::decode::<T>(payload);
    assert_eq!(
        decoded.is_ok(),
        direct.is_ok(),
        "envelope::decode and Codec::decode of its payload disagree"
    );
    let Ok((decoded_meta, value)) = decoded else {
        return false;
    };
    assert_eq!(decoded_meta, meta);
    // What was accepted can be written again and reads back the same.
    let again = envelope::encode::<Bincode, T>(&value, meta).expect("an accepted value encodes");
    let (again_meta, again_value) =
        envelope::decode::<Bincode, T>(&again).expect("a re-encoded value decodes");
    assert_eq!(again_meta, meta);
    assert_eq!(again_value, value);
    true
}

/// Encodes `value` in an envelope and checks that it decodes back to `value`, and
/// that no proper prefix of it decodes as a `T`.
pub fn valid_envelope<T>(value: &T, meta: Meta) -> Vec<u8>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = envelope::encode::<Bincode, T>(value, meta).expect("encodes");
    let (decoded_meta, decoded) = envelope::decode::<Bincode, T>(&bytes)
        .unwrap_or_else(|err| panic!("a valid envelope of {value:?} does not decode: {err}"));
    assert_eq!(decoded_meta, meta);
    assert_eq!(&decoded, value, "round trip");
    for len in 0..bytes.len() {
        let truncated = envelope::decode::<Bincode, T>(&bytes[..len]);
        assert!(
            truncated.is_err(),
            "{len} bytes of {value:?}: {truncated:?}"
        );
    }
    bytes
}

/// Valid envelopes of values of every type, each checked to decode back to its value.
pub fn valid_envelopes() -> Vec<Vec<u8>> {
    let meta = Meta {
        written_at_ms: 1_700_000_000_123,
        compute_us: 4_200,
    };
    let record = Record {
        id: 1 << 40,
        name: "ada lovelace".into(),
        tags: vec!["admin".into(), String::new(), "ünïcødé ✓".into()],
        scores: HashMap::from([("a".into(), -1), ("bb".into(), i64::MAX)]),
        index: BTreeMap::from([(0, vec![]), (7, vec![1, 2, 3]), (u32::MAX, vec![0xff; 300])]),
        nested: vec![
            vec![],
            vec![None, Some("x".into())],
            vec![Some(String::new())],
        ],
        active: true,
        shape: Shape::Named {
            label: "n".into(),
            parts: vec![0, 250, 251, u16::MAX],
            extra: Some((9, 'é')),
        },
    };
    let empty_record = Record {
        id: 0,
        name: String::new(),
        tags: vec![],
        scores: HashMap::new(),
        index: BTreeMap::new(),
        nested: vec![],
        active: false,
        shape: Shape::Empty,
    };
    let mut out = Vec::new();
    for value in [0, 7, 250, 251, 65_536, u64::MAX] {
        out.push(valid_envelope(&value, meta));
    }
    for value in ["", "a", "a longer string, with ünïcødé", &"z".repeat(300)] {
        out.push(valid_envelope(&value.to_owned(), meta));
    }
    for value in [vec![], vec![0u8], (0..=255).collect::<Vec<u8>>()] {
        out.push(valid_envelope(&value, meta));
    }
    for value in [None, Some(String::new()), Some("some".to_owned())] {
        out.push(valid_envelope(&value, meta));
    }
    out.push(valid_envelope(&record, meta));
    out.push(valid_envelope(&empty_record, meta));
    for value in [
        Shape::Empty,
        Shape::Count(u32::MAX),
        Shape::Pair(-3, "pair".into()),
        Shape::Named {
            label: String::new(),
            parts: vec![],
            extra: None,
        },
    ] {
        out.push(valid_envelope(&value, meta));
    }
    out
}
