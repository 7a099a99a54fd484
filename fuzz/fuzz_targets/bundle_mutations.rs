//! Damage to a real bundle: the document-sharing example, compiled once,
//! edited by the fuzzer's bytes read as `(offset: u16 LE, xor: u8)` triples,
//! then re-hashed, so the decoder, the verifier and the VM see the damage
//! rather than the hash check. Must never panic.
//!
//! The first input byte picks the base bundle (even: document-sharing, odd:
//! api-gateway, which has rate limits and an HTTP mapping); a triple whose
//! offset lands in the header (below byte 40) is applied past it instead,
//! since damage to the magic, version or hash is refused trivially.

#![no_main]

use libfuzzer_sys::fuzz_target;
use reaper_fuzz::{api_gateway, document_sharing, load_and_exercise, rehash};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, edits)) = data.split_first() else {
        return;
    };
    let mut bytes = if pick % 2 == 0 {
        document_sharing().to_vec()
    } else {
        api_gateway().to_vec()
    };
    let body = bytes.len() - 40;
    for edit in edits.chunks_exact(3) {
        let offset = usize::from(u16::from_le_bytes([edit[0], edit[1]]));
        bytes[40 + offset % body] ^= edit[2];
    }
    rehash(&mut bytes);
    load_and_exercise(&bytes);
});
