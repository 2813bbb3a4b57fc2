use super::*;

static IDENTITY: FnIdentity = FnIdentity::new("app::get_user|user|u64,String|User");

fn key(namespace: &str, prefix: &str, id: u64, name: &str) -> String {
    let mut hasher = KeyHasher::new(namespace, prefix, &IDENTITY);
    hasher.arg(&id);
    hasher.arg(name);
    hasher.finish().expect("serializable").to_string()
}

#[test]
fn layout_is_namespace_prefix_digest() {
    let key = key("ns", "user", 7, "ada");
    let parts: Vec<&str> = key.split(':').collect();
    assert_eq!(parts.len(), 3, "{key}");
    assert_eq!(&parts[..2], &["ns", "user"]);
    assert_eq!(parts[2].len(), 32);
    assert!(parts[2].bytes().all(|b| HEX.contains(&b)), "{key}");
}

#[test]
fn same_input_same_key_and_arguments_matter() {
    assert_eq!(key("ns", "user", 7, "ada"), key("ns", "user", 7, "ada"));
    assert_ne!(key("ns", "user", 7, "ada"), key("ns", "user", 8, "ada"));
    assert_ne!(key("ns", "user", 7, "ada"), key("ns", "user", 7, "adb"));
}

#[test]
fn argument_boundaries_are_unambiguous() {
    let split = |a: &str, b: &str| {
        let mut hasher = KeyHasher::new("ns", "p", &IDENTITY);
        hasher.arg(a);
        hasher.arg(b);
        hasher.finish().expect("serializable")
    };
    assert_ne!(split("ab", "c"), split("a", "bc"));
}

#[test]
fn identities_and_type_names_separate_keys() {
    static OTHER: FnIdentity = FnIdentity::new("app::get_user|user|u64,String|Admin");
    let with = |identity: &FnIdentity, type_name: Option<&str>| {
        let mut hasher = KeyHasher::new("ns", "user", identity);
        if let Some(name) = type_name {
            hasher.type_name(name);
        }
        hasher.arg(&1u64);
        hasher.finish().expect("serializable")
    };
    assert_ne!(with(&IDENTITY, None), with(&OTHER, None));
    assert_ne!(with(&IDENTITY, Some("u8")), with(&IDENTITY, Some("u16")));
}

#[test]
fn unserializable_argument_is_an_error() {
    struct Unsized;
    impl Serialize for Unsized {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            // A sequence without a length cannot be encoded by bincode.
            use serde::ser::SerializeSeq;
            s.serialize_seq(None)?.end()
        }
    }
    let mut hasher = KeyHasher::new("ns", "p", &IDENTITY);
    hasher.arg(&Unsized);
    assert!(hasher.finish().is_err());
}

/// The digest is the keyed BLAKE3 hash of the byte sequence, however the bytes
/// reach it: below, at and above the inline buffer's size, and across the switch
/// to streaming in the middle of an argument.
#[test]
fn digest_is_keyed_blake3_of_the_encoded_input() {
    let reference = |parts: &[&[u8]]| {
        let mut hasher = blake3::Hasher::new_keyed(IDENTITY.hash_key());
        for part in parts {
            hasher.update(&bincode::serde::encode_to_vec(part, ARG_ENCODING).expect("encodes"));
        }
        let digest = hasher.finalize();
        let hex: String = digest.as_bytes()[..DIGEST_BYTES]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("ns:p:{hex}")
    };
    let long = vec![0xa5u8; 3 * INLINE_INPUT_LEN];
    for first in [
        0,
        1,
        100,
        INLINE_INPUT_LEN - 3,
        INLINE_INPUT_LEN,
        2 * INLINE_INPUT_LEN,
    ] {
        for second in [0, 5, INLINE_INPUT_LEN - 1, INLINE_INPUT_LEN + 7] {
            let (a, b) = (&long[..first], &long[..second]);
            let mut hasher = KeyHasher::new("ns", "p", &IDENTITY);
            hasher.arg(a);
            hasher.arg(b);
            let key = hasher.finish().expect("serializable");
            assert_eq!(key.as_str(), reference(&[a, b]), "{first} + {second} bytes");
        }
    }
}

#[test]
fn debug_does_not_show_arguments() {
    let mut hasher = KeyHasher::new("ns", "p", &IDENTITY);
    hasher.arg("secret-argument");
    let shown = format!("{hasher:?}");
    assert!(!shown.contains("secret"), "{shown}");
}

#[test]
fn segments() {
    assert!(is_valid_segment("user-v2.list_all", MAX_PREFIX_LEN));
    assert!(!is_valid_segment("", MAX_PREFIX_LEN));
    assert!(!is_valid_segment("a:b", MAX_PREFIX_LEN));
    assert!(!is_valid_segment("a b", MAX_PREFIX_LEN));
    assert!(!is_valid_segment(
        &"x".repeat(MAX_PREFIX_LEN + 1),
        MAX_PREFIX_LEN
    ));
}

#[test]
fn a_secret_changes_every_key_the_same_way() {
    let key = |secret: Option<&[u8; 32]>| {
        let hasher = KeyHasher::new("ns", "p", &IDENTITY);
        let mut hasher = match secret {
            Some(secret) => hasher.with_secret(secret),
            None => hasher,
        };
        hasher.arg(&42u64);
        hasher.finish().expect("encodes")
    };
    let (a, b) = ([1u8; 32], [2u8; 32]);
    assert_ne!(key(None), key(Some(&a)));
    assert_ne!(key(Some(&a)), key(Some(&b)));
    assert_eq!(key(Some(&a)), key(Some(&a)));
}
