//! Arbitrary bytes as a bundle: `bundle::decode` must refuse them with a
//! typed error or return a verified bundle, never panic. Bytes that load are
//! run through the engine (authorize, explain, rate limits, disassembly).
//!
//! Nearly every mutation of a seed bundle fails the content hash, so each
//! input is also tried with the hash recomputed (as an attacker would): that
//! lets libFuzzer's structural mutations (insertions, deletions, splices of
//! two bundles) reach the section table, the section decoders and the
//! verifier.

#![no_main]

use libfuzzer_sys::fuzz_target;
use reaper_fuzz::{load_and_exercise, rehash};

fuzz_target!(|data: &[u8]| {
    load_and_exercise(data);
    if data.len() >= 40 {
        let mut rehashed = data.to_vec();
        rehash(&mut rehashed);
        if rehashed != data {
            load_and_exercise(&rehashed);
        }
    }
});
