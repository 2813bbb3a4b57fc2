//! A short, deterministic run of the envelope decoder on hostile bytes.
//!
//! Stored values are read back from Redis, where anything may have written anything:
//! the decoder must turn every byte string into a value or an error (which the cache
//! treats as a miss), never a panic, and never an allocation sized by a corrupted
//! length prefix. This runs the decoding of the cargo-fuzz target (`fuzz/`, same code:
//! `tests/decode_all/mod.rs`) on 150,000 pseudo-random inputs and mutations of
//! valid envelopes, with a fixed seed, in a few seconds; long runs are
//! the fuzzer's job (see `fuzz/README.md`).

use std::alloc::System;
use std::fmt::Debug;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use cache_runtime::testing::codec::{Bincode, MAX_VALUE_BYTES};
use cache_runtime::testing::envelope::{self, HEADER_LEN};
use serde::de::DeserializeOwned;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

mod decode_all;

use decode_all::{Outcome, Record, Shape, decode_all, decode_entry, header, valid_envelopes};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The allocation counts are process-wide: the tests that count allocations run alone,
/// the others side by side.
static ALONE: RwLock<()> = RwLock::new(());

fn alone() -> RwLockWriteGuard<'static, ()> {
    ALONE
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn side_by_side() -> RwLockReadGuard<'static, ()> {
    ALONE
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

const SEED: u64 = 0x00c2_0001_5eed;
/// Inputs of random bytes.
const RANDOM_CASES: usize = 50_000;
/// Mutations of valid envelopes.
const MUTATED_CASES: usize = 100_000;

/// Varint markers of bincode: the next 2, 4, 8 or 16 bytes hold the integer.
const U16: u8 = 0xfb;
const U32: u8 = 0xfc;
const U64: u8 = 0xfd;
const U128: u8 = 0xfe;

/// Bytes the varint decoder treats specially.
const INTERESTING: [u8; 12] = [0, 1, 2, 0x7f, 0x80, 0xc1, 0xc2, 0xfa, U16, U32, U64, U128];

/// A varint claiming a length: near the limit, past it, absurd.
fn length_bomb(rng: &mut fastrand::Rng) -> Vec<u8> {
    let limit = MAX_VALUE_BYTES as u64;
    let mut out = Vec::with_capacity(17);
    match rng.u8(0..6) {
        0 => {
            out.push(U16);
            out.extend_from_slice(&rng.u16(251..).to_le_bytes());
        }
        1 => {
            out.push(U32);
            let value = [
                u32::MAX,
                (1 << 26) - 1,
                1 << 26,
                1 << 24,
                rng.u32(1 << 16..),
            ];
            out.extend_from_slice(&value[rng.usize(..value.len())].to_le_bytes());
        }
        2 | 3 => {
            out.push(U64);
            let value = [
                u64::MAX,
                1 << 60,
                limit - 1,
                limit,
                limit + 1,
                rng.u64(1 << 32..),
            ];
            out.extend_from_slice(&value[rng.usize(..value.len())].to_le_bytes());
        }
        4 => {
            out.push(U128);
            out.extend_from_slice(&u128::MAX.to_le_bytes());
        }
        _ => out.push(0xff),
    }
    out
}

fn random_bytes(rng: &mut fastrand::Rng, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    rng.fill(&mut out);
    out
}

/// A short length, mostly; now and then a long one.
fn random_len(rng: &mut fastrand::Rng) -> usize {
    match rng.u8(0..20) {
        0 => rng.usize(512..4096),
        1..=5 => rng.usize(48..512),
        _ => rng.usize(0..48),
    }
}

/// One to four mutations of `base`, the kind a fuzzer or a corrupted store makes.
fn mutate(rng: &mut fastrand::Rng, base: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = base.to_vec();
    for _ in 0..rng.usize(1..=4) {
        let len = bytes.len();
        match rng.u8(0..10) {
            // Flip one bit.
            0 | 1 if len > 0 => bytes[rng.usize(..len)] ^= 1 << rng.u8(0..8),
            // Set a byte to one the decoders treat specially.
            2 if len > 0 => bytes[rng.usize(..len)] = INTERESTING[rng.usize(..INTERESTING.len())],
            // Tweak the header: format, codec, flags, reserved, times, token.
            3 if len > 0 => {
                let at = rng.usize(..len.min(HEADER_LEN));
                bytes[at] = match rng.u8(0..3) {
                    0 => rng.u8(..),
                    1 => INTERESTING[rng.usize(..INTERESTING.len())],
                    _ => bytes[at] ^ (1 << rng.u8(0..8)),
                };
            }
            // Truncate.
            4 => bytes.truncate(rng.usize(..=len)),
            // Extend with junk.
            5 => {
                let len = rng.usize(1..32);
                bytes.extend_from_slice(&random_bytes(rng, len));
            }
            // Write a huge length prefix into the payload (over or before what is there).
            6 | 7 => {
                let at = rng.usize(HEADER_LEN.min(len)..=len);
                let bomb = length_bomb(rng);
                if rng.bool() {
                    let end = (at + bomb.len()).min(len);
                    bytes.splice(at..end, bomb);
                } else {
                    bytes.splice(at..at, bomb);
                }
            }
            // Remove a range.
            8 if len > 0 => {
                let start = rng.usize(..len);
                let end = rng.usize(start..=len);
                bytes.drain(start..end);
            }
            // Splice in part of another envelope.
            _ => {
                let other = &others[rng.usize(..others.len())];
                let from = rng.usize(..=other.len());
                let to = rng.usize(from..=other.len());
                let at = rng.usize(..=len);
                bytes.splice(at..at, other[from..to].iter().copied());
            }
        }
    }
    bytes
}

/// How many inputs decoded as each type, over a run.
#[derive(Debug, Default)]
struct Tally {
    inputs: usize,
    opened: usize,
    values: usize,
    per_type: [usize; 6],
}

impl Tally {
    fn add(&mut self, outcome: Outcome) {
        self.inputs += 1;
        self.opened += usize::from(outcome.opened);
        self.values += usize::from(outcome.any_value());
        let decoded = [
            outcome.u64,
            outcome.string,
            outcome.bytes,
            outcome.option,
            outcome.record,
            outcome.shape,
        ];
        for (count, decoded) in self.per_type.iter_mut().zip(decoded) {
            *count += usize::from(decoded);
        }
    }
}

/// Where `run` decodes each input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decode {
    /// As is, and as the payload behind a valid header, as the fuzz target does.
    AsIsAndWrapped,
    /// As is only (the inputs are mutated envelopes: they have headers).
    AsIs,
}

/// Decodes `cases` inputs made by `input`, seeded with `seed`; returns the tally of the
/// inputs decoded as they are.
fn run(
    label: &str,
    seed: u64,
    cases: usize,
    decode: Decode,
    mut input: impl FnMut(&mut fastrand::Rng) -> Vec<u8>,
) -> Tally {
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut raw, mut wrapped) = (Tally::default(), Tally::default());
    let started = Instant::now();
    let mut slowest = (Duration::ZERO, Vec::new());
    for _ in 0..cases {
        let bytes = input(&mut rng);
        let one = Instant::now();
        if decode == Decode::AsIsAndWrapped {
            let [as_is, behind_header] = decode_all(&bytes);
            raw.add(as_is);
            wrapped.add(behind_header);
        } else {
            raw.add(decode_entry(&bytes));
        }
        let took = one.elapsed();
        if took > slowest.0 {
            slowest = (took, bytes);
        }
    }
    let wrapped = if decode == Decode::AsIsAndWrapped {
        format!("; behind a valid header: {wrapped:?}")
    } else {
        String::new()
    };
    println!(
        "{label}: {cases} inputs in {:?}; as is: {raw:?}{wrapped}; slowest {:?} ({} bytes)",
        started.elapsed(),
        slowest.0,
        slowest.1.len(),
    );
    // A corrupted length prefix must fail fast, not walk an absurd length. (Inputs take
    // microseconds; the margin is for a loaded machine.)
    assert!(
        slowest.0 < Duration::from_secs(5),
        "{label}: one input took {:?}: {:02x?}",
        slowest.0,
        slowest.1
    );
    raw
}

#[test]
fn valid_envelopes_decode_to_their_values() {
    let _shared = side_by_side();
    // `valid_envelopes` checks each round trip with its own type.
    let envelopes = valid_envelopes();
    assert!(envelopes.len() >= 20);
    for bytes in &envelopes {
        let [as_is, _] = decode_all(bytes);
        assert!(as_is.opened && as_is.any_value(), "{bytes:02x?}");
    }
    // No header alone, or part of one, is a value of any of the types. (That no proper
    // prefix of an envelope decodes as its own type is checked by `valid_envelopes`.)
    for bytes in &envelopes {
        for len in 0..=HEADER_LEN {
            let [as_is, _] = decode_all(&bytes[..len]);
            assert!(!as_is.any_value(), "{:02x?}", &bytes[..len]);
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let _shared = side_by_side();
    let valid_header = header(1_700_000_000_000);
    let tally = run(
        "random bytes",
        SEED,
        RANDOM_CASES,
        Decode::AsIsAndWrapped,
        |rng| {
            let len = random_len(rng);
            let mut bytes = random_bytes(rng, len);
            // Now and then a real header in front, or a plausible one, so that random bytes
            // also reach the payload decoder as they are.
            match rng.u8(0..4) {
                0 if len >= HEADER_LEN => bytes[..HEADER_LEN].copy_from_slice(&valid_header),
                1 if len >= 3 => bytes[..3].copy_from_slice(&valid_header[..3]),
                _ => {}
            }
            bytes
        },
    );
    assert!(tally.values > 0, "no random input decoded: {tally:?}");
}

#[test]
fn mutated_envelopes_never_panic() {
    let _shared = side_by_side();
    let envelopes = valid_envelopes();
    let tally = run(
        "mutated envelopes",
        SEED + 1,
        MUTATED_CASES,
        Decode::AsIs,
        |rng| {
            let base = &envelopes[rng.usize(..envelopes.len())];
            mutate(rng, base, &envelopes)
        },
    );
    // Both sides were exercised: mutations that still decode, and ones that do not.
    assert!(tally.values > 1_000, "{tally:?}");
    assert!(tally.inputs - tally.values > 1_000, "{tally:?}");
}

/// A valid header followed by `payload`.
fn entry(payload: &[u8]) -> Vec<u8> {
    let mut bytes = header(1_700_000_000_000).to_vec();
    bytes.extend_from_slice(payload);
    bytes
}

fn varint_u64(value: u64) -> Vec<u8> {
    let mut out = vec![U64];
    out.extend_from_slice(&value.to_le_bytes());
    out
}

/// Decodes `bytes` as a `T`, expecting an error; returns the bytes allocated meanwhile
/// and how long it took. The count is process-wide (the test harness allocates too,
/// between tests), so this takes the smallest of a few measurements: the decoder
/// allocates the same every time, stray allocations do not.
fn refused<T: DeserializeOwned + Debug>(bytes: &[u8]) -> (usize, Duration) {
    let (mut least, mut fastest) = (usize::MAX, Duration::MAX);
    for _ in 0..3 {
        let region = Region::new(GLOBAL);
        let started = Instant::now();
        let decoded = envelope::decode::<Bincode, T>(bytes);
        let took = started.elapsed();
        let allocated = region.change().bytes_allocated;
        assert!(decoded.is_err(), "{bytes:02x?} decoded as {decoded:?}");
        least = least.min(allocated);
        fastest = fastest.min(took);
    }
    (least, fastest)
}

/// serde preallocates at most 1 MiB for a sequence or map, whatever its length
/// prefix says (`serde::de::size_hint::cautious`); a hash map's table adds its control
/// bytes and load factor on top.
const PREALLOCATION: usize = 3 << 20;

#[test]
fn length_prefix_bombs_fail_fast_without_allocating_their_length() {
    let _alone = alone();
    let huge = [1 << 60, u64::MAX, MAX_VALUE_BYTES as u64 + 1];
    for claim in huge {
        let bomb = varint_u64(claim);
        // (type, payload, most bytes the decoder may allocate)
        let cases: Vec<(&str, Vec<u8>, usize)> = vec![
            ("String", bomb.clone(), 1 << 10),
            ("Vec<u8>", bomb.clone(), PREALLOCATION),
            ("Option<String>", [&[1][..], &bomb].concat(), 1 << 10),
            // Record { id, name, tags: <bomb> }
            (
                "Record.tags",
                [&[7, 1, b'n'][..], &bomb].concat(),
                PREALLOCATION,
            ),
            // Record { id, name: <bomb> }
            ("Record.name", [&[7][..], &bomb].concat(), 1 << 10),
            // Record { id, name, tags: [], scores: <bomb> }
            (
                "Record.scores",
                [&[7, 0, 0][..], &bomb].concat(),
                PREALLOCATION,
            ),
            // Record { .., index: { 1: <bomb> } }
            (
                "Record.index",
                [&[7, 0, 0, 0, 1, 1][..], &bomb].concat(),
                PREALLOCATION,
            ),
            // Record { .., nested: [<bomb>] }
            (
                "Record.nested",
                [&[7, 0, 0, 0, 0, 1][..], &bomb].concat(),
                2 * PREALLOCATION,
            ),
            // Shape::Named { label: "", parts: <bomb> }
            ("Shape.parts", [&[3, 0][..], &bomb].concat(), PREALLOCATION),
        ];
        for (what, payload, most) in cases {
            let bytes = entry(&payload);
            let (allocated, took) = match what {
                "String" => refused::<String>(&bytes),
                "Vec<u8>" => refused::<Vec<u8>>(&bytes),
                "Option<String>" => refused::<Option<String>>(&bytes),
                "Shape.parts" => refused::<Shape>(&bytes),
                _ => refused::<Record>(&bytes),
            };
            println!(
                "{what} claiming {claim:#x} elements: refused in {took:?}, {allocated} bytes allocated"
            );
            assert!(
                allocated <= most,
                "{what} claiming {claim:#x}: {allocated} bytes allocated, at most {most} expected"
            );
            assert!(took < Duration::from_secs(1), "{what}: {took:?}");
        }
    }
}

#[test]
fn a_length_within_the_limit_allocates_at_most_the_limit() {
    let _alone = alone();
    // A byte string claiming up to 64 MiB, with nothing behind the claim: within the
    // limit, so bincode goes on to read it. (Decoding from a slice, it borrows the bytes
    // instead of reserving the length first; the documented bound holds either way.)
    for claim in [MAX_VALUE_BYTES as u64 - 1, MAX_VALUE_BYTES as u64] {
        let bytes = entry(&varint_u64(claim));
        let (allocated, took) = refused::<String>(&bytes);
        println!("String claiming {claim} bytes: refused in {took:?}, {allocated} bytes allocated");
        assert!(allocated <= MAX_VALUE_BYTES + (1 << 10), "{allocated}");
    }
}
