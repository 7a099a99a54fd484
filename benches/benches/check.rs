//! `reaper check` on a generated 10,000-rule policy: parse + resolve + type
//! check, the front end's share of CI time. Target: median ≤ 100 ms.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmarks abort on setup errors"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use reaper_compiler::Keep;
use reaper_compiler::source::{FileId, Sources};

fn check(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    group.sample_size(20);
    for rules in [1_000, 10_000] {
        let text = reaper_benches::policy(rules);
        group.bench_function(format!("parse/{rules}_rules"), |b| {
            b.iter(|| reaper_compiler::parse::parse(FileId(0), &text));
        });
        group.bench_function(format!("parse_resolve_check/{rules}_rules"), |b| {
            b.iter(|| {
                let mut sources = Sources::new();
                let file = sources.add("generated.reaper", text.as_str());
                // What `reaper check` runs: diagnostics only.
                let checked =
                    reaper_compiler::check_files_keeping(&sources, &[file], Keep::Diagnostics);
                assert!(!checked.has_errors());
                checked
            });
        });
    }
    group.finish();
}

criterion_group!(benches, check);
criterion_main!(benches);
