//! Hierarchy work is bounded per request: however many rules test whether
//! an entity is `in` a group, each entity's ancestry is walked at most once
//! per request. Asserted through the work counter the engine exposes
//! (`Request::entities_visited`), not through time. Before ancestor sets
//! were kept, 100 rules over a 1,000-deep chain walked it 100 times.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::fmt::Write;

use reaper_compiler::source::Sources;
use reaper_runtime::Engine;

const SCHEMA: &str = "entity Team in [Team]\nentity User in [Team]\nentity Document { owner: User }\naction read on Document by User\n";

fn engine_of(rules: impl Iterator<Item = String>) -> Engine {
    let mut source = String::from(SCHEMA);
    for rule in rules {
        source.push_str(&rule);
        source.push('\n');
    }
    let mut sources = Sources::new();
    sources.add("policy.reaper", source);
    Engine::load(&reaper_compiler::compile(&sources).unwrap()).unwrap()
}

fn team(id: &str) -> String {
    format!(r#"{{"type": "Team", "id": "{id}"}}"#)
}

/// A request whose `owner` (and principal) sits at the bottom of a chain of
/// `depth` teams, `t-0` nearest; `extra_parents` more teams directly above
/// the principal.
fn request(depth: usize, extra_parents: usize) -> String {
    let mut entities = Vec::new();
    for i in 0..depth {
        let parents = if i + 1 < depth {
            team(&format!("t-{}", i + 1))
        } else {
            String::new()
        };
        entities.push(format!(
            r#"{{"type": "Team", "id": "t-{i}", "parents": [{parents}]}}"#
        ));
    }
    let mut principal_parents: Vec<String> = (0..extra_parents)
        .map(|i| team(&format!("x-{i}")))
        .collect();
    principal_parents.push(team("t-0"));
    entities.push(format!(
        r#"{{"type": "User", "id": "owner", "parents": [{}]}}"#,
        team("t-0")
    ));
    let mut out = String::new();
    write!(
        out,
        r#"{{"principal": {{"type": "User", "id": "p", "parents": [{}]}}, "action": "read",
            "resource": {{"type": "Document", "id": "d", "attrs": {{"owner": {{"type": "User", "id": "owner"}}}}}},
            "entities": [{}]}}"#,
        principal_parents.join(", "),
        entities.join(", ")
    )
    .unwrap();
    out
}

#[test]
fn many_in_rules_over_a_deep_chain_walk_it_once() {
    let depth = 1000;
    let engine = engine_of((0..100).map(|i| {
        format!(r#"@id("r{i}") permit read on Document when resource.owner in Team::"g-{i}";"#)
    }));
    let denied = engine.decode_request(&request(depth, 0)).unwrap();
    let (decision, work) = engine.authorize_with_work(&denied);
    assert!(!decision.allow);
    // The owner's ancestry once: the chain and nothing else.
    let visited = work.entities_visited;
    assert!(visited as usize <= depth + 1, "visited {visited}");
    assert_eq!(visited, denied.entities_visited());
    // Asked again, the request knows the answer.
    assert_eq!(engine.authorize_with_work(&denied).1.entities_visited, 0);

    // One of the groups on the chain: allowed, still one walk.
    let engine = engine_of((0..100).map(|i| {
        format!(
            r#"@id("r{i}") permit read on Document when resource.owner in Team::"t-{}";"#,
            i * 10 + 5
        )
    }));
    let allowed = engine.decode_request(&request(depth, 0)).unwrap();
    assert!(engine.authorize(&allowed).allow);
    assert!(allowed.entities_visited() as usize <= depth + 1);
}

#[test]
fn rules_scoped_to_many_groups_walk_the_principal_once() {
    let engine = engine_of((0..1000).map(|i| {
        format!(r#"@id("r{i}") permit read on Document when principal in Team::"g-{i}";"#)
    }));
    // With `t-0`, the most parents an entity may have.
    let parents = 9_999;
    let request = engine.decode_request(&request(10, parents)).unwrap();
    assert!(!engine.authorize(&request).allow);
    assert!(!engine.authorize(&request).allow);
    let visited = request.entities_visited() as usize;
    assert!(visited <= parents + 10 + 1, "visited {visited}");
}
