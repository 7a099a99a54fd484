//! Decision ids: UUIDv7-shaped (time-ordered, so logs sort by them), from
//! the time, a random per-process seed and a counter — unique within a
//! process by construction and across processes with overwhelming odds.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
pub struct DecisionIds {
    seed: u64,
    counter: AtomicU64,
}

impl Default for DecisionIds {
    fn default() -> Self {
        Self::new()
    }
}

impl DecisionIds {
    pub fn new() -> Self {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(u64::from(std::process::id()));
        DecisionIds {
            seed: hasher.finish(),
            counter: AtomicU64::new(0),
        }
    }

    /// The next id, stamped `now_ms`.
    pub fn next(&self, now_ms: u64) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let ms = now_ms & 0xFFFF_FFFF_FFFF;
        let rand_a = (self.seed >> 52) & 0x0FFF;
        let high = (ms << 16) | 0x7000 | rand_a;
        // The counter's low 62 bits, masked by the seed: no two ids of one
        // process (below 2^62 of them) share them.
        let low = ((n ^ self.seed) & ((1 << 62) - 1)) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            high >> 32,
            (high >> 16) & 0xFFFF,
            high & 0xFFFF,
            low >> 48,
            low & 0xFFFF_FFFF_FFFF
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_uuid_v7_shaped() {
        let ids = DecisionIds::new();
        let a = ids.next(1_700_000_000_000);
        let b = ids.next(1_700_000_000_000);
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "7");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
    }
}
