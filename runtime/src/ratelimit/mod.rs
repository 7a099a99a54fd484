//! Rate limiting, as Envoy's RLS v3 asks for it: a request names a domain
//! and descriptors; every limit of the domain whose conditions hold for a
//! descriptor applies to it, keyed by the limit and its `by` values. Each
//! descriptor's status reports the applying limit closest to tripping.

pub mod counters;
mod index;
pub mod json;

use reaper_lang::eval::EvalError;
use reaper_lang::limits::Algorithm;
use reaper_lang::request::{Limits, RequestError};
use smallvec::SmallVec;
use thiserror::Error;

use crate::engine::Engine;
use crate::scratch::Scratch;
use crate::strings::Texts;
use crate::value::{Sym, Val};
use crate::vm::{Env, Fault, Registers};
use counters::{Limit, Sweep};
use index::{Candidates, LimitIndex};

/// A unit of an Envoy per-descriptor limit override (`RateLimitUnit`).
/// Weeks, months and years are fixed lengths, as lyft/ratelimit counts
/// them: 7, 30 and 365 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Unit {
    pub const ALL: [Unit; 7] = [
        Unit::Second,
        Unit::Minute,
        Unit::Hour,
        Unit::Day,
        Unit::Week,
        Unit::Month,
        Unit::Year,
    ];

    pub fn millis(self) -> u64 {
        match self {
            Unit::Second => 1_000,
            Unit::Minute => 60_000,
            Unit::Hour => 3_600_000,
            Unit::Day => 86_400_000,
            Unit::Week => 7 * 86_400_000,
            Unit::Month => 30 * 86_400_000,
            Unit::Year => 365 * 86_400_000,
        }
    }

    /// The unit of Envoy's `RateLimitUnit` number (`SECOND` is 1, `WEEK`
    /// is 7); `None` for `UNKNOWN` and numbers Envoy does not define.
    pub fn from_envoy(number: i32) -> Option<Unit> {
        Unit::ALL.into_iter().find(|u| u.envoy_number() == number)
    }

    /// Envoy's `RateLimitUnit` number of the unit.
    pub fn envoy_number(self) -> i32 {
        match self {
            Unit::Second => 1,
            Unit::Minute => 2,
            Unit::Hour => 3,
            Unit::Day => 4,
            Unit::Month => 5,
            Unit::Year => 6,
            Unit::Week => 7,
        }
    }

    /// The name Envoy's JSON gives the unit (`MINUTE`).
    pub fn name(self) -> &'static str {
        match self {
            Unit::Second => "SECOND",
            Unit::Minute => "MINUTE",
            Unit::Hour => "HOUR",
            Unit::Day => "DAY",
            Unit::Week => "WEEK",
            Unit::Month => "MONTH",
            Unit::Year => "YEAR",
        }
    }

    /// A limit of `count` per `period_ms` as Envoy's `requests_per_unit`
    /// and `unit`: exact when the period is a whole unit (or the rate is a
    /// whole number per some unit: 5 per 10s is 30 per minute), otherwise
    /// the rate per the smallest unit at least as long as the period,
    /// rounded down (7 per 13s is 32 per minute).
    pub fn envoy_rate(count: u64, period_ms: u64) -> (u64, Unit) {
        let period = period_ms.max(1);
        for unit in Unit::ALL {
            let scaled = u128::from(count) * u128::from(unit.millis());
            if unit.millis() >= period && scaled % u128::from(period) == 0 {
                return (
                    u64::try_from(scaled / u128::from(period)).unwrap_or(u64::MAX),
                    unit,
                );
            }
        }
        let unit = Unit::ALL
            .into_iter()
            .find(|u| u.millis() >= period)
            .unwrap_or(Unit::Year);
        let scaled = u128::from(count) * u128::from(unit.millis()) / u128::from(period);
        (u64::try_from(scaled).unwrap_or(u64::MAX), unit)
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
    /// Checks a request built from a decoded message (gRPC) against the
    /// limits JSON decoding applies: descriptors and entries per
    /// descriptor at most `max_set_len`, texts at most `max_string_bytes`.
    /// The error names the field.
    pub fn check_limits(&self, limits: &Limits) -> Result<(), RequestError> {
        let text = |text: &str, path: &dyn Fn() -> String| {
            if text.len() > limits.max_string_bytes {
                return Err(RequestError::at(
                    &path(),
                    format!(
                        "string of {} bytes exceeds the limit of {} bytes",
                        text.len(),
                        limits.max_string_bytes
                    ),
                ));
            }
            Ok(())
        };
        text(&self.domain, &|| "domain".to_owned())?;
        if self.descriptors.len() > limits.max_set_len {
            return Err(RequestError::at(
                "descriptors",
                format!("a request has at most {} descriptors", limits.max_set_len),
            ));
        }
        for (i, descriptor) in self.descriptors.iter().enumerate() {
            if descriptor.entries.len() > limits.max_set_len {
                return Err(RequestError::at(
                    &format!("descriptors[{i}].entries"),
                    format!("a descriptor has at most {} entries", limits.max_set_len),
                ));
            }
            for (j, (key, value)) in descriptor.entries.iter().enumerate() {
                text(key, &|| format!("descriptors[{i}].entries[{j}].key"))?;
                text(value, &|| format!("descriptors[{i}].entries[{j}].value"))?;
            }
        }
        Ok(())
    }

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
    /// The index in `limits` of the one closest to tripping.
    closest: Option<u32>,
    /// Every applying limit, in declaration order.
    pub limits: SmallVec<[LimitStatus; 2]>,
    /// Limits whose condition or key failed at run time (and so did not
    /// apply), by index.
    pub errors: Vec<(u32, EvalError)>,
}

impl DescriptorStatus {
    /// The applying limit closest to tripping: enforced before shadow, over
    /// the limit before under, then the fewest hits remaining.
    pub fn current(&self) -> Option<&LimitStatus> {
        self.limits.get(self.closest? as usize)
    }

    fn empty() -> Self {
        Self {
            code: Code::Ok,
            closest: None,
            limits: SmallVec::new(),
            errors: Vec::new(),
        }
    }
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

/// The work one rate-limit decision did, to bound it in tests without a
/// clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// Limits whose condition (and keys) were evaluated, over all
    /// descriptors: the limit index skips the others.
    pub limits_evaluated: u64,
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
        let mut response = RateLimitResponse {
            overall: Code::Ok,
            statuses: Vec::with_capacity(request.descriptors.len()),
        };
        self.rate_limit_into(request, now_ms, &mut response)?;
        Ok(response)
    }

    /// Like [`Engine::rate_limit`], filling `out` in place (its storage is
    /// reused; the statuses are built where they will be read).
    pub fn rate_limit_into(
        &self,
        request: &RateLimitRequest,
        now_ms: u64,
        out: &mut RateLimitResponse,
    ) -> Result<(), RateLimitError> {
        self.rate_limit_with_work(request, now_ms, out).map(|_| ())
    }

    /// Like [`Engine::rate_limit_into`], also saying how much work the
    /// decision did.
    pub fn rate_limit_with_work(
        &self,
        request: &RateLimitRequest,
        now_ms: u64,
        out: &mut RateLimitResponse,
    ) -> Result<Work, RateLimitError> {
        let mut work = Work::default();
        self.rate_limit_counting(request, out, &mut work, &mut |key, limit, hits| {
            self.counters.hit(key, limit, hits, now_ms)
        })?;
        Ok(work)
    }

    /// Decides `request`, counting each applying limit's hit with `count`.
    fn rate_limit_counting(
        &self,
        request: &RateLimitRequest,
        out: &mut RateLimitResponse,
        work: &mut Work,
        count: &mut impl FnMut(&[u8], &Limit, u64) -> counters::Hit,
    ) -> Result<(), RateLimitError> {
        let (domain_index, domain) = self
            .domain(&request.domain)
            .ok_or_else(|| RateLimitError::UnknownDomain(request.domain.clone()))?;
        out.overall = Code::Ok;
        out.statuses.truncate(request.descriptors.len());
        while out.statuses.len() < request.descriptors.len() {
            out.statuses.push(DescriptorStatus::empty());
        }
        let mut candidates = Candidates::new();
        for (descriptor, status) in request.descriptors.iter().zip(out.statuses.iter_mut()) {
            let hits = match descriptor.hits_addend {
                Some(n) if n > 0 => n,
                _ => request.hits_addend.max(1),
            };
            self.descriptor_status(
                domain_index,
                domain,
                descriptor,
                hits,
                count,
                (status, &mut candidates),
            );
            work.limits_evaluated += candidates.len() as u64;
            if status.code == Code::OverLimit {
                out.overall = Code::OverLimit;
            }
        }
        Ok(())
    }

    /// Drops rate-limit counters that expired by `now_ms`, examining at
    /// most about `budget` of them (see [`counters::MemoryCounters::sweep_some`]).
    /// The engine starts no thread: the embedder calls this from its timer
    /// (a server every second or so, with a budget of a few thousand).
    pub fn sweep_counters(&self, now_ms: u64, budget: usize) -> Sweep {
        self.counters.sweep_some(now_ms, budget)
    }

    /// The limits of `domain` that apply to `entries`, with their keys.
    pub fn matching_limits(
        &self,
        domain: &str,
        entries: &[(String, String)],
    ) -> Result<Vec<LimitMatch>, RateLimitError> {
        let (domain_index, _) = self
            .domain(domain)
            .ok_or_else(|| RateLimitError::UnknownDomain(domain.to_owned()))?;
        let input = DescriptorInput::new(self, entries);
        let mut out = Vec::new();
        let Some(domain) = self.limit_code.get(domain_index as usize) else {
            return Ok(out);
        };
        let mut candidates = Candidates::new();
        input.candidates(self, &domain.index, &mut candidates);
        for &index in &candidates {
            let Some(limit) = domain.limits.get(index as usize) else {
                continue;
            };
            let mut parts = Vec::new();
            let key = match input.evaluate(self, limit, |text| parts.push(text.to_owned())) {
                Evaluated::NotApplicable => continue,
                Evaluated::Failed(error) => Err(error),
                Evaluated::Applies => Ok(parts),
            };
            out.push(LimitMatch { limit: index, key });
        }
        Ok(out)
    }

    /// Fills `out` for one descriptor, trying the limits the index gives
    /// (left in `candidates`).
    fn descriptor_status(
        &self,
        domain_index: u32,
        domain: &reaper_lang::bundle::Domain,
        descriptor: &Descriptor,
        hits: u64,
        count: &mut impl FnMut(&[u8], &Limit, u64) -> counters::Hit,
        (out, candidates): (&mut DescriptorStatus, &mut Candidates),
    ) {
        let input = DescriptorInput::new(self, &descriptor.entries);
        out.limits.clear();
        out.errors.clear();
        candidates.clear();
        let limits = &mut out.limits;
        let errors = &mut out.errors;
        let mut key = KeyBuf::new();
        let Some(code) = self.limit_code.get(domain_index as usize) else {
            return;
        };
        input.candidates(self, &code.index, candidates);
        for &index in candidates.iter() {
            let (Some(limit), Some(code)) = (
                domain.limits.get(index as usize),
                code.limits.get(index as usize),
            ) else {
                continue;
            };
            // The key: this limit's prefix, then its `by` values (or, with an
            // Envoy override, the override's numbers first).
            key.clear();
            key.extend_from_slice(&code.key_prefix);
            let mut numbers = Limit::from(&limit.spec);
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
            match input.evaluate(self, code, |text| push_text(&mut key, text)) {
                Evaluated::NotApplicable => continue,
                Evaluated::Failed(error) => {
                    errors.push((index, error));
                    continue;
                }
                Evaluated::Applies => {}
            }
            let hit = count(&key, &numbers, hits);
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
        out.settle();
    }

    /// Works out which counter hits `request` needs, without counting:
    /// what a remote backend counts in one round trip. The hits are in
    /// descriptor order, then limit order; [`Engine::complete_rate_limit`]
    /// takes their results in the same order.
    pub fn plan_rate_limit(
        &self,
        request: &RateLimitRequest,
    ) -> Result<RateLimitPlan, RateLimitError> {
        let mut planned = Vec::new();
        let mut response = RateLimitResponse {
            overall: Code::Ok,
            statuses: Vec::with_capacity(request.descriptors.len()),
        };
        let mut work = Work::default();
        self.rate_limit_counting(
            request,
            &mut response,
            &mut work,
            &mut |key, limit, hits| {
                planned.push(CounterHit {
                    key: Box::from(key),
                    limit: *limit,
                    hits,
                });
                // Placeholder until the backend answers.
                counters::Hit {
                    allowed: true,
                    remaining: u64::MAX,
                    reset_ms: 0,
                }
            },
        )?;
        Ok(RateLimitPlan {
            hits: planned,
            response,
            work,
        })
    }

    /// The decision once a backend has counted `plan.hits` and answered
    /// `results`, one per hit in order. A hit without a result (a backend
    /// that answered fewer) counts as allowed with nothing remaining.
    pub fn complete_rate_limit(
        plan: RateLimitPlan,
        results: impl IntoIterator<Item = counters::Hit>,
    ) -> RateLimitResponse {
        let mut response = plan.response;
        let mut results = results.into_iter();
        response.overall = Code::Ok;
        for status in &mut response.statuses {
            for limit in &mut status.limits {
                let hit = results.next().unwrap_or(counters::Hit {
                    allowed: true,
                    remaining: 0,
                    reset_ms: 0,
                });
                limit.allowed = hit.allowed;
                limit.remaining = hit.remaining;
                limit.reset_ms = hit.reset_ms;
            }
            status.settle();
            if status.code == Code::OverLimit {
                response.overall = Code::OverLimit;
            }
        }
        response
    }
}

/// A counter hit a rate-limit decision needs: the counter's key, the
/// numbers it is checked against, and the hits to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterHit {
    pub key: Box<[u8]>,
    pub limit: Limit,
    pub hits: u64,
}

/// A rate-limit decision waiting for its counters (see
/// [`Engine::plan_rate_limit`]).
#[derive(Debug, Clone)]
pub struct RateLimitPlan {
    /// What to count, in order.
    pub hits: Vec<CounterHit>,
    response: RateLimitResponse,
    pub work: Work,
}

impl DescriptorStatus {
    /// Picks the limit closest to tripping and the code, from `limits`.
    fn settle(&mut self) {
        let over = self.limits.iter().any(|l| !l.allowed && !l.shadow);
        self.closest = self
            .limits
            .iter()
            .enumerate()
            .min_by_key(|(_, l)| {
                (
                    l.shadow,
                    l.allowed,
                    l.remaining,
                    std::cmp::Reverse(l.reset_ms),
                )
            })
            .map(|(i, _)| reaper_lang::schema::index_u32(i));
        self.code = if over { Code::OverLimit } else { Code::Ok };
    }
}

/// A counter key under construction: on the stack up to 192 bytes (nearly
/// every key), on the heap beyond.
type KeyBuf = SmallVec<[u8; 192]>;

/// Appends a length-prefixed text, so key parts can never run together.
fn push_text(key: &mut KeyBuf, text: &str) {
    key.extend_from_slice(&reaper_lang::schema::index_u32(text.len()).to_le_bytes());
    key.extend_from_slice(text.as_bytes());
}

/// A limit prepared for evaluation: its condition and keys, with the tiny
/// functions most limits have (`descriptor has k`, `descriptor.k`) answered
/// without the VM, and its counter-key prefix (domain and limit names).
#[derive(Debug)]
pub(crate) struct LimitCode {
    condition: Option<Shape>,
    keys: SmallVec<[Shape; 2]>,
    key_prefix: Box<[u8]>,
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    /// `has.entry k; ret`
    HasEntry(Sym),
    /// `entry k; ret`
    Entry(Sym),
    /// Anything else: run this function.
    Run(u32),
}

impl Shape {
    fn of(bundle: &reaper_lang::bundle::Bundle, function: u32) -> Shape {
        use reaper_lang::bytecode::Op;
        let code = bundle
            .functions
            .get(function as usize)
            .map(|f| f.code.as_slice());
        match code {
            Some([Op::HasEntry { dst, key }, Op::Return { src }]) if dst == src => {
                Shape::HasEntry(*key)
            }
            Some([Op::Entry { dst, key }, Op::Return { src }]) if dst == src => Shape::Entry(*key),
            _ => Shape::Run(function),
        }
    }
}

/// Every descriptor key some limit function reads, with its symbol.
pub(crate) fn entry_keys(bundle: &reaper_lang::bundle::Bundle) -> Vec<(Box<str>, Sym)> {
    use reaper_lang::bytecode::Op;
    let mut keys: Vec<(Box<str>, Sym)> = Vec::new();
    for op in bundle.functions.iter().flat_map(|f| f.code.iter()) {
        if let Op::Entry { key, .. } | Op::HasEntry { key, .. } = *op
            && let Some(text) = bundle.strings.get(key as usize)
            && !keys.iter().any(|(_, k)| *k == key)
        {
            keys.push((text.as_str().into(), key));
        }
    }
    keys
}

/// One domain's limits prepared for evaluation, and their index.
#[derive(Debug)]
pub(crate) struct DomainCode {
    limits: Vec<LimitCode>,
    index: LimitIndex,
}

/// The limits of every domain, in bundle order.
pub(crate) fn limit_codes(bundle: &reaper_lang::bundle::Bundle) -> Vec<DomainCode> {
    bundle
        .domains
        .iter()
        .map(|domain| DomainCode {
            limits: domain
                .limits
                .iter()
                .map(|limit| {
                    let mut prefix = KeyBuf::new();
                    push_text(&mut prefix, &domain.name);
                    push_text(&mut prefix, &limit.spec.name);
                    LimitCode {
                        condition: limit.condition.map(|f| Shape::of(bundle, f)),
                        keys: limit.keys.iter().map(|f| Shape::of(bundle, *f)).collect(),
                        key_prefix: Box::from(prefix.as_slice()),
                    }
                })
                .collect(),
            index: LimitIndex::new(
                bundle,
                domain
                    .limits
                    .iter()
                    .map(|l| (l.condition, l.keys.as_slice())),
            ),
        })
        .collect()
}

/// A descriptor prepared for its limits. Keys the bundle reads get their
/// symbol (others `Sym::MAX`). Values are interned only when a limit's code
/// needs symbols (to compare them); the common limits that only test and
/// read entries take their text straight from the descriptor.
struct DescriptorInput<'a> {
    raw: &'a [(String, String)],
    keys: SmallVec<[Sym; 8]>,
    symbols: std::cell::OnceCell<Symbols<'a>>,
}

/// Entries as (key, value) symbols; values the bundle lacks point at the
/// descriptor's own text.
struct Symbols<'a> {
    entries: SmallVec<[(Sym, Sym); 8]>,
    texts: SmallVec<[&'a str; 8]>,
}

/// One part of a counter key.
#[derive(Clone)]
enum Part<'a> {
    Text(&'a str),
    Symbol(Sym),
    /// Text the limit's code built.
    Owned(String),
}

enum Evaluated {
    NotApplicable,
    Failed(EvalError),
    /// The limit applies; its key parts went to the caller's callback.
    Applies,
}

impl<'a> DescriptorInput<'a> {
    fn new(engine: &Engine, entries: &'a [(String, String)]) -> Self {
        let mut keys = SmallVec::new();
        for (k, _) in entries {
            // Only keys the bundle reads matter; there are few.
            let key = engine
                .entry_keys
                .iter()
                .find(|(text, _)| **text == **k)
                .map_or(Sym::MAX, |(_, sym)| *sym);
            keys.push(key);
        }
        Self {
            raw: entries,
            keys,
            symbols: std::cell::OnceCell::new(),
        }
    }

    fn symbols(&self, engine: &Engine) -> &Symbols<'a> {
        self.symbols.get_or_init(|| {
            let strings = engine.strings();
            let mut texts: SmallVec<[&'a str; 8]> = SmallVec::new();
            let mut entries = SmallVec::new();
            for ((_, v), key) in self.raw.iter().zip(&self.keys) {
                let value = match strings.get(v) {
                    Some(sym) => sym,
                    None => {
                        // Equal texts must share a symbol.
                        let index =
                            texts
                                .iter()
                                .position(|t| *t == v.as_str())
                                .unwrap_or_else(|| {
                                    texts.push(v.as_str());
                                    texts.len() - 1
                                });
                        strings
                            .len()
                            .saturating_add(reaper_lang::schema::index_u32(index))
                    }
                };
                entries.push((*key, value));
            }
            Symbols { entries, texts }
        })
    }

    /// The limits of `index` this descriptor must try.
    fn candidates(&self, engine: &Engine, index: &LimitIndex, out: &mut Candidates) {
        index.candidates(
            &self.keys,
            |i| self.raw.get(i).and_then(|(_, v)| engine.strings().get(v)),
            out,
        );
    }

    /// The text of the first entry with `key`.
    fn entry(&self, key: Sym) -> Option<&'a str> {
        let index = self.keys.iter().position(|k| *k == key)?;
        self.raw.get(index).map(|(_, v)| v.as_str())
    }

    fn text<'s>(&'s self, engine: &'s Engine, part: &'s Part<'s>) -> &'s str {
        match part {
            Part::Text(text) => text,
            Part::Symbol(sym) => {
                Texts::Borrowed(&self.symbols(engine).texts).text(engine.strings(), *sym)
            }
            Part::Owned(text) => text,
        }
    }

    /// Evaluates the limit's condition and keys, handing each key part's
    /// text to `part` as it is computed.
    fn evaluate(
        &self,
        engine: &Engine,
        limit: &LimitCode,
        mut part: impl FnMut(&str),
    ) -> Evaluated {
        let mut scratch = Scratch::default();
        let mut registers = None;
        let mut run = |shape: Shape| -> Result<Result<Part<'a>, Val>, Fault> {
            match shape {
                Shape::HasEntry(key) => Ok(Err(Val::Bool(self.entry(key).is_some()))),
                Shape::Entry(key) => self
                    .entry(key)
                    .map(|t| Ok(Part::Text(t)))
                    .ok_or(Fault::NotApplicable),
                Shape::Run(function) => {
                    let code = engine
                        .bundle
                        .functions
                        .get(function as usize)
                        .ok_or_else(|| Fault::from(EvalError::Malformed("missing function")))?;
                    let symbols = self.symbols(engine);
                    let env = Env {
                        engine,
                        request: None,
                        descriptor: &symbols.entries,
                        http: None,
                        local: Texts::Borrowed(&symbols.texts),
                        values: &[],
                        ips: &[],
                    };
                    scratch.clear();
                    let registers = registers.get_or_insert_with(Registers::new);
                    match env.run::<false>(code, registers, &mut scratch).result? {
                        // A string built by the code (`a + b`) lives in the
                        // scratch, which the next run clears: copy it.
                        Val::Str(sym) if sym >= engine.strings().len() + env.local.len() => {
                            Ok(Ok(Part::Owned(env.text(&scratch, sym).to_owned())))
                        }
                        Val::Str(sym) => Ok(Ok(Part::Symbol(sym))),
                        other => Ok(Err(other)),
                    }
                }
            }
        };
        if let Some(condition) = limit.condition {
            match run(condition) {
                Ok(Err(Val::Bool(true))) => {}
                Ok(Err(Val::Bool(false))) | Err(Fault::NotApplicable) => {
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
        for key in &limit.keys {
            match run(*key) {
                Ok(Ok(p)) => part(self.text(engine, &p)),
                Ok(Err(_)) => {
                    return Evaluated::Failed(EvalError::Malformed("a key did not give a String"));
                }
                Err(Fault::NotApplicable) => return Evaluated::NotApplicable,
                Err(Fault::Error(e)) => return Evaluated::Failed(*e),
            }
        }
        Evaluated::Applies
    }
}
