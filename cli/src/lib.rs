//! The parts of the `reaper` command that other code drives directly: the
//! diagnostic renderers, so property tests and the fuzz targets can render
//! arbitrary diagnostics the way the binary does. The binary
//! (`main.rs`) keeps argument parsing, file loading and the commands.

pub mod render;
