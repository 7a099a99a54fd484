//! Between the mesh's own types and `reaper.mesh.v1` messages, and the
//! bounds on what a peer may send. Nothing a peer sends can panic this
//! node: unknown algorithms, oversized keys and messages are dropped or
//! refused.

use bytes::Bytes;
use reaper_lang::limits::Algorithm;
use reaper_proto::mesh::v1 as pb;
use reaper_runtime::ratelimit::counters::{Hit, Limit};

use super::lww::{Entry, Version};
use super::window::State;

/// Largest message a node accepts from a peer, or sends.
pub(super) const MAX_MESSAGE_BYTES: usize = 4 << 20;
/// Most entries in one batch, hit request or store chunk.
pub(super) const MAX_ENTRIES: usize = 2_048;
/// Longest counter key accepted from a peer.
pub(super) const MAX_KEY_BYTES: usize = 16 << 10;

pub(super) fn state_to_wire(key: &[u8], state: &State) -> pb::CounterState {
    let mut out = pb::CounterState {
        key: key.to_vec(),
        ..pb::CounterState::default()
    };
    match *state {
        State::Fixed {
            period,
            start,
            count,
        } => {
            out.set_algorithm(pb::Algorithm::FixedWindow);
            out.period_ms = period;
            out.start_ms = start;
            out.current = count;
        }
        State::Sliding {
            period,
            start,
            current,
            previous,
        } => {
            out.set_algorithm(pb::Algorithm::SlidingWindow);
            out.period_ms = period;
            out.start_ms = start;
            out.current = current;
            out.previous = previous;
        }
        State::Bucket {
            period,
            tat_ms,
            tat_rem,
        } => {
            out.set_algorithm(pb::Algorithm::TokenBucket);
            out.period_ms = period;
            out.tat_ms = tat_ms;
            out.tat_rem = tat_rem;
        }
    }
    out
}

/// A peer's state, if well formed.
pub(super) fn state_from_wire(state: pb::CounterState) -> Option<(Vec<u8>, State)> {
    if state.key.len() > MAX_KEY_BYTES || state.period_ms == 0 {
        return None;
    }
    let period = state.period_ms;
    let decoded = match pb::Algorithm::try_from(state.algorithm).ok()? {
        pb::Algorithm::FixedWindow => State::Fixed {
            period,
            start: state.start_ms,
            count: state.current,
        },
        pb::Algorithm::SlidingWindow => State::Sliding {
            period,
            start: state.start_ms,
            current: state.current,
            previous: state.previous,
        },
        pb::Algorithm::TokenBucket => State::Bucket {
            period,
            tat_ms: state.tat_ms,
            tat_rem: state.tat_rem,
        },
        pb::Algorithm::Unspecified => return None,
    };
    Some((state.key, decoded))
}

pub(super) fn strict_to_wire(key: &[u8], limit: &Limit, hits: u64) -> pb::StrictHit {
    let mut out = pb::StrictHit {
        key: key.to_vec(),
        count: limit.count,
        period_ms: limit.period_ms,
        hits,
        ..pb::StrictHit::default()
    };
    match limit.algorithm {
        Algorithm::FixedWindow => out.set_algorithm(pb::Algorithm::FixedWindow),
        Algorithm::SlidingWindow => out.set_algorithm(pb::Algorithm::SlidingWindow),
        Algorithm::TokenBucket { burst } => {
            out.set_algorithm(pb::Algorithm::TokenBucket);
            out.burst = burst;
        }
    }
    out
}

pub(super) fn strict_from_wire(hit: &pb::StrictHit) -> Option<Limit> {
    if hit.key.len() > MAX_KEY_BYTES {
        return None;
    }
    let algorithm = match pb::Algorithm::try_from(hit.algorithm).ok()? {
        pb::Algorithm::FixedWindow => Algorithm::FixedWindow,
        pb::Algorithm::SlidingWindow => Algorithm::SlidingWindow,
        pb::Algorithm::TokenBucket => Algorithm::TokenBucket { burst: hit.burst },
        pb::Algorithm::Unspecified => return None,
    };
    Some(Limit {
        count: hit.count,
        period_ms: hit.period_ms,
        algorithm,
    })
}

pub(super) fn hit_to_wire(hit: &Hit) -> pb::HitResult {
    pb::HitResult {
        allowed: hit.allowed,
        remaining: hit.remaining,
        reset_ms: hit.reset_ms,
    }
}

pub(super) fn hit_from_wire(hit: &pb::HitResult) -> Hit {
    Hit {
        allowed: hit.allowed,
        remaining: hit.remaining,
        reset_ms: hit.reset_ms,
    }
}

pub(super) fn entry_to_wire(namespace: &str, key: &str, entry: &Entry) -> pb::StoreEntry {
    pb::StoreEntry {
        namespace: namespace.to_owned(),
        key: key.to_owned(),
        value: entry.value.clone().map(|v| v.to_vec()).unwrap_or_default(),
        tombstone: entry.value.is_none(),
        expires_at: entry.expires_at,
        hlc: entry.version.hlc,
        writer: entry.version.node.to_string(),
    }
}

pub(super) fn entry_from_wire(entry: pb::StoreEntry) -> (String, String, Entry) {
    let decoded = Entry {
        value: (!entry.tombstone).then(|| Bytes::from(entry.value)),
        expires_at: entry.expires_at,
        version: Version {
            hlc: entry.hlc,
            node: entry.writer.into(),
        },
    };
    (entry.namespace, entry.key, decoded)
}
