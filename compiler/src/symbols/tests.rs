use super::*;
use crate::source::Sources;

const SCHEMA: &str = r#"package p
entity User { dept: String, manager?: User }
entity Doc { owner: User, public: Bool }
type Owners = Set<User>
action read, edit on [Doc] by [User] context { mfa: Bool }
store sessions by [User] { ttl 1h }
"#;

const RULES: &str = r#"package p
@id("owner")
permit [read, edit] on Doc when principal == resource.owner && context.mfa;
@id("mgr")
permit read on Doc when principal has manager && principal.manager.dept == "x";
permit store.read on store sessions;
ratelimit "api" {
  limit per_user: 10 per minute by descriptor.user_id;
}
test "t" {
  principal User::"a" { dept: "x" };
  resource Doc::"d" { owner: User::"a", public: true };
  expect permit read on Doc::"d" with { mfa: true } because ["owner"];
  expect ratelimit "api" { user_id: "u" } matches [per_user];
}
"#;

fn index() -> (Sources, Index) {
    let mut sources = Sources::new();
    let a = sources.add("schema.reaper", SCHEMA);
    let b = sources.add("rules.reaper", RULES);
    let (checked, recorded) =
        crate::check_files_recording(&sources, &[a, b], crate::Keep::Diagnostics, true);
    assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
    let raws: Vec<Vec<Raw>> = [a, b]
        .iter()
        .map(|id| {
            let text = &sources.file(*id).text;
            file_names(&crate::parse::parse(*id, text).file, text)
        })
        .collect();
    let files: Vec<&[Raw]> = raws.iter().map(Vec::as_slice).collect();
    let index = Index::new(&files, recorded, checked.package.schema);
    (sources, index)
}

fn texts(sources: &Sources, index: &Index, symbol: &Symbol) -> Vec<String> {
    index
        .references(symbol)
        .map(|o| {
            let file = &sources.file(o.span.file).name;
            format!("{file}:{}", sources.text(o.span))
        })
        .collect()
}

fn at(text: &str, needle: &str) -> u32 {
    u32::try_from(text.find(needle).expect("needle")).expect("offset")
}

#[test]
fn entity_types_are_found_in_declarations_rules_and_tests() {
    let (sources, index) = index();
    let user = Symbol::EntityType("User".into());
    // Declaration, `manager?: User`, `owner: User`, `Set<User>`, `by [User]`
    // twice, and the two test entities.
    assert_eq!(texts(&sources, &index, &user).len(), 8);
    assert_eq!(index.declarations(&user).count(), 1);
}

#[test]
fn attributes_resolve_through_the_receiver_type() {
    let (sources, index) = index();
    let owner = Symbol::Attribute {
        owner: Owner::Entity("Doc".into()),
        name: "owner".into(),
    };
    assert_eq!(
        texts(&sources, &index, &owner),
        [
            "schema.reaper:owner",
            "rules.reaper:owner",
            "rules.reaper:owner"
        ]
    );
    let dept = Symbol::Attribute {
        owner: Owner::Entity("User".into()),
        name: "dept".into(),
    };
    // Declared, read through `principal.manager`, and set in test data.
    assert_eq!(texts(&sources, &index, &dept).len(), 3);
    let mfa = Symbol::Attribute {
        owner: Owner::Context,
        name: "mfa".into(),
    };
    assert_eq!(texts(&sources, &index, &mfa).len(), 3);
}

#[test]
fn rule_ids_limits_stores_and_actions_are_linked() {
    let (sources, index) = index();
    let rule = Symbol::Rule("owner".into());
    assert_eq!(
        texts(&sources, &index, &rule),
        ["rules.reaper:owner", "rules.reaper:owner"]
    );
    let limit = Symbol::Limit {
        domain: "api".into(),
        name: "per_user".into(),
    };
    assert_eq!(texts(&sources, &index, &limit).len(), 2);
    assert_eq!(
        texts(&sources, &index, &Symbol::Store("sessions".into())).len(),
        2
    );
    assert_eq!(
        texts(&sources, &index, &Symbol::Action("read".into())).len(),
        4
    );
    assert_eq!(index.descriptor_keys().len(), 1);
}

#[test]
fn hover_types_come_from_the_innermost_expression() {
    let (sources, index) = index();
    let rules = FileId(1);
    let text = &sources.file(rules).text;
    let (span, ty) = index
        .type_at(rules, at(text, "manager.dept") + 2)
        .expect("a type");
    assert_eq!(sources.text(span), "principal.manager");
    assert_eq!(ty, "User");
    let (_, ty) = index.type_at(rules, at(text, "mfa;") + 1).expect("a type");
    assert_eq!(ty, "Bool");
}
