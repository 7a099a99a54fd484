//! Rate limits at scale (issue 8), bounded by counted work rather than the
//! clock: the limit index, and the counters' memory.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests abort on setup errors"
)]

use reaper_benches::{compile_text, many_descriptors, many_limits_policy};
use reaper_runtime::Engine;
use reaper_runtime::ratelimit::{Descriptor, RateLimitRequest};

const NOW: u64 = 1_767_225_600_000;

fn request(descriptors: Vec<Vec<(String, String)>>) -> RateLimitRequest {
    RateLimitRequest::new(
        "edge",
        descriptors
            .into_iter()
            .map(|entries| Descriptor {
                entries,
                ..Descriptor::default()
            })
            .collect(),
    )
}

/// Issue 8: 100 limits × 100 descriptors evaluated all 10,000 limit
/// functions; with the index each descriptor tries only the limit that can
/// apply to it.
#[test]
fn issue_8_each_descriptor_tries_only_the_limits_that_can_apply() {
    let engine = Engine::load(&compile_text(&many_limits_policy(100)).unwrap()).unwrap();
    let request = request(many_descriptors(100));
    let mut response = engine.rate_limit(&request, NOW).unwrap();
    let work = engine
        .rate_limit_with_work(&request, NOW, &mut response)
        .unwrap();
    assert_eq!(work.limits_evaluated, 100);
    for (j, status) in response.statuses.iter().enumerate() {
        let limits: Vec<u32> = status.limits.iter().map(|l| l.limit).collect();
        assert_eq!(limits, [u32::try_from(j).unwrap()]);
        // Counted twice: once per call.
        assert_eq!(status.limits[0].remaining, 1_000_000_000 - 2);
    }
}

/// The index files limits by key and by literal value, and keeps every
/// other limit for every descriptor, in declaration order.
#[test]
fn the_index_keeps_declaration_order_and_unindexable_limits() {
    let text = r#"ratelimit "edge" {
  limit any: 10 per minute;
  limit login: 10 per minute when descriptor.path == "/login" by descriptor.user;
  limit user: 10 per minute when descriptor has user by descriptor.user;
  limit either: 10 per minute when descriptor has user || descriptor has ip;
  limit ip: 10 per minute by descriptor.ip;
  limit reversed: 10 per minute when "/login" == descriptor.path;
  limit not_login: 10 per minute when descriptor.path != "/login";
}
"#;
    let engine = Engine::load(&compile_text(text).unwrap()).unwrap();
    let names = |entries: &[(&str, &str)]| -> (Vec<String>, u64) {
        let entries = entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let request = request(vec![entries]);
        let mut response = engine.rate_limit(&request, NOW).unwrap();
        let work = engine
            .rate_limit_with_work(&request, NOW, &mut response)
            .unwrap();
        let names = response.statuses[0]
            .limits
            .iter()
            .map(|l| engine.limit_name("edge", l.limit).to_owned())
            .collect();
        (names, work.limits_evaluated)
    };
    // `any` and `either` have no requirement the index can use.
    assert_eq!(names(&[]), (vec!["any".to_owned()], 2));
    assert_eq!(
        names(&[("path", "/login"), ("user", "u"), ("path", "/x")]),
        (
            ["any", "login", "user", "either", "reversed"]
                .map(str::to_owned)
                .to_vec(),
            6
        )
    );
    // The first `path` is the one read.
    assert_eq!(
        names(&[("path", "/x"), ("path", "/login"), ("ip", "1.2.3.4")]),
        (
            ["any", "either", "ip", "not_login"]
                .map(str::to_owned)
                .to_vec(),
            4
        )
    );
}
