//! `envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`: Envoy's
//! global rate-limit protocol, answered as lyft/ratelimit answers it —
//! overall code, one status per descriptor in order (the applying limit
//! closest to tripping as `current_limit`, `limit_remaining`,
//! `duration_until_reset`), an unknown domain OK (and counted), and
//! optionally the `x-ratelimit-*` response headers Envoy users know. The
//! counting is `ops::ratelimit`'s, as for `/v1/ratelimit` and Reaper's own
//! `RateLimit`, whose request conversion lives here too.

use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::HeaderValue;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::{
    Code as EnvoyCode, DescriptorStatus, RateLimit,
};
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitService;
use envoy_types::pb::envoy::service::ratelimit::v3::{
    RateLimitRequest as EnvoyRequest, RateLimitResponse as EnvoyResponse,
};
use reaper_runtime::ratelimit::{
    Code, Descriptor, LimitStatus, Override, RateLimitRequest, RateLimitResponse, Unit,
};
use tonic::{Request, Response, Status};

use super::tagged;
use crate::ops::ratelimit::{Outcome, decide};
use crate::state::Shared;

/// The Envoy rate-limit service.
#[derive(Debug, Clone)]
pub struct Rls {
    pub shared: Arc<Shared>,
}

#[tonic::async_trait]
impl RateLimitService for Rls {
    async fn should_rate_limit(
        &self,
        request: Request<EnvoyRequest>,
    ) -> Result<Response<EnvoyResponse>, Status> {
        let envoy = request.into_inner();
        let request = from_parts(
            envoy.domain,
            envoy.hits_addend,
            envoy.descriptors.into_iter().map(|d| {
                Ok(Parts {
                    entries: d.entries.into_iter().map(|e| (e.key, e.value)).collect(),
                    limit: d.limit.map(|l| (l.requests_per_unit, l.unit)),
                    hits_addend: d.hits_addend.map(|h| h.value),
                    negative: d.is_negative_hits,
                })
            }),
        )?;
        let world = self.shared.world();
        let outcome = decide(&self.shared, &world, &request)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let response = match outcome {
            Outcome::UnknownDomain => EnvoyResponse {
                overall_code: EnvoyCode::Ok as i32,
                statuses: request
                    .descriptors
                    .iter()
                    .map(|_| DescriptorStatus {
                        code: EnvoyCode::Ok as i32,
                        ..DescriptorStatus::default()
                    })
                    .collect(),
                ..EnvoyResponse::default()
            },
            Outcome::Decided(decided) => {
                let engine = &world.engine;
                let domain = &request.domain;
                EnvoyResponse {
                    overall_code: envoy_code(decided.overall),
                    statuses: decided
                        .statuses
                        .iter()
                        .map(|status| {
                            let current = status.current();
                            DescriptorStatus {
                                code: envoy_code(status.code),
                                current_limit: current.map(|c| {
                                    let (name, requests_per_unit, unit) =
                                        current_limit(engine, domain, c);
                                    RateLimit {
                                        name,
                                        requests_per_unit: saturate(requests_per_unit),
                                        unit,
                                    }
                                }),
                                limit_remaining: current.map_or(0, |c| saturate(c.remaining)),
                                duration_until_reset: current.map(|c| duration(c.reset_ms)),
                                ..DescriptorStatus::default()
                            }
                        })
                        .collect(),
                    response_headers_to_add: if self.shared.envoy.ratelimit_headers {
                        ratelimit_headers(&decided)
                    } else {
                        Vec::new()
                    },
                    ..EnvoyResponse::default()
                }
            }
        };
        Ok(tagged(Response::new(response), &world, None))
    }
}

/// A limit as Envoy states a rate: its name, `requests_per_unit` and
/// Envoy's unit number (5 per 10s is 30 per MINUTE; see `Unit::envoy_rate`).
pub(super) fn current_limit(
    engine: &reaper_runtime::Engine,
    domain: &str,
    limit: &LimitStatus,
) -> (String, u64, i32) {
    let (requests_per_unit, unit) = Unit::envoy_rate(limit.count, limit.period_ms);
    (
        engine.limit_name(domain, limit.limit).to_owned(),
        requests_per_unit,
        unit.envoy_number(),
    )
}

fn envoy_code(code: Code) -> i32 {
    match code {
        Code::Ok => EnvoyCode::Ok as i32,
        Code::OverLimit => EnvoyCode::OverLimit as i32,
    }
}

fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

pub(super) fn duration(ms: u64) -> envoy_types::pb::google::protobuf::Duration {
    envoy_types::pb::google::protobuf::Duration {
        seconds: i64::try_from(ms / 1000).unwrap_or(i64::MAX),
        nanos: i32::try_from((ms % 1000) * 1_000_000).unwrap_or(0),
    }
}

/// One descriptor as either gRPC API carries it.
pub(super) struct Parts {
    pub entries: Vec<(String, String)>,
    /// `requests_per_unit` and Envoy's unit number.
    pub limit: Option<(u32, i32)>,
    pub hits_addend: Option<u64>,
    /// Envoy's `is_negative_hits` (a refund), which Reaper does not do.
    pub negative: bool,
}

/// A rate-limit request from either gRPC API's message, refused as
/// lyft/ratelimit refuses one (an empty domain, no descriptors) or with
/// the field at fault.
pub(super) fn from_parts(
    domain: String,
    hits_addend: u32,
    descriptors: impl Iterator<Item = Result<Parts, Status>>,
) -> Result<RateLimitRequest, Status> {
    if domain.is_empty() {
        return Err(Status::invalid_argument(
            "domain: the rate-limit domain must not be empty",
        ));
    }
    let mut out = Vec::new();
    for (i, parts) in descriptors.enumerate() {
        let parts = parts?;
        if parts.negative {
            return Err(Status::invalid_argument(format!(
                "descriptors[{i}].is_negative_hits: Reaper does not refund hits"
            )));
        }
        let limit = match parts.limit {
            None => None,
            Some((requests_per_unit, unit)) => Some(Override {
                requests_per_unit: u64::from(requests_per_unit),
                unit: Unit::from_envoy(unit).ok_or_else(|| {
                    Status::invalid_argument(format!(
                        "descriptors[{i}].limit.unit: {unit} is not a unit (SECOND 1, MINUTE 2, HOUR 3, DAY 4, MONTH 5, YEAR 6, WEEK 7)"
                    ))
                })?,
            }),
        };
        out.push(Descriptor {
            entries: parts.entries,
            limit,
            hits_addend: parts.hits_addend,
        });
    }
    if out.is_empty() {
        return Err(Status::invalid_argument(
            "descriptors: a rate-limit request needs at least one descriptor",
        ));
    }
    let request = RateLimitRequest {
        domain,
        descriptors: out,
        hits_addend: u64::from(hits_addend),
    };
    request
        .check_limits(&reaper_lang::request::Limits::default())
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
    Ok(request)
}

/// The `x-ratelimit-limit`, `-remaining` and `-reset` headers of the
/// draft Envoy implements (draft-ietf-httpapi-ratelimit-headers-03), for
/// the enforced limit closest to tripping over all descriptors:
/// `x-ratelimit-limit: 10, 10;w=60, 1000;w=3600` (the current limit, then
/// every enforced limit that applied with its window in seconds),
/// `x-ratelimit-remaining: 7`, `x-ratelimit-reset: 42` (seconds, rounded
/// up). No header when no enforced limit applied.
pub fn ratelimit_headers(response: &RateLimitResponse) -> Vec<HeaderValue> {
    let enforced = || {
        response
            .statuses
            .iter()
            .flat_map(|s| s.limits.iter())
            .filter(|l| !l.shadow)
    };
    let Some(closest) =
        enforced().min_by_key(|l| (l.allowed, l.remaining, std::cmp::Reverse(l.reset_ms)))
    else {
        return Vec::new();
    };
    let mut policies: Vec<(u64, u64)> = Vec::new();
    for limit in enforced() {
        let policy = (limit.count, limit.period_ms.div_ceil(1000));
        if !policies.contains(&policy) {
            policies.push(policy);
        }
    }
    let mut limit = closest.count.to_string();
    for (count, window) in policies {
        limit.push_str(&format!(", {count};w={window}"));
    }
    let header = |key: &str, value: String| HeaderValue {
        key: key.to_owned(),
        value,
        ..HeaderValue::default()
    };
    vec![
        header("x-ratelimit-limit", limit),
        header("x-ratelimit-remaining", remaining(closest).to_string()),
        header(
            "x-ratelimit-reset",
            closest.reset_ms.div_ceil(1000).to_string(),
        ),
    ]
}

fn remaining(limit: &LimitStatus) -> u64 {
    if limit.allowed { limit.remaining } else { 0 }
}
