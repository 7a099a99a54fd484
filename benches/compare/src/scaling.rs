//! The scaling series: policies of `n` rules of which exactly one applies to
//! the request, generated for each engine. Rule `i` permits `User::"user-i"`
//! to read any document; the request comes from `User::"user-{n/2}"`, a rule
//! in the middle, so that an engine scanning rules in order is neither helped
//! nor hurt by the position of the one that applies.

use std::fmt::Write;

use crate::scenario::{Scenario, plan_read};

/// The sizes of the series.
pub const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];

/// The sizes at which the literal Rego form fits in an RVM program (see
/// [`rego_policy`]); the tests check that 10,000 does not.
pub const RVM_LITERAL_SIZES: [usize; 3] = [10, 100, 1_000];

/// The index of the one rule that applies in a policy of `n` rules.
pub fn applying(n: usize) -> usize {
    n / 2
}

/// The benchmark request of `authorize/*`, sent by the user of the applying
/// rule.
pub fn scenario(n: usize) -> Scenario {
    let mut scenario = plan_read();
    scenario.principal.id = format!("user-{}", applying(n));
    scenario
}

/// Reaper rules (to compile with the document-sharing `schema.reaper`).
pub fn reaper_rules(n: usize) -> String {
    let mut out = String::from("package docs\n");
    for i in 0..n {
        let _ = writeln!(
            out,
            "@id(\"rule-{i}\")\npermit read on Document when principal == User::\"user-{i}\";"
        );
    }
    out
}

/// Cedar policies (to load with the document-sharing Cedar schema).
pub fn cedar_policies(n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let _ = writeln!(
            out,
            "@id(\"rule-{i}\")\npermit (principal == User::\"user-{i}\", action == Action::\"read\", resource is Document);"
        );
    }
    out
}

/// The entry point of the generated Rego policies.
pub const REGO_ALLOW: &str = "data.scale.allow";

/// Rego, literal form: one `allow if` body per rule, so that every engine
/// holds `n` rules. Each body tests its selective condition (the principal's
/// id, false for all rules but one) first, as a Rego author writes it: the
/// other `n - 1` bodies then fail on their first expression. (Until
/// 2026-11-28 the id came last, after three tests true for every rule, which
/// made regorus about 2.2× slower than it need be.)
///
/// The RVM addresses instructions with 16 bits (`Program::MAX_INSTRUCTIONS`
/// = 65,535) and these bodies take about 21 instructions each, so the RVM
/// cannot hold more than about 3,000 of them: the 10,000-rule point runs on
/// regorus's interpreter only.
pub fn rego_policy(n: usize) -> String {
    let mut out = String::from("package scale\n\nimport rego.v1\n\ndefault allow := false\n");
    for i in 0..n {
        let _ = write!(
            out,
            "\n# rule-{i}\nallow if {{\n\tinput.principal.id == \"user-{i}\"\n\tinput.principal.type == \"User\"\n\tinput.action == \"read\"\n\tinput.resource.type == \"Document\"\n}}\n"
        );
    }
    out
}

/// Rego, data-driven form: what a Rego author would write for this shape of
/// rule, one rule and the `n` user ids in `data` ([`rego_data`]). Not
/// like-for-like (it is one indexed lookup, whatever `n`), but it is the
/// idiomatic way, and it runs on the RVM at every size.
pub const REGO_DATA_POLICY: &str = "package scale

import rego.v1

default allow := false

allow if {
\tinput.action == \"read\"
\tinput.resource.type == \"Document\"
\tinput.principal.type == \"User\"
\tdata.readers[input.principal.id]
}
";

/// The `data` document of [`REGO_DATA_POLICY`]: `{"readers": {"user-0": true, …}}`.
pub fn rego_data(n: usize) -> serde_json::Value {
    let readers: serde_json::Map<String, serde_json::Value> = (0..n)
        .map(|i| (format!("user-{i}"), serde_json::Value::Bool(true)))
        .collect();
    serde_json::json!({ "readers": readers })
}
