//! Arbitrary bytes, read as a stored entry of several types: `envelope::open` and
//! `envelope::decode` must answer a value or an error, never panic (nor abort, nor
//! allocate what a corrupted length prefix claims). The decoding and its invariants
//! are shared with the smoke test `cache-runtime/tests/decoder_smoke.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../cache-runtime/tests/decode_all/mod.rs"]
mod decode_all;

fuzz_target!(|data: &[u8]| {
    decode_all::decode_all(data);
});
