//! The OpenID AuthZEN 1.0 Authorization API: `POST /access/v1/evaluation`
//! and `POST /access/v1/evaluations`. A subject, an action, a resource and
//! a context become a Reaper request:
//!
//! | AuthZEN | Reaper |
//! |---|---|
//! | `subject.type`, `subject.id` | `principal` type and id |
//! | `subject.properties` | the principal's `attrs` (parents from held data) |
//! | `action.name` | `action` |
//! | `resource.type`, `resource.id`, `resource.properties` | `resource`, likewise |
//! | `context` | `context` |
//!
//! An entity without `properties` is a reference, whose data (if any)
//! comes from the server's entity data. The answer is `{ "decision": bool,
//! "context": { "decision_id", "policy", "reasons", "errors" } }`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use reaper_lang::value::Uid;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use super::{ApiError, Body, POLICY, header_value, json_response};
use crate::observe::RequestRef;
use crate::ops::authorize::{DecisionBody, decide, prepare};
use crate::state::{Shared, World};

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Entity {
    #[serde(rename = "type")]
    pub ty: String,
    pub id: String,
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Map<String, Json>>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub name: String,
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Map<String, Json>>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Evaluation {
    pub subject: Entity,
    pub action: Action,
    pub resource: Entity,
    #[schema(value_type = Option<Object>)]
    pub context: Option<Map<String, Json>>,
}

/// One evaluation of a batch: anything left out comes from the top level.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartialEvaluation {
    pub subject: Option<Entity>,
    pub action: Option<Action>,
    pub resource: Option<Entity>,
    #[schema(value_type = Option<Object>)]
    pub context: Option<Map<String, Json>>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Evaluations {
    pub subject: Option<Entity>,
    pub action: Option<Action>,
    pub resource: Option<Entity>,
    #[schema(value_type = Option<Object>)]
    pub context: Option<Map<String, Json>>,
    #[serde(default)]
    pub evaluations: Vec<PartialEvaluation>,
    pub options: Option<Options>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// `execute_all` (the default), `deny_on_first_deny` or
    /// `permit_on_first_permit`.
    pub evaluations_semantic: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EvaluationResponse {
    pub decision: bool,
    #[schema(value_type = Object)]
    pub context: Json,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EvaluationsResponse {
    pub evaluations: Vec<EvaluationResponse>,
}

/// Access evaluation: may this subject do this action on this resource?
#[utoipa::path(
    post,
    path = "/access/v1/evaluation",
    tag = "authzen",
    request_body(content = Evaluation, content_type = "application/json"),
    responses(
        (status = 200, description = "The decision", body = EvaluationResponse),
        (status = 400, description = "Malformed, or not valid for the schema", body = crate::ops::error::ErrorBody),
    )
)]
pub async fn evaluation(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let evaluation: Evaluation = parse(body.text()?)?;
    let world = shared.world();
    let answer = evaluate(&shared, &world, &evaluation).map_err(|e| e.under_prefix(""))?;
    respond(&headers, world.engine.hash(), &answer)
}

/// Access evaluations: many evaluations, sharing the top-level subject,
/// action, resource and context.
#[utoipa::path(
    post,
    path = "/access/v1/evaluations",
    tag = "authzen",
    request_body(content = Evaluations, content_type = "application/json"),
    responses(
        (status = 200, description = "One decision per evaluation, in order (fewer when a short-circuit semantic stops early)", body = EvaluationsResponse),
        (status = 400, description = "Malformed, or an evaluation not valid for the schema", body = crate::ops::error::ErrorBody),
    )
)]
pub async fn evaluations(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let batch: Evaluations = parse(body.text()?)?;
    let stop_on = match batch
        .options
        .as_ref()
        .and_then(|o| o.evaluations_semantic.as_deref())
    {
        None | Some("execute_all") => None,
        Some("deny_on_first_deny") => Some(false),
        Some("permit_on_first_permit") => Some(true),
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("unknown evaluations_semantic `{other}` (execute_all, deny_on_first_deny, permit_on_first_permit)"),
            )
            .with_field("options.evaluations_semantic"));
        }
    };
    let world = shared.world();
    // Without `evaluations`, the top level is the one evaluation.
    let items = if batch.evaluations.is_empty() {
        vec![PartialEvaluation::default()]
    } else {
        batch.evaluations.clone()
    };
    let mut answers = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let missing = |what: &str| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("`{what}` is given neither in the evaluation nor at the top level"),
            )
            .with_field(format!("evaluations[{i}].{what}"))
        };
        let evaluation = Evaluation {
            subject: item
                .subject
                .or_else(|| batch.subject.clone())
                .ok_or_else(|| missing("subject"))?,
            action: item
                .action
                .or_else(|| batch.action.clone())
                .ok_or_else(|| missing("action"))?,
            resource: item
                .resource
                .or_else(|| batch.resource.clone())
                .ok_or_else(|| missing("resource"))?,
            context: item.context.or_else(|| batch.context.clone()),
        };
        let answer = evaluate(&shared, &world, &evaluation)
            .map_err(|e| e.under_prefix(&format!("evaluations[{i}]")))?;
        let decided = answer.decision;
        answers.push(answer);
        if stop_on == Some(decided) {
            break;
        }
    }
    let out = json!({ "evaluations": answers });
    let mut response = json_response(StatusCode::OK, serde_json::to_vec(&out).unwrap_or_default());
    echo_request_id(&headers, &mut response);
    response
        .headers_mut()
        .insert(POLICY, header_value(world.engine.hash()));
    Ok(response)
}

/// Parses a body, refusing a key repeated in one object (as every Reaper
/// endpoint does: something in front that kept the other copy would log one
/// request while Reaper decides another) and unknown fields.
fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    let json = reaper_lang::json::parse(text).map_err(|e| ApiError::request(&e.into()))?;
    serde_json::from_value(json).map_err(|e| ApiError::json(&e))
}

/// A request error, with the AuthZEN field it came from.
struct MappedError(ApiError);

impl MappedError {
    fn under_prefix(self, prefix: &str) -> ApiError {
        let mut error = self.0;
        if let Some(field) = error.body.error.field.take() {
            let renamed = authzen_field(&field);
            let renamed = if prefix.is_empty() {
                renamed
            } else {
                format!("{prefix}.{renamed}")
            };
            // The message quotes the field too: name it as the caller does.
            error.body.error.message = error.body.error.message.replacen(
                &format!("`{field}`"),
                &format!("`{renamed}`"),
                1,
            );
            error.body.error.field = Some(renamed);
        }
        error
    }
}

/// `principal.attrs.x` is `subject.properties.x` to an AuthZEN caller.
fn authzen_field(field: &str) -> String {
    let (root, rest) = match field.split_once('.') {
        Some((root, rest)) => (root, Some(rest)),
        None => (field, None),
    };
    let root = match root {
        "principal" => "subject",
        "action" => return "action.name".to_owned(),
        other => other,
    };
    match rest {
        None => root.to_owned(),
        Some(rest) => match rest.strip_prefix("attrs") {
            Some(tail) if root != "context" => format!("{root}.properties{tail}"),
            _ => format!("{root}.{rest}"),
        },
    }
}

fn evaluate(
    shared: &Shared,
    world: &World,
    evaluation: &Evaluation,
) -> Result<EvaluationResponse, MappedError> {
    if evaluation
        .action
        .properties
        .as_ref()
        .is_some_and(|p| !p.is_empty())
    {
        // Reaper's actions are names; data about the request is context.
        return Err(MappedError(
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Reaper actions carry no properties: put request data in `context`",
            )
            .with_field("action.properties"),
        ));
    }
    let request = json!({
        "principal": entity(world, &evaluation.subject),
        "action": evaluation.action.name,
        "resource": entity(world, &evaluation.resource),
        "context": evaluation.context.clone().unwrap_or_default(),
    });
    let text = request.to_string();
    let prepared = prepare(world, &text).map_err(MappedError)?;
    let decided: DecisionBody = decide(
        shared,
        &world.engine,
        &prepared,
        "authzen",
        RequestRef::Json(&text),
    );
    Ok(EvaluationResponse {
        decision: decided.decision == "allow",
        context: json!({
            "decision_id": decided.decision_id,
            "policy": decided.policy,
            "reasons": decided.reasons,
            "errors": decided.errors,
        }),
    })
}

/// An AuthZEN entity as a Reaper entity object: with `properties`, data
/// whose parents come from the held data.
fn entity(world: &World, entity: &Entity) -> Json {
    let Some(properties) = &entity.properties else {
        return json!({ "type": entity.ty, "id": entity.id });
    };
    let parents: Vec<Json> = world
        .engine
        .schema()
        .entity_type_id(&entity.ty)
        .and_then(|ty| {
            world.held.get(&Uid {
                ty,
                id: entity.id.clone(),
            })
        })
        .map(|held| {
            held.parents
                .iter()
                .filter_map(|p| {
                    let ty = world.engine.schema().entity_type(p.ty)?;
                    Some(json!({ "type": ty.name, "id": p.id }))
                })
                .collect()
        })
        .unwrap_or_default();
    json!({ "type": entity.ty, "id": entity.id, "attrs": properties, "parents": parents })
}

fn respond(
    headers: &HeaderMap,
    policy: &str,
    answer: &EvaluationResponse,
) -> Result<Response, ApiError> {
    let mut response = json_response(
        StatusCode::OK,
        serde_json::to_vec(answer).unwrap_or_default(),
    );
    echo_request_id(headers, &mut response);
    response.headers_mut().insert(POLICY, header_value(policy));
    Ok(response)
}

/// AuthZEN asks a PDP to echo the caller's `X-Request-ID`.
fn echo_request_id(headers: &HeaderMap, response: &mut Response) {
    if let Some(id) = headers.get("x-request-id") {
        response.headers_mut().insert("x-request-id", id.clone());
    }
}
