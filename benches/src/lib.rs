//! Policy generators shared by the benchmarks: a realistic document-sharing
//! schema and any number of rules of varied shapes over it.

use std::fmt::Write;

/// The schema every generated policy declares.
pub const SCHEMA: &str = r#"entity Team in [Team] { name: String }
entity User in [Team] { department: String, clearance: Int, email?: String, tags: Set<String> }
entity Folder in [Folder] { owner: User }
entity Document in [Folder] { owner: User, public: Bool, labels: Set<String>, level: Int }

action read, comment, edit, delete, share on Document by User
action list on Folder by User

context { source_ip: Ip, mfa: Bool, now: Timestamp }
"#;

/// A policy of [`SCHEMA`] and `rules` rules cycling through eight shapes:
/// literal principal scopes, hierarchy tests, attribute comparisons, `has`
/// guards with `like`, IP ranges, set methods and timestamps.
pub fn policy(rules: usize) -> String {
    let mut out = String::with_capacity(SCHEMA.len() + rules * 110);
    out.push_str(SCHEMA);
    for i in 0..rules {
        out.push('\n');
        let _ = writeln!(out, "@id(\"rule-{i}\")");
        let _ = match i % 8 {
            0 => writeln!(
                out,
                "permit read on Document when principal == User::\"user-{i}\";"
            ),
            1 => writeln!(
                out,
                "permit [read, comment] on Document when principal in Team::\"team-{i}\" && resource.level <= {};",
                i % 5
            ),
            2 => writeln!(
                out,
                "forbid delete on Document when principal.clearance < {} && \"secret-{i}\" in resource.labels;",
                i % 4
            ),
            3 => writeln!(
                out,
                "permit edit on Document when principal has email && principal.email like \"*@d{i}.example\" && context.mfa;"
            ),
            4 => writeln!(
                out,
                "permit list on Folder when resource in Folder::\"folder-{i}\" && principal.department == \"dept-{i}\";"
            ),
            5 => writeln!(
                out,
                "forbid share on Document when !(context.source_ip in 10.{}.0.0/16) && resource.public;",
                i % 256
            ),
            6 => writeln!(
                out,
                "permit comment on Document when principal.tags.contains(\"tag-{i}\") || resource.owner == principal;"
            ),
            _ => writeln!(
                out,
                "permit [delete, share] on Document\n  when resource.owner == principal\n  unless context.now > 2030-01-01T00:00:00Z;"
            ),
        };
    }
    out
}

/// A request of the mixed series: `alice` (team-1, dept-4, email at
/// d3.example, tag-6) acting on a document in folder-4 owned by `bob`, or on
/// folder-4 itself.
macro_rules! mixed_request {
    ($action:literal, DOCUMENT) => {
        concat!(
            r#"{"principal": "#,
            mixed_request!(@alice),
            r#", "action": ""#,
            $action,
            r#"", "resource": {"type": "Document", "id": "doc", "attrs": {"owner": {"type": "User", "id": "bob"}, "public": false, "labels": ["secret-2", "internal"], "level": 1}, "parents": [{"type": "Folder", "id": "folder-4"}]}, "#,
            mixed_request!(@rest)
        )
    };
    ($action:literal, FOLDER) => {
        concat!(
            r#"{"principal": "#,
            mixed_request!(@alice),
            r#", "action": ""#,
            $action,
            r#"", "resource": {"type": "Folder", "id": "folder-4", "attrs": {"owner": {"type": "User", "id": "bob"}}}, "#,
            mixed_request!(@rest)
        )
    };
    (@alice) => {
        r#"{"type": "User", "id": "alice", "attrs": {"department": "dept-4", "clearance": 2, "email": "alice@d3.example", "tags": ["tag-6", "tag-x"]}, "parents": [{"type": "Team", "id": "team-1"}]}"#
    };
    (@rest) => {
        r#""context": {"source_ip": "10.5.1.2", "mfa": true, "now": "2026-01-01T00:00:00Z"}, "entities": [{"type": "Team", "id": "team-1", "attrs": {"name": "one"}}]}"#
    };
}

/// The scaling series' policy: [`SCHEMA`] and `rules` rules, each scoped to
/// one principal, so exactly one applies to `User::"user-0"`.
pub fn scaling_policy(rules: usize) -> String {
    let mut out = String::with_capacity(SCHEMA.len() + rules * 80);
    out.push_str(SCHEMA);
    for i in 0..rules {
        let _ = writeln!(
            out,
            "@id(\"rule-{i}\")\npermit read on Document when principal == User::\"user-{i}\";"
        );
    }
    out
}

/// A rate-limit domain `"edge"` of `limits` limits in four shapes (an entry
/// equal to a literal, `has` an entry, both, a key alone), so that limit `i`
/// applies to exactly the descriptor [`many_descriptors`] builds for `i`.
pub fn many_limits_policy(limits: usize) -> String {
    let mut out = String::from("ratelimit \"edge\" {\n");
    for i in 0..limits {
        let rule = match i % 4 {
            0 => format!("when descriptor.route == \"/r{i}\" by descriptor.user"),
            1 => format!("when descriptor has k{i} by descriptor.k{i}"),
            2 => format!(
                "when descriptor.route == \"/r{i}\" && descriptor has user by descriptor.user"
            ),
            _ => format!("by descriptor.k{i}"),
        };
        let _ = writeln!(out, "  limit l{i}: 1_000_000_000 per minute {rule};");
    }
    out.push_str("}\n");
    out
}

/// `count` descriptors for [`many_limits_policy`]: descriptor `j` is
/// `route=/r{j}, user=u{j}, k{j}=v`, which limit `j` alone applies to.
pub fn many_descriptors(count: usize) -> Vec<Vec<(String, String)>> {
    (0..count)
        .map(|j| {
            vec![
                ("route".to_owned(), format!("/r{j}")),
                ("user".to_owned(), format!("u{j}")),
                (format!("k{j}"), "v".to_owned()),
            ]
        })
        .collect()
}

/// A request for the scaling policy that exactly `rule-0` allows.
pub const SCALING_REQUEST: &str = r#"{
  "principal": {"type": "User", "id": "user-0", "attrs": {"department": "eng", "clearance": 1, "tags": []}},
  "action": "read",
  "resource": {"type": "Document", "id": "d", "attrs": {"owner": {"type": "User", "id": "x"}, "public": false, "labels": [], "level": 1}},
  "context": {"source_ip": "10.1.2.3", "mfa": true, "now": "2026-01-01T00:00:00Z"}
}"#;

/// One request per action for [`policy`], carrying the data real requests
/// carry (an email, tags, labels, a team, a folder). Whatever the number of
/// rules, the same few low-numbered rules decide: `rule-1` allows read and
/// comment (team), `rule-6` comment (tag), `rule-3` edit (email domain, MFA),
/// `rule-4` list (folder, department); delete and share are denied by
/// default.
pub const MIXED_REQUESTS: &[(&str, &str)] = &[
    ("read", mixed_request!("read", DOCUMENT)),
    ("comment", mixed_request!("comment", DOCUMENT)),
    ("edit", mixed_request!("edit", DOCUMENT)),
    ("delete", mixed_request!("delete", DOCUMENT)),
    ("share", mixed_request!("share", DOCUMENT)),
    ("list", mixed_request!("list", FOLDER)),
];

/// The document-sharing example's request in the benchmarks: `alice` reads
/// `plan` as one of its editors (allowed by `editors`).
pub const DOCUMENT_REQUEST: &str = r#"{
  "principal": {"type": "User", "id": "alice", "attrs": {"clearance": 2, "contractor": false, "email": "alice@example.com"}, "parents": [{"type": "Team", "id": "eng"}]},
  "action": "read",
  "resource": {"type": "Document", "id": "plan", "attrs": {"owner": {"type": "User", "id": "bob"}, "public": false, "labels": ["internal"], "editors": [{"type": "User", "id": "alice"}]}, "parents": [{"type": "Folder", "id": "projects"}]},
  "context": {"source_ip": "10.1.2.3", "mfa": true, "now": "2026-01-01T00:00:00Z"},
  "entities": [{"type": "Team", "id": "eng", "parents": [{"type": "Team", "id": "all"}]}]
}"#;

/// Compiles the policy files of a directory (one package).
pub fn compile_dir(dir: &std::path::Path) -> Result<Vec<u8>, String> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "reaper"))
        .collect();
    files.sort();
    let mut sources = reaper_compiler::source::Sources::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
        sources.add(file.display().to_string(), text);
    }
    reaper_compiler::compile(&sources).map_err(|d| format!("{} diagnostics", d.len()))
}

/// Compiles one policy text.
pub fn compile_text(text: &str) -> Result<Vec<u8>, String> {
    let mut sources = reaper_compiler::source::Sources::new();
    sources.add("policy.reaper", text);
    reaper_compiler::compile(&sources).map_err(|d| format!("{} diagnostics", d.len()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_policies_check_clean() {
        let mut sources = reaper_compiler::source::Sources::new();
        sources.add("generated.reaper", super::policy(64));
        let checked = reaper_compiler::check(&sources);
        assert!(checked.diagnostics.is_empty(), "{:#?}", checked.diagnostics);
        assert_eq!(checked.package.rules.len(), 64);
    }

    /// Issue 8: on the generated mixed policy, the index leaves each
    /// action's decision at most 4 rules to evaluate (guard or code),
    /// whatever the number of rules; before, every rule of a shape with an
    /// attribute condition ran (about 1,250 per shape at 10,000 rules).
    #[test]
    fn issue_8_mixed_decisions_evaluate_a_bounded_number_of_rules() -> Result<(), String> {
        const BOUND: u32 = 4;
        for rules in [1_000, 10_000] {
            let bytes = super::compile_text(&super::policy(rules))?;
            let engine = reaper_runtime::Engine::load(&bytes).map_err(|e| e.to_string())?;
            for (action, json) in super::MIXED_REQUESTS {
                let request = engine.decode_request(json).map_err(|e| e.to_string())?;
                let (decision, work) = engine.authorize_with_work(&request);
                assert_eq!(decision, engine.authorize(&request), "{action}");
                assert!(
                    work.rules_evaluated <= BOUND,
                    "{action} at {rules} rules evaluated {} rules",
                    work.rules_evaluated
                );
            }
        }
        Ok(())
    }

    /// The mixed series' requests decide as documented at every size.
    #[test]
    fn mixed_requests_decide_as_documented() -> Result<(), String> {
        let expected: &[(&str, &[&str])] = &[
            ("read", &["rule-1"]),
            ("comment", &["rule-1", "rule-6"]),
            ("edit", &["rule-3"]),
            ("delete", &[]),
            ("share", &[]),
            ("list", &["rule-4"]),
        ];
        for rules in [10, 1_000] {
            let bytes = super::compile_text(&super::policy(rules))?;
            let engine = reaper_runtime::Engine::load(&bytes).map_err(|e| e.to_string())?;
            for ((action, json), (name, reasons)) in super::MIXED_REQUESTS.iter().zip(expected) {
                assert_eq!(action, name);
                let request = engine.decode_request(json).map_err(|e| e.to_string())?;
                let decision = engine.authorize(&request);
                let ids: Vec<&str> = decision
                    .reasons
                    .iter()
                    .map(|r| engine.rule_id(*r))
                    .collect();
                assert_eq!(&ids, reasons, "{action} at {rules} rules");
                assert_eq!(decision.allow, !reasons.is_empty(), "{action}");
                assert!(
                    decision.errors.is_empty(),
                    "{action}: {:?}",
                    decision.errors
                );
            }
        }
        Ok(())
    }
}
