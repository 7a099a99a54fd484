//! Where Reaper's data lives in Redis: the names of counters, store values
//! and store indexes, from the configured prefix `P`.
//!
//! - A rate-limit counter: `P:rl:` followed by the counter key's bytes (it
//!   already encodes the domain, the limit and the `by` values), one hash.
//! - A value of a namespace `N` **without** `max_keys`: `P:kv:N:K`, spread
//!   over a cluster's slots like any key.
//! - A value of a namespace **with** `max_keys`: `{P:ns:N}:kv:K`, beside
//!   the namespace's index `{P:ns:N}:keys` (a sorted set of keys by
//!   expiry). The hash tag puts both in one slot, so the write script can
//!   check the limit and write atomically; the price is that a limited
//!   namespace lives on one cluster node (one slot), whatever its size.
//!
//! Reads and deletes are not told the namespace's limit, so they look under
//! both names (one script in standalone; two concurrent commands, one round
//! trip, in a cluster), and a write removes the name it does not use. A
//! namespace whose limit is set or lifted therefore keeps serving its keys;
//! keys written before it gained a limit count towards `max_keys` only once
//! they are written again.
//!
//! Namespaces are policy identifiers (no `:`, `{`, `}`), so the names are
//! unambiguous; the prefix should hold no braces either (a `{` in it would
//! become every key's hash tag).

/// The names one deployment's data lives under.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    prefix: String,
}

impl Keys {
    pub(super) fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    /// A rate-limit counter's hash.
    pub(super) fn counter(&self, key: &[u8]) -> Vec<u8> {
        let mut name = Vec::with_capacity(self.prefix.len() + 4 + key.len());
        name.extend_from_slice(self.prefix.as_bytes());
        name.extend_from_slice(b":rl:");
        name.extend_from_slice(key);
        name
    }

    /// A value of a namespace without `max_keys`.
    pub(super) fn plain(&self, namespace: &str, key: &str) -> String {
        format!("{}:kv:{namespace}:{key}", self.prefix)
    }

    /// A value of a namespace with `max_keys`, in its namespace's slot.
    pub(super) fn limited(&self, namespace: &str, key: &str) -> String {
        format!("{{{}:ns:{namespace}}}:kv:{key}", self.prefix)
    }

    /// The index of a namespace with `max_keys`.
    pub(super) fn index(&self, namespace: &str) -> String {
        format!("{{{}:ns:{namespace}}}:keys", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::cluster_routing::Slot;

    #[test]
    fn a_limited_namespace_shares_one_slot_and_others_spread() {
        let keys = Keys::new("reaper");
        assert_eq!(keys.plain("sessions", "a"), "reaper:kv:sessions:a");
        assert_eq!(keys.limited("sessions", "a"), "{reaper:ns:sessions}:kv:a");
        assert_eq!(keys.counter(b"api\0x"), b"reaper:rl:api\0x");
        let index = Slot::for_key(keys.index("sessions"));
        for key in ["a", "b", "{c}", "d}"] {
            assert_eq!(Slot::for_key(keys.limited("sessions", key)), index);
        }
        assert_ne!(
            Slot::for_key(keys.plain("sessions", "a")),
            Slot::for_key(keys.plain("sessions", "b"))
        );
    }
}
