//! `reaper.v1.Reaper`: the HTTP API over gRPC, on the same operations
//! (`ops/`), with messages that carry the HTTP JSON's fields.

use std::sync::Arc;

use prost::Message;
use reaper_proto::v1 as pb;
use reaper_proto::v1::reaper_server::Reaper;
use reaper_runtime::ratelimit::{Code, RateLimitResponse};
use tonic::{Request, Response, Status};

use super::ratelimit::{Parts, current_limit, from_parts};
use super::tagged;
use crate::auth::Identity;
use crate::auth::claims::{bind_authorize, explain};
use crate::observe::RequestRef;
use crate::ops::ApiError;
use crate::ops::admin::{self, check_admin};
use crate::ops::authorize::{DecisionBody, MAX_BATCH, decide, prepare as authorize_prepare};
use crate::ops::ratelimit::{Outcome, decide as decide_rate_limit};
use crate::ops::store::{self, Caller, CallerFields, Write};
use crate::state::{ReloadRecord, Shared, World};

#[derive(Debug, Clone)]
pub struct ReaperService {
    pub shared: Arc<Shared>,
}

const CALLER: CallerFields = CallerFields {
    principal: "caller.principal",
    context: "caller.context",
};

fn caller<'a>(caller: Option<&'a pb::Caller>, identity: Option<&'a Identity>) -> Caller<'a> {
    Caller {
        principal: caller.map(|c| c.principal.as_str()),
        context: caller.map(|c| c.context.as_str()),
        fields: CALLER,
        identity,
    }
}

/// The caller as its bearer token says (`[auth]`), put there by the auth
/// layer.
fn identity<T>(request: &Request<T>) -> Option<Arc<Identity>> {
    request.extensions().get::<Arc<Identity>>().cloned()
}

/// [`prepare`], for a request bound to the caller's token when
/// `[auth.principal] authorize = true`: then written out as JSON, bound,
/// and decoded from that JSON, which is returned for the decision log.
fn prepare_bound(
    world: &World,
    identity: Option<&Identity>,
    bytes: &[u8],
) -> Result<(reaper_runtime::Request, Option<String>), ApiError> {
    if !identity.is_some_and(|i| i.authorize && i.principal.is_some()) {
        return Ok((prepare(world, bytes)?, None));
    }
    let json =
        reaper_runtime::Engine::protobuf_request_json(bytes).map_err(|e| ApiError::request(&e))?;
    let bound = bind_authorize(identity, &json)?.into_owned();
    let request = authorize_prepare(world, &bound).map_err(|e| explain(identity, e))?;
    Ok((request, Some(bound)))
}

/// Decodes one request in `world` (the runtime reads the protobuf form
/// itself, straight into its evaluation form) and completes it from the
/// held entity data.
/// Decodes a request (its protobuf bytes, which the decision log keeps).
fn prepare(world: &World, bytes: &[u8]) -> Result<reaper_runtime::Request, ApiError> {
    let _span = crate::traced_span!("decode").entered();
    let decoded = world
        .engine
        .decode_request_protobuf(bytes)
        .map_err(|e| ApiError::request(&e))?;
    Ok(world.engine.complete_request(decoded, &world.held))
}

fn decision(body: DecisionBody) -> pb::AuthorizeResponse {
    pb::AuthorizeResponse {
        decision: if body.decision == "allow" {
            pb::Effect::Allow
        } else {
            pb::Effect::Deny
        } as i32,
        reasons: body.reasons,
        errors: body
            .errors
            .into_iter()
            .map(|e| pb::RuleError {
                rule: e.rule,
                error: e.error,
            })
            .collect(),
        policy: body.policy,
        decision_id: body.decision_id,
    }
}

#[tonic::async_trait]
impl Reaper for ReaperService {
    async fn authorize(
        &self,
        request: Request<pb::AuthorizeRequest>,
    ) -> Result<Response<pb::AuthorizeResponse>, Status> {
        let identity = identity(&request);
        let world = self.shared.world();
        let bytes = request.get_ref().encode_to_vec();
        let (prepared, json) = prepare_bound(&world, identity.as_deref(), &bytes)?;
        let body = decide(
            &self.shared,
            &world.engine,
            &prepared,
            "authorize",
            json.as_deref()
                .map_or(RequestRef::Protobuf(&bytes), RequestRef::Json),
        );
        let id = body.decision_id.clone();
        Ok(tagged(Response::new(decision(body)), &world, Some(&id)))
    }

    async fn authorize_batch(
        &self,
        request: Request<pb::AuthorizeBatchRequest>,
    ) -> Result<Response<pb::AuthorizeBatchResponse>, Status> {
        let identity = identity(&request);
        let batch = request.into_inner();
        if batch.requests.len() > MAX_BATCH {
            return Err(Status::invalid_argument(format!(
                "requests: a batch holds at most {MAX_BATCH} requests"
            )));
        }
        let world = self.shared.world();
        let results = batch
            .requests
            .iter()
            .enumerate()
            .map(|(i, item)| (i, item.encode_to_vec()))
            .map(
                |(i, bytes)| match prepare_bound(&world, identity.as_deref(), &bytes) {
                    Ok((prepared, json)) => pb::batch_result::Result::Decision(decision(decide(
                        &self.shared,
                        &world.engine,
                        &prepared,
                        "authorize",
                        json.as_deref()
                            .map_or(RequestRef::Protobuf(&bytes), RequestRef::Json),
                    ))),
                    Err(error) => {
                        let detail = error.body.error;
                        pb::batch_result::Result::Error(pb::Error {
                            code: detail.code.to_owned(),
                            message: detail.message,
                            field: match detail.field {
                                Some(f) => format!("requests[{i}].{f}"),
                                None => format!("requests[{i}]"),
                            },
                        })
                    }
                },
            )
            .map(|result| pb::BatchResult {
                result: Some(result),
            })
            .collect();
        let response = pb::AuthorizeBatchResponse {
            results,
            policy: world.engine.hash().to_owned(),
        };
        Ok(tagged(Response::new(response), &world, None))
    }

    async fn rate_limit(
        &self,
        request: Request<pb::RateLimitRequest>,
    ) -> Result<Response<pb::RateLimitResponse>, Status> {
        let message = request.into_inner();
        let request = from_parts(
            message.domain,
            message.hits_addend,
            message.descriptors.into_iter().map(|d| {
                Ok(Parts {
                    entries: d.entries.into_iter().map(|e| (e.key, e.value)).collect(),
                    limit: d.limit.map(|l| (l.requests_per_unit, l.unit)),
                    hits_addend: d.hits_addend,
                    negative: false,
                })
            }),
        )?;
        let world = self.shared.world();
        let outcome = decide_rate_limit(&self.shared, &world, &request)
            .await
            .map_err(ApiError::from)?;
        let response = match outcome {
            Outcome::UnknownDomain => pb::RateLimitResponse {
                overall_code: pb::Code::Ok as i32,
                statuses: request
                    .descriptors
                    .iter()
                    .map(|_| pb::DescriptorStatus {
                        code: pb::Code::Ok as i32,
                        ..pb::DescriptorStatus::default()
                    })
                    .collect(),
                policy: world.engine.hash().to_owned(),
                unknown_domain: true,
            },
            Outcome::Decided(decided) => rate_limit_response(&world, &request.domain, &decided),
        };
        Ok(tagged(Response::new(response), &world, None))
    }

    async fn store_get(
        &self,
        request: Request<pb::StoreGetRequest>,
    ) -> Result<Response<pb::StoreGetResponse>, Status> {
        let identity = identity(&request);
        let message = request.into_inner();
        let world = self.shared.world();
        let got = store::get(
            &self.shared,
            &world,
            &message.namespace,
            &message.key,
            &caller(message.caller.as_ref(), identity.as_deref()),
        )
        .await?;
        let response = pb::StoreGetResponse {
            value: got.value.to_vec(),
            expires_at_ms: got.expires_at,
            ttl_ms: got.ttl_ms,
            decision_id: got.decided.id.clone(),
            policy: world.engine.hash().to_owned(),
        };
        Ok(tagged(
            Response::new(response),
            &world,
            Some(&got.decided.id),
        ))
    }

    async fn store_put(
        &self,
        request: Request<pb::StorePutRequest>,
    ) -> Result<Response<pb::StorePutResponse>, Status> {
        let identity = identity(&request);
        let message = request.into_inner();
        let world = self.shared.world();
        let write = Write {
            value: bytes::Bytes::from(message.value),
            ttl: Some(message.ttl.as_str()),
            create_only: message.create_only,
        };
        let stored = store::put(
            &self.shared,
            &world,
            &message.namespace,
            &message.key,
            &caller(message.caller.as_ref(), identity.as_deref()),
            write,
        )
        .await?;
        let response = pb::StorePutResponse {
            expires_at_ms: stored.expires_at,
            decision_id: stored.decided.id.clone(),
            policy: world.engine.hash().to_owned(),
        };
        Ok(tagged(
            Response::new(response),
            &world,
            Some(&stored.decided.id),
        ))
    }

    async fn store_delete(
        &self,
        request: Request<pb::StoreDeleteRequest>,
    ) -> Result<Response<pb::StoreDeleteResponse>, Status> {
        let identity = identity(&request);
        let message = request.into_inner();
        let world = self.shared.world();
        let decided = store::delete(
            &self.shared,
            &world,
            &message.namespace,
            &message.key,
            &caller(message.caller.as_ref(), identity.as_deref()),
        )
        .await?;
        let response = pb::StoreDeleteResponse {
            decision_id: decided.id.clone(),
            policy: world.engine.hash().to_owned(),
        };
        Ok(tagged(Response::new(response), &world, Some(&decided.id)))
    }

    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let status = admin::status(&self.shared);
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let response = pb::StatusResponse {
            policy: Some(pb::PolicyInfo {
                hash: status.policy.hash,
                package: status.policy.package.unwrap_or_default(),
                loaded_at: status.policy.loaded_at,
                rules: count(status.policy.rules),
                limits: count(status.policy.limits),
                domains: status.policy.domains,
                stores: status.policy.stores,
            }),
            entities: count(status.entities),
            backend: Some(pb::BackendInfo {
                kind: status.backend.kind.to_owned(),
                counters: count(status.backend.counters),
                namespaces: status
                    .backend
                    .namespaces
                    .into_iter()
                    .map(|n| pb::NamespaceStats {
                        namespace: n.namespace,
                        keys: n.keys,
                        bytes: n.bytes,
                    })
                    .collect(),
                health: Some(health(status.backend.health)),
            }),
            last_reload: Some(record(status.last_reload)),
        };
        Ok(Response::new(response))
    }

    async fn reload(
        &self,
        request: Request<pb::ReloadRequest>,
    ) -> Result<Response<pb::ReloadResponse>, Status> {
        let headers = request.metadata().clone().into_headers();
        check_admin(&self.shared, &headers)?;
        let done = admin::reload(&self.shared).await?;
        Ok(Response::new(pb::ReloadResponse {
            record: Some(record(done)),
        }))
    }
}

fn record(record: ReloadRecord) -> pb::ReloadRecord {
    pb::ReloadRecord {
        at: record.at,
        trigger: record.trigger.to_owned(),
        ok: record.ok,
        policy: record.policy,
        error: record.error.unwrap_or_default(),
    }
}

fn rate_limit_response(
    world: &World,
    domain: &str,
    decided: &RateLimitResponse,
) -> pb::RateLimitResponse {
    let engine = &world.engine;
    let code = |code: Code| match code {
        Code::Ok => pb::Code::Ok as i32,
        Code::OverLimit => pb::Code::OverLimit as i32,
    };
    pb::RateLimitResponse {
        overall_code: code(decided.overall),
        statuses: decided
            .statuses
            .iter()
            .map(|status| {
                let current = status.current();
                pb::DescriptorStatus {
                    code: code(status.code),
                    current_limit: current.map(|c| {
                        let (name, requests_per_unit, unit) = current_limit(engine, domain, c);
                        pb::CurrentLimit {
                            name,
                            requests_per_unit,
                            unit,
                        }
                    }),
                    limit_remaining: current.map_or(0, |c| c.remaining),
                    duration_until_reset_ms: current.map_or(0, |c| c.reset_ms),
                    limits: status
                        .limits
                        .iter()
                        .map(|l| pb::LimitState {
                            name: engine.limit_name(domain, l.limit).to_owned(),
                            count: l.count,
                            period_ms: l.period_ms,
                            shadow: l.shadow,
                            allowed: l.allowed,
                            remaining: l.remaining,
                            reset_ms: l.reset_ms,
                        })
                        .collect(),
                    errors: status
                        .errors
                        .iter()
                        .map(|(limit, error)| pb::LimitError {
                            limit: engine.limit_name(domain, *limit).to_owned(),
                            error: error.to_string(),
                        })
                        .collect(),
                }
            })
            .collect(),
        policy: engine.hash().to_owned(),
        unknown_domain: false,
    }
}

fn health(health: crate::backend::Health) -> pb::BackendHealth {
    pb::BackendHealth {
        available: health.available,
        last_error: health.last_error.unwrap_or_default(),
        errors: health.errors,
        latency_ms: health.latency_ms.unwrap_or_default(),
        failovers: health
            .failovers
            .into_iter()
            .map(|f| pb::Failovers {
                concern: f.concern.to_owned(),
                mode: f.mode.to_owned(),
                calls: f.calls,
            })
            .collect(),
        peers: health
            .peers
            .into_iter()
            .map(|p| pb::PeerHealth {
                node: p.node,
                addr: p.addr,
                alive: p.alive,
                streaming: p.streaming,
                last_batch_ms: p.last_batch_ms,
            })
            .collect(),
        node: health.node.unwrap_or_default(),
    }
}
