//! Rate limiting: which limits of a domain apply to each descriptor, their
//! counter keys, and the decision from a counter store.

pub mod counters;
