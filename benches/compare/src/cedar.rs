//! The cedar-policy side: schema, policy set and the JSON-to-request path,
//! following Cedar's own fast path (`Authorizer::is_authorized` on a prepared
//! `Request`, `PolicySet` and `Entities`).

use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request, Response, Schema,
    ValidationMode, Validator,
};
use serde_json::Value as Json;

pub const SCHEMA: &str = include_str!("../policies/document-sharing/schema.cedarschema");
pub const POLICIES: &str = include_str!("../policies/document-sharing/policies.cedar");

/// A loaded Cedar policy set with its schema.
pub struct Cedar {
    pub schema: Schema,
    pub policies: PolicySet,
    pub authorizer: Authorizer,
}

/// A request in Cedar's input form.
pub struct Prepared {
    pub request: Request,
    pub entities: Entities,
}

impl Cedar {
    /// The document-sharing policies of `policies/document-sharing/`.
    pub fn document_sharing() -> Self {
        Self::new(SCHEMA, POLICIES)
    }

    /// Parses the schema and the policies and validates the policies
    /// strictly against the schema; panics on any error, since a benchmark of
    /// a broken policy would be meaningless.
    pub fn new(schema: &str, policies: &str) -> Self {
        let (schema, warnings) =
            Schema::from_cedarschema_str(schema).unwrap_or_else(|e| panic!("Cedar schema: {e:?}"));
        let warnings: Vec<String> = warnings.map(|w| w.to_string()).collect();
        assert!(warnings.is_empty(), "Cedar schema warnings: {warnings:?}");
        let policies =
            PolicySet::from_str(policies).unwrap_or_else(|e| panic!("Cedar policies: {e:?}"));
        let validation = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        assert!(
            validation.validation_passed(),
            "Cedar validation: {:?}",
            validation.validation_errors().collect::<Vec<_>>()
        );
        Self {
            schema,
            policies,
            authorizer: Authorizer::new(),
        }
    }

    /// Cedar's JSON path: the uids, the context (typed by the schema) and the
    /// entities (validated against the schema), then a schema-checked request.
    pub fn decode(&self, text: &str) -> Prepared {
        let mut json: Json = serde_json::from_str(text).expect("Cedar request: malformed JSON");
        let mut take = |key: &str| json.get_mut(key).map(Json::take).unwrap_or(Json::Null);
        let principal = EntityUid::from_json(take("principal")).expect("Cedar principal");
        let action = EntityUid::from_json(take("action")).expect("Cedar action");
        let resource = EntityUid::from_json(take("resource")).expect("Cedar resource");
        let context = Context::from_json_value(take("context"), Some((&self.schema, &action)))
            .expect("Cedar context");
        let entities = Entities::from_json_value(take("entities"), Some(&self.schema))
            .expect("Cedar entities");
        let request = Request::new(principal, action, resource, context, Some(&self.schema))
            .expect("Cedar request");
        Prepared { request, entities }
    }

    pub fn authorize(&self, input: &Prepared) -> Response {
        self.authorizer
            .is_authorized(&input.request, &self.policies, &input.entities)
    }

    pub fn allows(&self, input: &Prepared) -> bool {
        self.authorize(input).decision() == Decision::Allow
    }

    /// The `@id` annotations of the policies that determined a response,
    /// sorted; panics if the evaluation raised errors.
    pub fn reasons(&self, response: &Response) -> Vec<String> {
        let errors: Vec<_> = response
            .diagnostics()
            .errors()
            .map(ToString::to_string)
            .collect();
        assert!(errors.is_empty(), "Cedar evaluation errors: {errors:?}");
        let mut ids: Vec<String> = response
            .diagnostics()
            .reason()
            .map(|id| {
                self.policies
                    .annotation(id, "id")
                    .unwrap_or_else(|| id.as_ref())
                    .to_owned()
            })
            .collect();
        ids.sort();
        ids
    }
}
