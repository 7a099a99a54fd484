//! What the server does, whatever the transport: decide authorization
//! requests, count rate limits, read and write the store. The HTTP API
//! (`http/`) and the gRPC services (`grpc/`) only translate requests into
//! these calls and their answers back, so both answer alike.

pub mod admin;
pub mod authorize;
pub mod error;
pub mod ext_authz;
pub mod ratelimit;
pub mod store;

pub use error::ApiError;
