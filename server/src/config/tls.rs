//! The `[tls]` section: certificates for the HTTP and gRPC listeners, and
//! the client CA that turns TLS into mTLS. File-only (no environment
//! variables or flags): paths and policies belong in reviewed files.

use serde::Deserialize;

/// `[tls]`; TLS is off while `cert` is unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {}
