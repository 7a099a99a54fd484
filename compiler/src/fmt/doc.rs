//! The layout machinery: a small Wadler-style document (text, breakable
//! lines, groups, indentation) and the renderer that decides, group by
//! group, whether it fits in [`WIDTH`] columns. Comments are document
//! elements too, so the renderer owns where they land on a line.

use std::borrow::Cow;

/// Lines are at most this wide unless something has no break opportunity.
pub(super) const WIDTH: usize = 100;
const INDENT: usize = 2;

#[derive(Debug, Clone)]
pub(super) enum Doc<'a> {
    Nil,
    Text(Cow<'a, str>),
    /// One space, dropped at the start of a line.
    Space,
    /// A space when its group is flat, a newline when it breaks.
    Line,
    /// Nothing when its group is flat, a newline when it breaks.
    SoftLine,
    HardLine,
    /// An empty line (at most one in a row, never at the start of the output).
    Blank,
    /// A `//` comment. A trailing one stays at the end of the last line that
    /// has code; a standalone one gets its own line. Either way the next text
    /// starts a new line, so a comment never swallows code.
    Comment {
        text: Cow<'a, str>,
        trailing: bool,
    },
    Indent(Box<Doc<'a>>),
    /// Laid out flat if it fits on the line, else its lines break. A group
    /// holding a hard line or a comment always breaks. Whether it fits is
    /// measured up to the next line break, with groups after it broken; with
    /// `break_first`, they count as flat, so this group breaks before them.
    Group {
        doc: Box<Doc<'a>>,
        forced: bool,
        break_first: bool,
    },
    IfBreak {
        broken: Box<Doc<'a>>,
        flat: Box<Doc<'a>>,
    },
    Concat(Vec<Doc<'a>>),
}

impl<'a> Doc<'a> {
    pub(super) fn text(s: impl Into<Cow<'a, str>>) -> Self {
        Doc::Text(s.into())
    }

    pub(super) fn group(doc: Doc<'a>) -> Self {
        let forced = doc.has_hard_break();
        Doc::Group {
            doc: Box::new(doc),
            forced,
            break_first: false,
        }
    }

    /// A group that breaks rather than the groups after it on its line:
    /// `{ … } matches [a, b]` breaks the record, not the short list.
    pub(super) fn group_breaking_first(doc: Doc<'a>) -> Self {
        let forced = doc.has_hard_break();
        Doc::Group {
            doc: Box::new(doc),
            forced,
            break_first: true,
        }
    }

    pub(super) fn indent(doc: Doc<'a>) -> Self {
        Doc::Indent(Box::new(doc))
    }

    pub(super) fn if_break(broken: Doc<'a>) -> Self {
        Doc::IfBreak {
            broken: Box::new(broken),
            flat: Box::new(Doc::Nil),
        }
    }

    pub(super) fn concat(docs: Vec<Doc<'a>>) -> Self {
        Doc::Concat(docs)
    }

    pub(super) fn is_nil(&self) -> bool {
        match self {
            Doc::Nil => true,
            Doc::Concat(docs) => docs.iter().all(Doc::is_nil),
            _ => false,
        }
    }

    /// Whether the document cannot be laid out on one line. Groups cache
    /// the answer, so building nested groups stays linear.
    fn has_hard_break(&self) -> bool {
        match self {
            Doc::HardLine | Doc::Blank | Doc::Comment { .. } => true,
            Doc::Group { forced, .. } => *forced,
            Doc::Indent(doc) => doc.has_hard_break(),
            Doc::IfBreak { flat, .. } => flat.has_hard_break(),
            Doc::Concat(docs) => docs.iter().any(Doc::has_hard_break),
            Doc::Nil | Doc::Text(_) | Doc::Space | Doc::Line | Doc::SoftLine => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Flat,
    Break,
}

type Command<'d, 'a> = (usize, Mode, &'d Doc<'a>);

/// Lays the document out. The result has no trailing whitespace on any
/// line and ends with one newline, unless it is empty.
pub(super) fn render(doc: &Doc<'_>) -> String {
    let mut out = Output::default();
    // An explicit stack: expression trees may be a few hundred levels deep.
    let mut stack: Vec<Command<'_, '_>> = vec![(0, Mode::Break, doc)];
    while let Some((indent, mode, doc)) = stack.pop() {
        match doc {
            Doc::Nil => {}
            Doc::Text(s) => out.text(indent, s),
            Doc::Space => out.space(),
            Doc::Line if mode == Mode::Flat => out.space(),
            Doc::SoftLine if mode == Mode::Flat => {}
            Doc::Line | Doc::SoftLine | Doc::HardLine => out.newline(),
            Doc::Blank => out.blank(),
            Doc::Comment { text, trailing } => out.comment(indent, text, *trailing),
            Doc::Indent(inner) => stack.push((indent + INDENT, mode, inner)),
            Doc::Group {
                doc: inner,
                forced,
                break_first,
            } => {
                let flat = !forced
                    && (mode == Mode::Flat
                        || fits(
                            (indent, Mode::Flat, inner),
                            &stack,
                            out.room(indent),
                            *break_first,
                        ));
                let mode = if flat { Mode::Flat } else { Mode::Break };
                stack.push((indent, mode, inner));
            }
            Doc::IfBreak { broken, flat } => {
                let chosen = if mode == Mode::Break { broken } else { flat };
                stack.push((indent, mode, chosen));
            }
            Doc::Concat(docs) => stack.extend(docs.iter().rev().map(|d| (indent, mode, d))),
        }
    }
    out.finish()
}

/// Lays the document out on one line (every group flat), as explanations
/// and listings quote a condition. Comments never reach it: documents for
/// it are printed without them.
pub(super) fn render_flat(doc: &Doc<'_>) -> String {
    let mut out = String::new();
    let mut pending_space = false;
    let mut stack: Vec<&Doc<'_>> = vec![doc];
    while let Some(doc) = stack.pop() {
        match doc {
            Doc::Nil | Doc::SoftLine | Doc::Comment { .. } => {}
            Doc::Text(s) => {
                if pending_space && !out.is_empty() {
                    out.push(' ');
                }
                pending_space = false;
                out.push_str(s);
            }
            Doc::Space | Doc::Line | Doc::HardLine | Doc::Blank => pending_space = true,
            Doc::Indent(inner) => stack.push(inner),
            Doc::Group { doc: inner, .. } => stack.push(inner),
            Doc::IfBreak { flat, .. } => stack.push(flat),
            Doc::Concat(docs) => stack.extend(docs.iter().rev()),
        }
    }
    out
}

/// Whether `next`, laid out flat, and what follows it up to the next line
/// break fit in `room` columns. Groups that follow count as broken (their
/// first line ends the measure), or as flat with `rest_flat`. Trailing
/// comments are not counted: they may run past the margin.
fn fits(next: Command<'_, '_>, rest: &[Command<'_, '_>], room: usize, rest_flat: bool) -> bool {
    let mut room = isize::try_from(room).unwrap_or(isize::MAX);
    let mut stack = vec![next];
    let mut rest = rest.iter().rev();
    let mut in_rest = false;
    loop {
        let command = stack.pop().or_else(|| {
            in_rest = true;
            rest.next().copied()
        });
        let Some((indent, mode, doc)) = command else {
            return true;
        };
        match doc {
            Doc::Nil => {}
            Doc::Text(s) => {
                room -= width(s);
                if room < 0 {
                    return false;
                }
            }
            Doc::Space => room -= 1,
            Doc::Line if mode == Mode::Flat => room -= 1,
            Doc::SoftLine if mode == Mode::Flat => {}
            Doc::Line | Doc::SoftLine | Doc::HardLine | Doc::Blank | Doc::Comment { .. } => {
                return true;
            }
            Doc::Indent(inner) => stack.push((indent, mode, inner)),
            Doc::Group {
                doc: inner, forced, ..
            } => {
                let mode = match (*forced, in_rest && rest_flat) {
                    (true, _) => Mode::Break,
                    (false, true) => Mode::Flat,
                    (false, false) => mode,
                };
                stack.push((indent, mode, inner));
            }
            Doc::IfBreak { broken, flat } => {
                stack.push((
                    indent,
                    mode,
                    if mode == Mode::Break { broken } else { flat },
                ));
            }
            Doc::Concat(docs) => stack.extend(docs.iter().rev().map(|d| (indent, mode, d))),
        }
    }
}

fn width(s: &str) -> isize {
    isize::try_from(s.chars().count()).unwrap_or(isize::MAX)
}

/// The text being produced. Indentation and spaces are written lazily, when
/// the next text arrives, so no line ends in whitespace and a trailing
/// comment can still be attached to the line it belongs to.
#[derive(Default)]
struct Output {
    out: String,
    col: usize,
    pending_space: bool,
    /// The current line ends in a comment: the next text starts a new line.
    pending_newline: bool,
    /// Where the last comment written ends, to never append one comment
    /// to another's line (that would merge them).
    comment_end: Option<usize>,
}

impl Output {
    fn at_line_start(&self) -> bool {
        self.out.is_empty() || self.out.ends_with('\n')
    }

    /// Columns left on the line for text at `indent`.
    fn room(&self, indent: usize) -> usize {
        let col = if self.pending_newline || self.at_line_start() {
            indent
        } else {
            self.col + usize::from(self.pending_space)
        };
        WIDTH.saturating_sub(col)
    }

    fn newline(&mut self) {
        self.pending_space = false;
        self.pending_newline = false;
        if !self.at_line_start() {
            self.out.push('\n');
            self.col = 0;
        }
    }

    fn blank(&mut self) {
        self.newline();
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    fn space(&mut self) {
        if !self.at_line_start() && !self.pending_newline {
            self.pending_space = true;
        }
    }

    fn text(&mut self, indent: usize, s: &str) {
        if s.is_empty() {
            return;
        }
        if self.pending_newline {
            self.newline();
        }
        if self.at_line_start() {
            self.out.extend(std::iter::repeat_n(' ', indent));
            self.col = indent;
        } else if self.pending_space {
            self.out.push(' ');
            self.col += 1;
        }
        self.pending_space = false;
        self.out.push_str(s);
        self.col += s.chars().count();
    }

    fn comment(&mut self, indent: usize, text: &str, trailing: bool) {
        if trailing && self.try_trailing(text) {
            return;
        }
        self.newline();
        self.text(indent, text);
        self.comment_end = Some(self.out.len());
        self.pending_newline = true;
    }

    /// Appends a trailing comment to the last line holding code, even when
    /// a line break was already written after that code.
    fn try_trailing(&mut self, text: &str) -> bool {
        let end = self.out.trim_end().len();
        if end == 0 || self.comment_end == Some(end) {
            return false;
        }
        let comment = format!(" {text}");
        if end == self.out.len() {
            self.out.push_str(&comment);
            self.col += comment.chars().count();
            self.pending_newline = true;
        } else {
            self.out.insert_str(end, &comment);
        }
        self.pending_space = false;
        self.comment_end = Some(end + comment.len());
        true
    }

    fn finish(mut self) -> String {
        let end = self.out.trim_end().len();
        self.out.truncate(end);
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        self.out
    }
}
