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
