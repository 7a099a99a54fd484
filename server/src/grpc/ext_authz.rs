//! `envoy.service.auth.v3.Authorization/Check`: Envoy's external
//! authorization, as OPA-Envoy serves it. The HTTP request Envoy describes
//! (method, path, host, headers, source address, time) is checked by
//! `ops::ext_authz` through the policy's `http` block. Allowed → OK, with
//! the decision id and policy hash added to the upstream request and, in
//! `dynamic_metadata`, the decision id, deciding rules and policy hash (for
//! Envoy's access log and later filters). Denied → PERMISSION_DENIED with
//! the configured HTTP status (403), headers and a one-line reason.
//!
//! The body Envoy may send (`with_request_body`) is never read: the
//! mapping does not look at it, so a malformed body cannot break a check.
//! Dry run comes from the server's configuration or, per route, from
//! Envoy's `context_extensions` (`reaper_dry_run: "true"`).

use std::collections::HashMap;
use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::address::Address;
use envoy_types::pb::envoy::config::core::v3::{HeaderValue, HeaderValueOption};
use envoy_types::pb::envoy::service::auth::v3::authorization_server::Authorization;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{
    AttributeContext, CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
};
use envoy_types::pb::envoy::r#type::v3::HttpStatus;
use envoy_types::pb::google::protobuf::{ListValue, Struct, Value, value::Kind};
use envoy_types::pb::google::rpc;
use reaper_runtime::http::HttpRequest;
use tonic::{Code, Request, Response, Status};

use super::tagged;
use crate::ops::ext_authz::{Checked, check};
use crate::state::Shared;

/// The context extension that puts one Envoy route in dry run.
pub const DRY_RUN_EXTENSION: &str = "reaper_dry_run";

/// The Envoy external authorization service.
#[derive(Debug, Clone)]
pub struct ExtAuthz {
    pub shared: Arc<Shared>,
}

#[tonic::async_trait]
impl Authorization for ExtAuthz {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let now_ms = i64::try_from(self.shared.clock.now_ms()).unwrap_or(i64::MAX);
        let attributes = request.into_inner().attributes.unwrap_or_default();
        let dry_run = self.shared.envoy.dry_run
            || attributes
                .context_extensions
                .get(DRY_RUN_EXTENSION)
                .is_some_and(|v| v == "true");
        let http = http_request(attributes, now_ms)?;
        let world = self.shared.world();
        let checked = check(&self.shared, &world, &http, dry_run)
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        let response = check_response(&checked, world.engine.hash(), self.shared.envoy.deny_status);
        Ok(tagged(
            Response::new(response),
            &world,
            Some(&checked.decision_id),
        ))
    }
}

/// The HTTP request Envoy's attributes describe. Only what is absent
/// without a default is refused: the method and the path.
fn http_request(attributes: AttributeContext, now_ms: i64) -> Result<HttpRequest, Status> {
    let request = attributes.request.unwrap_or_default();
    let time_ms = request.time.map_or(now_ms, |t| {
        t.seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(t.nanos / 1_000_000))
    });
    let http = request.http.ok_or_else(|| {
        Status::invalid_argument("attributes.request.http: missing (not an HTTP check)")
    })?;
    if http.method.is_empty() {
        return Err(Status::invalid_argument(
            "attributes.request.http.method: missing",
        ));
    }
    if http.path.is_empty() {
        return Err(Status::invalid_argument(
            "attributes.request.http.path: missing",
        ));
    }
    let source = attributes
        .source
        .and_then(|peer| peer.address)
        .and_then(|address| address.address);
    let source_ip = match source {
        Some(Address::SocketAddress(socket)) => reaper_lang::literal::parse_ip(&socket.address)
            .map_err(|e| {
                Status::invalid_argument(format!(
                    "attributes.source.address.socket_address.address: {e}"
                ))
            })?,
        // A pipe or an internal listener has no IP: the unspecified address.
        _ => ipnet::IpNet::from(std::net::IpAddr::from([0u8, 0, 0, 0])),
    };
    let mut headers: Vec<(String, String)> = http
        .headers
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect();
    if headers.is_empty()
        && let Some(map) = http.header_map
    {
        // `encode_raw_headers`: values may be raw bytes.
        headers = map
            .headers
            .into_iter()
            .map(|h| {
                let value = if h.raw_value.is_empty() {
                    h.value
                } else {
                    String::from_utf8_lossy(&h.raw_value).into_owned()
                };
                (h.key.to_ascii_lowercase(), value)
            })
            .collect();
    }
    Ok(HttpRequest {
        method: http.method.to_ascii_uppercase(),
        path: http.path,
        host: http.host,
        source_ip,
        time_ms,
        headers,
    })
}

fn check_response(checked: &Checked, policy: &str, deny_status: u16) -> CheckResponse {
    let mut headers = vec![
        header("x-reaper-decision-id", &checked.decision_id),
        header("x-reaper-policy", policy),
    ];
    if checked.dry_run && !checked.policy_allows {
        headers.push(header("x-reaper-dry-run", "deny"));
    }
    let metadata = Some(dynamic_metadata(checked, policy));
    if checked.allow {
        return CheckResponse {
            status: Some(rpc::Status {
                code: Code::Ok as i32,
                ..rpc::Status::default()
            }),
            http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
                headers,
                ..OkHttpResponse::default()
            })),
            dynamic_metadata: metadata,
        };
    }
    headers.push(header("content-type", "text/plain; charset=utf-8"));
    CheckResponse {
        status: Some(rpc::Status {
            code: Code::PermissionDenied as i32,
            message: checked.reason.clone(),
            ..rpc::Status::default()
        }),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus {
                code: i32::from(deny_status),
            }),
            headers,
            body: format!("denied: {}\n", checked.reason),
        })),
        dynamic_metadata: metadata,
    }
}

/// Set (not appended), so a client cannot smuggle its own value through.
fn header(key: &str, value: &str) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: key.to_owned(),
            value: value.to_owned(),
            ..HeaderValue::default()
        }),
        append_action: 2, // OVERWRITE_IF_EXISTS_OR_ADD
        ..HeaderValueOption::default()
    }
}

/// `{decision, decision_id, rules, policy, dry_run, reason}` under the
/// filter's namespace (`envoy.filters.http.ext_authz`), for access logs
/// (`%DYNAMIC_METADATA(envoy.filters.http.ext_authz:decision_id)%`).
fn dynamic_metadata(checked: &Checked, policy: &str) -> Struct {
    let text = |s: &str| Value {
        kind: Some(Kind::StringValue(s.to_owned())),
    };
    let mut fields = HashMap::new();
    fields.insert(
        "decision".to_owned(),
        text(if checked.policy_allows {
            "allow"
        } else {
            "deny"
        }),
    );
    fields.insert("decision_id".to_owned(), text(&checked.decision_id));
    fields.insert("policy".to_owned(), text(policy));
    fields.insert("reason".to_owned(), text(&checked.reason));
    fields.insert(
        "rules".to_owned(),
        Value {
            kind: Some(Kind::ListValue(ListValue {
                values: checked.rules.iter().map(|r| text(r)).collect(),
            })),
        },
    );
    fields.insert(
        "dry_run".to_owned(),
        Value {
            kind: Some(Kind::BoolValue(checked.dry_run)),
        },
    );
    Struct { fields }
}
