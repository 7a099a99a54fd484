//! Requests (JSON, or Reaper's protobuf form) straight into the engine's
//! form, in one pass: strings are
//! interned, values land in the request's pool, and every value is checked
//! against the schema as it is read — no `serde_json::Value`, no paths
//! built. The fast path only says *that* it declines an input; the precise
//! decoder (`reaper_lang::request`, then [`Engine::prepare`]) then decides,
//! naming the offending field. So every error is exactly as precise as the
//! precise decoder's, and the fast path must only ever accept what the
//! precise one accepts, with the same meaning (the property tests in
//! `tests.rs` hold it to that).
//!
//! `build.rs` holds the request under construction and the schema's rules;
//! `json.rs` and `protobuf.rs` drive it from their input (`reader.rs` and
//! `wire.rs` read the formats). A protobuf request's precise path is the
//! same request written as JSON (`protobuf_json.rs`), so both forms get
//! the same errors; `protobuf_encode.rs` writes requests in protobuf.

mod build;
mod json;
mod protobuf;
mod protobuf_encode;
mod protobuf_json;
mod reader;
#[cfg(test)]
mod tests;
mod wire;

use reaper_lang::request::{self as lang_request, Limits, RequestError};
use reaper_lang::schema::{Schema, index_u32};
use rustc_hash::FxHashMap;

use crate::engine::Engine;
use crate::request::Request;
use reader::Declined;

/// Name lookups the decoder does for every entity and request, built once
/// per engine.
#[derive(Debug, Default)]
pub(crate) struct Names {
    entity_types: NameTable,
    actions: NameTable,
}

impl Names {
    pub fn new(schema: &Schema) -> Self {
        Names {
            entity_types: NameTable::new(schema.entity_types.iter().map(|t| t.name.as_str())),
            actions: NameTable::new(schema.actions.iter().map(|a| a.name.as_str())),
        }
    }

    pub fn entity_type(&self, name: &str) -> Option<u32> {
        self.entity_types.get(name)
    }

    pub fn action(&self, name: &str) -> Option<u32> {
        self.actions.get(name)
    }
}

/// Names to their indexes: a few are compared one by one (cheaper than
/// hashing the name), many are hashed.
#[derive(Debug)]
enum NameTable {
    Few(Vec<Box<str>>),
    Many(FxHashMap<Box<str>, u32>),
}

impl Default for NameTable {
    fn default() -> Self {
        NameTable::Few(Vec::new())
    }
}

/// Up to this many names, a scan beats hashing.
const FEW_NAMES: usize = 8;

impl NameTable {
    fn new<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> Self {
        if names.len() <= FEW_NAMES {
            return NameTable::Few(names.map(Box::from).collect());
        }
        let mut map = FxHashMap::default();
        for (i, name) in names.enumerate() {
            // The first of repeated names wins, as the schema's lookups do.
            map.entry(Box::from(name)).or_insert(index_u32(i));
        }
        NameTable::Many(map)
    }

    fn get(&self, name: &str) -> Option<u32> {
        match self {
            NameTable::Few(names) => names.iter().position(|n| **n == *name).map(index_u32),
            NameTable::Many(map) => map.get(name).copied(),
        }
    }
}

impl Engine {
    /// Parses, validates and prepares a request from JSON text (see
    /// `docs/requests.md`). A request that is not valid gets an error
    /// naming the offending field.
    pub fn decode_request(&self, json: &str) -> Result<Request, RequestError> {
        match json::decode(self, json) {
            Ok(request) => Ok(request),
            Err(Declined) => self.decode_request_precisely(json),
        }
    }

    /// The fast path alone: `None` where it declines (and
    /// [`Engine::decode_request`] would ask the precise decoder). For tests
    /// and fuzzers that hold the two to the same answers.
    #[doc(hidden)]
    pub fn decode_request_fast(&self, json: &str) -> Option<Request> {
        json::decode(self, json).ok()
    }

    /// The precise decoder alone: a JSON tree validated field by field,
    /// then prepared. [`Engine::decode_request`] gives the same results
    /// faster; this is its error path and its test oracle.
    pub fn decode_request_precisely(&self, json: &str) -> Result<Request, RequestError> {
        let request = lang_request::decode(self.schema(), json, &Limits::default())?;
        Ok(self.prepare(&request))
    }

    /// Decodes a request in Reaper's protobuf form
    /// (`proto/reaper/v1/request.proto`, for the gRPC API) as
    /// [`Engine::decode_request`] decodes JSON: in one pass, and when that
    /// declines, through the precise decoder, so an invalid request gets
    /// the error the same request in JSON would.
    pub fn decode_request_protobuf(&self, bytes: &[u8]) -> Result<Request, RequestError> {
        match protobuf::decode(self, bytes) {
            Ok(request) => Ok(request),
            Err(Declined) => self.decode_request_protobuf_precisely(bytes),
        }
    }

    /// A request in Reaper's protobuf form written out as request JSON
    /// (`docs/requests.md`), as the precise decoder reads it: for logs.
    pub fn protobuf_request_json(bytes: &[u8]) -> Result<String, RequestError> {
        protobuf_json::to_json(bytes)
    }

    /// The protobuf fast path alone (see [`Engine::decode_request_fast`]).
    #[doc(hidden)]
    pub fn decode_request_protobuf_fast(&self, bytes: &[u8]) -> Option<Request> {
        protobuf::decode(self, bytes).ok()
    }

    /// The protobuf request written out as JSON and given to the precise
    /// decoder.
    pub fn decode_request_protobuf_precisely(&self, bytes: &[u8]) -> Result<Request, RequestError> {
        self.decode_request_precisely(&protobuf_json::to_json(bytes)?)
    }
}
