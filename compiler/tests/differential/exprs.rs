//! Type-directed generation of value expressions for the policy generator:
//! literals of every type, and for each wanted type the productions that
//! give it (reads, map entries, operators, conversions, methods, `if`).
//! Conditions are in `conditions.rs`.

use super::{Env, PolicyGen};
use crate::model::{Field, T};

const INTS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "7",
    "100",
    "2026",
    "16KiB",
    "1_000",
    "9223372036854775807",
    "4611686018427387904",
    "3037000500",
];
/// Strings policies and requests use: some are IPs and decimals for
/// `ip(…)` and `decimal(…)` of computed text, some almost are.
pub const STRINGS: &[&str] = &[
    "",
    "a",
    "b",
    "ab",
    "a*b",
    "x@corp.com",
    "é",
    "A",
    "q\"\\",
    "10.1.2.3",
    "10.0.0.0/8",
    "::1",
    "10.1.2.3/8",
    "12.5",
    "-0.0001",
    "1.23456",
];
const IPS: &[&str] = &[
    "10.1.2.3",
    "10.0.0.0/8",
    "127.0.0.1",
    "127.0.0.0/8",
    "224.0.0.0/4",
    "224.0.0.5",
    "192.168.0.0/16",
    "0.0.0.0/0",
    "ip(\"::1\")",
    "ip(\"2001:db8::/32\")",
    "ip(\"ff00::/8\")",
    "ip(\"::ffff:10.1.2.3\")",
    "ip(\"10.1.2.3\")",
    "ip(\"::/0\")",
];
const DURATIONS: &[&str] = &[
    "0ms",
    "1ms",
    "500ms",
    "30s",
    "1h30m",
    "7d",
    "9223372036854775807ms",
    "106751991167d",
];
const TIMESTAMPS: &[&str] = &[
    "1970-01-01T00:00:00Z",
    "2026-01-01T00:00:00Z",
    "2026-06-01T09:00:00.250+02:00",
    "9999-12-30T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999Z",
];
const DECIMALS: &[&str] = &[
    "0.0",
    "1.5",
    "12.5",
    "0.0001",
    "100.25",
    "922337203685477.5807",
    "decimal(\"-3.5\")",
    "decimal(\"7\")",
    "decimal(\"-922337203685477.5807\")",
];
/// Pieces of `like` patterns: `None` is a wildcard.
pub(super) const PATTERN_PARTS: &[Option<&str>] = &[
    None,
    Some("a"),
    Some("b"),
    Some("@corp.com"),
    Some("*"),
    Some("é"),
    Some("\""),
];

/// A string literal's source text.
pub fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A `like` pattern's source text.
pub(super) fn pattern(parts: &[Option<&str>]) -> String {
    let mut out = String::from("\"");
    for part in parts {
        match part {
            None => out.push('*'),
            Some(text) => {
                for c in text.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '*' => out.push_str("\\*"),
                        c => out.push(c),
                    }
                }
            }
        }
    }
    out.push('"');
    out
}

/// The value of an `Int` constant as the checker sees one (a literal, not
/// a negation or a parenthesised expression of one).
pub(super) fn int_const(text: &str) -> Option<i64> {
    let mut text = text;
    while let Some(inner) = text.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        text = inner;
    }
    // `-` on an integer literal is parsed as a negative literal (not on a
    // size, nor on a parenthesised literal).
    if let Some(digits) = text.strip_prefix('-') {
        let plain = digits.starts_with(|c: char| c.is_ascii_digit()) && !digits.ends_with('B');
        return if plain {
            reaper_lang::literal::parse_int(digits).ok().map(|n| -n)
        } else {
            None
        };
    }
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if text.ends_with('B') {
        return reaper_lang::literal::parse_size(text).ok();
    }
    reaper_lang::literal::parse_int(text).ok()
}

/// Wraps a string literal in parentheses, so that `ip(…)` and `decimal(…)`
/// convert it at run time instead of checking it as a literal.
fn computed(text: String) -> String {
    if text.starts_with('"') {
        format!("({text})")
    } else {
        text
    }
}

impl PolicyGen<'_, '_> {
    // ------------------------------------------------------------ literals

    pub(super) fn literal(&mut self, ty: &T) -> String {
        match ty {
            T::Bool => (if self.tape.chance(50) {
                "true"
            } else {
                "false"
            })
            .into(),
            T::Int => (*self.tape.choose(INTS)).into(),
            T::Str => quote(self.tape.choose::<&str>(STRINGS)),
            T::Ip => (*self.tape.choose(IPS)).into(),
            T::Dur => (*self.tape.choose(DURATIONS)).into(),
            T::Ts => (*self.tape.choose(TIMESTAMPS)).into(),
            T::Dec => (*self.tape.choose(DECIMALS)).into(),
            T::Ent(types) => {
                let ty = if types.is_empty() || self.tape.chance(20) {
                    self.tape.pick(self.model.entities.len())
                } else {
                    *self.tape.choose(types)
                };
                let id = *self.tape.choose(self.model.ids(ty));
                format!("{}::{}", self.type_name(ty), quote(id))
            }
            T::Set(elem) => {
                let items: Vec<String> = (0..self.set_len()).map(|_| self.literal(elem)).collect();
                format!("[{}]", items.join(", "))
            }
            T::Rec(fields) => {
                let mut items: Vec<String> = fields
                    .iter()
                    .map(|f| format!("{}: {}", f.name, self.literal(&f.ty)))
                    .collect();
                if self.tape.chance(30) {
                    items.reverse();
                }
                format!("{{ {} }}", items.join(", "))
            }
            T::Action => self.action_literal(),
            T::Map(_) | T::Ctx(..) => panic!("no literal of type {ty:?}"),
        }
    }

    /// Mostly a few elements; now and then more than the VM scans in a
    /// line (it searches larger sets by halves).
    fn set_len(&mut self) -> usize {
        if self.tape.chance(5) {
            9 + self.tape.pick(4)
        } else {
            self.tape.pick(4)
        }
    }

    /// An action name that can be a value: not a group, nor a store action.
    pub(super) fn action_literal(&mut self) -> String {
        let actions = self.model.value_actions();
        let action = *self.tape.choose(&actions);
        self.action_name(action).into()
    }

    // --------------------------------------------------------- expressions

    pub(super) fn expr(&mut self, ty: &T, env: &Env, depth: u32) -> String {
        match ty {
            T::Bool => self.bool_expr(env, depth).0,
            T::Int => self.int_expr(env, depth),
            T::Dur => self.dur_expr(env, depth),
            T::Ts => self.ts_expr(env, depth),
            T::Dec => self.dec_expr(env, depth),
            T::Str => self.str_expr(env, depth),
            T::Ip => self.ip_expr(env, depth),
            T::Ent(_) => self.entity_expr(env, depth),
            T::Map(_) => self.map_expr(ty, env, depth),
            T::Set(elem) if **elem == T::Str && self.tape.chance(25) => {
                let map = self.map_path(env, None);
                format!("{map}.keys()")
            }
            _ => self.plain_expr(ty, env, depth),
        }
    }

    /// A literal, a read, or (deeper) an `if` or a set literal of
    /// expressions.
    pub(super) fn plain_expr(&mut self, ty: &T, env: &Env, depth: u32) -> String {
        let choice = if depth == 0 {
            self.tape.pick(2)
        } else {
            self.tape.pick(5)
        };
        match choice {
            0 => self.literal(ty),
            1 => self.read_or_get(ty, env),
            2 => self.if_expr(ty, env, depth),
            _ => match ty {
                T::Set(elem) => {
                    let items: Vec<String> = (0..self.set_len())
                        .map(|_| self.expr(elem, env, depth - 1))
                        .collect();
                    format!("[{}]", items.join(", "))
                }
                T::Rec(fields) if ty.writable() => {
                    let items: Vec<String> = fields
                        .iter()
                        .map(|f| format!("{}: {}", f.name, self.expr(&f.ty, env, depth - 1)))
                        .collect();
                    format!("{{ {} }}", items.join(", "))
                }
                T::Action if self.tape.chance(50) => "action".into(),
                _ => self.read_or_get(ty, env),
            },
        }
    }

    /// A read of a path or (for types maps hold) of a map entry, else a
    /// literal.
    pub(super) fn read_or_get(&mut self, ty: &T, env: &Env) -> String {
        if self.tape.chance(20)
            && let Some(get) = self.get_expr(ty, env)
        {
            return get;
        }
        self.read(ty, env).unwrap_or_else(|| self.literal(ty))
    }

    pub(super) fn if_expr(&mut self, ty: &T, env: &Env, depth: u32) -> String {
        let d = depth.saturating_sub(1);
        // Sometimes narrow or guard one branch: `then` where the guard
        // holds, or `else` where its negation fails.
        let (cond, flow) = match self.tape.pick(5) {
            3 => self.guard_clause(env),
            4 => {
                let (guard, flow) = self.guard_clause(env);
                (format!("!({guard})"), flow.not())
            }
            _ => self.bool_expr(env, d.min(2)),
        };
        let then_env = self.with(env, &flow.when_true);
        let else_env = self.with(env, &flow.when_false);
        let then = self.expr(ty, &then_env, d);
        let otherwise = self.expr(ty, &else_env, d);
        format!("(if {cond} then {then} else {otherwise})")
    }

    pub(super) fn int_expr(&mut self, env: &Env, depth: u32) -> String {
        let choice = if depth == 0 {
            self.tape.pick(2)
        } else {
            self.tape.pick(12)
        };
        let d = depth.saturating_sub(1);
        match choice {
            0 => self.literal(&T::Int),
            1 => self.read_or_get(&T::Int, env),
            2..=4 => {
                let op = ["+", "-", "*"][choice - 2];
                let a = self.int_expr(env, d);
                let mut b = self.int_expr(env, d);
                // Arithmetic on two literals that always overflows is a
                // compile error (E0205); hide one literal behind an `if`.
                if let (Some(x), Some(y)) = (int_const(&a), int_const(&b)) {
                    let result = match op {
                        "+" => x.checked_add(y),
                        "-" => x.checked_sub(y),
                        _ => x.checked_mul(y),
                    };
                    if result.is_none() {
                        b = format!("(if true then {b} else 0)");
                    }
                }
                format!("({a} {op} {b})")
            }
            5 => format!("(-{})", self.int_expr(env, d)),
            6 => {
                let elem = self.set_elem_type();
                format!("({}).len()", self.expr(&T::set(elem), env, d))
            }
            7 => {
                let map = self.map_path(env, None);
                let method = if self.tape.chance(80) {
                    "len"
                } else {
                    "keys().len"
                };
                format!("{map}.{method}()")
            }
            8 => {
                let method =
                    *self
                        .tape
                        .choose(&["year", "month", "day", "hour", "minute", "day_of_week"]);
                format!("({}).{method}()", self.ts_expr(env, d))
            }
            9 => {
                let method = *self.tape.choose(&[
                    "to_days",
                    "to_hours",
                    "to_minutes",
                    "to_seconds",
                    "to_milliseconds",
                ]);
                format!("({}).{method}()", self.dur_expr(env, d))
            }
            10 => self.get_expr(&T::Int, env).unwrap_or_else(|| "1".into()),
            _ => self.if_expr(&T::Int, env, depth),
        }
    }

    pub(super) fn dur_expr(&mut self, env: &Env, depth: u32) -> String {
        let choice = if depth == 0 {
            self.tape.pick(2)
        } else {
            self.tape.pick(8)
        };
        let d = depth.saturating_sub(1);
        match choice {
            0 => self.literal(&T::Dur),
            1 => self
                .read(&T::Dur, env)
                .unwrap_or_else(|| self.literal(&T::Dur)),
            2 | 3 => {
                let op = if choice == 2 { "+" } else { "-" };
                format!("({} {op} {})", self.dur_expr(env, d), self.dur_expr(env, d))
            }
            4 => format!("(-{})", self.dur_expr(env, d)),
            5 => format!("({} - {})", self.ts_expr(env, d), self.ts_expr(env, d)),
            6 => format!("({}).to_time()", self.ts_expr(env, d)),
            _ => self.if_expr(&T::Dur, env, depth),
        }
    }

    pub(super) fn ts_expr(&mut self, env: &Env, depth: u32) -> String {
        let choice = if depth == 0 {
            self.tape.pick(2)
        } else {
            self.tape.pick(6)
        };
        let d = depth.saturating_sub(1);
        match choice {
            0 => self.literal(&T::Ts),
            1 => self
                .read(&T::Ts, env)
                .unwrap_or_else(|| self.literal(&T::Ts)),
            2 | 3 => {
                let op = if choice == 2 { "+" } else { "-" };
                format!("({} {op} {})", self.ts_expr(env, d), self.dur_expr(env, d))
            }
            4 => format!("({}).to_date()", self.ts_expr(env, d)),
            _ => self.if_expr(&T::Ts, env, depth),
        }
    }

    pub(super) fn dec_expr(&mut self, env: &Env, depth: u32) -> String {
        let choice = if depth == 0 {
            self.tape.pick(2)
        } else {
            self.tape.pick(8)
        };
        let d = depth.saturating_sub(1);
        match choice {
            0 => self.literal(&T::Dec),
            1 => self.read_or_get(&T::Dec, env),
            2 | 3 => {
                let op = if choice == 2 { "+" } else { "-" };
                format!("({} {op} {})", self.dec_expr(env, d), self.dec_expr(env, d))
            }
            4 => format!("(-{})", self.dec_expr(env, d)),
            5 => format!("decimal({})", computed(self.str_expr(env, d))),
            6 => self.get_expr(&T::Dec, env).unwrap_or_else(|| "2.5".into()),
            _ => self.if_expr(&T::Dec, env, depth),
        }
    }

    pub(super) fn str_expr(&mut self, env: &Env, depth: u32) -> String {
        let choice = if depth == 0 {
            self.tape.pick(3)
        } else {
            self.tape.pick(7)
        };
        let d = depth.saturating_sub(1);
        match choice {
            0 => self.literal(&T::Str),
            1 => self.read_or_get(&T::Str, env),
            2 => format!("({}).id()", self.entity_expr(env, d)),
            3 => format!("({} + {})", self.str_expr(env, d), self.str_expr(env, d)),
            4 => self
                .get_expr(&T::Str, env)
                .unwrap_or_else(|| "\"k\"".into()),
            5 => self.if_expr(&T::Str, env, depth),
            _ => self.read_or_get(&T::Str, env),
        }
    }

    pub(super) fn ip_expr(&mut self, env: &Env, depth: u32) -> String {
        let choice = if depth == 0 {
            self.tape.pick(2)
        } else {
            self.tape.pick(4)
        };
        let d = depth.saturating_sub(1);
        match choice {
            0 => self.literal(&T::Ip),
            1 => self.read_or_get(&T::Ip, env),
            2 => format!("ip({})", computed(self.str_expr(env, d))),
            _ => self.if_expr(&T::Ip, env, depth),
        }
    }

    pub(super) fn entity_expr(&mut self, env: &Env, depth: u32) -> String {
        let choice = if depth == 0 {
            self.tape.pick(4)
        } else {
            self.tape.pick(5)
        };
        match choice {
            0 => self.literal(&T::Ent(vec![])),
            1 => "principal".into(),
            2 => "resource".into(),
            3 => self
                .read(&T::Ent(vec![]), env)
                .unwrap_or_else(|| "principal".into()),
            _ => self.if_expr(&T::Ent(vec![]), env, depth),
        }
    }

    pub(super) fn set_elem_type(&mut self) -> T {
        match self.tape.pick(10) {
            0 => T::Str,
            1 => T::Int,
            2 => T::Ent(vec![]),
            3 => T::Ip,
            4 => T::Ts,
            5 => T::Dur,
            6 => T::Bool,
            7 => T::Action,
            8 => T::Dec,
            _ => T::Rec(vec![
                Field {
                    name: "home",
                    ty: T::Ip,
                    optional: false,
                    alias: None,
                },
                Field {
                    name: "score",
                    ty: T::Int,
                    optional: false,
                    alias: None,
                },
            ]),
        }
    }

    /// A type `==` can compare with a generated right side.
    pub(super) fn comparable_type(&mut self) -> T {
        match self.tape.pick(10) {
            0 => T::Int,
            1 => T::Str,
            2 => T::Bool,
            3 => T::Ip,
            4 => T::Dur,
            5 => T::Ts,
            6 => T::Ent(vec![]),
            7 => T::Dec,
            8 => T::map(self.tape.choose(&[T::Int, T::Str, T::Dec]).clone()),
            _ => {
                let elem = self.set_elem_type();
                if self.tape.chance(30) {
                    elem
                } else {
                    T::set(elem)
                }
            }
        }
    }
}
