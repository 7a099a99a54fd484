//! Generates rate-limit domains (limits with `when`/`unless` conditions over
//! the descriptor and `by` keys) and descriptors for them. Conditions read
//! entries that descriptors sometimes lack, and convert entries with `ip(…)`
//! and `decimal(…)` that are sometimes not one (either way the limit then
//! does not apply), do arithmetic that may overflow and read entity
//! attributes, which a limit never has data for (both errors); conditions
//! and keys use the string methods and `+`.

use super::policy::{STRINGS, quote};
use super::tape::Tape;

pub const DOMAIN: &str = "edge";
/// Entry keys; `x-key` is not an identifier and is written as a string.
const KEYS: &[&str] = &["user", "path", "ip", "plan", "x-key"];
const VALUES: &[&str] = &[
    "/login",
    "/search?q=1",
    "/s",
    "free",
    "pro",
    "10.1.2.3",
    "a",
    "b",
    "",
    "::1",
    "10.0.0.0/8",
    "2001:db8::1",
    "12.5",
    "-0.0001",
    "1.23456",
];
const PATTERNS: &[&str] = &["/s*", "*", "/login", "*a*", "", "\\*", "/search*"];

pub struct LimitGen<'t> {
    tape: Tape<'t>,
}

impl<'t> LimitGen<'t> {
    pub fn new(tape: Tape<'t>) -> Self {
        Self { tape }
    }

    /// A `ratelimit` block of 1 to 6 limits.
    pub fn domain(&mut self) -> String {
        let mut out = format!("ratelimit {} {{\n", quote(DOMAIN));
        for i in 0..=self.tape.pick(6) {
            out.push_str(&format!(
                "  limit l{i}: {} per minute",
                1 + self.tape.pick(100)
            ));
            let option = *self.tape.choose(&[
                "",
                ", shadow",
                ", sliding_window",
                ", burst 5",
                ", token_bucket",
            ]);
            out.push_str(option);
            for _ in 0..self.tape.pick(3) {
                let kind = if self.tape.chance(30) {
                    "unless"
                } else {
                    "when"
                };
                out.push_str(&format!("\n    {kind} {}", self.bool(3)));
            }
            let keys: Vec<String> = (0..self.tape.pick(3)).map(|_| self.string(2)).collect();
            if !keys.is_empty() {
                out.push_str(&format!("\n    by {}", keys.join(", ")));
            }
            out.push_str(";\n");
        }
        out.push_str("}\n");
        out
    }

    fn entry(&mut self) -> String {
        let key = *self.tape.choose(KEYS);
        if key.contains('-') || self.tape.chance(10) {
            format!("descriptor[{}]", quote(key))
        } else {
            format!("descriptor.{key}")
        }
    }

    fn has(&mut self) -> String {
        let key = *self.tape.choose(KEYS);
        if key.contains('-') {
            format!("(descriptor has {})", quote(key))
        } else {
            format!("(descriptor has {key})")
        }
    }

    fn string_literal(&mut self) -> String {
        if self.tape.chance(50) {
            quote(self.tape.choose::<&str>(VALUES))
        } else {
            quote(self.tape.choose::<&str>(STRINGS))
        }
    }

    fn string(&mut self, depth: u32) -> String {
        let choice = if depth == 0 {
            self.tape.pick(3)
        } else {
            self.tape.pick(5)
        };
        match choice {
            0 => self.entry(),
            1 => self.string_literal(),
            2 => {
                // A guarded read: never a reason not to apply.
                let key = *self.tape.choose(&["user", "path"]);
                format!("(if descriptor has {key} then descriptor.{key} else \"anon\")")
            }
            3 => format!(
                "(if {} then {} else {})",
                self.bool(depth - 1),
                self.string(depth - 1),
                self.string(depth - 1)
            ),
            // Limits have no entity data: this read always fails.
            _ if self.tape.chance(20) => "User::\"a\".name".into(),
            _ if self.tape.chance(40) => {
                format!("({} + {})", self.string(depth - 1), self.string(depth - 1))
            }
            _ if self.tape.chance(20) => "App::\"web\".id()".into(),
            _ => self.entry(),
        }
    }

    fn bool(&mut self, depth: u32) -> String {
        let choice = if depth == 0 {
            self.tape.pick(2)
        } else {
            self.tape.pick(14)
        };
        let d = depth.saturating_sub(1);
        match choice {
            0 => self.has(),
            1 => (if self.tape.chance(50) {
                "true"
            } else {
                "false"
            })
            .into(),
            2 => {
                let op = if self.tape.chance(30) { "!=" } else { "==" };
                format!("({} {op} {})", self.string(d), self.string(d))
            }
            3 => format!(
                "({} like {})",
                self.string(d),
                quote(self.tape.choose::<&str>(PATTERNS)).replace("\\\\*", "\\*")
            ),
            4 => {
                let items: Vec<String> = (0..self.tape.pick(3)).map(|_| self.string(d)).collect();
                format!("({} in [{}])", self.string(d), items.join(", "))
            }
            5 => format!("({} && {})", self.bool(d), self.bool(d)),
            6 => format!("({} || {})", self.bool(d), self.bool(d)),
            7 => format!("(!{})", self.bool(d)),
            8 => format!(
                "(if {} then {} else {})",
                self.bool(d),
                self.bool(d),
                self.bool(d)
            ),
            9 => {
                // Overflows when the condition picks 1.
                let bump = format!("(if {} then 1 else 0)", self.bool(d));
                format!("((9223372036854775807 + {bump}) > 0)")
            }
            10 => format!("(({}).len() > 1)", self.string_set(d)),
            11 => {
                let method = *self.tape.choose(&["starts_with", "ends_with", "contains"]);
                format!("({}).{method}({})", self.string(d), self.string(d))
            }
            12 => {
                // Text that is not an address: the limit does not apply.
                let ip = format!("ip({})", self.entry());
                match self.tape.pick(3) {
                    0 => format!("({ip} in 10.0.0.0/8)"),
                    1 => format!("({ip} in [127.0.0.0/8, ip(\"2001:db8::/32\")])"),
                    _ => format!("({ip}).is_loopback()"),
                }
            }
            _ => {
                let op = *self.tape.choose(&["<", ">=", "=="]);
                format!("(decimal({}) {op} 1.5)", self.entry())
            }
        }
    }

    fn string_set(&mut self, depth: u32) -> String {
        let items: Vec<String> = (0..self.tape.pick(4)).map(|_| self.string(depth)).collect();
        format!("[{}]", items.join(", "))
    }

    /// A descriptor: entries in order, keys possibly repeated.
    pub fn descriptor(&mut self) -> Vec<(String, String)> {
        (0..self.tape.pick(5))
            .map(|_| {
                let key = *self.tape.choose(KEYS);
                let value = if self.tape.chance(70) {
                    *self.tape.choose(VALUES)
                } else {
                    *self.tape.choose(STRINGS)
                };
                (key.to_owned(), value.to_owned())
            })
            .collect()
    }
}
