//! The `[auth]` section: the JWTs the HTTP and gRPC APIs require, how their
//! claims become the caller's principal and context, and the rate limit on
//! the API itself. File-only.

use serde::Deserialize;

/// `[auth]`; no token is asked for while it is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {}
