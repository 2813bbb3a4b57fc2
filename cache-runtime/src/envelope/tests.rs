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
    compute_us: 42_000,
};

#[test]
fn round_trip_keeps_value_and_meta() {
    let bytes = encode::<Bincode, _>(&("ada", 36u32), META).expect("encodes");
    assert_eq!(bytes[0], FORMAT);
    assert_eq!(bytes[1], Bincode::ID);
    let (meta, value): (Meta, (String, u32)) = decode::<Bincode, _>(&bytes).expect("decodes");
    assert_eq!(meta, META);
    assert_eq!(meta.compute(), Duration::from_millis(42));
    assert_eq!(value, ("ada".to_string(), 36));
}

#[test]
fn header_layout_is_pinned() {
    let bytes = encode::<Bincode, _>(&7u8, META).expect("encodes");
    let mut expected = vec![0xC2, 1, 0, 0];
    expected.extend_from_slice(&1_700_000_000_123u64.to_le_bytes());
    expected.extend_from_slice(&42_000u32.to_le_bytes());
    expected.extend_from_slice(&[0; 8]);
    expected.push(7);
    assert_eq!(bytes, expected);
    assert_eq!(bytes[..HEAD_LEN], unleased_head::<Bincode>(&META));
}

#[test]
fn placeholders_open_as_placeholders() {
    let token = LeaseToken::random();
    let bytes = placeholder::<Bincode>(token, Duration::from_secs(5));
    assert_eq!(bytes[FLAGS_AT], LEASED | PLACEHOLDER);
    assert_eq!(bytes[TOKEN_AT], token.to_bytes());
    assert!(matches!(open::<Bincode>(&bytes), Ok(Opened::Placeholder)));
    assert!(matches!(
        decode::<Bincode, u8>(&bytes),
        Err(EnvelopeError::Placeholder)
    ));
    // A placeholder with a payload, or without a token, is not one.
    let mut with_payload = bytes.to_vec();
    with_payload.push(1);
    assert!(open::<Bincode>(&with_payload).is_err());
    let mut tokenless = bytes;
    tokenless[TOKEN_AT].fill(0);
    assert!(open::<Bincode>(&tokenless).is_err());
}

#[test]
fn a_placeholder_is_dead_once_its_own_lease_has_run_out() {
    let lease = Duration::from_secs(20);
    let bytes = placeholder::<Bincode>(LeaseToken::random(), lease);
    let written = le_u64(&bytes[4..HEAD_LEN]);
    let other = Duration::from_secs(5);
    // Its own lease counts, not the reader's.
    assert!(!placeholder_dead(&bytes, written + 19_999, other));
    assert!(placeholder_dead(&bytes, written + 20_000, other));
    // A write time far in the future is no live holder's.
    assert!(placeholder_dead(&bytes, written - 20_001, other));
    assert!(!placeholder_dead(&bytes, written - 19_000, other));
    // One without a lease time gets the reader's.
    let mut old = bytes;
    old[HEAD_LEN..TOKEN_AT.start].fill(0);
    assert!(!placeholder_dead(&old, written + 4_999, other));
    assert!(placeholder_dead(&old, written + 5_000, other));
}

#[test]
fn a_leased_value_is_still_a_value() {
    let mut bytes = encode::<Bincode, _>(&9u16, META).expect("encodes");
    bytes[FLAGS_AT] = LEASED;
    bytes[TOKEN_AT].copy_from_slice(&LeaseToken::random().to_bytes());
    match open::<Bincode>(&bytes) {
        Ok(Opened::Value { meta, leased, .. }) => {
            assert_eq!(meta, META);
            assert!(leased);
        }
        other => panic!("expected a leased value, got {other:?}"),
    }
    assert_eq!(decode::<Bincode, u16>(&bytes).expect("decodes").1, 9);
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
    bytes[FLAGS_AT] = 0b100;
    assert!(matches!(
        decode::<Bincode, u64>(&bytes),
        Err(EnvelopeError::Flags(_))
    ));
    bytes[0] = 0xC1;
    assert!(matches!(
        decode::<Bincode, u64>(&bytes),
        Err(EnvelopeError::Format(0xC1))
    ));
}

#[test]
fn empty_and_oversized_entries_are_errors_before_the_header_is_read() {
    assert!(matches!(
        decode::<Bincode, u8>(&[]),
        Err(EnvelopeError::Empty)
    ));
    // The largest value's bytes, one too many, behind a valid header: refused by
    // length alone, before the payload is decoded.
    let mut bytes = encode::<Bincode, _>(&(), META).expect("encodes");
    bytes.resize(MAX_ENTRY_BYTES, 0);
    assert!(!matches!(
        open::<Bincode>(&bytes),
        Err(EnvelopeError::Oversized)
    ));
    bytes.push(0);
    assert!(matches!(
        open::<Bincode>(&bytes),
        Err(EnvelopeError::Oversized)
    ));
}

#[test]
fn wrong_payload_type_is_an_error() {
    let bytes = encode::<Bincode, _>(&u64::MAX, META).expect("encodes");
    assert!(decode::<Bincode, u8>(&bytes).is_err());
}

#[test]
fn tokens_are_never_zero() {
    for _ in 0..1000 {
        assert_ne!(LeaseToken::random().to_bytes(), [0; 8]);
    }
}
