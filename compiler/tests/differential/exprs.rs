//! Type-directed expression generation for the policy generator: literals
//! of every type, and for each wanted type the productions that give it
//! (reads, operators, `if`), threading the facts `&&`, `if` and guards
//! establish exactly as the checker does.

use super::facts::Facts;
use super::{Env, Path, PolicyGen};
use crate::model::{Field, IDS, STORE, STORE_NAME, T};

const INTS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "7",
    "100",
    "16KiB",
    "1_000",
    "9223372036854775807",
    "4611686018427387904",
    "3037000500",
];
pub const STRINGS: &[&str] = &["", "a", "b", "ab", "a*b", "x@corp.com", "é", "A", "q\"\\"];
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
            T::Ent(types) => {
                let ty = if types.is_empty() || self.tape.chance(20) {
                    self.tape.pick(self.model.entities.len())
                } else {
                    *self.tape.choose(types)
                };
                let id = if ty == STORE && self.tape.chance(70) {
                    STORE_NAME
                } else {
                    self.tape.choose(&IDS)
                };
                format!("{}::{}", self.type_name(ty), quote(id))
            }
            T::Set(elem) => {
                let items: Vec<String> =
                    (0..self.tape.pick(4)).map(|_| self.literal(elem)).collect();
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
        }
    }

    pub(super) fn action_literal(&mut self) -> String {
        let action = self.tape.pick(self.model.declared_actions());
        self.action_name(action).into()
    }

    // --------------------------------------------------------- expressions

    pub(super) fn expr(&mut self, ty: &T, env: &Env, depth: u32) -> String {
        match ty {
            T::Bool => self.bool_expr(env, depth).0,
            T::Int => self.int_expr(env, depth),
            T::Dur => self.dur_expr(env, depth),
            T::Ts => self.ts_expr(env, depth),
            T::Ent(_) => self.entity_expr(env, depth),
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
            1 => self.read(ty, env).unwrap_or_else(|| self.literal(ty)),
            2 => self.if_expr(ty, env, depth),
            _ => match ty {
                T::Set(elem) => {
                    let items: Vec<String> = (0..self.tape.pick(4))
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
                _ => self.read(ty, env).unwrap_or_else(|| self.literal(ty)),
            },
        }
    }

    pub(super) fn if_expr(&mut self, ty: &T, env: &Env, depth: u32) -> String {
        let d = depth.saturating_sub(1);
        // Sometimes narrow or guard the `then` branch.
        let (cond, added) = match self.tape.pick(4) {
            3 => self.guard_clause(env),
            _ => self.bool_expr(env, d.min(2)),
        };
        let then_env = self.with(env, &added);
        let then = self.expr(ty, &then_env, d);
        let otherwise = self.expr(ty, env, d);
        format!("(if {cond} then {then} else {otherwise})")
    }

    pub(super) fn int_expr(&mut self, env: &Env, depth: u32) -> String {
        let choice = if depth == 0 {
            self.tape.pick(2)
        } else {
            self.tape.pick(8)
        };
        let d = depth.saturating_sub(1);
        match choice {
            0 => self.literal(&T::Int),
            1 => self
                .read(&T::Int, env)
                .unwrap_or_else(|| self.literal(&T::Int)),
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
            _ => self.if_expr(&T::Int, env, depth),
        }
    }

    pub(super) fn dur_expr(&mut self, env: &Env, depth: u32) -> String {
        let choice = if depth == 0 {
            self.tape.pick(2)
        } else {
            self.tape.pick(7)
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
            _ => self.if_expr(&T::Dur, env, depth),
        }
    }

    pub(super) fn ts_expr(&mut self, env: &Env, depth: u32) -> String {
        let choice = if depth == 0 {
            self.tape.pick(2)
        } else {
            self.tape.pick(5)
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
            _ => self.if_expr(&T::Ts, env, depth),
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
        match self.tape.pick(9) {
            0 => T::Str,
            1 => T::Int,
            2 => T::Ent(vec![]),
            3 => T::Ip,
            4 => T::Ts,
            5 => T::Dur,
            6 => T::Bool,
            7 => T::Action,
            _ => T::Rec(vec![
                Field {
                    name: "home",
                    ty: T::Ip,
                    optional: false,
                },
                Field {
                    name: "score",
                    ty: T::Int,
                    optional: false,
                },
            ]),
        }
    }

    /// A type `==` can compare with a generated right side.
    pub(super) fn comparable_type(&mut self) -> T {
        match self.tape.pick(8) {
            0 => T::Int,
            1 => T::Str,
            2 => T::Bool,
            3 => T::Ip,
            4 => T::Dur,
            5 => T::Ts,
            6 => T::Ent(vec![]),
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

    /// A `Bool` expression and the facts it establishes when true.
    pub(super) fn bool_expr(&mut self, env: &Env, depth: u32) -> (String, Facts) {
        let choice = if depth == 0 {
            self.tape.pick(4)
        } else {
            self.tape.pick(17)
        };
        let d = depth.saturating_sub(1);
        let none = Facts::default();
        match choice {
            0 => (self.literal(&T::Bool), none),
            1 => (
                self.read(&T::Bool, env)
                    .unwrap_or_else(|| self.literal(&T::Bool)),
                none,
            ),
            2 => self.has_expr(env),
            3 => self.is_expr(env),
            4 => {
                let ty = self.comparable_type();
                let op = if self.tape.chance(30) { "!=" } else { "==" };
                (
                    format!(
                        "({} {op} {})",
                        self.expr(&ty, env, d),
                        self.expr(&ty, env, d)
                    ),
                    none,
                )
            }
            5 => (self.same_type_reads(env), none),
            6 => {
                let op = *self.tape.choose(&["<", "<=", ">", ">="]);
                let (a, b) = match self.tape.pick(3) {
                    0 => (self.int_expr(env, d), self.int_expr(env, d)),
                    1 => (self.dur_expr(env, d), self.dur_expr(env, d)),
                    _ => (self.ts_expr(env, d), self.ts_expr(env, d)),
                };
                (format!("({a} {op} {b})"), none)
            }
            7 => {
                let (a, fa) = self.bool_expr(env, d);
                if self.tape.chance(50) {
                    let (b, fb) = self.bool_expr(env, d);
                    (format!("({a} || {b})"), fa.or(&fb))
                } else {
                    let inner = self.with(env, &fa);
                    let (b, fb) = self.bool_expr(&inner, d);
                    (format!("({a} && {b})"), fa.and(&fb))
                }
            }
            8 => (format!("(!{})", self.bool_expr(env, d).0), none),
            9 => (self.in_expr(env, d), none),
            10 => {
                let parts: Vec<Option<&str>> = (0..self.tape.pick(4))
                    .map(|_| *self.tape.choose(PATTERN_PARTS))
                    .collect();
                (
                    format!(
                        "({} like {})",
                        self.plain_expr(&T::Str, env, d),
                        pattern(&parts)
                    ),
                    none,
                )
            }
            11 => (self.set_method(env, d), none),
            12 => {
                let method =
                    *self
                        .tape
                        .choose(&["is_ipv4", "is_ipv6", "is_loopback", "is_multicast"]);
                (
                    format!("({}).{method}()", self.plain_expr(&T::Ip, env, d)),
                    none,
                )
            }
            13 => (self.if_expr(&T::Bool, env, depth), none),
            14 => {
                // `x has a && …x.a…`, or `p is T && …` with what it gives.
                let (guard, added) = self.guard_clause(env);
                let inner = self.with(env, &added);
                let (rest, more) = self.bool_expr(&inner, d);
                (format!("({guard} && {rest})"), added.and(&more))
            }
            16 => (self.edge_arithmetic(env), none),
            _ => {
                let (guard, added) = self.guard_clause(env);
                let inner = self.with(env, &added);
                let then = self.bool_expr(&inner, d).0;
                (
                    format!("(if {guard} then {then} else {})", self.bool_expr(env, d).0),
                    none,
                )
            }
        }
    }

    /// Arithmetic on a value read from the request and a large constant,
    /// which overflows for some requests.
    pub(super) fn edge_arithmetic(&mut self, env: &Env) -> String {
        if self.tape.chance(30) {
            let x = self.read(&T::Dur, env).unwrap_or_else(|| "0ms".into());
            let op = *self.tape.choose(&["+", "-"]);
            let big = *self
                .tape
                .choose(&["9223372036854775807ms", "106751991167d", "7d"]);
            return format!("(({x} {op} {big}) > 0ms)");
        }
        let x = self.read(&T::Int, env).unwrap_or_else(|| "1".into());
        let op = *self.tape.choose(&["+", "-", "*"]);
        let mut big =
            (*self
                .tape
                .choose(&["9223372036854775807", "4611686018427387904", "3037000500"]))
            .to_owned();
        if let Some(n) = int_const(&x) {
            let big_value = int_const(&big).unwrap_or(0);
            let fits = match op {
                "+" => n.checked_add(big_value),
                "-" => n.checked_sub(big_value),
                _ => n.checked_mul(big_value),
            };
            if fits.is_none() {
                big = format!("(if true then {big} else 0)");
            }
        }
        format!("(({x} {op} {big}) >= 0)")
    }

    /// `x is T` on some entity path (narrowing it where true).
    pub(super) fn is_expr(&mut self, env: &Env) -> (String, Facts) {
        let bases: Vec<Path> = env
            .paths
            .iter()
            .filter(|p| matches!(p.ty, T::Ent(_)) && Self::missing_guards(env, p).is_empty())
            .cloned()
            .collect();
        let ty = self.tape.pick(self.model.entities.len());
        let Some(base) = (!bases.is_empty()).then(|| self.tape.choose(&bases).clone()) else {
            return ("true".into(), Facts::default());
        };
        let text = format!("({} is {})", self.path_text(&base), self.type_name(ty));
        (text, Facts::narrowing(base.text, ty))
    }

    /// `x has a` on a variable, entity literal or attribute chain.
    pub(super) fn has_expr(&mut self, env: &Env) -> (String, Facts) {
        let bases: Vec<Path> = env
            .paths
            .iter()
            .filter(|p| Self::missing_guards(env, p).is_empty())
            .filter(|p| match &p.ty {
                T::Rec(fields) => !fields.is_empty(),
                T::Ent(types) => types
                    .iter()
                    .any(|t| !self.model.entities[*t].attrs.is_empty()),
                _ => false,
            })
            .cloned()
            .collect();
        if bases.is_empty() {
            return ("true".into(), Facts::default());
        }
        let base = self.tape.choose(&bases).clone();
        let names: Vec<&'static str> = match &base.ty {
            T::Rec(fields) => fields.iter().map(|f| f.name).collect(),
            T::Ent(types) => types
                .iter()
                .flat_map(|t| self.model.entities[*t].attrs.iter().map(|f| f.name))
                .collect(),
            _ => Vec::new(),
        };
        let name = *self.tape.choose(&names);
        let text = self.path_text(&base);
        let text = if self.tape.chance(10) {
            format!("({text} has {})", quote(name))
        } else {
            format!("({text} has {name})")
        };
        (text, Facts::present(base.text, name))
    }

    /// `a == b` on two reads of one type (records with optional fields,
    /// which no literal can stand for, included).
    pub(super) fn same_type_reads(&mut self, env: &Env) -> String {
        let readable: Vec<Path> = env
            .paths
            .iter()
            .filter(|p| Self::missing_guards(env, p).is_empty() && !matches!(p.ty, T::Ent(_)))
            .cloned()
            .collect();
        if readable.is_empty() {
            return "false".into();
        }
        let a = self.tape.choose(&readable).clone();
        let same: Vec<&Path> = readable.iter().filter(|p| p.ty == a.ty).collect();
        let b = (*self.tape.choose(&same)).clone();
        let op = if self.tape.chance(30) { "!=" } else { "==" };
        format!("({} {op} {})", a.text, b.text)
    }

    pub(super) fn in_expr(&mut self, env: &Env, d: u32) -> String {
        match self.tape.pick(5) {
            0 => format!(
                "({} in {})",
                self.entity_expr(env, d),
                self.entity_expr(env, d)
            ),
            1 => format!(
                "({} in {})",
                self.entity_expr(env, d),
                self.plain_expr(&T::set(T::Ent(vec![])), env, d)
            ),
            2 => {
                let elem = self.set_elem_type();
                format!(
                    "({} in {})",
                    self.expr(&elem, env, d),
                    self.plain_expr(&T::set(elem.clone()), env, d)
                )
            }
            3 => format!(
                "({} in {})",
                self.plain_expr(&T::Ip, env, d),
                self.plain_expr(&T::Ip, env, d)
            ),
            _ => {
                let rhs = if self.tape.chance(50) {
                    self.action_literal()
                } else {
                    let names: Vec<String> = (0..self.tape.pick(4))
                        .map(|_| self.action_literal())
                        .collect();
                    format!("[{}]", names.join(", "))
                };
                format!("(action in {rhs})")
            }
        }
    }

    pub(super) fn set_method(&mut self, env: &Env, d: u32) -> String {
        let elem = self.set_elem_type();
        let set = T::set(elem.clone());
        let receiver = self.plain_expr(&set, env, d);
        match self.tape.pick(4) {
            0 => format!("({receiver}).contains({})", self.expr(&elem, env, d)),
            1 => format!(
                "({receiver}).contains_all({})",
                self.plain_expr(&set, env, d)
            ),
            2 => format!(
                "({receiver}).contains_any({})",
                self.plain_expr(&set, env, d)
            ),
            _ => format!("({receiver}).is_empty()"),
        }
    }
}
