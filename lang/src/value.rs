//! Owned values: what a validated request carries and what the reference
//! evaluator computes with. The runtime converts them to its compact,
//! interned form once per request.

use std::fmt;

use ipnet::IpNet;

use crate::literal;
use crate::types::{ActionId, EntityTypeId};

/// An entity's identity: its type and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uid {
    pub ty: EntityTypeId,
    pub id: String,
}

/// A value of one of the language's types.
///
/// Sets are sorted and free of duplicates (by this type's `Ord`), so equal
/// sets are equal vectors. Records hold one slot per field of their type, in
/// the type's (name) order; `None` is an absent optional field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    Bool(bool),
    Int(i64),
    String(String),
    Ip(IpNet),
    Duration(i64),
    Timestamp(i64),
    /// Ten-thousandths.
    Decimal(i64),
    Entity(Uid),
    Action(ActionId),
    Set(Vec<Value>),
    /// Entries sorted by key, each key once.
    Map(Vec<(String, Value)>),
    Record(Vec<Option<Value>>),
}

impl Value {
    /// Builds a set value: sorts and removes duplicates.
    pub fn set(mut items: Vec<Value>) -> Value {
        items.sort();
        items.dedup();
        Value::Set(items)
    }

    /// Builds a map value: sorts by key; of repeated keys the last wins.
    pub fn map(mut entries: Vec<(String, Value)>) -> Value {
        entries.reverse();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|a, b| a.0 == b.0);
        Value::Map(entries)
    }
}

/// Calendar facts about timestamps (milliseconds since the Unix epoch, in
/// UTC) and durations, shared by every evaluator. A timestamp in another
/// zone is read by adding its offset first: `(t + offset).hour()`.
pub mod time {
    const DAY: i64 = 86_400_000;

    /// Midnight (UTC) of the timestamp's day; `None` out of range.
    pub fn to_date(ms: i64) -> Option<i64> {
        ms.div_euclid(DAY).checked_mul(DAY)
    }

    /// The time since midnight (UTC), as a duration.
    pub fn to_time(ms: i64) -> i64 {
        ms.rem_euclid(DAY)
    }

    /// ISO day of the week: 1 for Monday to 7 for Sunday.
    pub fn day_of_week(ms: i64) -> i64 {
        // 1970-01-01 was a Thursday.
        (ms.div_euclid(DAY) + 3).rem_euclid(7) + 1
    }

    pub fn hour(ms: i64) -> i64 {
        to_time(ms) / 3_600_000
    }

    pub fn minute(ms: i64) -> i64 {
        to_time(ms) / 60_000 % 60
    }

    /// (year, month 1–12, day 1–31) of the timestamp's day, by the
    /// proleptic Gregorian calendar (H. Hinnant's `civil_from_days`).
    pub fn civil(ms: i64) -> (i64, i64, i64) {
        let z = ms.div_euclid(DAY) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        (year, month, day)
    }

    /// Whole units in a duration, truncated toward zero (as Cedar's
    /// `toDays()` and friends).
    pub fn whole(ms: i64, unit_ms: i64) -> i64 {
        ms / unit_ms
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn calendar_parts() {
            let ts = |s: &str| crate::literal::parse_timestamp(s).unwrap_or_default();
            let t = ts("2026-11-28T13:45:10.250Z");
            assert_eq!(civil(t), (2026, 11, 28));
            assert_eq!(day_of_week(t), 6, "a Saturday");
            assert_eq!((hour(t), minute(t)), (13, 45));
            assert_eq!(to_time(t), 49_510_250);
            assert_eq!(to_date(t), Some(ts("2026-11-28T00:00:00Z")));
            let before = ts("1969-12-31T23:00:00Z");
            assert_eq!(civil(before), (1969, 12, 31));
            assert_eq!(day_of_week(before), 3, "a Wednesday");
            assert_eq!(hour(before), 23);
            assert_eq!(civil(ts("2000-02-29T00:00:00Z")), (2000, 2, 29));
            assert_eq!(whole(-90 * 60_000, 3_600_000), -1);
            assert_eq!(to_date(i64::MIN), None);
        }
    }
}

/// Facts about IP values shared by every evaluator. A range is loopback or
/// multicast when it lies entirely within that block.
pub mod ip {
    use ipnet::IpNet;

    pub fn is_ipv4(net: &IpNet) -> bool {
        matches!(net, IpNet::V4(_))
    }

    pub fn is_loopback(net: &IpNet) -> bool {
        match net {
            IpNet::V4(n) => n.network().is_loopback() && n.prefix_len() >= 8,
            IpNet::V6(n) => n.prefix_len() == 128 && n.network().is_loopback(),
        }
    }

    pub fn is_multicast(net: &IpNet) -> bool {
        match net {
            IpNet::V4(n) => n.network().is_multicast() && n.prefix_len() >= 4,
            IpNet::V6(n) => n.network().is_multicast() && n.prefix_len() >= 8,
        }
    }

    /// Whether `inner` lies within `outer` (false across address families).
    pub fn within(inner: &IpNet, outer: &IpNet) -> bool {
        outer.contains(inner)
    }
}

/// Renders a value as a policy literal would be written; entity and action
/// names need a schema, so they show their ids (see `Schema::display_value`).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(n) => write!(f, "{n}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Ip(ip) => f.write_str(&literal::format_ip(ip)),
            Value::Duration(ms) => f.write_str(&literal::format_duration(*ms)),
            Value::Timestamp(ms) => f.write_str(&literal::format_timestamp(*ms)),
            Value::Decimal(n) => f.write_str(&literal::format_decimal(*n)),
            Value::Entity(uid) => write!(f, "#{}::{:?}", uid.ty.0, uid.id),
            Value::Action(id) => write!(f, "action#{}", id.0),
            Value::Set(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Map(entries) => {
                f.write_str("{")?;
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{key:?}: {value}")?;
                }
                f.write_str("}")
            }
            Value::Record(slots) => {
                f.write_str("{")?;
                for (i, slot) in slots.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match slot {
                        Some(v) => write!(f, "#{i}: {v}")?,
                        None => write!(f, "#{i}: -")?,
                    }
                }
                f.write_str("}")
            }
        }
    }
}
