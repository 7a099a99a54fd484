//! From a verified token's claims to the caller: the `[auth.principal]`
//! and `[auth.context]` mapping, checked against the policy's schema at
//! start and on every reload, and applied to store calls and (with
//! `authorize = true`) to authorization requests. The token wins: a
//! request naming another principal, or giving a mapped context field
//! another value, is refused (403). Whether a claim's value fits its field
//! is left to the request decoder, whose error is then said in terms of
//! the claim.

use axum::http::StatusCode;
use reaper_runtime::Engine;
use serde_json::{Map, Value};

use super::verify::{Claims, excerpt};
use super::{AuthError, Rejection};
use crate::AuthSettings;
use crate::ops::ApiError;

/// The claim naming the principal unless `id_claim` says otherwise.
pub const DEFAULT_ID_CLAIM: &str = "sub";

/// The mapping, as configured.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// The principal's entity type and the claim holding its id.
    pub principal: Option<(String, String)>,
    /// Whether authorization requests are bound to the token's principal.
    pub authorize: bool,
    /// Context field ← claim path.
    pub context: Vec<(String, String)>,
}

impl Mapping {
    /// The mapping of `settings`, if any; `None` when nothing is mapped.
    pub fn new(settings: &AuthSettings) -> Result<Option<Mapping>, AuthError> {
        let setting = |key: String, reason: String| AuthError::Setting { key, reason };
        let principal = settings.principal.as_ref().map(|p| {
            (
                p.entity_type.clone(),
                p.id_claim
                    .clone()
                    .unwrap_or_else(|| DEFAULT_ID_CLAIM.to_owned()),
            )
        });
        let authorize = settings.principal.as_ref().is_some_and(|p| p.authorize);
        let mut context = Vec::new();
        for (field, claim) in &settings.context {
            if claim.trim().is_empty() {
                return Err(setting(
                    format!("auth.context.{field}"),
                    "names no claim".into(),
                ));
            }
            context.push((field.clone(), claim.clone()));
        }
        if let Some((_, claim)) = &principal
            && claim.trim().is_empty()
        {
            return Err(setting(
                "auth.principal.id_claim".into(),
                "names no claim".into(),
            ));
        }
        if principal.is_none() && context.is_empty() {
            return Ok(None);
        }
        Ok(Some(Mapping {
            principal,
            authorize,
            context,
        }))
    }

    /// Checks the mapping against `engine`'s schema: the principal's type
    /// is an entity type, and each context field is declared in the
    /// context of at least one action.
    pub fn check(&self, engine: &Engine) -> Result<(), AuthError> {
        let schema = engine.schema();
        if let Some((ty, _)) = &self.principal
            && schema.entity_type_id(ty).is_none()
        {
            let known: Vec<&str> = schema
                .entity_types
                .iter()
                .map(|t| t.name.as_str())
                .collect();
            return Err(AuthError::Setting {
                key: "auth.principal.type".into(),
                reason: format!(
                    "the policy declares no entity type `{ty}` (it declares {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            });
        }
        for (field, _) in &self.context {
            let declared = schema.context.field(field).is_some()
                || schema
                    .actions
                    .iter()
                    .filter_map(|a| a.context.as_ref())
                    .any(|c| c.field(field).is_some());
            if !declared {
                return Err(AuthError::Setting {
                    key: format!("auth.context.{field}"),
                    reason: format!("no action of the policy has a context field `{field}`"),
                });
            }
        }
        Ok(())
    }

    /// The caller as `claims` say: its principal and mapped context values.
    pub fn identity(&self, claims: &Claims) -> Result<Identity, Rejection> {
        let principal = match &self.principal {
            None => None,
            Some((ty, claim)) => match lookup(claims, claim) {
                Some(Value::String(id)) if !id.is_empty() => Some((ty.clone(), id.clone())),
                Some(Value::String(_)) => {
                    return Err(Rejection::new(
                        "claims",
                        format!("claim `{claim}` (the principal's id) is empty"),
                    ));
                }
                Some(other) => {
                    return Err(Rejection::new(
                        "claims",
                        format!(
                            "claim `{claim}` (the principal's id): expected a string, found {}",
                            kind(other)
                        ),
                    ));
                }
                None => {
                    return Err(Rejection::new(
                        "claims",
                        format!("the token has no claim `{claim}`, which names the principal"),
                    ));
                }
            },
        };
        let context = self
            .context
            .iter()
            .map(|(field, claim)| Bound {
                field: field.clone(),
                claim: claim.clone(),
                value: lookup(claims, claim).cloned(),
            })
            .collect();
        Ok(Identity {
            principal,
            principal_claim: self.principal.as_ref().map(|(_, c)| c.clone()),
            authorize: self.authorize,
            context,
            client: None,
        })
    }
}

/// The caller, as its token says.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// The principal's entity type and id, when mapped.
    pub principal: Option<(String, String)>,
    /// The claim the principal's id came from.
    pub principal_claim: Option<String>,
    /// Whether authorization requests are bound to the principal.
    pub authorize: bool,
    /// The mapped context fields; a claim the token lacks leaves its
    /// field absent.
    pub context: Vec<Bound>,
    /// Who the API's rate limit counts this call against (the client
    /// claim), when the token has it.
    pub client: Option<String>,
}

/// One mapped context field and the claim's value.
#[derive(Debug, Clone)]
pub struct Bound {
    pub field: String,
    pub claim: String,
    pub value: Option<Value>,
}

impl Identity {
    fn principal_text(&self) -> Option<String> {
        self.principal
            .as_ref()
            .map(|(ty, id)| format!("{ty}::{}", Value::String(id.clone())))
    }
}

/// A claim by name, or else by dotted path into nested objects (a claim
/// named `https://example.com/tenant` is found by its name).
pub fn lookup<'c>(claims: &'c Claims, path: &str) -> Option<&'c Value> {
    if let Some(value) = claims.get(path) {
        return Some(value);
    }
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn mismatch(code: &'static str, message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

/// Binds an authorization request (JSON text) to the token: the
/// principal is the token's (a request naming another, or carrying the
/// principal's data, is refused) and the mapped context fields are the
/// claims'. Text that is not a JSON object is returned as is, for the
/// decoder to refuse with its usual error.
pub fn bind_request(identity: &Identity, json: &str) -> Result<String, ApiError> {
    let Ok(Value::Object(mut request)) = serde_json::from_str::<Value>(json) else {
        return Ok(json.to_owned());
    };
    if let Some((ty, id)) = &identity.principal {
        let reference = || {
            let mut r = Map::new();
            r.insert("type".into(), Value::String(ty.clone()));
            r.insert("id".into(), Value::String(id.clone()));
            Value::Object(r)
        };
        match request.get("principal") {
            None => {
                request.insert("principal".into(), reference());
            }
            Some(Value::Object(given)) => {
                let names = |o: &Map<String, Value>| {
                    o.get("type").and_then(Value::as_str) == Some(ty.as_str())
                        && o.get("id").and_then(Value::as_str) == Some(id.as_str())
                };
                if !names(given) {
                    return Err(principal_mismatch(identity, &describe(given)));
                }
                if given.keys().any(|k| k != "type" && k != "id") {
                    return Err(mismatch(
                        "principal_mismatch",
                        "the token names the principal, whose data comes from the server's entity data: give only its `type` and `id`".into(),
                    ));
                }
            }
            Some(_) => {}
        }
        if let Some(Value::Array(entities)) = request.get("entities")
            && entities.iter().any(|e| {
                e.get("type").and_then(Value::as_str) == Some(ty.as_str())
                    && e.get("id").and_then(Value::as_str) == Some(id.as_str())
            })
        {
            return Err(mismatch(
                "principal_mismatch",
                "the request carries data for the token's principal, whose data comes from the server's entity data".into(),
            ));
        }
    }
    if !identity.context.is_empty() {
        let context = request
            .entry("context")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(context) = context {
            bind_context(identity, context)?;
        }
    }
    Ok(Value::Object(request).to_string())
}

/// An authorization request as the caller's token lets it be decided:
/// bound to the token when `[auth.principal] authorize = true`, else as
/// given.
pub fn bind_authorize<'j>(
    identity: Option<&Identity>,
    json: &'j str,
) -> Result<std::borrow::Cow<'j, str>, ApiError> {
    match identity {
        Some(identity) if identity.authorize && identity.principal.is_some() => {
            bind_request(identity, json).map(std::borrow::Cow::Owned)
        }
        _ => Ok(std::borrow::Cow::Borrowed(json)),
    }
}

/// The inner text of a store call's context object (`"a":1,"b":2`, as
/// the caller gave it) with the mapped fields bound to the claims.
pub fn bound_context_fields(identity: &Identity, fields: &str) -> Result<String, ApiError> {
    let mut context: Map<String, Value> =
        serde_json::from_str(&format!("{{{fields}}}")).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("malformed JSON in the context: {e}"),
            )
        })?;
    bind_context(identity, &mut context)?;
    let text = Value::Object(context).to_string();
    Ok(text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or_default()
        .to_owned())
}

fn bind_context(identity: &Identity, context: &mut Map<String, Value>) -> Result<(), ApiError> {
    for bound in &identity.context {
        match (context.get(&bound.field), &bound.value) {
            (Some(given), Some(value)) if given == value => {}
            (Some(_), _) => {
                return Err(mismatch(
                    "context_mismatch",
                    format!(
                        "`context.{}` comes from the token's claim `{}`; the request may not set it otherwise",
                        bound.field, bound.claim
                    ),
                ));
            }
            (None, Some(value)) => {
                context.insert(bound.field.clone(), value.clone());
            }
            (None, None) => {}
        }
    }
    Ok(())
}

/// Checks a store caller's named principal against the token's.
pub fn check_principal(identity: &Identity, ty: &str, id: &str) -> Result<(), ApiError> {
    match &identity.principal {
        Some((t, i)) if t != ty || i != id => Err(principal_mismatch(
            identity,
            &format!("{ty}::{}", Value::String(id.to_owned())),
        )),
        _ => Ok(()),
    }
}

fn describe(given: &Map<String, Value>) -> String {
    let text = |k: &str| given.get(k).and_then(Value::as_str).unwrap_or("?");
    excerpt(&format!(
        "{}::{}",
        text("type"),
        Value::String(text("id").to_owned())
    ))
}

fn principal_mismatch(identity: &Identity, named: &str) -> ApiError {
    mismatch(
        "principal_mismatch",
        format!(
            "the token's principal is {}; the request names {}",
            identity.principal_text().unwrap_or_default(),
            excerpt(named)
        ),
    )
}

/// Says a request error at a field the token filled in terms of its claim:
/// a claim whose value does not fit is the token's fault (401), not the
/// request's.
pub fn explain(identity: Option<&Identity>, error: ApiError) -> ApiError {
    let Some(identity) = identity else {
        return error;
    };
    let Some(field) = error.body.error.field.as_deref() else {
        return error;
    };
    let within = |prefix: &str| {
        field == prefix
            || field.starts_with(&format!("{prefix}."))
            || field.starts_with(&format!("{prefix}["))
    };
    let message = match identity
        .context
        .iter()
        .find(|b| within(&format!("context.{}", b.field)))
    {
        Some(bound) if bound.value.is_some() => format!(
            "claim `{}` does not fit `context.{}`: {}",
            bound.claim, bound.field, error.body.error.message
        ),
        Some(bound) => format!(
            "the token has no claim `{}` for `context.{}`: {}",
            bound.claim, bound.field, error.body.error.message
        ),
        None => match identity.principal_claim.as_deref() {
            Some(claim) if within("principal") => format!(
                "claim `{claim}` does not fit the principal: {}",
                error.body.error.message
            ),
            _ => return error,
        },
    };
    super::count_rejection("claims");
    ApiError::unauthenticated(message).with_field(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            principal: Some(("Service".into(), "api".into())),
            principal_claim: Some("sub".into()),
            authorize: true,
            context: vec![Bound {
                field: "tenant".into(),
                claim: "tenant_id".into(),
                value: Some(Value::String("acme".into())),
            }],
            client: None,
        }
    }

    #[test]
    fn claims_are_found_by_name_then_by_dotted_path() {
        let claims: Claims = serde_json::from_str(
            r#"{"sub":"a","org":{"tenant":"t","deep":{"x":1}},"https://x.io/t":"n"}"#,
        )
        .unwrap();
        assert_eq!(lookup(&claims, "sub"), Some(&Value::from("a")));
        assert_eq!(lookup(&claims, "org.tenant"), Some(&Value::from("t")));
        assert_eq!(lookup(&claims, "org.deep.x"), Some(&Value::from(1)));
        assert_eq!(lookup(&claims, "https://x.io/t"), Some(&Value::from("n")));
        assert_eq!(lookup(&claims, "org.missing"), None);
        assert_eq!(lookup(&claims, "sub.x"), None);
    }

    #[test]
    fn a_request_is_bound_to_the_token() {
        let bound = bind_request(
            &identity(),
            r#"{"action":"read","resource":{"type":"Doc","id":"d"}}"#,
        )
        .unwrap();
        let value: Value = serde_json::from_str(&bound).unwrap();
        assert_eq!(value["principal"]["id"], "api");
        assert_eq!(value["context"]["tenant"], "acme");

        let same = r#"{"principal":{"type":"Service","id":"api"},"action":"read","resource":{"type":"Doc","id":"d"},"context":{"tenant":"acme"}}"#;
        assert!(bind_request(&identity(), same).is_ok());

        let other = same.replace(r#""id":"api""#, r#""id":"billing""#);
        let error = bind_request(&identity(), &other).unwrap_err();
        assert_eq!(error.status, StatusCode::FORBIDDEN);
        assert_eq!(error.body.error.code, "principal_mismatch");
        assert!(error.body.error.message.contains("billing"), "{error:?}");

        let tenant = same.replace("acme", "evil");
        let error = bind_request(&identity(), &tenant).unwrap_err();
        assert_eq!(error.body.error.code, "context_mismatch");

        let data = same.replace(r#""id":"api"}"#, r#""id":"api","parents":[]}"#);
        assert_eq!(
            bind_request(&identity(), &data)
                .unwrap_err()
                .body
                .error
                .code,
            "principal_mismatch"
        );
        // Not JSON: left to the decoder.
        assert_eq!(bind_request(&identity(), "{oops").unwrap(), "{oops");
    }

    #[test]
    fn store_context_fields_are_bound() {
        let fields = bound_context_fields(&identity(), r#""mfa":true"#).unwrap();
        let value: Value = serde_json::from_str(&format!("{{{fields}}}")).unwrap();
        assert_eq!(value, serde_json::json!({"mfa": true, "tenant": "acme"}));
        assert!(bound_context_fields(&identity(), r#""tenant":"x""#).is_err());
        assert!(bound_context_fields(&identity(), "").is_ok());
    }

    #[test]
    fn an_error_at_a_mapped_field_names_the_claim() {
        let error = ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", "expected Int")
            .with_field("context.tenant");
        let explained = explain(Some(&identity()), error.clone());
        assert_eq!(explained.status, StatusCode::UNAUTHORIZED);
        assert!(
            explained.body.error.message.contains("claim `tenant_id`")
                && explained.body.error.message.contains("`context.tenant`"),
            "{explained:?}"
        );
        let other = ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", "x")
            .with_field("context.tenantx");
        assert_eq!(
            explain(Some(&identity()), other).status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(explain(None, error).status, StatusCode::BAD_REQUEST);
    }
}
