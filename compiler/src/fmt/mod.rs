//! Canonical formatting of policy files (`reaper fmt`).
