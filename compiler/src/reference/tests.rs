//! Tests of the reference evaluator's tricky corners: hierarchies with cycles,
//! short-circuits that hide errors, scopes that skip failing rules, checked
//! arithmetic, how decisions pick their reasons, and rate-limit matching.

use reaper_lang::eval::EvalError;
use reaper_lang::request::{Entity, Request};
use reaper_lang::value::{Uid, Value};

use super::{Decision, authorize, matching_limits};
use crate::source::Sources;
use crate::typed::Package;

const SCHEMA: &str = r#"
entity Group in [Group] { level: Int }
entity User in [Group] { age: Int, email?: String, manager?: User }
entity Doc { owner: User, created: Timestamp }
action read, edit on Doc by User
context { d: Duration, n: Int, now: Timestamp }
"#;

fn package(rules: &str) -> Package {
    let mut sources = Sources::new();
    sources.add("schema.reaper", SCHEMA);
    sources.add("rules.reaper", rules);
    let checked = crate::check(&sources);
    assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
    checked.package
}

fn uid(package: &Package, ty: &str, id: &str) -> Uid {
    Uid {
        ty: package.schema.entity_type_id(ty).unwrap(),
        id: id.to_owned(),
    }
}

/// A request builder over the test schema.
struct Req<'p> {
    package: &'p Package,
    request: Request,
}

impl<'p> Req<'p> {
    fn new(package: &'p Package, action: &str, principal: &str, resource: &str) -> Self {
        let request = Request {
            principal: uid(package, "User", principal),
            action: package.schema.action_id(action).unwrap(),
            resource: uid(package, "Doc", resource),
            // Slots: d, n, now.
            context: vec![
                Some(Value::Duration(1000)),
                Some(Value::Int(1)),
                Some(Value::Timestamp(1_700_000_000_000)),
            ],
            entities: Vec::new(),
        };
        Self { package, request }
    }

    fn context_n(mut self, n: i64) -> Self {
        self.request.context[1] = Some(Value::Int(n));
        self
    }

    fn entity(
        mut self,
        ty: &str,
        id: &str,
        attrs: Vec<Option<Value>>,
        parents: &[(&str, &str)],
    ) -> Self {
        let parents = parents
            .iter()
            .map(|(t, i)| uid(self.package, t, i))
            .collect();
        self.request.entities.push(Entity {
            uid: uid(self.package, ty, id),
            attrs,
            parents,
        });
        self
    }

    /// A user: age, email, manager.
    fn user(self, id: &str, age: i64, parents: &[(&str, &str)]) -> Self {
        self.entity("User", id, vec![Some(Value::Int(age)), None, None], parents)
    }

    fn group(self, id: &str, parents: &[(&str, &str)]) -> Self {
        self.entity("Group", id, vec![Some(Value::Int(0))], parents)
    }

    /// A document: created, owner.
    fn doc(self, id: &str, owner: &str) -> Self {
        let owner = Value::Entity(uid(self.package, "User", owner));
        self.entity("Doc", id, vec![Some(Value::Timestamp(0)), Some(owner)], &[])
    }

    fn decide(&self) -> Decision {
        authorize(self.package, &self.request)
    }
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn kinds(decision: &Decision) -> Vec<(String, &'static str)> {
    decision
        .errors
        .iter()
        .map(|(id, e)| (id.clone(), e.kind()))
        .collect()
}

#[test]
fn hierarchy_follows_parents_transitively_and_survives_cycles() {
    let p = package(
        r#"
        @id("in-c") permit read when principal in Group::"c";
        @id("in-d") permit read when principal in Group::"d";
        @id("in-self") permit edit when principal in User::"alice";
        "#,
    );
    let req = Req::new(&p, "read", "alice", "doc")
        .user("alice", 30, &[("Group", "a")])
        .group("a", &[("Group", "b")])
        .group("b", &[("Group", "a"), ("Group", "c")])
        .group("c", &[("Group", "c")]);
    let d = req.decide();
    assert_eq!(d.reasons, ids(&["in-c"]));
    assert!(d.allow);
    // An entity is `in` itself.
    let req = Req::new(&p, "edit", "alice", "doc");
    assert_eq!(req.decide().reasons, ids(&["in-self"]));
}

#[test]
fn entities_without_data_have_no_parents() {
    let p = package(r#"@id("in-b") permit read when principal in Group::"b";"#);
    // `a` is alice's parent, but the request carries no data for `a`.
    let req = Req::new(&p, "read", "alice", "doc").user("alice", 1, &[("Group", "a")]);
    assert!(!req.decide().allow);
    let req = req.group("a", &[("Group", "b")]);
    assert!(req.decide().allow);
}

#[test]
fn entity_in_set_uses_the_hierarchy_but_contains_does_not() {
    let p = package(
        r#"
        @id("in-set") permit read when principal in [Group::"x", Group::"b"];
        @id("contains") permit read when [Group::"b"].contains(principal);
        "#,
    );
    let req = Req::new(&p, "read", "alice", "doc")
        .user("alice", 1, &[("Group", "a")])
        .group("a", &[("Group", "b")]);
    assert_eq!(req.decide().reasons, ids(&["in-set"]));
}

#[test]
fn short_circuits_hide_errors() {
    let p = package(
        r#"
        @id("or") permit read when principal == resource.owner || resource.owner.age > 1;
        @id("and") permit edit when principal != resource.owner && resource.owner.age > 1;
        @id("if") forbid read when (if context.n > 0 then true else resource.owner.age > 1);
        "#,
    );
    // The owner is alice; her data is absent, so reading her age fails.
    let owner = Req::new(&p, "read", "alice", "doc").doc("doc", "alice");
    let d = owner.decide();
    assert_eq!(d.reasons, ids(&["if"]));
    assert!(d.errors.is_empty(), "{d:?}");

    let other = Req::new(&p, "read", "bob", "doc")
        .doc("doc", "alice")
        .context_n(0);
    let d = other.decide();
    assert!(!d.allow);
    assert_eq!(
        kinds(&d),
        vec![
            ("or".into(), "missing-entity"),
            ("if".into(), "missing-entity")
        ]
    );
    let edit = Req::new(&p, "edit", "alice", "doc").doc("doc", "alice");
    assert_eq!(
        edit.decide(),
        Decision {
            allow: false,
            reasons: vec![],
            errors: vec![]
        }
    );
}

#[test]
fn the_first_failing_clause_stops_the_rule() {
    let p = package(
        r#"
        @id("r") permit read when context.n > 5 when resource.owner.age > 1;
        @id("s") permit read unless context.n > 5 when resource.owner.age > 1;
        "#,
    );
    let d = Req::new(&p, "read", "bob", "doc")
        .doc("doc", "alice")
        .decide();
    assert_eq!(kinds(&d), vec![("s".into(), "missing-entity")]);
}

#[test]
fn a_rule_out_of_scope_is_not_evaluated_and_reports_nothing() {
    let p = package(
        r#"
        @id("is") permit read when resource.owner.age > 1 && principal == User::"alice";
        @id("in") permit read when resource.owner.age > 1 when principal in Group::"admins";
        @id("any") permit read when resource.owner.age > 1;
        "#,
    );
    let bob = Req::new(&p, "read", "bob", "doc").doc("doc", "carol");
    assert_eq!(kinds(&bob.decide()), vec![("any".into(), "missing-entity")]);
    let alice = Req::new(&p, "read", "alice", "doc")
        .doc("doc", "carol")
        .user("alice", 3, &[("Group", "admins")]);
    assert_eq!(
        kinds(&alice.decide()),
        vec![
            ("is".into(), "missing-entity"),
            ("in".into(), "missing-entity"),
            ("any".into(), "missing-entity")
        ]
    );
    // Actions outside the head are not candidates either.
    let edit = Req::new(&p, "edit", "alice", "doc");
    assert!(edit.decide().errors.is_empty());
}

#[test]
fn arithmetic_is_checked() {
    let p = package(
        r#"
        @id("add") permit read when context.n + 9223372036854775807 > 0;
        @id("sub") permit read when context.n - 9223372036854775807 - 2 < 0;
        @id("mul") permit read when context.n * 4611686018427387904 > 0;
        @id("neg") permit read when -(context.n - 9223372036854775807 - 1) > 0;
        @id("dur") permit read when context.d + 9223372036854775807ms > 0ms;
        @id("ts") permit read when context.now + 9223372036854775807ms > context.now;
        @id("span") permit read when context.now - (context.now - 9223372036854775807ms + 1ms) > 0ms;
        "#,
    );
    let d = Req::new(&p, "read", "bob", "doc").context_n(1).decide();
    let failed: Vec<String> = d.errors.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(failed, ids(&["add", "dur", "ts"]), "{d:?}");
    assert!(d.errors.iter().all(|(_, e)| *e == EvalError::Overflow));
    // n = 1: sub is fine (i64::MIN + ...), mul overflows only at 2.
    assert!(d.reasons.contains(&"sub".to_owned()));
    assert!(d.reasons.contains(&"mul".to_owned()));

    let d = Req::new(&p, "read", "bob", "doc").context_n(2).decide();
    let failed: Vec<String> = d.errors.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(failed, ids(&["add", "mul", "dur", "ts"]), "{d:?}");

    // n = 0: n - MAX - 1 is i64::MIN, whose negation overflows; MIN - 2 too.
    let d = Req::new(&p, "read", "bob", "doc").context_n(0).decide();
    let failed: Vec<String> = d.errors.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(failed, ids(&["sub", "neg", "dur", "ts"]), "{d:?}");
}

#[test]
fn forbids_win_and_name_themselves() {
    let p = package(
        r#"
        @id("p1") permit read;
        @id("f1") forbid read when context.n == 1;
        @id("p2") permit [read, edit];
        @id("f-err") forbid read when resource.owner.age > 0;
        @id("f2") forbid read when context.n >= 1;
        "#,
    );
    let d = Req::new(&p, "read", "bob", "doc").context_n(1).decide();
    assert!(!d.allow);
    assert_eq!(d.reasons, ids(&["f1", "f2"]));
    assert_eq!(kinds(&d), vec![("f-err".into(), "missing-entity")]);

    // No forbid applies (the erroring one does not count): the permits.
    let d = Req::new(&p, "read", "bob", "doc").context_n(0).decide();
    assert!(d.allow);
    assert_eq!(d.reasons, ids(&["p1", "p2"]));
    assert_eq!(d.errors.len(), 1);

    // Nothing applies: deny without reasons.
    let p = package(r#"@id("p") permit edit when context.n > 100;"#);
    let d = Req::new(&p, "edit", "bob", "doc").decide();
    assert_eq!(
        d,
        Decision {
            allow: false,
            reasons: vec![],
            errors: vec![]
        }
    );
}

#[test]
fn has_and_optional_reads() {
    let p = package(
        r#"
        @id("email") permit read when principal has email && principal.email like "*@corp.com";
        @id("no-data") permit edit unless principal has email || principal has age;
        @id("manager") forbid read
          when principal has manager
          when principal.manager has email && principal.manager.email == "x";
        "#,
    );
    let alice = |email: Option<&str>| {
        Req::new(&p, "read", "alice", "doc").entity(
            "User",
            "alice",
            vec![
                Some(Value::Int(1)),
                email.map(|e| Value::String(e.to_owned())),
                Some(Value::Entity(uid(&p, "User", "boss"))),
            ],
            &[],
        )
    };
    assert!(alice(Some("a@corp.com")).decide().allow);
    assert!(!alice(Some("a@corp.com.evil")).decide().allow);
    let d = alice(None).decide();
    assert!(!d.allow && d.errors.is_empty(), "{d:?}");
    // `has` on the manager, whose data is absent, is false: no error.
    assert!(alice(Some("a@corp.com")).decide().errors.is_empty());
    // `has` on an entity without data is false, even for a required attribute.
    let d = Req::new(&p, "edit", "alice", "doc").decide();
    assert_eq!(d.reasons, ids(&["no-data"]));
}

#[test]
fn limits_apply_per_descriptor() {
    let p = package(
        r#"
        ratelimit "edge" {
          limit per_user: 10 per minute when descriptor has user by descriptor.user;
          limit login: 5 per second when descriptor.path == "/login" by descriptor.ip, descriptor.user;
          limit all: 100 per second;
          limit search: 3 per minute when descriptor["path"] like "/s*";
          limit pick: 3 per minute by if descriptor has user then descriptor.user else "anon";
        }
        "#,
    );
    let entries = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let names = |d: &[(String, String)]| -> Vec<(String, Vec<String>)> {
        matching_limits(&p, "edge", d)
            .into_iter()
            .map(|(name, keys)| (name, keys.unwrap()))
            .collect()
    };
    let s = |v: &[&str]| ids(v);
    // `login` reads `user`, which is absent: it does not apply.
    assert_eq!(
        names(&entries(&[("path", "/login"), ("ip", "1.2.3.4")])),
        vec![("all".into(), s(&[])), ("pick".into(), s(&["anon"]))]
    );
    // The first entry with a key is the one read.
    assert_eq!(
        names(&entries(&[
            ("path", "/login"),
            ("user", "u1"),
            ("ip", "1.2.3.4"),
            ("user", "u2")
        ])),
        vec![
            ("per_user".into(), s(&["u1"])),
            ("login".into(), s(&["1.2.3.4", "u1"])),
            ("all".into(), s(&[])),
            ("pick".into(), s(&["u1"])),
        ]
    );
    assert_eq!(
        names(&entries(&[("path", "/search")])),
        vec![
            ("all".into(), s(&[])),
            ("search".into(), s(&[])),
            ("pick".into(), s(&["anon"]))
        ]
    );
    assert!(matching_limits(&p, "nope", &[]).is_empty());
}

#[test]
fn limits_see_no_entity_data() {
    let p = package(
        r#"
        ratelimit "edge" {
          limit read: 1 per second when User::"a".age > 1;
          limit present: 1 per second when User::"a" has age;
          limit within: 1 per second when User::"a" in User::"a" && !(User::"a" in Group::"g");
        }
        "#,
    );
    let got = matching_limits(&p, "edge", &[]);
    assert_eq!(
        got,
        vec![
            (
                "read".to_owned(),
                Err(EvalError::MissingEntity("User::\"a\"".into()))
            ),
            ("within".to_owned(), Ok(vec![])),
        ]
    );
}
