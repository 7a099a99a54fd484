//! Text forms of the non-trivial literal types: durations (`1h30m`, and
//! `-5h` in requests), sizes (`16KiB`), IP addresses and CIDR ranges
//! (`10.0.0.0/8`), timestamps (`2026-01-01T00:00:00Z`) and decimals
//! (`12.5`).
//!
//! Both the compiler (policy literals) and the runtime (request values sent as
//! JSON strings) read these forms, so they are parsed in one place.

use std::net::IpAddr;

use ipnet::IpNet;
use thiserror::Error;

use crate::excerpt::excerpt;

/// Why a literal's text does not denote a value. Messages are lowercase and
/// quote the offending text (a bounded excerpt of it), ready to be shown to
/// a user.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LiteralError {
    #[error("`{}` is not a duration: {why}", excerpt(.0), why = .1)]
    Duration(String, &'static str),
    #[error("`{}` is not a size: {why}", excerpt(.0), why = .1)]
    Size(String, &'static str),
    #[error("`{}` is not an IP address or CIDR range: {why}", excerpt(.0), why = .1)]
    Ip(String, String),
    #[error("`{}` is not a timestamp: {why}", excerpt(.0), why = .1)]
    Timestamp(String, String),
    #[error("`{}` is not a 64-bit integer", excerpt(.0))]
    Int(String),
    #[error("`{}` is not a decimal: {why}", excerpt(.0), why = .1)]
    Decimal(String, &'static str),
    #[error(
        "`{}` has no known unit: durations use ms, s, m, h, d and sizes use B, KB, KiB, MB, MiB, GB, GiB",
        excerpt(.0)
    )]
    UnknownUnit(String),
}

/// Milliseconds per duration unit, largest first: the order units must appear in.
const DURATION_UNITS: [(&str, i64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

const SIZE_UNITS: [(&str, i64); 7] = [
    ("B", 1),
    ("KB", 1_000),
    ("KiB", 1 << 10),
    ("MB", 1_000_000),
    ("MiB", 1 << 20),
    ("GB", 1_000_000_000),
    ("GiB", 1 << 30),
];

/// A number immediately followed by a unit, as the lexer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitLiteral {
    /// Milliseconds.
    Duration(i64),
    /// Bytes.
    Size(i64),
}

/// Parses an integer literal, allowing `_` separators (`1_000_000`).
pub fn parse_int(text: &str) -> Result<i64, LiteralError> {
    let digits: String = text.chars().filter(|c| *c != '_').collect();
    digits
        .parse::<i64>()
        .map_err(|_| LiteralError::Int(text.to_owned()))
}

/// Classifies and parses `<digits><unit>...` text: a duration or a size.
pub fn parse_unit_literal(text: &str) -> Result<UnitLiteral, LiteralError> {
    let unit_start = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let unit = &text[unit_start..];
    let unit_end = unit
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(unit.len());
    let first_unit = &unit[..unit_end];
    if DURATION_UNITS.iter().any(|(u, _)| *u == first_unit) {
        parse_duration(text).map(UnitLiteral::Duration)
    } else if SIZE_UNITS.iter().any(|(u, _)| *u == first_unit) {
        parse_size(text).map(UnitLiteral::Size)
    } else {
        Err(LiteralError::UnknownUnit(text.to_owned()))
    }
}

/// Parses a duration such as `500ms`, `30m` or `1h30m` into milliseconds;
/// a leading `-` negates it (`-5h`, as a time zone west of UTC needs).
/// Units appear at most once, largest first, so each duration has one spelling
/// a reader can take in at a glance.
pub fn parse_duration(text: &str) -> Result<i64, LiteralError> {
    let err = |why| LiteralError::Duration(text.to_owned(), why);
    if text.is_empty() {
        return Err(err("it is empty"));
    }
    if let Some(positive) = text.strip_prefix('-') {
        if positive.starts_with('-') || positive.is_empty() {
            return Err(err("each unit needs a number before it"));
        }
        return parse_duration(positive).map(|ms| -ms).map_err(|e| match e {
            LiteralError::Duration(_, why) => err(why),
            other => other,
        });
    }
    let mut rest = text;
    let mut total: i64 = 0;
    let mut last_rank: Option<usize> = None;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '_'))
            .unwrap_or(rest.len());
        if digits_end == 0 {
            return Err(err("each unit needs a number before it"));
        }
        let number = parse_int(&rest[..digits_end]).map_err(|_| err("a number is too large"))?;
        rest = &rest[digits_end..];
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        if unit_end == 0 {
            return Err(err("the last number has no unit (ms, s, m, h or d)"));
        }
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let Some(rank) = DURATION_UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(err("units are ms, s, m, h and d"));
        };
        if last_rank.is_some_and(|last| rank <= last) {
            return Err(err(
                "units must appear once each, largest first (as in `1h30m`)",
            ));
        }
        last_rank = Some(rank);
        let (_, factor) = DURATION_UNITS[rank];
        total = number
            .checked_mul(factor)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| err("it does not fit in 64 bits of milliseconds"))?;
    }
    Ok(total)
}

/// Ten-thousandths in one unit of a decimal.
pub const DECIMAL_SCALE: i64 = 10_000;

/// Parses a decimal such as `12.5`, `-0.0001` or `3` into ten-thousandths.
/// At most four fractional digits: more would be silently rounded, so they
/// are refused.
pub fn parse_decimal(text: &str) -> Result<i64, LiteralError> {
    let err = |why| LiteralError::Decimal(text.to_owned(), why);
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (unsigned.contains('.') && !digits(fraction)) {
        return Err(err(
            "expected digits with an optional fraction, as in `12.5`",
        ));
    }
    if fraction.len() > 4 {
        return Err(err("decimals have at most four fractional digits"));
    }
    let whole: i64 = whole
        .parse()
        .map_err(|_| err("it does not fit in 64 bits of ten-thousandths"))?;
    let mut frac: i64 = 0;
    for (i, b) in fraction.bytes().enumerate() {
        frac += i64::from(b - b'0') * 10i64.pow(3 - u32::try_from(i).unwrap_or(3));
    }
    let magnitude = whole
        .checked_mul(DECIMAL_SCALE)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(|| err("it does not fit in 64 bits of ten-thousandths"))?;
    Ok(if negative { -magnitude } else { magnitude })
}

/// Renders ten-thousandths as a decimal literal: `12.5`, `3.0`, `-0.0001`.
pub fn format_decimal(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    let magnitude = n.unsigned_abs();
    let scale = DECIMAL_SCALE.unsigned_abs();
    let fraction = format!("{:04}", magnitude % scale);
    let fraction = fraction.trim_end_matches('0');
    let fraction = if fraction.is_empty() { "0" } else { fraction };
    format!("{sign}{}.{fraction}", magnitude / scale)
}

/// Parses a size such as `512B`, `16KiB` or `1GB` into bytes.
pub fn parse_size(text: &str) -> Result<i64, LiteralError> {
    let err = |why| LiteralError::Size(text.to_owned(), why);
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '_'))
        .unwrap_or(text.len());
    if digits_end == 0 {
        return Err(err("it needs a number before the unit"));
    }
    let number = parse_int(&text[..digits_end]).map_err(|_| err("the number is too large"))?;
    let unit = &text[digits_end..];
    let Some((_, factor)) = SIZE_UNITS.iter().find(|(u, _)| *u == unit) else {
        return Err(err("units are B, KB, KiB, MB, MiB, GB and GiB"));
    };
    number
        .checked_mul(*factor)
        .ok_or_else(|| err("it does not fit in 64 bits of bytes"))
}

/// Parses an address (`10.1.2.3`, `::1`) or a CIDR range (`10.0.0.0/8`).
/// A range must not have host bits set: `10.1.2.3/8` is almost always a typo
/// for `10.0.0.0/8` or `10.1.2.3/32`, so it is refused rather than truncated.
pub fn parse_ip(text: &str) -> Result<IpNet, LiteralError> {
    let err = |why: String| LiteralError::Ip(text.to_owned(), why);
    match text.split_once('/') {
        None => text
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| err("expected an address such as `10.1.2.3` or `2001:db8::1`".into())),
        Some((addr, prefix)) => {
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| err(format!("`{}` is not an address", excerpt(addr))))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix: u8 = prefix
                .parse()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| err(format!("the prefix length must be 0 to {max}")))?;
            let net = IpNet::new(addr, prefix).map_err(|e| err(e.to_string()))?;
            if net.trunc() != net {
                return Err(err(format!(
                    "host bits are set; the range is `{}`",
                    net.trunc()
                )));
            }
            Ok(net)
        }
    }
}

/// Renders an address or range: an address alone (`10.1.2.3`), a range
/// with its prefix (`10.0.0.0/8`).
pub fn format_ip(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// Parses an RFC 3339 timestamp (`2026-01-01T00:00:00Z`, offsets allowed) into
/// milliseconds since the Unix epoch. Sub-millisecond digits are refused, not
/// rounded, so that two equal-looking literals are equal values.
pub fn parse_timestamp(text: &str) -> Result<i64, LiteralError> {
    let err = |why: String| LiteralError::Timestamp(text.to_owned(), why);
    if !text.contains('T') {
        return Err(err(
            "it needs a time and an offset, as in `2026-01-01T00:00:00Z`".into(),
        ));
    }
    let ts: jiff::Timestamp = text.parse().map_err(|e: jiff::Error| err(e.to_string()))?;
    if ts.subsec_nanosecond() % 1_000_000 != 0 {
        return Err(err("precision is limited to milliseconds".into()));
    }
    Ok(ts.as_millisecond())
}

/// Renders milliseconds since the epoch as an RFC 3339 UTC timestamp.
pub fn format_timestamp(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.to_string(),
        // Outside jiff's range (years beyond ±9999): still show something exact.
        Err(_) => format!("@{ms}ms"),
    }
}

/// Renders milliseconds in the canonical literal form (`1h30m`, `0ms`).
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0ms".to_owned();
    }
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
    }
    let mut rest = ms.unsigned_abs();
    for (unit, factor) in DURATION_UNITS {
        let factor = factor.unsigned_abs();
        let count = rest / factor;
        if count > 0 {
            out.push_str(&count.to_string());
            out.push_str(unit);
            rest %= factor;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m"), Ok(1_800_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("500ms"), Ok(500));
        assert_eq!(parse_duration("7d"), Ok(604_800_000));
        assert!(parse_duration("30m1h").is_err());
        assert!(parse_duration("1h1h").is_err());
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("99999999999999999d").is_err());
    }

    #[test]
    fn durations_round_trip_through_canonical_form() {
        for ms in [
            0,
            1,
            999,
            1_000,
            61_000,
            5_400_000,
            90_061_001,
            -1,
            -18_000_000,
        ] {
            assert_eq!(parse_duration(&format_duration(ms)), Ok(ms));
        }
    }

    #[test]
    fn negative_durations() {
        assert_eq!(parse_duration("-5h"), Ok(-18_000_000));
        assert_eq!(parse_duration("-1h30m"), Ok(-5_400_000));
        assert!(parse_duration("--5h").is_err());
        assert!(parse_duration("-").is_err());
        assert!(parse_duration("5h-").is_err());
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal("12.5"), Ok(125_000));
        assert_eq!(parse_decimal("-0.0001"), Ok(-1));
        assert_eq!(parse_decimal("3"), Ok(30_000));
        assert!(parse_decimal("1.23456").is_err());
        assert!(parse_decimal("1.").is_err());
        assert!(parse_decimal(".5").is_err());
        assert!(parse_decimal("1e5").is_err());
        assert!(parse_decimal("922337203685478").is_err());
        for n in [
            0,
            1,
            -1,
            125_000,
            30_000,
            -12_345_678,
            i64::MAX,
            i64::MIN + 1,
        ] {
            assert_eq!(parse_decimal(&format_decimal(n)), Ok(n), "{n}");
        }
        assert_eq!(format_decimal(125_000), "12.5");
        assert_eq!(format_decimal(30_000), "3.0");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16KiB"), Ok(16_384));
        assert_eq!(parse_size("1MB"), Ok(1_000_000));
        assert_eq!(parse_size("512B"), Ok(512));
        assert!(parse_size("1kib").is_err());
        assert!(parse_size("99999999999GiB").is_err());
    }

    #[test]
    fn unit_literals_are_classified_by_unit() {
        assert_eq!(
            parse_unit_literal("30m"),
            Ok(UnitLiteral::Duration(1_800_000))
        );
        assert_eq!(parse_unit_literal("2KiB"), Ok(UnitLiteral::Size(2_048)));
        assert!(matches!(
            parse_unit_literal("3parsecs"),
            Err(LiteralError::UnknownUnit(_))
        ));
    }

    #[test]
    fn ips() {
        assert!(parse_ip("10.1.2.3").is_ok());
        assert!(parse_ip("10.0.0.0/8").is_ok());
        assert!(parse_ip("2001:db8::/32").is_ok());
        assert!(parse_ip("10.0.0.0/33").is_err());
        assert!(parse_ip("300.1.1.1").is_err());
        assert!(parse_ip("10.1.2.3/8").is_err());
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:01Z"), Ok(1_000));
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00"), Ok(0));
        assert!(parse_timestamp("2026-13-01T00:00:00Z").is_err());
        assert!(parse_timestamp("2026-01-01").is_err());
        assert_eq!(
            format_timestamp(parse_timestamp("2026-01-01T00:00:00Z").unwrap_or(0)),
            "2026-01-01T00:00:00Z"
        );
    }
}
