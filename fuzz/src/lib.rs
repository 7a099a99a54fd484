//! What the fuzz targets share: the example policies compiled once, the
//! example requests, re-hashing of damaged bundles, requests synthesized
//! from any schema, and one function that drives a loaded engine through
//! every entry point (authorize, explain, rate limits, disassembly).

use std::sync::OnceLock;

use reaper_compiler::source::Sources;
use reaper_lang::bundle::Effect;
use reaper_lang::request::Limits;
use reaper_lang::schema::Schema;
use reaper_lang::types::{EntityTypeId, RecordType, Type};
use reaper_runtime::ratelimit::{Descriptor, Override, RateLimitRequest, Unit};
use reaper_runtime::{Engine, Request, RuleOutcome};
use serde_json::{Map, Value as Json, json};
use sha2::{Digest, Sha256};

pub const DOCUMENT_SHARING: [(&str, &str); 3] = [
    (
        "schema.reaper",
        include_str!("../../examples/document-sharing/schema.reaper"),
    ),
    (
        "rules.reaper",
        include_str!("../../examples/document-sharing/rules.reaper"),
    ),
    (
        "tests.reaper",
        include_str!("../../examples/document-sharing/tests.reaper"),
    ),
];

pub const API_GATEWAY: [(&str, &str); 5] = [
    (
        "schema.reaper",
        include_str!("../../examples/api-gateway/schema.reaper"),
    ),
    (
        "rules.reaper",
        include_str!("../../examples/api-gateway/rules.reaper"),
    ),
    (
        "limits.reaper",
        include_str!("../../examples/api-gateway/limits.reaper"),
    ),
    (
        "http.reaper",
        include_str!("../../examples/api-gateway/http.reaper"),
    ),
    (
        "tests.reaper",
        include_str!("../../examples/api-gateway/tests.reaper"),
    ),
];

/// The example requests (also the `request_decoding` seeds).
pub const REQUESTS: [&str; 7] = [
    include_str!("../seeds/request_decoding/document-sharing-permit.json"),
    include_str!("../seeds/request_decoding/document-sharing-forbid.json"),
    include_str!("../seeds/request_decoding/document-sharing-default-deny.json"),
    include_str!("../seeds/request_decoding/document-sharing-handbook.json"),
    include_str!("../seeds/request_decoding/document-sharing-folder.json"),
    include_str!("../seeds/request_decoding/api-gateway-view.json"),
    include_str!("../seeds/request_decoding/api-gateway-billing.json"),
];

/// A fixed instant (2026-01-01T00:00:00Z) for rate-limit requests.
pub const NOW_MS: u64 = 1_767_225_600_000;

/// Compiles an example package; the examples always compile.
pub fn compile(files: &[(&str, &str)]) -> Vec<u8> {
    let mut sources = Sources::new();
    for (name, text) in files {
        sources.add(*name, *text);
    }
    match reaper_compiler::compile(&sources) {
        Ok(bytes) => bytes,
        Err(diagnostics) => panic!("an example policy does not compile: {diagnostics:?}"),
    }
}

pub fn document_sharing() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| compile(&DOCUMENT_SHARING))
}

pub fn api_gateway() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| compile(&API_GATEWAY))
}

/// The engines of the two example bundles, built once.
pub fn example_engines() -> &'static [Engine; 2] {
    static ENGINES: OnceLock<[Engine; 2]> = OnceLock::new();
    ENGINES.get_or_init(|| {
        let load = |bytes: &[u8]| match Engine::load(bytes) {
            Ok(engine) => engine,
            Err(e) => panic!("an example bundle does not load: {e}"),
        };
        [load(document_sharing()), load(api_gateway())]
    })
}

/// Writes the sha256 of `bytes[40..]` into the header (`bytes[8..40]`), as an
/// attacker who edits a bundle would, so the decoder, verifier and VM face
/// the damage itself instead of stopping at the hash check.
pub fn rehash(bytes: &mut [u8]) {
    if bytes.len() >= 40 {
        let digest = Sha256::digest(&bytes[40..]);
        bytes[8..40].copy_from_slice(&digest);
    }
}

/// Loads `bytes` as a bundle and, if they load, uses the engine every way
/// there is. Returns whether they loaded. Must never panic.
pub fn load_and_exercise(bytes: &[u8]) -> bool {
    let Ok(bundle) = reaper_lang::bundle::decode(bytes) else {
        return false;
    };
    let Ok(engine) = Engine::load(bytes) else {
        panic!("`bundle::decode` accepted bytes that `Engine::load` refused");
    };
    assert_eq!(
        engine.bundle(),
        &bundle,
        "`Engine::load` and `bundle::decode` disagree"
    );
    exercise(&engine, false);
    true
}

/// Drives an engine through every entry point. With `consistent`, also
/// checks that `authorize` (which decides many rules by a guard, without the
/// VM) and `explain` (which runs every candidate in the VM) agree: that is
/// only promised for bundles the compiler produced.
pub fn exercise(engine: &Engine, consistent: bool) {
    for text in REQUESTS {
        if let Ok(request) = engine.decode_request(text) {
            authorize(engine, &request, consistent);
        }
    }
    for json in synthesized_requests(engine.schema()) {
        if let Ok(request) =
            reaper_lang::request::from_json(engine.schema(), &json, &Limits::default())
        {
            authorize(engine, &engine.prepare(&request), consistent);
        }
    }
    rate_limits(engine);
    let _ = reaper_lang::bundle::disassemble(engine.bundle());
}

/// Authorizes and explains; with `consistent`, checks they agree.
pub fn authorize(engine: &Engine, request: &Request, consistent: bool) {
    let decision = engine.authorize(request);
    for rule in &decision.reasons {
        let _ = engine.rule_id(*rule);
    }
    let explanation = engine.explain(request);
    let candidates = engine.candidates(request);
    if !consistent {
        return;
    }
    let listed: Vec<u32> = explanation.candidates.iter().map(|(r, _)| *r).collect();
    assert_eq!(listed, candidates, "explain lists other candidates");
    let applied = |effect: Effect| {
        let mut rules: Vec<u32> = explanation
            .candidates
            .iter()
            .filter(|(_, outcome)| *outcome == RuleOutcome::Applied)
            .map(|(rule, _)| *rule)
            .filter(|rule| {
                engine
                    .bundle()
                    .rules
                    .get(*rule as usize)
                    .is_some_and(|r| r.effect == effect)
            })
            .collect();
        rules.sort_unstable();
        rules
    };
    let (forbids, permits) = (applied(Effect::Forbid), applied(Effect::Permit));
    let (allow, reasons) = if !forbids.is_empty() {
        (false, forbids)
    } else if !permits.is_empty() {
        (true, permits)
    } else {
        (false, Vec::new())
    };
    assert_eq!(
        (decision.allow, decision.reasons.to_vec()),
        (allow, reasons),
        "authorize and the rule-by-rule explanation disagree"
    );
    let mut failed: Vec<(u32, String)> = explanation
        .candidates
        .iter()
        .filter_map(|(rule, outcome)| match outcome {
            RuleOutcome::Failed { error, .. } => Some((*rule, error.to_string())),
            _ => None,
        })
        .collect();
    failed.sort();
    let errors: Vec<(u32, String)> = decision
        .errors
        .iter()
        .map(|(rule, error)| (*rule, error.to_string()))
        .collect();
    assert_eq!(errors, failed, "authorize and explain report other errors");
}

/// Rate-limit requests against every domain (and an unknown one), with
/// descriptors that match the example limits, an empty one, an override
/// (including a zero count) and extreme `hits_addend`s.
pub fn rate_limits(engine: &Engine) {
    let common = vec![
        ("user_id", "ana"),
        ("remote_address", "10.0.0.1"),
        ("path", "/v1/login"),
        ("method", "POST"),
        ("plan", "free"),
        ("org_id", "acme"),
        ("x-api-key", "k"),
        ("generic_key", "export"),
    ];
    let mut descriptors = vec![
        Descriptor::new(common.clone()),
        Descriptor::new(vec![
            ("path", "/v1/projects/a/files/b"),
            ("remote_address", "10.0.0.2"),
        ]),
        Descriptor::new(Vec::<(String, String)>::new()),
    ];
    let mut overridden = Descriptor::new(common.clone());
    overridden.limit = Some(Override {
        requests_per_unit: 0,
        unit: Unit::Second,
    });
    descriptors.push(overridden);
    let mut huge = Descriptor::new(common.clone());
    huge.hits_addend = Some(u64::MAX);
    huge.limit = Some(Override {
        requests_per_unit: u64::MAX,
        unit: Unit::Day,
    });
    descriptors.push(huge);
    let mut names: Vec<String> = engine
        .bundle()
        .domains
        .iter()
        .take(4)
        .map(|d| d.name.clone())
        .collect();
    names.push("no-such-domain".to_owned());
    for name in names {
        let mut request = RateLimitRequest::new(name.clone(), descriptors.clone());
        for now in [NOW_MS, NOW_MS + 1, NOW_MS + 86_400_000] {
            let _ = engine.rate_limit(&request, now);
            request.hits_addend = u64::MAX - 1;
        }
        let entries: Vec<(String, String)> = common
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if let Ok(matches) = engine.matching_limits(&name, &entries) {
            for m in matches {
                let _ = engine.limit_name(&name, m.limit);
            }
        }
    }
}

/// Requests that conform to `schema`, whatever it is: for the first actions,
/// a principal and resource of types they allow, with every attribute, and
/// data for one entity `e` of every type (parents included, so cycles too).
pub fn synthesized_requests(schema: &Schema) -> Vec<Json> {
    let type_ids = || (0..schema.entity_types.len().min(16)).map(|i| EntityTypeId(i as u32));
    if schema.entity_types.is_empty() {
        return Vec::new();
    }
    let entity = |ty: EntityTypeId, id: &str| {
        let Some(def) = schema.entity_type(ty) else {
            return Json::Null;
        };
        let parents: Vec<Json> = def
            .parents
            .iter()
            .take(4)
            .filter_map(|p| schema.entity_type(*p))
            .map(|p| json!({ "type": p.name, "id": "e" }))
            .collect();
        json!({
            "type": def.name,
            "id": id,
            "attrs": record(schema, &def.attrs, 0),
            "parents": parents,
        })
    };
    let entities: Vec<Json> = type_ids().map(|ty| entity(ty, "e")).collect();
    schema
        .actions
        .iter()
        .take(8)
        .map(|action| {
            let principal = action
                .principal_types
                .first()
                .copied()
                .unwrap_or(EntityTypeId(0));
            let resource = action
                .resource_types
                .first()
                .copied()
                .unwrap_or(EntityTypeId(0));
            json!({
                "principal": entity(principal, "p"),
                "action": action.name,
                "resource": entity(resource, "r"),
                "context": record(schema, &schema.context, 0),
                "entities": entities,
            })
        })
        .collect()
}

/// Nesting beyond which synthesized values stop (types are at most
/// `MAX_NESTING` deep, but a generous bound keeps the stack small).
const MAX_DEPTH: usize = 400;

fn record(schema: &Schema, ty: &RecordType, depth: usize) -> Json {
    let mut map = Map::new();
    for field in &ty.fields {
        map.insert(field.name.clone(), value(schema, &field.ty, depth + 1));
    }
    Json::Object(map)
}

fn value(schema: &Schema, ty: &Type, depth: usize) -> Json {
    if depth > MAX_DEPTH {
        return Json::Null;
    }
    match ty {
        Type::Bool => json!(true),
        Type::Int => json!(1),
        Type::String => json!("e"),
        Type::Ip => json!("10.1.2.3"),
        Type::Duration => json!("1h30m"),
        Type::Timestamp => json!("2026-01-01T00:00:00Z"),
        Type::Decimal => json!("12.5"),
        Type::Entity(id) => match schema.entity_type(*id) {
            // An enumerated type's id must be one of its own.
            Some(def) => {
                let id = def
                    .ids
                    .as_ref()
                    .and_then(|ids| ids.first())
                    .map_or("e", String::as_str);
                json!({ "type": def.name, "id": id })
            }
            None => Json::Null,
        },
        Type::Set(elem) => Json::Array(vec![value(schema, elem, depth + 1)]),
        Type::Map(elem) => json!({ "k": value(schema, elem, depth + 1) }),
        Type::Record(fields) => record(schema, fields, depth),
    }
}

/// Compiles the `.reaper` files `files` of `examples/<name>/`, as
/// `reaper serve` would load the package.
struct ExampleLoader {
    name: &'static str,
    files: &'static [&'static str],
}

impl reaper_server::PolicyLoader for ExampleLoader {
    fn load(&self) -> Result<Vec<u8>, String> {
        let mut sources = Sources::new();
        for file in self.files {
            let path = format!("{}/../examples/{}/{file}.reaper", env!("CARGO_MANIFEST_DIR"), self.name);
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            sources.add(path, text);
        }
        reaper_compiler::compile(&sources).map_err(|d| format!("{} diagnostics", d.len()))
    }

    fn watched(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
}

/// The server state the fuzzed APIs run on: `examples/<name>/` (its
/// `files`) with its `entities.json`, the memory backend and the admin
/// token `sesame`. `runtime` provides the server's clock.
pub fn example_server(
    name: &'static str,
    files: &'static [&'static str],
    runtime: &tokio::runtime::Runtime,
) -> std::sync::Arc<reaper_server::Shared> {
    let entities = format!("{}/../examples/{name}/entities.json", env!("CARGO_MANIFEST_DIR"));
    let shared = reaper_server::Shared::new(
        std::sync::Arc::new(ExampleLoader { name, files }),
        std::sync::Arc::new(reaper_server::backend::memory::MemoryBackend::new()),
        reaper_server::metrics::Metrics::install(),
        reaper_server::state::Options {
            entities_file: Some(entities.into()),
            admin_token: Some("sesame".into()),
            limits: reaper_server::Limits::default(),
            envoy: reaper_server::EnvoyOptions::default(),
            clock: runtime.block_on(async { reaper_server::clock::Clock::system() }),
            decisions: reaper_server::observe::DecisionLog::off(),
            audit: reaper_server::observe::AuditLog::to_log(),
        },
    )
    .expect("the example loads");
    std::sync::Arc::new(shared)
}

/// Sends `message` to `method` of the gRPC services `router` serves, in
/// process, as one unary (or single-message streaming) call; the status it
/// ended with (UNKNOWN when the answer carries none) and its message.
pub async fn grpc_call(router: &axum::Router, method: &str, message: &[u8]) -> (tonic::Code, String) {
    use tower::ServiceExt;
    let mut framed = vec![0];
    framed.extend_from_slice(&u32::try_from(message.len()).unwrap_or(u32::MAX).to_be_bytes());
    framed.extend_from_slice(message);
    let request = axum::http::Request::post(method)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(axum::body::Body::from(framed))
        .expect("a request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), axum::http::StatusCode::OK);
    if let Some(status) = tonic::Status::from_header_map(response.headers()) {
        return (status.code(), status.message().to_owned());
    }
    let collected = http_body_util::BodyExt::collect(response.into_body()).await.expect("a body");
    let trailers = collected.trailers().cloned().unwrap_or_default();
    tonic::Status::from_header_map(&trailers)
        .map_or((tonic::Code::Unknown, "no status".to_owned()), |s| (s.code(), s.message().to_owned()))
}
