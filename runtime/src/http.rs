//! The `http` mapping at run time: an HTTP request (as Envoy's ext_authz
//! check describes it) becomes an authorization request. The first route
//! whose method and path pattern match decides the action and the resource
//! (path parameters are percent-decoded); the mapping's functions compute
//! the principal, the resource and the context. The result is the request
//! in its JSON form, so it is validated like any other request (and can be
//! shown, completed with entity data, and logged).

use ipnet::IpNet;
use reaper_lang::bundle::{Route, Segment};
use reaper_lang::eval::EvalError;
use reaper_lang::literal;
use reaper_lang::request::{Limits, RequestError};
use reaper_lang::types::Type;
use serde_json::{Map, Value as Json, json};
use thiserror::Error;

use crate::engine::Engine;
use crate::json_fields::{err, object, only_keys, string};
use crate::scratch::Scratch;
use crate::strings::{LocalStrings, Texts};
use crate::value::{Pools, Val};
use crate::vm::{Env, Fault, HttpEnv, Registers};

/// An HTTP request to map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`, … (upper case).
    pub method: String,
    /// The path, maybe with a query string (ignored for matching).
    pub path: String,
    pub host: String,
    pub source_ip: IpNet,
    /// Milliseconds since the epoch.
    pub time_ms: i64,
    /// Header names in lower case, as Envoy passes them.
    pub headers: Vec<(String, String)>,
}

/// The fields of an HTTP request's JSON form.
const HTTP_REQUEST_FIELDS: [(&str, &str); 7] = [
    ("method", "method"),
    ("path", "path"),
    ("host", "host"),
    ("headers", "headers"),
    ("source_ip", "source_ip"),
    ("time", "time"),
    ("entities", "entities"),
];

impl HttpRequest {
    /// An HTTP request from its JSON form (`{"method", "path", "host"?,
    /// "headers"?, "source_ip", "time"?, "entities"?}`; see
    /// `docs/requests.md`), `now_ms` standing for a missing `time`; with
    /// the `entities` given, for the authorization request it maps to.
    /// Every refusal names the field.
    pub fn from_json(text: &str, now_ms: i64) -> Result<(Self, Option<Json>), RequestError> {
        let limits = Limits::default();
        let json = reaper_lang::json::parse(text)?;
        let fields = object(&json, "")?;
        only_keys(fields, "", &HTTP_REQUEST_FIELDS)?;
        let text = |key: &str, default: Option<&str>| match (fields.get(key), default) {
            (Some(value), _) => string(value, key, &limits).map(str::to_owned),
            (None, Some(default)) => Ok(default.to_owned()),
            (None, None) => err(key, "missing"),
        };
        let source_ip = literal::parse_ip(&text("source_ip", None)?)
            .map_err(|e| RequestError::at("source_ip", e.to_string()))?;
        let time_ms = match fields.get("time") {
            None => now_ms,
            Some(value) => literal::parse_timestamp(string(value, "time", &limits)?)
                .map_err(|e| RequestError::at("time", e.to_string()))?,
        };
        let mut headers = Vec::new();
        if let Some(value) = fields.get("headers") {
            for (name, value) in object(value, "headers")? {
                let at = format!("headers.{}", reaper_lang::excerpt::excerpt(name));
                headers.push((
                    name.to_ascii_lowercase(),
                    string(value, &at, &limits)?.to_owned(),
                ));
            }
        }
        let request = HttpRequest {
            method: text("method", None)?,
            path: text("path", None)?,
            host: text("host", Some(""))?,
            source_ip,
            time_ms,
            headers,
        };
        Ok((request, fields.get("entities").cloned()))
    }
}

/// Why an HTTP request maps to no authorization request. Each is a denial
/// with this reason.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HttpMapError {
    #[error("the policy has no `http` mapping")]
    NoMapping,
    #[error("no route matches {method} {path}")]
    NoRoute { method: String, path: String },
    #[error("mapping the {part} failed: {error}")]
    Failed {
        part: &'static str,
        error: EvalError,
    },
}

/// The authorization request an HTTP request maps to.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedRequest {
    /// The route that matched, by index in the mapping.
    pub route: usize,
    /// `{principal, action, resource, context}`, in the request JSON form.
    pub request: Json,
}

impl Engine {
    /// Maps an HTTP request through the policy's `http` block.
    pub fn map_http(&self, request: &HttpRequest) -> Result<MappedRequest, HttpMapError> {
        let mapping = self.bundle.http.as_ref().ok_or(HttpMapError::NoMapping)?;
        let path = request.path.split('?').next().unwrap_or_default();
        let (index, route, params) = mapping
            .routes
            .iter()
            .enumerate()
            .find_map(|(i, route)| match_route(route, &request.method, path).map(|p| (i, route, p)))
            .ok_or_else(|| HttpMapError::NoRoute {
                method: request.method.clone(),
                path: path.to_owned(),
            })?;

        let strings = self.strings();
        let mut local = LocalStrings::default();
        let mut env = HttpEnv::default();
        let ips = vec![request.source_ip];
        for text in [&request.method, &path.to_owned(), &request.host] {
            let sym = local.intern(strings, text);
            env.fields.push(Val::Str(sym));
        }
        env.fields.push(Val::Ip(crate::value::IpRef {
            index: 0,
            pool: crate::value::Pool::Request,
        }));
        env.fields.push(Val::Int(request.time_ms));
        for (name, value) in &request.headers {
            // Only headers the policy reads have a symbol in the bundle.
            if let Some(name) = strings.get(&name.to_ascii_lowercase()) {
                let value = local.intern(strings, value);
                env.headers.push((name, value));
            }
        }
        for (name, value) in &params {
            if let Some(name) = strings.get(name) {
                let value = local.intern(strings, value);
                env.params.push((name, value));
            }
        }
        let run = |part: &'static str, function: u32| -> Result<Json, HttpMapError> {
            let failed = |error| HttpMapError::Failed { part, error };
            let code = self
                .bundle
                .functions
                .get(function as usize)
                .ok_or_else(|| failed(EvalError::Malformed("missing function")))?;
            let vm = Env {
                engine: self,
                request: None,
                descriptor: &[],
                http: Some(&env),
                local: Texts::Local(&local),
                values: &[],
                ips: &ips,
            };
            let mut scratch = Scratch::default();
            let mut registers = Registers::new();
            let value = match vm.run::<false>(code, &mut registers, &mut scratch).result {
                Ok(value) => value,
                Err(Fault::Error(error)) => return Err(failed(*error)),
                Err(Fault::NotApplicable) => {
                    return Err(failed(EvalError::Malformed("a descriptor read")));
                }
            };
            let json = match part {
                "context" => {
                    let record = self.schema().context_of(route.action);
                    context_json(&vm, &scratch, value, &mapping.context_fields, record)
                }
                _ => entity_json(&vm, &scratch, value),
            };
            json.ok_or_else(|| failed(EvalError::Malformed("a value of the wrong kind")))
        };
        let principal = run("principal", mapping.principal)?;
        let resource = run("resource", route.resource)?;
        let context = match mapping.context {
            Some(function) => run("context", function)?,
            None => Json::Object(Map::new()),
        };
        let action = self
            .schema()
            .action(route.action)
            .map_or("?", |a| a.name.as_str());
        Ok(MappedRequest {
            route: index,
            request: json!({
                "principal": principal,
                "action": action,
                "resource": resource,
                "context": context,
            }),
        })
    }
}

/// The path parameters if `route` matches, percent-decoded.
fn match_route(route: &Route, method: &str, path: &str) -> Option<Vec<(String, String)>> {
    if route.method.as_deref().is_some_and(|m| m != method) {
        return None;
    }
    let rest = path.strip_prefix('/')?;
    let segments: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    };
    if segments.len() != route.segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (segment, pattern) in segments.iter().zip(&route.segments) {
        match pattern {
            Segment::Literal(text) if text == segment => {}
            Segment::Literal(_) => return None,
            Segment::Param(name) if !segment.is_empty() => {
                params.push((name.clone(), percent_decode(segment)?));
            }
            Segment::Param(_) => return None,
        }
    }
    Some(params)
}

/// `%2F` → `/`; `None` when an escape is malformed or the result is not
/// UTF-8 (the route does not match such a path).
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn entity_json(vm: &Env<'_>, scratch: &Scratch, value: Val) -> Option<Json> {
    let Val::Entity(key) = value else { return None };
    let schema = vm.engine.schema();
    let ty = schema.entity_types.get(key.ty() as usize)?;
    Some(json!({ "type": ty.name, "id": vm.text(scratch, key.id()) }))
}

/// The context record as a JSON object, fields named by the mapping and
/// typed by the action's context record.
fn context_json(
    vm: &Env<'_>,
    scratch: &Scratch,
    value: Val,
    names: &[String],
    record: &reaper_lang::types::RecordType,
) -> Option<Json> {
    let Val::Record(slots) = value else {
        return None;
    };
    let pools = pools(vm, scratch);
    let mut object = Map::new();
    for (name, value) in names.iter().zip(pools.slice(slots)) {
        let (_, field) = record.field(name)?;
        object.insert(
            name.clone(),
            value_json(vm, scratch, &pools, *value, &field.ty)?,
        );
    }
    Some(Json::Object(object))
}

fn pools<'p>(vm: &'p Env<'_>, scratch: &'p Scratch) -> Pools<'p> {
    Pools {
        constants: vm.engine.constants(),
        request: vm.values,
        scratch: &scratch.values,
        constant_ips: &vm.engine.constant_ips,
        request_ips: vm.ips,
        scratch_ips: &scratch.ips,
    }
}

/// A value in the request JSON form of its declared type.
fn value_json(
    vm: &Env<'_>,
    scratch: &Scratch,
    pools: &Pools<'_>,
    value: Val,
    ty: &Type,
) -> Option<Json> {
    Some(match (ty, value) {
        (Type::Bool, Val::Bool(b)) => Json::Bool(b),
        (Type::Int, Val::Int(n)) => Json::from(n),
        (Type::String, Val::Str(sym)) => Json::String(vm.text(scratch, sym).to_owned()),
        (Type::Ip, Val::Ip(ip)) => Json::String(literal::format_ip(&pools.ip(ip))),
        (Type::Duration, Val::Int(ms)) => Json::String(literal::format_duration(ms)),
        (Type::Timestamp, Val::Int(ms)) => Json::String(literal::format_timestamp(ms)),
        (Type::Decimal, Val::Int(n)) => Json::String(literal::format_decimal(n)),
        (Type::Entity(_), Val::Entity(_)) => entity_json(vm, scratch, value)?,
        (Type::Set(elem), Val::Set(items)) => Json::Array(
            pools
                .slice(items)
                .iter()
                .map(|v| value_json(vm, scratch, pools, *v, elem))
                .collect::<Option<_>>()?,
        ),
        // Keys first, then values, in the same order (see `map_layout`).
        (Type::Map(elem), Val::Map(slots)) => {
            let slots = pools.slice(slots);
            let (keys, values) = slots.split_at(slots.len() / 2);
            let mut object = Map::new();
            for (key, value) in keys.iter().zip(values) {
                let Val::Str(key) = key else { return None };
                object.insert(
                    vm.text(scratch, *key).to_owned(),
                    value_json(vm, scratch, pools, *value, elem)?,
                );
            }
            Json::Object(object)
        }
        // A nested record literal has a slot per field (the checker sees to
        // it), so its slots are the declared record's.
        (Type::Record(record), Val::Record(slots))
            if pools.slice(slots).len() == record.fields.len() =>
        {
            let mut object = Map::new();
            for (field, value) in record.fields.iter().zip(pools.slice(slots)) {
                if !matches!(value, Val::Absent) {
                    object.insert(
                        field.name.clone(),
                        value_json(vm, scratch, pools, *value, &field.ty)?,
                    );
                }
            }
            Json::Object(object)
        }
        _ => return None,
    })
}
