//! The `reaper` binary.
fn main() {}
