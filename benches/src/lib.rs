//! Policy generators shared by the benchmarks.
