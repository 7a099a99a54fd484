//! Rate-limit requests and responses as JSON: Envoy's `RateLimitRequest`
//! and `RateLimitResponse` (RLS v3) in their proto3 JSON form, which
//! `reaper eval --ratelimit` reads and prints (and `/v1/ratelimit` serves).
//! Field names are accepted in the proto's snake case and in proto3 JSON's
//! lower camel case (`hits_addend`, `hitsAddend`). Responses add Reaper's
//! own details: every applying limit, its exact period and algorithm.

use reaper_lang::excerpt::excerpt;
use reaper_lang::json::{self, kind};
use reaper_lang::literal;
use reaper_lang::request::{Limits, RequestError};
use serde::Serialize;
use serde_json::Value as Json;

use super::{Code, Descriptor, Override, RateLimitRequest, RateLimitResponse, Unit};
use crate::engine::Engine;
use crate::json_fields::{err, field, object, only_keys, string};

/// Parses and validates a rate-limit request. Every error names the field.
pub fn decode(text: &str, limits: &Limits) -> Result<RateLimitRequest, RequestError> {
    let json = json::parse(text)?;
    let fields = object(&json, "")?;
    only_keys(
        fields,
        "",
        &[
            ("domain", "domain"),
            ("descriptors", "descriptors"),
            ("hits_addend", "hitsAddend"),
        ],
    )?;
    let domain = match field(fields, "domain", "domain") {
        Some(value) => string(value, "domain", limits)?.to_owned(),
        None => return err("domain", "missing"),
    };
    let hits_addend = match field(fields, "hits_addend", "hitsAddend") {
        Some(value) => count(value, "hits_addend")?,
        None => 0,
    };
    let Some(list) = field(fields, "descriptors", "descriptors") else {
        return err("descriptors", "missing");
    };
    let Json::Array(items) = list else {
        return err(
            "descriptors",
            format!("expected an array, found {}", kind(list)),
        );
    };
    if items.len() > limits.max_set_len {
        return err(
            "descriptors",
            format!("a request has at most {} descriptors", limits.max_set_len),
        );
    }
    let mut descriptors = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        descriptors.push(descriptor(item, &format!("descriptors[{i}]"), limits)?);
    }
    Ok(RateLimitRequest {
        domain,
        descriptors,
        hits_addend,
    })
}

fn descriptor(json: &Json, path: &str, limits: &Limits) -> Result<Descriptor, RequestError> {
    let fields = object(json, path)?;
    only_keys(
        fields,
        path,
        &[
            ("entries", "entries"),
            ("limit", "limit"),
            ("hits_addend", "hitsAddend"),
        ],
    )?;
    let entries_path = format!("{path}.entries");
    let Some(list) = field(fields, "entries", "entries") else {
        return err(&entries_path, "missing");
    };
    let Json::Array(items) = list else {
        return err(
            &entries_path,
            format!("expected an array, found {}", kind(list)),
        );
    };
    if items.len() > limits.max_set_len {
        return err(
            &entries_path,
            format!("a descriptor has at most {} entries", limits.max_set_len),
        );
    }
    let mut entries = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let entry_path = format!("{entries_path}[{i}]");
        let entry = object(item, &entry_path)?;
        only_keys(entry, &entry_path, &[("key", "key"), ("value", "value")])?;
        let text = |name: &str| -> Result<String, RequestError> {
            let at = format!("{entry_path}.{name}");
            match entry.get(name) {
                Some(value) => string(value, &at, limits).map(str::to_owned),
                None => err(&at, "missing"),
            }
        };
        entries.push((text("key")?, text("value")?));
    }
    let limit = match field(fields, "limit", "limit") {
        None => None,
        Some(value) => Some(override_limit(value, &format!("{path}.limit"))?),
    };
    let hits_addend = match field(fields, "hits_addend", "hitsAddend") {
        Some(value) => Some(count(value, &format!("{path}.hits_addend"))?),
        None => None,
    };
    Ok(Descriptor {
        entries,
        limit,
        hits_addend,
    })
}

fn override_limit(json: &Json, path: &str) -> Result<Override, RequestError> {
    let fields = object(json, path)?;
    only_keys(
        fields,
        path,
        &[("requests_per_unit", "requestsPerUnit"), ("unit", "unit")],
    )?;
    let requests_per_unit = match field(fields, "requests_per_unit", "requestsPerUnit") {
        Some(value) => count(value, &format!("{path}.requests_per_unit"))?,
        None => return err(&format!("{path}.requests_per_unit"), "missing"),
    };
    let unit_path = format!("{path}.unit");
    let unit = match field(fields, "unit", "unit") {
        Some(Json::String(name)) => Unit::ALL
            .into_iter()
            .find(|u| u.name() == name)
            .map_or_else(
                || {
                    err(
                        &unit_path,
                        format!(
                            "unknown unit `{}`; units are SECOND, MINUTE, HOUR, DAY, WEEK, MONTH and YEAR",
                            excerpt(name)
                        ),
                    )
                },
                Ok,
            )?,
        Some(other) => {
            return err(&unit_path, format!("expected a unit name, found {}", kind(other)));
        }
        None => return err(&unit_path, "missing"),
    };
    Ok(Override {
        requests_per_unit,
        unit,
    })
}

/// The response as Envoy's JSON has it (`overall_code`, `statuses` with
/// `code`, `current_limit`, `limit_remaining`, `duration_until_reset`),
/// with Reaper's details: every applying limit and any that failed.
pub fn encode(engine: &Engine, domain: &str, response: &RateLimitResponse) -> Json {
    serde_json::to_value(Encoded::new(engine, domain, response)).unwrap_or(Json::Null)
}

/// [`encode`]'s JSON as bytes, written without building a tree (what a
/// server sends).
pub fn encode_to_vec(engine: &Engine, domain: &str, response: &RateLimitResponse) -> Vec<u8> {
    serde_json::to_vec(&Encoded::new(engine, domain, response)).unwrap_or_default()
}

#[derive(Serialize)]
struct Encoded<'a> {
    overall_code: &'static str,
    statuses: Vec<EncodedStatus<'a>>,
    policy: &'a str,
}

#[derive(Serialize)]
struct EncodedStatus<'a> {
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_limit: Option<CurrentLimit<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit_remaining: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_until_reset: Option<String>,
    limits: Vec<EncodedLimit<'a>>,
    errors: Vec<EncodedError<'a>>,
}

#[derive(Serialize)]
struct CurrentLimit<'a> {
    name: &'a str,
    requests_per_unit: u64,
    unit: &'static str,
}

#[derive(Serialize)]
struct EncodedLimit<'a> {
    name: &'a str,
    count: u64,
    period: String,
    shadow: bool,
    allowed: bool,
    remaining: u64,
    reset: String,
}

#[derive(Serialize)]
struct EncodedError<'a> {
    limit: &'a str,
    error: String,
}

impl<'a> Encoded<'a> {
    fn new(engine: &'a Engine, domain: &str, response: &RateLimitResponse) -> Self {
        let duration = |ms: u64| literal::format_duration(i64::try_from(ms).unwrap_or(i64::MAX));
        let statuses = response
            .statuses
            .iter()
            .map(|status| {
                let current = status.current();
                EncodedStatus {
                    code: code(status.code),
                    current_limit: current.map(|current| {
                        let (requests_per_unit, unit) =
                            Unit::envoy_rate(current.count, current.period_ms);
                        CurrentLimit {
                            name: engine.limit_name(domain, current.limit),
                            requests_per_unit,
                            unit: unit.name(),
                        }
                    }),
                    limit_remaining: current.map(|c| c.remaining),
                    duration_until_reset: current.map(|c| proto_duration(c.reset_ms)),
                    limits: status
                        .limits
                        .iter()
                        .map(|l| EncodedLimit {
                            name: engine.limit_name(domain, l.limit),
                            count: l.count,
                            period: duration(l.period_ms),
                            shadow: l.shadow,
                            allowed: l.allowed,
                            remaining: l.remaining,
                            reset: duration(l.reset_ms),
                        })
                        .collect(),
                    errors: status
                        .errors
                        .iter()
                        .map(|(limit, error)| EncodedError {
                            limit: engine.limit_name(domain, *limit),
                            error: error.to_string(),
                        })
                        .collect(),
                }
            })
            .collect();
        Encoded {
            overall_code: code(response.overall),
            statuses,
            policy: engine.hash(),
        }
    }
}

fn code(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::OverLimit => "OVER_LIMIT",
    }
}

/// A `google.protobuf.Duration` in JSON: seconds with up to three decimals.
fn proto_duration(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{}.{:03}s", ms / 1000, ms % 1000)
    }
}

/// A non-negative count; proto3 JSON may write 64-bit integers as strings.
fn count(json: &Json, path: &str) -> Result<u64, RequestError> {
    let parsed = match json {
        Json::Number(n) => n.as_u64(),
        Json::String(s) => s.parse::<u64>().ok(),
        _ => None,
    };
    parsed.map_or_else(
        || {
            err(
                path,
                format!("expected a non-negative integer, found {}", kind(json)),
            )
        },
        Ok,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(text: &str) -> Result<RateLimitRequest, String> {
        decode(text, &Limits::default()).map_err(|e| e.to_string())
    }

    #[test]
    fn envoy_json_in_both_spellings() {
        let snake = decoded(
            r#"{"domain": "api", "descriptors": [{"entries": [{"key": "k", "value": "v"}],
                "limit": {"requests_per_unit": 3, "unit": "MINUTE"}, "hits_addend": 2}],
                "hits_addend": "1"}"#,
        )
        .unwrap();
        let camel = decoded(
            r#"{"domain": "api", "descriptors": [{"entries": [{"key": "k", "value": "v"}],
                "limit": {"requestsPerUnit": 3, "unit": "MINUTE"}, "hitsAddend": 2}],
                "hitsAddend": 1}"#,
        )
        .unwrap();
        assert_eq!(snake, camel);
        assert_eq!(snake.hits_addend, 1);
        assert_eq!(
            snake.descriptors[0].limit,
            Some(Override {
                requests_per_unit: 3,
                unit: Unit::Minute
            })
        );
    }

    #[test]
    fn errors_name_the_field() {
        for (text, want) in [
            (r#"{"descriptors": []}"#, "`domain`: missing"),
            (
                r#"{"domain": 1, "descriptors": []}"#,
                "`domain`: expected a string",
            ),
            (
                r#"{"domain": "d", "descriptors": [{"entries": [{"key": "k"}]}]}"#,
                "`descriptors[0].entries[0].value`: missing",
            ),
            (
                r#"{"domain": "d", "descriptors": [{"entries": [], "limit": {"requests_per_unit": 1, "unit": "FORTNIGHT"}}]}"#,
                "`descriptors[0].limit.unit`: unknown unit `FORTNIGHT`",
            ),
            (
                r#"{"domain": "d", "descriptors": [], "hits_addend": -1}"#,
                "`hits_addend`: expected a non-negative integer",
            ),
            (
                r#"{"domain": "d", "descriptors": [], "hits_addend": 1, "hitsAddend": 2}"#,
                "`hitsAddend`: `hits_addend` is given twice",
            ),
            (
                r#"{"domain": "d", "descriptors": [], "extra": 1}"#,
                "`extra`: unknown field",
            ),
        ] {
            let error = decoded(text).unwrap_err();
            assert!(error.starts_with(want), "{text}\n{error}");
        }
    }

    #[test]
    fn envoy_rates() {
        assert_eq!(Unit::envoy_rate(5, 60_000), (5, Unit::Minute));
        assert_eq!(Unit::envoy_rate(5, 10_000), (30, Unit::Minute));
        assert_eq!(Unit::envoy_rate(7, 13_000), (32, Unit::Minute));
        assert_eq!(Unit::envoy_rate(100, 1_000), (100, Unit::Second));
        assert_eq!(Unit::envoy_rate(1, 500), (2, Unit::Second));
        assert_eq!(proto_duration(53_000), "53s");
        assert_eq!(proto_duration(1_500), "1.500s");
    }
}
