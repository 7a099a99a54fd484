//! Reaper's own gRPC API, generated from `proto/reaper/v1/*.proto`: the
//! messages, the `Reaper` service's server trait and its client. The server
//! (`reaper-server`) implements it; tests and embedders call it.

#[allow(
    clippy::allow_attributes_without_reason,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "generated code"
)]
pub mod v1 {
    tonic::include_proto!("reaper.v1");
}

/// The encoded `FileDescriptorSet` of Reaper's protos, for server
/// reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/reaper_descriptor.bin"));
