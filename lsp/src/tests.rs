//! Every request on any text at any position answers without panicking:
//! random policies built from fragments (valid, half-typed and junk, with
//! non-ASCII) and random cursor positions, through the same functions the
//! server calls.

use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;
use reaper_compiler::source::FileId;
use tower_lsp_server::ls_types::Uri;

use crate::complete;
use crate::package::{self, PackageKey};

const FRAGMENTS: &[&str] = &[
    "package p\n",
    "entity User in [Team] { name: String, boss?: User, tags: Set<String> }\n",
    "entity Team\n",
    "entity Doc { owner: User, public: Bool }\n",
    "action read, edit on [Doc] by [User] context { mfa: Bool }\n",
    "store sessions by [User] { ttl 1h }\n",
    "@id(\"owner\")\npermit read on Doc when principal == resource.owner;\n",
    "permit edit on Doc when principal.boss.name == \"x\";\n",
    "forbid * on Doc unless context.mfa;\n",
    "ratelimit \"api\" { limit per_user: 10 per minute by descriptor.user_id; }\n",
    "test \"t\" { principal User::\"a\" { name: \"a\", tags: [] }; expect deny read on Doc::\"d\"; }\n",
    "permit read on Doc when principal.",
    "resource has ",
    "when ",
    " && ",
    ";",
    "{",
    "}",
    "\"",
    "é€😀",
    "\n",
    "// comment\n",
    "@id(",
    "type T = Set<User>\n",
    "http { principal = User::(header(\"x\")); GET \"/d/{id}\" => read Doc::(param(\"id\")); }\n",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_request_answers_on_any_text(
        picks in proptest::collection::vec(0..FRAGMENTS.len(), 0..14),
        cuts in proptest::collection::vec(0usize..2_000, 1..8),
    ) {
        let text: String = picks.iter().map(|i| FRAGMENTS[*i]).collect();
        crate::fuzzing::every_request(&text, &cuts);
    }
}

#[test]
fn a_half_typed_member_completes_from_the_receivers_type() {
    let text = "package p\nentity User { name: String, boss?: User }\nentity Doc { owner: User }\naction read on [Doc] by [User]\npermit read on Doc when principal.\n";
    let analysis = crate::fuzzing::analysis(text);
    let offset = text
        .find("principal.")
        .map(|i| i + "principal.".len())
        .unwrap_or(0);
    let labels: Vec<String> = complete::complete(&analysis, FileId(0), offset)
        .into_iter()
        .map(|i| i.label)
        .collect();
    assert!(
        labels.contains(&"name".to_owned()) && labels.contains(&"boss".to_owned()),
        "{labels:?}"
    );
}

#[test]
fn packages_are_directories_and_untitled_buffers_stand_alone() {
    let file: Uri = "file:///tmp/p/a.reaper".parse().expect("a URI");
    assert_eq!(PackageKey::of(&file), PackageKey::Dir("/tmp/p".into()));
    let untitled: Uri = "untitled:Untitled-1".parse().expect("a URI");
    let mut open = HashMap::new();
    open.insert(untitled.clone(), Arc::from("package p\n"));
    let inputs = package::inputs(&PackageKey::of(&untitled), &open);
    assert_eq!(inputs.len(), 1);
}
