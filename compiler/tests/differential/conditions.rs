//! Generation of conditions (`Bool` expressions) for the policy generator,
//! each with the flow facts it establishes where true and where false:
//! `has` (narrowing to the types that declare the attribute), `is`,
//! `contains_key`, `!`, `&&`, `||`, `if`, comparisons, `in` (entities,
//! sets, IP ranges, actions and groups), `like`, and the methods of sets,
//! strings and IPs.

use super::exprs::{PATTERN_PARTS, int_const, pattern, quote};
use super::facts::{Facts, Flow};
use super::{Env, HasNames, Path, PolicyGen};
use crate::model::{T, field_name};

impl PolicyGen<'_, '_> {
    /// A `Bool` expression and the facts it establishes.
    pub(super) fn bool_expr(&mut self, env: &Env, depth: u32) -> (String, Flow) {
        let choice = if depth == 0 {
            self.tape.pick(4)
        } else {
            self.tape.pick(23)
        };
        let d = depth.saturating_sub(1);
        let none = Flow::none;
        match choice {
            0 => (self.literal(&T::Bool), none()),
            1 => (self.read_or_get(&T::Bool, env), none()),
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
                    none(),
                )
            }
            5 => (self.same_type_reads(env), none()),
            6 => {
                let op = *self.tape.choose(&["<", "<=", ">", ">="]);
                let (a, b) = match self.tape.pick(4) {
                    0 => (self.int_expr(env, d), self.int_expr(env, d)),
                    1 => (self.dur_expr(env, d), self.dur_expr(env, d)),
                    2 => (self.ts_expr(env, d), self.ts_expr(env, d)),
                    _ => (self.dec_expr(env, d), self.dec_expr(env, d)),
                };
                (format!("({a} {op} {b})"), none())
            }
            7 => {
                let (a, fa) = self.bool_expr(env, d);
                if self.tape.chance(50) {
                    let inner = self.with(env, &fa.when_false);
                    let (b, fb) = self.bool_expr(&inner, d);
                    (format!("({a} || {b})"), Flow::or(&fa, &fb))
                } else {
                    let inner = self.with(env, &fa.when_true);
                    let (b, fb) = self.bool_expr(&inner, d);
                    (format!("({a} && {b})"), Flow::and(&fa, &fb))
                }
            }
            8 => {
                let (a, fa) = self.bool_expr(env, d);
                (format!("(!{a})"), fa.not())
            }
            9 => (self.in_expr(env, d), none()),
            10 => {
                let parts: Vec<Option<&str>> = (0..self.tape.pick(4))
                    .map(|_| *self.tape.choose(PATTERN_PARTS))
                    .collect();
                (
                    format!("({} like {})", self.str_expr(env, d), pattern(&parts)),
                    none(),
                )
            }
            11 => (self.set_method(env, d), none()),
            12 => {
                let method =
                    *self
                        .tape
                        .choose(&["is_ipv4", "is_ipv6", "is_loopback", "is_multicast"]);
                (format!("({}).{method}()", self.ip_expr(env, d)), none())
            }
            13 => self.if_bool(env, depth),
            14 => {
                // `x has a && …x.a…`, or `p is T && …` with what it gives.
                let (guard, fg) = self.guard_clause(env);
                let inner = self.with(env, &fg.when_true);
                let (rest, fr) = self.bool_expr(&inner, d);
                (format!("({guard} && {rest})"), Flow::and(&fg, &fr))
            }
            15 => {
                // `!(x has a) || …x.a…`: the right side sees the guard hold.
                let (guard, fg) = self.guard_clause(env);
                let negated = fg.not();
                let inner = self.with(env, &negated.when_false);
                let (rest, fr) = self.bool_expr(&inner, d);
                (format!("(!({guard}) || {rest})"), Flow::or(&negated, &fr))
            }
            16 => (self.edge_arithmetic(env), none()),
            17 => (self.string_method(env, d), none()),
            18 => match self.tape.pick(5) {
                0 => {
                    // A key with no path: establishes nothing.
                    let map = self.map_path(env, None);
                    (
                        format!("{map}.contains_key({})", self.str_expr(env, d)),
                        none(),
                    )
                }
                1 => (format!("{}.is_empty()", self.map_path(env, None)), none()),
                2 => {
                    let map = self.map_path(env, None);
                    let text = self.str_expr(env, d);
                    let test = match self.tape.pick(3) {
                        0 => format!("({text} in {map}.keys())"),
                        1 => format!("{map}.keys().contains({text})"),
                        _ => format!(
                            "{map}.keys().contains_any({})",
                            self.expr(&T::set(T::Str), env, d)
                        ),
                    };
                    (test, none())
                }
                _ => self.contains_key(env),
            },
            19 => {
                let (a, b) = (self.str_expr(env, d), self.str_expr(env, d));
                let op = if self.tape.chance(30) { "!=" } else { "==" };
                (format!("({a} {op} {b})"), none())
            }
            20 => {
                // Guard in the condition, read in the `else` branch.
                let (guard, fg) = self.guard_clause(env);
                let negated = fg.not();
                let then = self.bool_in(env, &negated.when_true, d);
                let otherwise = self.bool_in(env, &negated.when_false, d);
                (
                    format!("(if !({guard}) then {} else {})", then.0, otherwise.0),
                    Flow::choose(&negated, &then.1, &otherwise.1),
                )
            }
            21 => (self.calendar_test(env, d), none()),
            _ => {
                let (guard, fg) = self.guard_clause(env);
                let then = self.bool_in(env, &fg.when_true, d);
                let otherwise = self.bool_in(env, &fg.when_false, d);
                (
                    format!("(if {guard} then {} else {})", then.0, otherwise.0),
                    Flow::choose(&fg, &then.1, &otherwise.1),
                )
            }
        }
    }

    /// A `Bool` expression generated where `facts` also hold.
    fn bool_in(&mut self, env: &Env, facts: &Facts, depth: u32) -> (String, Flow) {
        let inner = self.with(env, facts);
        self.bool_expr(&inner, depth)
    }

    /// `if c then a else b` of `Bool`s, `a` and `b` generated where `c` is
    /// true and false.
    fn if_bool(&mut self, env: &Env, depth: u32) -> (String, Flow) {
        let d = depth.saturating_sub(1);
        let (cond, fc) = self.bool_expr(env, d.min(2));
        let then = self.bool_in(env, &fc.when_true, d);
        let otherwise = self.bool_in(env, &fc.when_false, d);
        (
            format!("(if {cond} then {} else {})", then.0, otherwise.0),
            Flow::choose(&fc, &then.1, &otherwise.1),
        )
    }

    /// A condition that establishes facts: `principal is T`, the `has`
    /// tests some path needs, `x has a` narrowing `x` to the types that
    /// declare `a`, or `m.contains_key(k)`.
    pub(super) fn guard_clause(&mut self, env: &Env) -> (String, Flow) {
        let narrowable: Vec<(&str, Vec<usize>)> =
            [("principal", &env.principal), ("resource", &env.resource)]
                .into_iter()
                .filter(|(_, types)| types.len() > 1)
                .map(|(v, t)| (v, t.clone()))
                .collect();
        if !narrowable.is_empty() && self.tape.chance(40) {
            let (var, types) = self.tape.choose(&narrowable).clone();
            if self.tape.chance(50) {
                let ty = *self.tape.choose(&types);
                let text = format!("{var} is {}", self.type_name(ty));
                let others = types.iter().copied().filter(|t| *t != ty).collect();
                return (
                    text,
                    Flow {
                        when_true: Facts::narrowing(var.to_owned(), vec![ty]),
                        when_false: Facts::narrowing(var.to_owned(), others),
                    },
                );
            }
            // An attribute only some of the types declare.
            let partial: HasNames = self
                .has_names(&T::Ent(types.clone()))
                .into_iter()
                .filter(|(_, declaring)| declaring.len() < types.len())
                .collect();
            if !partial.is_empty() {
                let (name, declaring) = self.tape.choose(&partial).clone();
                return (
                    format!("{var} has {}", field_name(name)),
                    Flow::when_true(
                        Facts::present(var.to_owned(), name.to_owned())
                            .and(&Facts::narrowing(var.to_owned(), declaring)),
                    ),
                );
            }
        }
        if self.tape.chance(20) {
            return self.contains_key(env);
        }
        let optional: Vec<Path> = env
            .paths
            .iter()
            .filter(|p| !Self::missing_guards(env, p).is_empty())
            .cloned()
            .collect();
        if optional.is_empty() {
            return ("true".into(), Flow::none());
        }
        let path = self.tape.choose(&optional).clone();
        let missing = Self::missing_guards(env, &path);
        (
            Self::guard_text(&missing),
            Flow::when_true(Self::guard_facts(&missing)),
        )
    }

    /// Arithmetic on a value read from the request and a large constant,
    /// which overflows for some requests.
    pub(super) fn edge_arithmetic(&mut self, env: &Env) -> String {
        if self.tape.chance(20) {
            let x = self.read(&T::Dec, env).unwrap_or_else(|| "0.0".into());
            let op = *self.tape.choose(&["+", "-"]);
            let big = *self.tape.choose(&[
                "922337203685477.5807",
                "decimal(\"-922337203685477.5807\")",
                "0.0001",
            ]);
            return format!("(({x} {op} {big}) > 0.0)");
        }
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

    /// `x is T` on some entity path (narrowing it where true, and to its
    /// other types where false).
    pub(super) fn is_expr(&mut self, env: &Env) -> (String, Flow) {
        let bases: Vec<Path> = env
            .paths
            .iter()
            .filter(|p| matches!(p.ty, T::Ent(_)) && Self::missing_guards(env, p).is_empty())
            .cloned()
            .collect();
        let ty = self.tape.pick(self.model.entities.len());
        let Some(base) = (!bases.is_empty()).then(|| self.tape.choose(&bases).clone()) else {
            return ("true".into(), Flow::none());
        };
        let T::Ent(types) = &base.ty else {
            return ("true".into(), Flow::none());
        };
        let others = types.iter().copied().filter(|t| *t != ty).collect();
        let text = format!("({} is {})", self.path_text(&base), self.type_name(ty));
        let flow = Flow {
            when_true: Facts::narrowing(base.text.clone(), vec![ty]),
            when_false: Facts::narrowing(base.text, others),
        };
        (text, flow)
    }

    /// `x has a` on a variable, entity literal or attribute chain; on an
    /// entity of several types, `a` may be declared by only some of them,
    /// which narrows `x` to those where true.
    pub(super) fn has_expr(&mut self, env: &Env) -> (String, Flow) {
        let bases: Vec<(Path, HasNames)> = env
            .paths
            .iter()
            .filter(|p| Self::missing_guards(env, p).is_empty())
            .filter_map(|p| {
                let names = self.has_names(&p.ty);
                (!names.is_empty()).then(|| (p.clone(), names))
            })
            .collect();
        if bases.is_empty() {
            return ("true".into(), Flow::none());
        }
        let (base, names) = self.tape.choose(&bases).clone();
        let (name, declaring) = self.tape.choose(&names).clone();
        let text = self.path_text(&base);
        let shown = field_name(name);
        let text = if self.tape.chance(10) && !shown.starts_with('"') {
            format!("({text} has {})", quote(name))
        } else {
            format!("({text} has {shown})")
        };
        let mut facts = Facts::present(base.text.clone(), name.to_owned());
        if let T::Ent(types) = &base.ty
            && declaring.len() < types.len()
        {
            facts = facts.and(&Facts::narrowing(base.text, declaring));
        }
        (text, Flow::when_true(facts))
    }

    /// `a == b` on two reads of one type (records with optional fields,
    /// which no literal can stand for, and maps included).
    pub(super) fn same_type_reads(&mut self, env: &Env) -> String {
        let readable: Vec<Path> = env
            .paths
            .iter()
            .filter(|p| {
                Self::missing_guards(env, p).is_empty() && !matches!(p.ty, T::Ent(_) | T::Ctx(..))
            })
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
        match self.tape.pick(7) {
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
                if elem == T::Action {
                    return self.action_in(env, d);
                }
                format!(
                    "({} in {})",
                    self.expr(&elem, env, d),
                    self.expr(&T::set(elem.clone()), env, d)
                )
            }
            3 => format!("({} in {})", self.ip_expr(env, d), self.ip_expr(env, d)),
            // Containment in any of a set's ranges.
            4 => format!(
                "({} in {})",
                self.ip_expr(env, d),
                self.expr(&T::set(T::Ip), env, d)
            ),
            _ => self.action_in(env, d),
        }
    }

    /// `action in a`, `action in [a, g]`: actions and groups, named.
    fn action_in(&mut self, env: &Env, d: u32) -> String {
        let name = |this: &mut Self| {
            if this.tape.chance(40) {
                let groups = this.model.groups();
                let group = *this.tape.choose(&groups);
                this.action_name(group).to_owned()
            } else {
                this.action_literal()
            }
        };
        let rhs = if self.tape.chance(40) {
            name(self)
        } else {
            let names: Vec<String> = (0..self.tape.pick(4)).map(|_| name(self)).collect();
            format!("[{}]", names.join(", "))
        };
        let lhs = if self.tape.chance(80) {
            "action".to_owned()
        } else {
            self.plain_expr(&T::Action, env, d)
        };
        format!("({lhs} in {rhs})")
    }

    /// `contains`, `contains_all`, `contains_any`, `is_empty` on sets (on
    /// sets of IPs, by containment in the ranges).
    pub(super) fn set_method(&mut self, env: &Env, d: u32) -> String {
        let elem = if self.tape.chance(20) {
            T::Ip
        } else {
            self.set_elem_type()
        };
        let set = T::set(elem.clone());
        let receiver = self.expr(&set, env, d);
        match self.tape.pick(4) {
            0 => format!("({receiver}).contains({})", self.expr(&elem, env, d)),
            1 => format!("({receiver}).contains_all({})", self.expr(&set, env, d)),
            2 => format!("({receiver}).contains_any({})", self.expr(&set, env, d)),
            _ => format!("({receiver}).is_empty()"),
        }
    }

    /// A calendar part of a timestamp or whole units of a duration, against
    /// a small number.
    fn calendar_test(&mut self, env: &Env, d: u32) -> String {
        let (value, bound) = if self.tape.chance(60) {
            let method =
                *self
                    .tape
                    .choose(&["year", "month", "day", "hour", "minute", "day_of_week"]);
            let bound = *self
                .tape
                .choose(&["1", "6", "9", "12", "30", "1970", "2026"]);
            (format!("({}).{method}()", self.ts_expr(env, d)), bound)
        } else {
            let method = *self.tape.choose(&[
                "to_days",
                "to_hours",
                "to_minutes",
                "to_seconds",
                "to_milliseconds",
            ]);
            let bound = *self.tape.choose(&["0", "1", "-1", "90", "106751991167"]);
            (format!("({}).{method}()", self.dur_expr(env, d)), bound)
        };
        let op = *self.tape.choose(&["<", "<=", "==", ">=", ">"]);
        format!("({value} {op} {bound})")
    }

    /// `starts_with`, `ends_with`, `contains` on strings.
    fn string_method(&mut self, env: &Env, d: u32) -> String {
        let method = *self.tape.choose(&["starts_with", "ends_with", "contains"]);
        format!(
            "({}).{method}({})",
            self.str_expr(env, d),
            self.str_expr(env, d)
        )
    }
}
