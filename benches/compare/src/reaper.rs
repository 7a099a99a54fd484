//! The Reaper side: source compiled to a bundle, the bundle loaded into an
//! engine, requests decoded from JSON into the engine's input form.

use std::time::{SystemTime, UNIX_EPOCH};

use reaper_runtime::ratelimit::{Code, Descriptor, RateLimitRequest, RateLimitResponse};
use reaper_runtime::{Decision, Engine, Request};

pub const SCHEMA: &str = include_str!("../../../examples/document-sharing/schema.reaper");
pub const RULES: &str = include_str!("../../../examples/document-sharing/rules.reaper");

/// Compiles one package's files and loads the bundle; panics on any
/// diagnostic.
pub fn engine(files: &[(&str, &str)]) -> Engine {
    let mut sources = reaper_compiler::source::Sources::new();
    for &(name, text) in files {
        sources.add(name, text);
    }
    let bytes = reaper_compiler::compile(&sources)
        .unwrap_or_else(|diagnostics| panic!("Reaper compile: {diagnostics:?}"));
    Engine::load(&bytes).expect("Reaper bundle")
}

/// The document-sharing example, as written in `examples/document-sharing/`.
pub fn document_sharing() -> Engine {
    engine(&[("schema.reaper", SCHEMA), ("rules.reaper", RULES)])
}

/// The scaling policy of `n` rules over the same schema.
pub fn scaling(n: usize) -> Engine {
    let rules = crate::scaling::reaper_rules(n);
    engine(&[("schema.reaper", SCHEMA), ("rules.reaper", &rules)])
}

/// Reaper's JSON path: decoding, validation against the schema, interning.
pub fn decode(engine: &Engine, text: &str) -> Request {
    engine.decode_request(text).expect("Reaper request")
}

pub fn authorize(engine: &Engine, request: &Request) -> Decision {
    engine.authorize(request)
}

/// The `edge` rate-limit domain of `policies/ratelimit/limits.reaper`.
pub fn rate_limits() -> Engine {
    engine(&[("limits.reaper", crate::ratelimit::REAPER_LIMITS)])
}

/// A `ShouldRateLimit` request for the `edge` domain with one descriptor.
pub fn rate_limit_request(entries: &[(&'static str, &'static str)]) -> RateLimitRequest {
    RateLimitRequest::new(
        crate::ratelimit::DOMAIN,
        vec![Descriptor::new(entries.to_vec())],
    )
}

/// The wall clock in milliseconds since the Unix epoch, read on every
/// decision as a server does (limitador reads its clock inside each check).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One rate-limit decision, counting one hit at `now_ms`.
pub fn rate_limit_at(
    engine: &Engine,
    request: &RateLimitRequest,
    now_ms: u64,
) -> RateLimitResponse {
    engine
        .rate_limit(request, now_ms)
        .expect("Reaper rate limit: the domain is declared")
}

/// One rate-limit decision into a reused response (how a server calls it:
/// no allocation per decision), counting one hit at `now_ms`.
pub fn rate_limit_into(
    engine: &Engine,
    request: &RateLimitRequest,
    now_ms: u64,
    out: &mut RateLimitResponse,
) -> Code {
    engine
        .rate_limit_into(request, now_ms, out)
        .expect("Reaper rate limit: the domain is declared");
    out.overall
}

/// One decision at the current time: `true` when the request is within
/// limits.
pub fn rate_limit(engine: &Engine, request: &RateLimitRequest) -> bool {
    rate_limit_at(engine, request, now_ms()).overall == Code::Ok
}

/// The ids of the rules that decided, sorted.
pub fn reasons(engine: &Engine, decision: &Decision) -> Vec<String> {
    let mut ids: Vec<String> = decision
        .reasons
        .iter()
        .map(|&rule| engine.rule_id(rule).to_owned())
        .collect();
    ids.sort();
    ids
}
