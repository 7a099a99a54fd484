//! Rate limiting, as Envoy's RLS v3 asks for it: a request names a domain
//! and descriptors; every limit of the domain whose conditions hold for a
//! descriptor applies to it, keyed by the limit and its `by` values. Each
//! descriptor's status reports the applying limit closest to tripping.

pub mod counters;

use reaper_lang::eval::EvalError;
use reaper_lang::limits::Algorithm;
use smallvec::SmallVec;
use thiserror::Error;

use crate::engine::Engine;
use crate::strings::LocalStrings;
use crate::value::{Sym, Val};
use crate::vm::{Env, Fault, Registers};
use counters::Limit;

/// A unit of an Envoy per-descriptor limit override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Second,
    Minute,
    Hour,
    Day,
}

impl Unit {
    pub fn millis(self) -> u64 {
        match self {
            Unit::Second => 1_000,
            Unit::Minute => 60_000,
            Unit::Hour => 3_600_000,
            Unit::Day => 86_400_000,
        }
    }
}

/// Envoy's per-descriptor `limit`: replaces the count and period of every
/// limit that applies to the descriptor (counted on their own counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Override {
    pub requests_per_unit: u64,
    pub unit: Unit,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Descriptor {
    /// Ordered key/value entries.
    pub entries: Vec<(String, String)>,
    pub limit: Option<Override>,
    /// Hits to count for this descriptor; `None` or 0 uses the request's.
    pub hits_addend: Option<u64>,
}

impl Descriptor {
    pub fn new<K: Into<String>, V: Into<String>>(entries: Vec<(K, V)>) -> Self {
        Self {
            entries: entries
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitRequest {
    pub domain: String,
    pub descriptors: Vec<Descriptor>,
    /// Hits per descriptor; 0 (what Envoy sends by default) means 1.
    pub hits_addend: u64,
}

impl RateLimitRequest {
    pub fn new(domain: impl Into<String>, descriptors: Vec<Descriptor>) -> Self {
        Self {
            domain: domain.into(),
            descriptors,
            hits_addend: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Ok,
    OverLimit,
}

/// One applying limit's state after this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitStatus {
    /// The limit's index in its domain; [`Engine::limit_name`] names it.
    pub limit: u32,
    pub count: u64,
    pub period_ms: u64,
    pub shadow: bool,
    /// Whether this limit let the hit through.
    pub allowed: bool,
    pub remaining: u64,
    pub reset_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescriptorStatus {
    pub code: Code,
    /// The applying limit closest to tripping (enforced limits first).
    pub current: Option<LimitStatus>,
    /// Every applying limit, in declaration order.
    pub limits: SmallVec<[LimitStatus; 2]>,
    /// Limits whose condition or key failed at run time (and so did not
    /// apply), by index.
    pub errors: Vec<(u32, EvalError)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitResponse {
    /// Over the limit if any descriptor is.
    pub overall: Code,
    pub statuses: Vec<DescriptorStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RateLimitError {
    #[error("no rate-limit domain {0:?} is declared")]
    UnknownDomain(String),
}

/// Which limits apply to a descriptor, without counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitMatch {
    pub limit: u32,
    /// The `by` values that key the counter, or why they could not be
    /// computed.
    pub key: Result<Vec<String>, EvalError>,
}

impl Engine {
    /// The name of limit `limit` of `domain`.
    pub fn limit_name(&self, domain: &str, limit: u32) -> &str {
        self.domain(domain)
            .and_then(|(_, d)| d.limits.get(limit as usize))
            .map_or("?", |l| l.spec.name.as_str())
    }

    fn domain(&self, name: &str) -> Option<(u32, &reaper_lang::bundle::Domain)> {
        let index = self.bundle.domains.iter().position(|d| d.name == name)?;
        Some((
            reaper_lang::schema::index_u32(index),
            &self.bundle.domains[index],
        ))
    }

    /// Counts the request's hits and decides, at time `now_ms` (ms since
    /// the epoch).
    pub fn rate_limit(
        &self,
        request: &RateLimitRequest,
        now_ms: u64,
    ) -> Result<RateLimitResponse, RateLimitError> {
        let (_, domain) = self
            .domain(&request.domain)
            .ok_or_else(|| RateLimitError::UnknownDomain(request.domain.clone()))?;
        let mut statuses = Vec::with_capacity(request.descriptors.len());
        let mut overall = Code::Ok;
        for descriptor in &request.descriptors {
            let hits = match descriptor.hits_addend {
                Some(n) if n > 0 => n,
                _ => request.hits_addend.max(1),
            };
            let status = self.descriptor_status(domain, descriptor, hits, now_ms);
            if status.code == Code::OverLimit {
                overall = Code::OverLimit;
            }
            statuses.push(status);
        }
        Ok(RateLimitResponse { overall, statuses })
    }

    /// The limits of `domain` that apply to `entries`, with their keys.
    pub fn matching_limits(
        &self,
        domain: &str,
        entries: &[(String, String)],
    ) -> Result<Vec<LimitMatch>, RateLimitError> {
        let (_, domain_def) = self
            .domain(domain)
            .ok_or_else(|| RateLimitError::UnknownDomain(domain.to_owned()))?;
        let input = DescriptorInput::new(self, entries);
        let mut out = Vec::new();
        for (index, limit) in domain_def.limits.iter().enumerate() {
            let key = match input.evaluate(self, limit) {
                Evaluated::NotApplicable => continue,
                Evaluated::Failed(error) => Err(error),
                Evaluated::Applies(parts) => Ok(parts
                    .iter()
                    .map(|sym| input.text(self, *sym).to_owned())
                    .collect()),
            };
            out.push(LimitMatch {
                limit: reaper_lang::schema::index_u32(index),
                key,
            });
        }
        Ok(out)
    }

    fn descriptor_status(
        &self,
        domain: &reaper_lang::bundle::Domain,
        descriptor: &Descriptor,
        hits: u64,
        now_ms: u64,
    ) -> DescriptorStatus {
        let input = DescriptorInput::new(self, &descriptor.entries);
        let mut limits: SmallVec<[LimitStatus; 2]> = SmallVec::new();
        let mut errors = Vec::new();
        let mut key: SmallVec<[u8; 128]> = SmallVec::new();
        for (index, limit) in domain.limits.iter().enumerate() {
            let index = reaper_lang::schema::index_u32(index);
            let parts = match input.evaluate(self, limit) {
                Evaluated::NotApplicable => continue,
                Evaluated::Failed(error) => {
                    errors.push((index, error));
                    continue;
                }
                Evaluated::Applies(parts) => parts,
            };
            let mut numbers = Limit::from(&limit.spec);
            // Keyed by names, not positions, so a reloaded policy that
            // reorders its limits keeps each limit's counters.
            key.clear();
            push_text(&mut key, &domain.name);
            push_text(&mut key, &limit.spec.name);
            if let Some(o) = descriptor.limit {
                // As in lyft/ratelimit, an override of 0 refuses every hit.
                numbers.count = o.requests_per_unit;
                numbers.period_ms = o.unit.millis();
                if let Algorithm::TokenBucket { .. } = numbers.algorithm {
                    numbers.algorithm = Algorithm::TokenBucket {
                        burst: numbers.count,
                    };
                }
                // Overridden limits count on counters of their own.
                key.push(1);
                key.extend_from_slice(&numbers.count.to_le_bytes());
                key.extend_from_slice(&numbers.period_ms.to_le_bytes());
            } else {
                key.push(0);
            }
            for sym in &parts {
                push_text(&mut key, input.text(self, *sym));
            }
            let hit = self.counters.hit(&key, &numbers, hits, now_ms);
            limits.push(LimitStatus {
                limit: index,
                count: numbers.count,
                period_ms: numbers.period_ms,
                shadow: limit.spec.shadow,
                allowed: hit.allowed,
                remaining: hit.remaining,
                reset_ms: hit.reset_ms,
            });
        }
        let over = limits.iter().any(|l| !l.allowed && !l.shadow);
        let current = limits
            .iter()
            .min_by_key(|l| {
                (
                    l.shadow,
                    l.allowed,
                    l.remaining,
                    std::cmp::Reverse(l.reset_ms),
                )
            })
            .cloned();
        DescriptorStatus {
            code: if over { Code::OverLimit } else { Code::Ok },
            current,
            limits,
            errors,
        }
    }
}

/// Appends a length-prefixed text, so key parts can never run together.
fn push_text(key: &mut SmallVec<[u8; 128]>, text: &str) {
    key.extend_from_slice(&reaper_lang::schema::index_u32(text.len()).to_le_bytes());
    key.extend_from_slice(text.as_bytes());
}

/// A descriptor's entries as symbols: keys the bundle reads get their
/// symbol (others `Sym::MAX`), values are interned.
struct DescriptorInput {
    entries: SmallVec<[(Sym, Sym); 8]>,
    local: LocalStrings,
}

enum Evaluated {
    NotApplicable,
    Failed(EvalError),
    Applies(SmallVec<[Sym; 4]>),
}

impl DescriptorInput {
    fn new(engine: &Engine, entries: &[(String, String)]) -> Self {
        let mut local = LocalStrings::default();
        let strings = engine.strings();
        let entries = entries
            .iter()
            .map(|(k, v)| (strings.get(k).unwrap_or(Sym::MAX), local.intern(strings, v)))
            .collect();
        Self { entries, local }
    }

    fn text<'a>(&'a self, engine: &'a Engine, sym: Sym) -> &'a str {
        self.local.text(engine.strings(), sym)
    }

    fn evaluate(&self, engine: &Engine, limit: &reaper_lang::bundle::Limit) -> Evaluated {
        let env = Env {
            engine,
            request: None,
            descriptor: &self.entries,
            http: None,
            local: &self.local,
            values: &[],
            ips: &[],
        };
        let mut scratch = Vec::new();
        let mut registers = Registers::new();
        let mut run = |function: u32| match engine.bundle.functions.get(function as usize) {
            Some(code) => {
                scratch.clear();
                env.run::<false>(code, &mut registers, &mut scratch).result
            }
            None => Err(EvalError::Malformed("missing function").into()),
        };
        if let Some(condition) = limit.condition {
            match run(condition) {
                Ok(Val::Bool(true)) => {}
                Ok(Val::Bool(false)) | Err(Fault::NotApplicable) => {
                    return Evaluated::NotApplicable;
                }
                Ok(_) => {
                    return Evaluated::Failed(EvalError::Malformed(
                        "a condition did not give a Bool",
                    ));
                }
                Err(Fault::Error(e)) => return Evaluated::Failed(*e),
            }
        }
        let mut parts = SmallVec::new();
        for key in &limit.keys {
            match run(*key) {
                Ok(Val::Str(sym)) => parts.push(sym),
                Ok(_) => {
                    return Evaluated::Failed(EvalError::Malformed("a key did not give a String"));
                }
                Err(Fault::NotApplicable) => return Evaluated::NotApplicable,
                Err(Fault::Error(e)) => return Evaluated::Failed(*e),
            }
        }
        Evaluated::Applies(parts)
    }
}
