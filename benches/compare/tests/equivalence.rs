//! The comparison is only honest if every engine answers the same: these
//! tests run the benchmark requests, and variants that exercise every rule,
//! through each engine and require identical decisions (and, where the engine
//! reports them, identical deciding rule ids).
//!
//! Set `REAPER_COMPARE_BLESS=1` to rewrite the committed request files from
//! `scenario::plan_read()` instead of checking them.

use std::path::Path;

use reaper_compare::cedar::Cedar;
use reaper_compare::rego::{self, Interpreter, Rvm};
use reaper_compare::scenario::{cases, plan_read};
use reaper_compare::{gcra, ratelimit, scaling, varied};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/document-sharing");

/// The committed request files are what the benches read; they must be the
/// renderings of the one neutral scenario.
#[test]
fn committed_requests_are_the_rendered_scenario() {
    let scenario = plan_read();
    let files = [
        ("request.reaper.json", scenario.reaper_json()),
        ("request.rego.json", scenario.rego_input_json()),
        ("request.cedar.json", scenario.cedar_json()),
    ];
    let bless = std::env::var_os("REAPER_COMPARE_BLESS").is_some();
    for (name, expected) in files {
        let path = Path::new(DIR).join(name);
        if bless {
            let text = serde_json::to_string_pretty(&expected).expect("JSON") + "\n";
            std::fs::write(&path, text).expect("write request file");
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read request file");
        let actual: serde_json::Value = serde_json::from_str(&text).expect("request file JSON");
        assert_eq!(
            actual, expected,
            "{name} differs from scenario::plan_read()"
        );
    }
}

#[test]
fn document_sharing_decisions_agree() {
    let cedar = Cedar::document_sharing();
    let mut rvm = Rvm::document_sharing();
    #[cfg(feature = "reaper")]
    let reaper = reaper_compare::reaper::document_sharing();

    let mut failures = Vec::new();
    for case in cases() {
        let expected_reasons: Vec<String> = {
            let mut r: Vec<String> = case.reasons.iter().map(|s| (*s).to_owned()).collect();
            r.sort();
            r
        };

        let input = cedar.decode(&case.scenario.cedar_json().to_string());
        let response = cedar.authorize(&input);
        let allow = response.decision() == cedar_policy::Decision::Allow;
        let reasons = cedar.reasons(&response);
        if allow != case.allow || reasons != expected_reasons {
            failures.push(format!(
                "cedar, {}: allow {allow}, reasons {reasons:?}",
                case.name
            ));
        }

        let input = rego::decode(&case.scenario.rego_input_json().to_string());
        let result = rvm.eval(&input);
        if result != regorus::Value::from(case.allow) {
            failures.push(format!("regorus, {}: result {result}", case.name));
        }

        #[cfg(feature = "reaper")]
        {
            let request =
                reaper_compare::reaper::decode(&reaper, &case.scenario.reaper_json().to_string());
            let decision = reaper_compare::reaper::authorize(&reaper, &request);
            let reasons = reaper_compare::reaper::reasons(&reaper, &decision);
            if decision.allow != case.allow
                || reasons != expected_reasons
                || !decision.errors.is_empty()
            {
                failures.push(format!(
                    "reaper, {}: allow {}, reasons {reasons:?}, errors {:?}",
                    case.name, decision.allow, decision.errors
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "engines disagree:\n{}",
        failures.join("\n")
    );
}

/// The 1,024 varied requests of `authorize/e2e_1024` and
/// `authorize/prepared_1024`: every engine decodes its own JSON text and
/// gives the same decision on each; Reaper and Cedar the same deciding rules,
/// with no evaluation errors. The set must also be varied: allowed and denied
/// requests, and every rule deciding some of them.
#[test]
fn varied_1024_decisions_agree() {
    use std::collections::BTreeMap;

    let cedar = Cedar::document_sharing();
    let mut rvm = Rvm::document_sharing();
    #[cfg(feature = "reaper")]
    let reaper = reaper_compare::reaper::document_sharing();

    let (reaper_json, cedar_json, rego_json) = varied::benchmark_json();
    assert_eq!(reaper_json.len(), varied::COUNT);
    let mut failures = Vec::new();
    let mut allowed = 0;
    let mut deciding: BTreeMap<String, usize> = BTreeMap::new();
    for (i, ((reaper_text, cedar_text), rego_text)) in reaper_json
        .iter()
        .zip(&cedar_json)
        .zip(&rego_json)
        .enumerate()
    {
        let input = cedar.decode(cedar_text);
        let response = cedar.authorize(&input);
        let allow = response.decision() == cedar_policy::Decision::Allow;
        let reasons = cedar.reasons(&response);
        allowed += usize::from(allow);
        for id in &reasons {
            *deciding.entry(id.clone()).or_default() += 1;
        }

        let result = rvm.eval(&rego::decode(rego_text));
        if result != regorus::Value::from(allow) {
            failures.push(format!(
                "request {i}: cedar allow {allow}, regorus {result}\n  {rego_text}"
            ));
        }

        #[cfg(feature = "reaper")]
        {
            let request = reaper_compare::reaper::decode(&reaper, reaper_text);
            let decision = reaper_compare::reaper::authorize(&reaper, &request);
            let got = reaper_compare::reaper::reasons(&reaper, &decision);
            if decision.allow != allow || got != reasons || !decision.errors.is_empty() {
                failures.push(format!(
                    "request {i}: cedar allow {allow} {reasons:?}; reaper allow {} {got:?}, errors {:?}\n  {reaper_text}",
                    decision.allow, decision.errors
                ));
            }
        }
        #[cfg(not(feature = "reaper"))]
        let _ = reaper_text;
    }
    assert!(
        failures.is_empty(),
        "{} of {} requests disagree:\n{}",
        failures.len(),
        varied::COUNT,
        failures.join("\n")
    );

    // Varied: a real mix of decisions, and every rule of the policy decides
    // at least a few requests (a generator that stopped exercising a rule
    // would make the benchmark easier without anyone noticing).
    let share = allowed * 100 / varied::COUNT;
    assert!(
        (25..=75).contains(&share),
        "{allowed} of {} allowed",
        varied::COUNT
    );
    let policies =
        std::fs::read_to_string(Path::new(DIR).join("policies.cedar")).expect("policies");
    let ids: Vec<&str> = policies
        .lines()
        .filter_map(|l| l.strip_prefix("@id(\"")?.strip_suffix("\")"))
        .collect();
    assert_eq!(ids.len(), 15, "the document-sharing policy has 15 rules");
    for id in ids {
        let n = deciding.get(id).copied().unwrap_or(0);
        assert!(
            n >= 3,
            "rule {id} decides {n} of the varied requests: {deciding:?}"
        );
    }
}

/// The generator is deterministic: the benchmark asks the same questions in
/// every run.
#[test]
fn varied_requests_are_deterministic() {
    let a = varied::benchmark_json();
    let b = varied::benchmark_json();
    assert_eq!(a, b);
    let distinct: std::collections::HashSet<&String> = a.0.iter().collect();
    assert_eq!(distinct.len(), varied::COUNT, "no request is repeated");
}

#[test]
fn scaling_decisions_agree() {
    for n in scaling::SIZES {
        let k = scaling::applying(n);
        let cedar = Cedar::new(reaper_compare::cedar::SCHEMA, &scaling::cedar_policies(n));
        let rego_literal = scaling::rego_policy(n);
        let mut rvm = match Rvm::try_new("scale.rego", &rego_literal, scaling::REGO_ALLOW) {
            Ok(rvm) => {
                assert!(
                    scaling::RVM_LITERAL_SIZES.contains(&n),
                    "the RVM now holds {n} rules"
                );
                Some(rvm)
            }
            Err(e) => {
                assert!(!scaling::RVM_LITERAL_SIZES.contains(&n), "{n} rules: {e}");
                assert!(e.contains("exceeds max instructions"), "{n} rules: {e}");
                None
            }
        };
        let mut interpreter = Interpreter::new("scale.rego", &rego_literal, scaling::REGO_ALLOW);
        let mut rvm_data = Rvm::new("scale.rego", scaling::REGO_DATA_POLICY, scaling::REGO_ALLOW)
            .with_data(rego::decode(&scaling::rego_data(n).to_string()));
        #[cfg(feature = "reaper")]
        let reaper = reaper_compare::reaper::scaling(n);

        // The user of rule k is allowed through rule k alone; a user with no
        // rule is denied by default.
        for (user, allow, reasons) in [(k, true, vec![format!("rule-{k}")]), (n, false, vec![])] {
            let mut scenario = scaling::scenario(n);
            scenario.principal.id = format!("user-{user}");

            let input = cedar.decode(&scenario.cedar_json().to_string());
            let response = cedar.authorize(&input);
            assert_eq!(
                (
                    response.decision() == cedar_policy::Decision::Allow,
                    cedar.reasons(&response)
                ),
                (allow, reasons.clone()),
                "cedar, {n} rules, user-{user}"
            );

            let input = rego::decode(&scenario.rego_input_json().to_string());
            if let Some(rvm) = rvm.as_mut() {
                assert_eq!(
                    rvm.allows(&input),
                    allow,
                    "regorus RVM, {n} rules, user-{user}"
                );
            }
            assert_eq!(
                interpreter.allows(&input),
                allow,
                "regorus interpreter, {n} rules, user-{user}"
            );
            assert_eq!(
                rvm_data.allows(&input),
                allow,
                "regorus RVM, data form, {n} rules, user-{user}"
            );

            #[cfg(feature = "reaper")]
            {
                let request =
                    reaper_compare::reaper::decode(&reaper, &scenario.reaper_json().to_string());
                let decision = reaper_compare::reaper::authorize(&reaper, &request);
                let got = reaper_compare::reaper::reasons(&reaper, &decision);
                assert_eq!(
                    (decision.allow, got),
                    (allow, reasons),
                    "reaper, {n} rules, user-{user}"
                );
            }
        }
    }
}

#[test]
fn limitador_limit_applies_as_reaper_says() {
    let limiter = ratelimit::limiter();
    let ns = ratelimit::namespace();

    // A descriptor with `user_id`: the limit applies and counts.
    let ctx = ratelimit::context(&[("user_id", "alice")]);
    assert!(ratelimit::check(&limiter, &ns, &ctx));
    let result = limiter
        .is_rate_limited(&ns, &ctx, 1)
        .expect("limitador check");
    assert_eq!(
        result.counters.len(),
        1,
        "per_user applies to a descriptor with user_id"
    );
    let counters = limiter.get_counters(&ns).expect("limitador counters");
    assert_eq!(counters.len(), 1, "one counter, for alice");

    // Without `user_id` the limit does not apply.
    let ctx = ratelimit::context(&[("remote_address", "203.0.113.7")]);
    let result = limiter
        .is_rate_limited(&ns, &ctx, 1)
        .expect("limitador check");
    assert!(
        result.counters.is_empty(),
        "per_user does not apply without user_id"
    );
}

/// The same limit with a count of 3 trips on the fourth hit in both engines.
#[cfg(feature = "reaper")]
#[test]
fn rate_limit_decisions_agree() {
    use limitador::limit::Limit;

    let small = ratelimit::REAPER_LIMITS.replace("1_000_000_000", "3");
    let engine = reaper_compare::reaper::engine(&[("limits.reaper", &small)]);
    let limiter = limitador::RateLimiter::new(100);
    let big = ratelimit::limit();
    let conditions: Vec<limitador::limit::Predicate> = big
        .conditions()
        .into_iter()
        .map(|c| limitador::limit::Predicate::parse(c).expect("CEL"))
        .collect();
    let variables: Vec<limitador::limit::Expression> = big
        .variables()
        .into_iter()
        .map(|v| limitador::limit::Expression::parse(v).expect("CEL"))
        .collect();
    limiter.add_limit(Limit::new(
        ratelimit::DOMAIN,
        3,
        ratelimit::SECONDS,
        conditions,
        variables,
    ));
    let ns = ratelimit::namespace();

    let entries = [("user_id", "alice")];
    let request = reaper_compare::reaper::rate_limit_request(&entries);
    let ctx = ratelimit::context(&entries);
    // A window boundary between two hits would reset Reaper's fixed window
    // (aligned to the clock) but not limitador's (which starts at the first
    // hit); use one instant for Reaper, well inside a minute.
    let now = reaper_compare::reaper::now_ms() / 60_000 * 60_000 + 1_000;
    for hit in 1..=5 {
        let reaper_ok = reaper_compare::reaper::rate_limit_at(&engine, &request, now).overall
            == reaper_runtime::ratelimit::Code::Ok;
        let limitador_ok = ratelimit::check(&limiter, &ns, &ctx);
        assert_eq!(reaper_ok, hit <= 3, "reaper, hit {hit}");
        assert_eq!(limitador_ok, hit <= 3, "limitador, hit {hit}");
    }
}

/// governor's keyed limiter as the benchmark builds it keys on `user_id`,
/// does not apply without it, and with a quota of 3 a minute (burst 3) allows
/// three hits and refuses the fourth, as Reaper's `per_user` with a count of
/// 3 does (see `rate_limit_decisions_agree`).
#[test]
fn governor_limit_applies_as_reaper_says() {
    use std::num::NonZeroU32;

    assert_eq!(gcra::key(&[("user_id", "alice")]).as_deref(), Some("alice"));
    assert_eq!(gcra::key(&[("remote_address", "203.0.113.7")]), None);

    let limiter = gcra::limiter();
    let alice = gcra::key(&[("user_id", "alice")]).expect("key");
    assert!(
        (0..1_000).all(|_| gcra::check(&limiter, &alice)),
        "10^9 a minute never trips here"
    );

    let three = NonZeroU32::new(3).expect("non-zero");
    let small: gcra::Limiter = governor::RateLimiter::keyed(governor::Quota::per_minute(three));
    let bob = "bob".to_owned();
    for hit in 1..=5 {
        assert_eq!(gcra::check(&small, &alice), hit <= 3, "alice, hit {hit}");
    }
    assert!(gcra::check(&small, &bob), "bob has a bucket of his own");
}
