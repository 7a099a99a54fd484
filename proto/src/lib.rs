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

/// The `mesh` backend's peer protocol (`proto/reaper/mesh/v1/mesh.proto`):
/// what the nodes of one mesh say to each other. Not part of the public
/// API, nor of [`FILE_DESCRIPTOR_SET`].
pub mod mesh {
    #[allow(
        clippy::allow_attributes_without_reason,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        missing_docs,
        reason = "generated code"
    )]
    pub mod v1 {
        tonic::include_proto!("reaper.mesh.v1");
    }
}

/// The encoded `FileDescriptorSet` of Reaper's protos, for server
/// reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/reaper_descriptor.bin"));

/// A codec for calls whose message is already encoded: it sends the bytes
/// as they are and hands back the answer's bytes undecoded. Load
/// generators use it to keep their own encoding out of what they measure,
/// and tests to send messages no generated type can express.
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesCodec;

impl tonic::codec::Codec for BytesCodec {
    type Encode = bytes::Bytes;
    type Decode = bytes::Bytes;
    type Encoder = BytesCodec;
    type Decoder = BytesCodec;

    fn encoder(&mut self) -> BytesCodec {
        BytesCodec
    }

    fn decoder(&mut self) -> BytesCodec {
        BytesCodec
    }
}

impl tonic::codec::Encoder for BytesCodec {
    type Item = bytes::Bytes;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: bytes::Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for BytesCodec {
    type Item = bytes::Bytes;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<bytes::Bytes>, tonic::Status> {
        let len = bytes::Buf::remaining(src);
        Ok(Some(bytes::Buf::copy_to_bytes(src, len)))
    }
}
