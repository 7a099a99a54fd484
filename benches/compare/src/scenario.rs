//! One engine-neutral description of an authorization request, rendered to
//! each engine's own JSON input, so that every engine is asked exactly the
//! same question.
//!
//! - Reaper: the request JSON of `docs/requests.md` (principal and resource
//!   carry their data inline; other entities go in `entities`).
//! - regorus: the same document, unchanged, as Rego `input`.
//! - Cedar: `{principal, action, resource, context, entities}` where the uids
//!   are Cedar's `{"type", "id"}` JSON form, `entities` is Cedar's entity JSON
//!   format (`uid`, `attrs`, `parents`, with `__entity` / `__extn` escapes).

use serde_json::{Map, Value as Json, json};

/// An attribute or context value.
#[derive(Debug, Clone)]
pub enum Val {
    Bool(bool),
    Int(i64),
    Str(String),
    /// A reference to an entity: type and id.
    Entity(String, String),
    Set(Vec<Val>),
    /// An IP address or CIDR range, as text (`10.1.2.3`).
    Ip(String),
    /// An RFC 3339 UTC timestamp (`2026-01-01T00:00:00Z`).
    Timestamp(String),
}

pub fn s(text: &str) -> Val {
    Val::Str(text.to_owned())
}

pub fn uid(ty: &str, id: &str) -> Val {
    Val::Entity(ty.to_owned(), id.to_owned())
}

/// One entity's data.
#[derive(Debug, Clone)]
pub struct Ent {
    pub ty: String,
    pub id: String,
    pub attrs: Vec<(String, Val)>,
    pub parents: Vec<(String, String)>,
}

impl Ent {
    pub fn new(ty: &str, id: &str) -> Self {
        Self {
            ty: ty.to_owned(),
            id: id.to_owned(),
            attrs: Vec::new(),
            parents: Vec::new(),
        }
    }

    /// Sets (or replaces) an attribute.
    pub fn attr(mut self, name: &str, value: Val) -> Self {
        self.set(name, value);
        self
    }

    pub fn set(&mut self, name: &str, value: Val) {
        match self.attrs.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((name.to_owned(), value)),
        }
    }

    pub fn unset(&mut self, name: &str) {
        self.attrs.retain(|(n, _)| n != name);
    }

    pub fn parent(mut self, ty: &str, id: &str) -> Self {
        self.parents.push((ty.to_owned(), id.to_owned()));
        self
    }
}

/// A request: principal, action, resource, context and other entities.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub principal: Ent,
    pub action: String,
    pub resource: Ent,
    pub context: Vec<(String, Val)>,
    pub entities: Vec<Ent>,
}

impl Scenario {
    pub fn set_context(&mut self, name: &str, value: Val) {
        match self.context.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.context.push((name.to_owned(), value)),
        }
    }

    /// Reaper's request JSON.
    pub fn reaper_json(&self) -> Json {
        json!({
            "principal": reaper_entity(&self.principal),
            "action": self.action,
            "resource": reaper_entity(&self.resource),
            "context": reaper_record(&self.context),
            "entities": self.entities.iter().map(reaper_entity).collect::<Vec<_>>(),
        })
    }

    /// The Rego `input` document: the same JSON as Reaper's request, so both
    /// engines parse the same text on their JSON paths.
    pub fn rego_input_json(&self) -> Json {
        self.reaper_json()
    }

    /// Cedar's request and entities, as one JSON document (see the module
    /// documentation).
    pub fn cedar_json(&self) -> Json {
        let mut entities = vec![cedar_entity(&self.principal), cedar_entity(&self.resource)];
        entities.extend(self.entities.iter().map(cedar_entity));
        json!({
            "principal": { "type": self.principal.ty, "id": self.principal.id },
            "action": { "type": "Action", "id": self.action },
            "resource": { "type": self.resource.ty, "id": self.resource.id },
            "context": cedar_record(&self.context),
            "entities": entities,
        })
    }
}

fn reaper_entity(e: &Ent) -> Json {
    json!({
        "type": e.ty,
        "id": e.id,
        "attrs": reaper_record(&e.attrs),
        "parents": e.parents.iter().map(|(ty, id)| json!({ "type": ty, "id": id })).collect::<Vec<_>>(),
    })
}

fn reaper_record(fields: &[(String, Val)]) -> Json {
    Json::Object(
        fields
            .iter()
            .map(|(n, v)| (n.clone(), reaper_value(v)))
            .collect::<Map<_, _>>(),
    )
}

fn reaper_value(v: &Val) -> Json {
    match v {
        Val::Bool(b) => json!(b),
        Val::Int(i) => json!(i),
        Val::Str(s) | Val::Ip(s) | Val::Timestamp(s) => json!(s),
        Val::Entity(ty, id) => json!({ "type": ty, "id": id }),
        Val::Set(items) => Json::Array(items.iter().map(reaper_value).collect()),
    }
}

fn cedar_entity(e: &Ent) -> Json {
    json!({
        "uid": { "type": e.ty, "id": e.id },
        "attrs": cedar_record(&e.attrs),
        "parents": e.parents.iter().map(|(ty, id)| json!({ "type": ty, "id": id })).collect::<Vec<_>>(),
    })
}

fn cedar_record(fields: &[(String, Val)]) -> Json {
    Json::Object(
        fields
            .iter()
            .map(|(n, v)| (n.clone(), cedar_value(v)))
            .collect::<Map<_, _>>(),
    )
}

fn cedar_value(v: &Val) -> Json {
    match v {
        Val::Bool(b) => json!(b),
        Val::Int(i) => json!(i),
        Val::Str(s) => json!(s),
        Val::Entity(ty, id) => json!({ "__entity": { "type": ty, "id": id } }),
        Val::Set(items) => Json::Array(items.iter().map(cedar_value).collect()),
        Val::Ip(s) => json!({ "__extn": { "fn": "ip", "arg": s } }),
        Val::Timestamp(s) => json!({ "__extn": { "fn": "datetime", "arg": s } }),
    }
}

/// The request every `authorize/*` benchmark asks: may alice read the
/// document `plan`? She is not its owner but is listed among its editors, so
/// the answer is allow, through the `editors` rule, with no forbid applying.
pub fn plan_read() -> Scenario {
    Scenario {
        principal: Ent::new("User", "alice")
            .attr("clearance", Val::Int(2))
            .attr("contractor", Val::Bool(false))
            .attr("email", s("alice@example.com"))
            .parent("Team", "eng"),
        action: "read".to_owned(),
        resource: Ent::new("Document", "plan")
            .attr("owner", uid("User", "bob"))
            .attr("public", Val::Bool(false))
            .attr("labels", Val::Set(vec![s("internal")]))
            .attr("editors", Val::Set(vec![uid("User", "alice")]))
            .parent("Folder", "projects"),
        context: vec![
            ("source_ip".to_owned(), Val::Ip("10.1.2.3".to_owned())),
            ("mfa".to_owned(), Val::Bool(true)),
            (
                "now".to_owned(),
                Val::Timestamp("2026-01-01T00:00:00Z".to_owned()),
            ),
        ],
        entities: vec![
            Ent::new("Team", "eng").parent("Team", "all"),
            Ent::new("Team", "all"),
            Ent::new("Folder", "projects").attr("owner", uid("User", "carol")),
        ],
    }
}

/// A named variant of a request with the decision and the rule ids every
/// engine must agree on (Rego reports no reasons; Cedar and Reaper do).
#[derive(Debug, Clone)]
pub struct Case {
    pub name: &'static str,
    pub scenario: Scenario,
    pub allow: bool,
    pub reasons: &'static [&'static str],
}

/// The equivalence cases: the benchmark request and variants that exercise
/// every rule, both permits and forbids, and the default deny.
pub fn cases() -> Vec<Case> {
    let base = plan_read();
    let mut out = Vec::new();
    let mut case = |name, allow, reasons, edit: &dyn Fn(&mut Scenario)| {
        let mut scenario = base.clone();
        edit(&mut scenario);
        out.push(Case {
            name,
            scenario,
            allow,
            reasons,
        });
    };

    case(
        "benchmark request: editor reads",
        true,
        &["editors"],
        &|_| {},
    );
    case("editors do not delete (default deny)", false, &[], &|r| {
        r.action = "delete".to_owned();
    });
    case("default deny: not an editor", false, &[], &|r| {
        r.resource.set("editors", Val::Set(vec![]));
    });
    case(
        "confidential outside the office (forbid)",
        false,
        &["office-only"],
        &|r| {
            r.resource.set("labels", Val::Set(vec![s("confidential")]));
            r.set_context("source_ip", Val::Ip("203.0.113.9".to_owned()));
        },
    );
    case("confidential from the VPN", true, &["editors"], &|r| {
        r.resource.set("labels", Val::Set(vec![s("confidential")]));
        r.set_context("source_ip", Val::Ip("192.168.100.23".to_owned()));
    });
    case(
        "contractors never see confidential",
        false,
        &["contractors"],
        &|r| {
            r.principal.set("contractor", Val::Bool(true));
            r.resource.set("labels", Val::Set(vec![s("confidential")]));
        },
    );
    case(
        "contractors change only from the office (forbid)",
        false,
        &["contractor-changes"],
        &|r| {
            r.action = "edit".to_owned();
            r.principal.set("contractor", Val::Bool(true));
            r.set_context("source_ip", Val::Ip("192.168.100.23".to_owned()));
        },
    );
    case(
        "contractors edit from the office",
        true,
        &["editors"],
        &|r| {
            r.action = "edit".to_owned();
            r.principal.set("contractor", Val::Bool(true));
        },
    );
    case("minimum clearance (forbid)", false, &["clearance"], &|r| {
        r.resource.set("min_clearance", Val::Int(3));
    });
    case("public read", true, &["public-read"], &|r| {
        r.resource.set("public", Val::Bool(true));
        r.resource.set("editors", Val::Set(vec![]));
    });
    case("embargo beats public read", false, &["embargo"], &|r| {
        r.resource.set("public", Val::Bool(true));
        r.resource.set(
            "embargo_until",
            Val::Timestamp("2026-06-01T09:00:00Z".to_owned()),
        );
    });
    case("after the embargo", true, &["editors"], &|r| {
        r.resource.set(
            "embargo_until",
            Val::Timestamp("2026-06-01T09:00:00Z".to_owned()),
        );
        r.set_context("now", Val::Timestamp("2026-06-01T09:00:00.001Z".to_owned()));
    });
    case(
        "team share through the hierarchy",
        true,
        &["team-share"],
        &|r| {
            r.resource.set("editors", Val::Set(vec![]));
            r.resource.set("team", uid("Team", "all"));
        },
    );
    case(
        "team share does not reach sibling teams",
        false,
        &[],
        &|r| {
            r.resource.set("editors", Val::Set(vec![]));
            r.resource.set("team", uid("Team", "sales"));
        },
    );
    case(
        "handbook sub-folder, company-wide",
        true,
        &["handbook"],
        &|r| {
            r.resource.set("editors", Val::Set(vec![]));
            r.resource.parents = vec![("Folder".to_owned(), "hr".to_owned())];
            r.entities.push(
                Ent::new("Folder", "hr")
                    .attr("owner", uid("User", "hr"))
                    .parent("Folder", "handbook"),
            );
            r.entities
                .push(Ent::new("Folder", "handbook").attr("owner", uid("User", "hr")));
        },
    );
    case("handbook list", true, &["handbook-list"], &|r| {
        r.action = "list".to_owned();
        r.resource = Ent::new("Folder", "hr")
            .attr("owner", uid("User", "hr"))
            .parent("Folder", "handbook");
        r.entities
            .push(Ent::new("Folder", "handbook").attr("owner", uid("User", "hr")));
    });
    case("folder owners create", true, &["folder-owner"], &|r| {
        r.action = "create".to_owned();
        r.resource = Ent::new("Folder", "mine").attr("owner", uid("User", "alice"));
    });
    case("owner edits", true, &["owner-all"], &|r| {
        r.action = "edit".to_owned();
        r.resource.set("owner", uid("User", "alice"));
        r.resource.set("editors", Val::Set(vec![]));
    });
    case(
        "owner deletes without MFA (forbid)",
        false,
        &["mfa-delete"],
        &|r| {
            r.action = "delete".to_owned();
            r.resource.set("owner", uid("User", "alice"));
            r.set_context("mfa", Val::Bool(false));
        },
    );
    case("owner shares with MFA", true, &["owner-all"], &|r| {
        r.action = "share".to_owned();
        r.resource.set("owner", uid("User", "alice"));
    });
    case(
        "share needs a company address (forbid)",
        false,
        &["share-needs-corp-email"],
        &|r| {
            r.action = "share".to_owned();
            r.resource.set("owner", uid("User", "alice"));
            r.principal.set("email", s("alice@mail.example.net"));
        },
    );
    case(
        "share with no address (forbid)",
        false,
        &["share-needs-corp-email"],
        &|r| {
            r.action = "share".to_owned();
            r.resource.set("owner", uid("User", "alice"));
            r.principal.unset("email");
        },
    );
    case("admins hold a role", true, &["admins"], &|r| {
        r.action = "edit".to_owned();
        r.resource.set("editors", Val::Set(vec![]));
        r.principal
            .parents
            .push(("Role".to_owned(), "admin".to_owned()));
    });
    out
}
