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
}
