//! Nesting bounded before parsing. The parser builds trees bottom-up, so
//! the first node it finds too tall in `((((…x…))))` is the 257th level
//! counted from the inside, near the end of a generated line. A reader
//! counts from the left: this scan follows each top-level chunk's tokens,
//! counting open brackets and the prefix operators still waiting for their
//! operand, and names the token where that count first passes
//! [`MAX_EXPR_DEPTH`]. Such a chunk is reported there and never parsed, which
//! also bounds the parser's work. Nesting no token shows (a chain of `&&`
//! hundreds long) is left to the tree-depth check in `ctx.rs`.

use crate::ast::MAX_EXPR_DEPTH;
use crate::lex::Tok;

/// The index of the token at which `chunk` opens nesting level
/// `MAX_EXPR_DEPTH + 1`, if it does.
pub(super) fn too_deep(chunk: &[(usize, Tok<'_>, usize)]) -> Option<usize> {
    let limit = MAX_EXPR_DEPTH as usize;
    // For each open bracket, the prefix operators that were waiting when it
    // opened; they wait until it closes.
    let mut outer: Vec<usize> = Vec::new();
    // Prefix operators waiting inside the innermost open bracket.
    let mut prefixes = 0usize;
    // Always `outer.len() + outer.iter().sum() + prefixes`.
    let mut depth = 0usize;
    for (i, (_, tok, _)) in chunk.iter().enumerate() {
        match tok {
            Tok::LParen | Tok::LBracket | Tok::LBrace => {
                outer.push(prefixes);
                prefixes = 0;
                depth += 1;
            }
            Tok::Bang => {
                prefixes += 1;
                depth += 1;
            }
            Tok::Minus if !follows_operand(chunk, i) => {
                prefixes += 1;
                depth += 1;
            }
            Tok::RParen | Tok::RBracket | Tok::RBrace => {
                // The bracket ends the operand its outer prefixes waited for.
                let closed = outer.pop().map_or(0, |waiting| waiting + 1);
                depth = depth.saturating_sub(prefixes + closed);
                prefixes = 0;
            }
            // An operand or a binary operator: waiting prefixes are done.
            _ => {
                depth = depth.saturating_sub(prefixes);
                prefixes = 0;
            }
        }
        if depth > limit {
            return Some(i);
        }
    }
    None
}

/// Whether token `i` follows an operand, so a `-` there subtracts.
fn follows_operand(chunk: &[(usize, Tok<'_>, usize)], i: usize) -> bool {
    let Some(previous) = i.checked_sub(1).and_then(|p| chunk.get(p)) else {
        return false;
    };
    // Any word after `.` is an attribute name (`resource.limit - 1`).
    let after_dot = i
        .checked_sub(2)
        .and_then(|p| chunk.get(p))
        .is_some_and(|t| t.1 == Tok::Dot);
    after_dot
        || matches!(
            previous.1,
            Tok::Ident(_)
                | Tok::Int(_)
                | Tok::UnitNumber(_)
                | Tok::Ip(_)
                | Tok::Timestamp(_)
                | Tok::Str(_)
                | Tok::UnterminatedStr(_)
                | Tok::True
                | Tok::False
                | Tok::Principal
                | Tok::Action
                | Tok::Resource
                | Tok::Context
                | Tok::Descriptor
                | Tok::Request
                | Tok::RParen
                | Tok::RBracket
                | Tok::RBrace
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lex::lex;
    use crate::source::FileId;

    /// The text of the token where `text` passes the bound, and its offset.
    fn scan(text: &str) -> Option<(usize, String)> {
        let lexed = lex(FileId(0), text);
        let i = too_deep(&lexed.tokens)?;
        let (l, _, r) = lexed.tokens[i];
        Some((l, text[l..r].to_owned()))
    }

    #[test]
    fn brackets_are_counted_from_the_left() {
        let limit = MAX_EXPR_DEPTH as usize;
        let fits = format!("permit when {}x{};", "(".repeat(limit), ")".repeat(limit));
        assert_eq!(scan(&fits), None);
        let prefix = "permit when ";
        let deep = format!("{prefix}{}x{};", "(".repeat(300), ")".repeat(300));
        assert_eq!(scan(&deep), Some((prefix.len() + limit, "(".into())));
        let mixed = format!("{prefix}{}x{};", "[{(".repeat(100), ")}]".repeat(100));
        assert_eq!(scan(&mixed), Some((prefix.len() + limit, "{".into())));
    }

    #[test]
    fn prefix_operators_count_until_their_operand() {
        let prefix = "permit when ";
        let nots = format!("{prefix}{}x;", "!".repeat(300));
        assert_eq!(scan(&nots), Some((prefix.len() + 256, "!".into())));
        let negations = format!("{prefix}{}x;", "-(".repeat(150));
        assert_eq!(scan(&negations), Some((prefix.len() + 256, "-".into())));
        // Each `!` ends with its operand: 300 in a row of `!x &&` is flat.
        let flat = format!("{prefix}{} x;", "!x &&".repeat(300));
        assert_eq!(scan(&flat), None);
        // `-` after an operand subtracts.
        let sums = format!("{prefix}{} 1;", "a - resource.limit -".repeat(300));
        assert_eq!(scan(&sums), None);
    }

    #[test]
    fn closed_brackets_end_their_level() {
        let siblings = format!("permit when {};", "(((x))) && ".repeat(300) + "y");
        assert_eq!(scan(&siblings), None);
        // Prefixes before a bracket wait inside it.
        let waiting = format!("permit when {}x;", "!(".repeat(150));
        assert_eq!(scan(&waiting), Some((12 + 256, "!".into())));
    }
}
