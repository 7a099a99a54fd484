//! The source text a human report shows, built for one diagnostic.
//!
//! miette's graphical handler reads source through [`SourceCode::read_span`].
//! Handing it the whole file cost a copy and a scan from the start of the
//! file for every diagnostic, and a label past column 65,535 panicked inside
//! miette (a format width is a `u16`). A [`Snippet`] holds only the lines
//! miette will print, each cut, when it is very long, to windows around the
//! labels (`…` marks a cut) and its control characters escaped, with the
//! labels' offsets remapped into it. Line and column numbers stay those of
//! the original file, and a snippet of ordinary short lines reads exactly as
//! the file itself would.

use std::borrow::Cow;
use std::ops::Range;

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};
use reaper_compiler::source::SourceFile;
use reaper_lang::printable::printable_line;

/// Lines of context miette shows above and below a label (its default).
const CONTEXT_LINES: usize = 1;
/// Two labels' snippets are shown as one when at most this many lines lie
/// between them (see [`Context::line_count`]).
const JOIN_GAP_LINES: usize = 8;
/// A line of more characters than this is shown as windows around labels.
const LONG_LINE: usize = 200;
/// Characters a window shows on each side of a label's start or end.
const WINDOW_SIDE: usize = 40;
/// Windows whose gap is at most this many characters are shown as one.
const WINDOW_GAP: usize = 40;
/// Characters shown of a long line no label starts or ends on.
const HEAD: usize = 2 * WINDOW_SIDE;
/// What stands for the text cut out of a long line.
const CUT: &str = "…";

/// A line of the original file as it appears in the snippet.
#[derive(Debug, Clone, Copy)]
struct ShownLine {
    /// 0-based line number in the original file.
    line: usize,
    /// Its range in the snippet text, line terminator included.
    start: usize,
    end: usize,
}

/// The lines of one file a report shows, as miette's source.
#[derive(Debug)]
pub struct Snippet<'a> {
    file: &'a SourceFile,
    name: String,
    text: String,
    lines: Vec<ShownLine>,
    /// Every label's start and end: (offset in the file, offset in `text`),
    /// increasing in both.
    points: Vec<(u32, usize)>,
}

impl<'a> Snippet<'a> {
    /// The snippet for labels over `spans` (byte ranges in `file`), and each
    /// span remapped into it, in the order given.
    pub fn new(file: &'a SourceFile, spans: &[Range<u32>]) -> (Self, Vec<SourceSpan>) {
        let spans: Vec<Range<u32>> = spans.iter().map(|s| clamp(file, s)).collect();
        let mut points: Vec<u32> = spans.iter().flat_map(|s| [s.start, s.end]).collect();
        points.sort_unstable();
        points.dedup();
        let mut snippet = Snippet {
            file,
            name: printable_line(&file.name).into_owned(),
            text: String::new(),
            lines: Vec::new(),
            points: Vec::with_capacity(points.len()),
        };
        for lines in shown_lines(file, &spans) {
            for line in lines {
                snippet.push_line(line, &points);
            }
        }
        let mapped = spans
            .iter()
            .map(|s| {
                let start = snippet.point(s.start).unwrap_or(0);
                let end = snippet.point(s.end).unwrap_or(start).max(start);
                SourceSpan::from(start..end)
            })
            .collect();
        (snippet, mapped)
    }

    /// Appends original line `line`, recording where each of `points` on it
    /// lands.
    fn push_line(&mut self, line: usize, points: &[u32]) {
        let text: &str = &self.file.text;
        let (start, content_end, next) = line_bounds(self.file, line);
        let last_line = line + 1 == self.file.line_starts().len();
        let on_line: Vec<usize> = points
            .iter()
            .map(|p| *p as usize)
            .filter(|p| (start..next).contains(p) || (last_line && *p == next))
            .collect();
        let anchors: Vec<usize> = on_line
            .iter()
            .copied()
            .filter(|p| *p <= content_end)
            .collect();
        let shown_start = self.text.len();
        let windows = windows(text, start, content_end, &anchors);
        let mut shown_to = start;
        for window in &windows {
            if window.start > shown_to {
                self.text.push_str(CUT);
            }
            let mut at = window.start;
            for p in anchors.iter().copied().filter(|p| window.contains(p)) {
                self.text.push_str(&show(&text[at..p]));
                at = p;
                self.points.push((offset(p), self.text.len()));
            }
            self.text.push_str(&show(&text[at..window.end]));
            if anchors.contains(&window.end) && !self.has_point(window.end) {
                self.points.push((offset(window.end), self.text.len()));
            }
            shown_to = window.end;
        }
        if shown_to < content_end {
            self.text.push_str(CUT);
        }
        // The terminator (`\n` or `\r\n`) is copied as it is, so a label on
        // it keeps its place; miette drops the `\r` itself.
        let content_shown_end = self.text.len();
        for p in on_line.iter().copied().filter(|p| *p > content_end) {
            self.points
                .push((offset(p), content_shown_end + (p - content_end)));
        }
        self.text.push_str(&text[content_end..next]);
        self.lines.push(ShownLine {
            line,
            start: shown_start,
            end: self.text.len(),
        });
    }

    fn has_point(&self, at: usize) -> bool {
        self.points.last().is_some_and(|(p, _)| *p as usize == at)
    }

    /// Where a label's start or end (a file offset) is in the snippet.
    fn point(&self, at: u32) -> Option<usize> {
        let i = self.points.binary_search_by_key(&at, |(p, _)| *p).ok()?;
        Some(self.points[i].1)
    }

    /// The file offset of a label's start or end given in the snippet.
    fn original(&self, at: usize) -> Option<u32> {
        let i = self.points.binary_search_by_key(&at, |(_, s)| *s).ok()?;
        Some(self.points[i].0)
    }

    /// Where a file offset that starts or ends a shown line is in the
    /// snippet; label ends are looked up as such.
    fn shown(&self, at: u32) -> Option<usize> {
        if let Some(found) = self.point(at) {
            return Some(found);
        }
        let line = self.file.line_of(at);
        let starts = self.file.line_starts();
        let find = |line: usize| {
            self.lines
                .binary_search_by_key(&line, |l| l.line)
                .ok()
                .map(|i| self.lines[i])
        };
        if starts.get(line) == Some(&at)
            && let Some(shown) = find(line)
        {
            return Some(shown.start);
        }
        // The start of the line after a shown one, or the end of the file.
        let before = if starts.get(line) == Some(&at) {
            line.checked_sub(1)?
        } else {
            line
        };
        let shown = find(before)?;
        let (_, _, next) = line_bounds(self.file, before);
        (next == at as usize).then_some(shown.end)
    }
}

impl SourceCode for Snippet<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        // miette reads only labels' spans and unions of them, whose ends
        // are all recorded points.
        let shown_start = span.offset();
        let shown_end = shown_start + span.len();
        let start = self.original(shown_start).ok_or(MietteError::OutOfBounds)?;
        let end = self.original(shown_end).ok_or(MietteError::OutOfBounds)?;
        let context = Context::of(
            self.file,
            start..end.max(start),
            context_lines_before,
            context_lines_after,
        );
        let data_start = if context_lines_before == 0 {
            shown_start
        } else {
            self.shown(context.data.start)
                .ok_or(MietteError::OutOfBounds)?
        };
        let data_end = if context_lines_after == 0 {
            shown_end
        } else {
            self.shown(context.data.end)
                .ok_or(MietteError::OutOfBounds)?
        };
        let data = self
            .text
            .get(data_start..data_end)
            .ok_or(MietteError::OutOfBounds)?;
        // The column is only read for the header of a label's own span.
        let column = if context_lines_before == 0 {
            self.file.line_col(start).column.saturating_sub(1) as usize
        } else {
            0
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            data.as_bytes(),
            SourceSpan::from(data_start..data_end),
            context.first_line,
            column,
            context.line_count,
        )))
    }
}

/// Source text as shown: control characters and bidi overrides escaped
/// (`\u{1b}`), so a string literal or comment cannot drive the terminal.
/// Labels stay on their text because offsets are recorded after escaping.
fn show(text: &str) -> Cow<'_, str> {
    printable_line(text)
}

/// A span moved inside the file and onto character boundaries.
fn clamp(file: &SourceFile, span: &Range<u32>) -> Range<u32> {
    let text: &str = &file.text;
    let floor = |at: u32| {
        let mut at = (at as usize).min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        offset(at)
    };
    let start = floor(span.start);
    start..floor(span.end).max(start)
}

fn offset(at: usize) -> u32 {
    u32::try_from(at).unwrap_or(u32::MAX)
}

/// A line's start, the end of its text (before `\n` or `\r\n`) and the
/// start of the next line (or the end of the file).
fn line_bounds(file: &SourceFile, line: usize) -> (usize, usize, usize) {
    let starts = file.line_starts();
    let len = file.text.len();
    let start = starts.get(line).map_or(len, |s| *s as usize);
    let next = starts.get(line + 1).map_or(len, |s| *s as usize);
    let bytes = file.text.as_bytes();
    let mut end = next;
    if end > start && bytes[end - 1] == b'\n' {
        end -= 1;
        if end > start && bytes[end - 1] == b'\r' {
            end -= 1;
        }
    }
    (start, end, next)
}

/// The parts of a line's text `start..end` to show: all of it, or if it is
/// long, windows around `anchors` (or its head when there are none).
fn windows(text: &str, start: usize, end: usize, anchors: &[usize]) -> Vec<Range<usize>> {
    let line = &text[start..end];
    if line.chars().nth(LONG_LINE).is_none() {
        return std::iter::once(start..end).collect();
    }
    // Character steps from `at`, bounded by the line: O(n), never the line.
    let back = |at: usize, n: usize| {
        text[start..at]
            .char_indices()
            .rev()
            .take(n)
            .last()
            .map_or(at, |(i, _)| start + i)
    };
    let forward = |at: usize, n: usize| {
        text[at..end]
            .char_indices()
            .nth(n)
            .map_or(end, |(i, _)| at + i)
    };
    if anchors.is_empty() {
        return std::iter::once(start..forward(start, HEAD)).collect();
    }
    let mut windows: Vec<Range<usize>> = Vec::new();
    for &anchor in anchors {
        let window = back(anchor, WINDOW_SIDE)..forward(anchor, WINDOW_SIDE);
        match windows.last_mut() {
            Some(last) if forward(last.end, WINDOW_GAP) >= window.start => {
                last.end = last.end.max(window.end);
            }
            _ => windows.push(window),
        }
    }
    windows
}

/// What miette's own `SourceCode` for text answers for a span: the range of
/// lines shown around it, and the line numbers it merges snippets by.
#[derive(Debug, Clone)]
struct Context {
    /// The data: from the start of the first context line (or the span's
    /// start, without context before) to the end of the last context line
    /// (or the span's end, without context after).
    data: Range<u32>,
    /// 0-based number of the first line of `data`.
    first_line: usize,
    /// What miette merges two labels' snippets by: it joins them when the
    /// left's `first_line + line_count` reaches the right's first line.
    /// miette's own source answers the line feeds from the start of the
    /// file to the end of `data`, so a label on line 1,000 and one on line
    /// 1,900 became one snippet of 900 lines. The same count keeps reports
    /// laid out as they were, but capped so that at most
    /// [`JOIN_GAP_LINES`] lines are shown between two labels.
    line_count: usize,
}

impl Context {
    /// Mirrors `context_info` in miette 7.6's `source_impls.rs`, with the
    /// line index instead of a scan from the start of the file.
    fn of(file: &SourceFile, span: Range<u32>, before: usize, after: usize) -> Context {
        let starts = file.line_starts();
        let len = offset(file.text.len());
        let line = file.line_of(span.start);
        let first_line = line.saturating_sub(before);
        let data_start = if before == 0 {
            span.start
        } else {
            starts.get(first_line).copied().unwrap_or(0)
        };
        // miette stops at the span's last byte, or at the `after + 1`-th
        // line feed after it.
        let last_byte = span.end.saturating_sub(1);
        let data_end = if after == 0 {
            last_byte.saturating_add(1).min(len)
        } else {
            let next = file.line_of(last_byte.saturating_add(1));
            starts.get(next + after + 1).copied().unwrap_or(len)
        };
        let lines_before_end = file.line_of(data_end);
        Context {
            data: data_start..data_end.max(data_start),
            first_line,
            line_count: lines_before_end
                .min(lines_before_end - first_line.min(lines_before_end) + JOIN_GAP_LINES),
        }
    }
}

/// The ranges of lines miette will print for labels over `spans`: it sorts
/// the labels, reads each with its context lines and merges a label's
/// snippet into the previous one when their line numbers say they touch.
fn shown_lines(file: &SourceFile, spans: &[Range<u32>]) -> Vec<Range<usize>> {
    let mut sorted = spans.to_vec();
    sorted.sort_unstable_by_key(|s| s.start);
    let read = |span: &Range<u32>| Context::of(file, span.clone(), CONTEXT_LINES, CONTEXT_LINES);
    let mut merged: Vec<(Range<u32>, Context)> = Vec::new();
    for span in sorted {
        let right = read(&span);
        if let Some((left_span, left)) = merged.last_mut()
            && left.first_line + left.line_count >= right.first_line
        {
            *left_span = left_span.start..left_span.end.max(span.end);
            *left = read(left_span);
            continue;
        }
        merged.push((span, right));
    }
    let mut lines: Vec<Range<usize>> = Vec::new();
    for (span, context) in merged {
        // The data's last line, or past it the empty line after a final
        // line feed, where a label at the end of the file sits.
        let last = file
            .line_of(context.data.end.saturating_sub(1))
            .max(file.line_of(span.end));
        let range = context.first_line..last.max(context.first_line) + 1;
        match lines.last_mut() {
            Some(previous) if previous.end >= range.start => {
                previous.end = previous.end.max(range.end);
            }
            _ => lines.push(range),
        }
    }
    lines
}

#[cfg(test)]
#[allow(
    clippy::single_range_in_vec_init,
    reason = "a list of one label's span is a list of one range"
)]
mod tests {
    use std::fmt;

    use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
    use proptest::prelude::*;

    use super::*;

    /// A diagnostic with nothing but labels over some source.
    struct Labelled<S> {
        source: S,
        labels: Vec<LabeledSpan>,
    }

    impl<S> fmt::Debug for Labelled<S> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("labelled")
        }
    }

    impl<S> fmt::Display for Labelled<S> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("labelled")
        }
    }

    impl<S> std::error::Error for Labelled<S> {}

    impl<S: SourceCode> miette::Diagnostic for Labelled<S> {
        fn source_code(&self) -> Option<&dyn SourceCode> {
            Some(&self.source)
        }

        fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }

    fn render(diagnostic: &dyn miette::Diagnostic) -> String {
        let handler =
            GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
        let mut out = String::new();
        handler
            .render_report(&mut out, diagnostic)
            .unwrap_or_else(|e| panic!("render: {e}"));
        out
    }

    fn labels(spans: impl IntoIterator<Item = SourceSpan>) -> Vec<LabeledSpan> {
        spans
            .into_iter()
            .enumerate()
            .map(|(i, span)| match i {
                0 => LabeledSpan::new_primary_with_span(Some("here".into()), span),
                _ => LabeledSpan::new_with_span(Some(format!("label {i}")), span),
            })
            .collect()
    }

    /// The report over a snippet of `text`.
    fn with_snippet(text: &str, spans: &[Range<u32>]) -> String {
        let file = SourceFile::new("a.reaper", text);
        let (source, mapped) = Snippet::new(&file, spans);
        render(&Labelled {
            source,
            labels: labels(mapped),
        })
    }

    /// The report over the whole text, as miette shows it unaided.
    fn with_whole_text(text: &str, spans: &[Range<u32>]) -> String {
        let spans = spans
            .iter()
            .map(|s| SourceSpan::from(s.start as usize..s.end as usize));
        render(&Labelled {
            source: NamedSource::new("a.reaper", text.to_owned()),
            labels: labels(spans),
        })
    }

    /// A short policy-like file (at most 10 lines, so no two labels are
    /// further apart than the join gap) and 1–4 spans in it.
    fn file_and_spans() -> impl Strategy<Value = (String, Vec<Range<u32>>)> {
        let line = "[ -~\t]{0,60}";
        (proptest::collection::vec(line, 1..10), any::<bool>())
            .prop_map(|(lines, final_newline)| {
                let mut text = lines.join("\n");
                if final_newline {
                    text.push('\n');
                }
                text
            })
            .prop_flat_map(|text| {
                let len = u32::try_from(text.len()).unwrap_or(0);
                let span = (0..=len, 0..=len).prop_map(|(a, b)| a.min(b)..a.max(b));
                (Just(text), proptest::collection::vec(span, 1..5))
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Short lines render exactly as miette renders the whole file.
        #[test]
        fn ordinary_lines_render_as_the_whole_file_does((text, spans) in file_and_spans()) {
            prop_assert_eq!(with_snippet(&text, &spans), with_whole_text(&text, &spans));
        }
    }

    #[test]
    fn a_label_past_column_65535_is_shown_in_a_window() {
        let line = format!(
            "permit when {}Usr::\"x\"{};",
            "a, ".repeat(100_000),
            " b".repeat(10)
        );
        let text = format!("entity User\n{line}\n");
        let start = u32::try_from(text.find("Usr").unwrap_or(0)).unwrap_or(0);
        let out = with_snippet(&text, &[start..start + 3]);
        assert!(out.contains("[a.reaper:2:300013]"), "{out}");
        assert!(out.contains(" 2 │ … a, a, "), "{out}");
        assert!(out.contains("a, a, Usr::\"x\" b b"), "{out}");
        let underline = out.lines().find(|l| l.contains('┬')).unwrap_or_default();
        let shown = out.lines().find(|l| l.contains("Usr")).unwrap_or_default();
        assert_eq!(
            shown.chars().position(|c| c == 'U'),
            underline.chars().position(|c| c == '─'),
            "the label is under `Usr`:\n{out}"
        );
        assert!(out.len() < 1_000, "{} bytes:\n{out}", out.len());
    }

    #[test]
    fn a_long_label_on_a_long_line_shows_both_ends() {
        let text = format!("x = ({});\n", "1 + ".repeat(50_000));
        let end = u32::try_from(text.len() - 2).unwrap_or(0);
        let out = with_snippet(&text, &[4..end]);
        assert!(out.contains("[a.reaper:1:5]"), "{out}");
        let shown = out
            .lines()
            .find(|l| l.contains("x = ("))
            .unwrap_or_default();
        assert_eq!(shown.matches(CUT).count(), 1, "{out}");
        assert!(shown.ends_with("1 + );"), "{out}");
        assert!(out.len() < 1_000, "{} bytes:\n{out}", out.len());
    }

    #[test]
    fn context_lines_that_are_long_show_their_head() {
        let long = "y".repeat(10_000);
        let text = format!("{long}\nbad\n{long}\n");
        let out = with_snippet(&text, &[10_001..10_004]);
        assert!(
            out.contains(&format!(" 1 │ {}…\n", "y".repeat(HEAD))),
            "{out}"
        );
        assert!(out.contains(" 2 │ bad\n"), "{out}");
        assert!(
            out.contains(&format!(" 3 │ {}…\n", "y".repeat(HEAD))),
            "{out}"
        );
    }

    #[test]
    fn labels_far_apart_are_shown_as_two_snippets() {
        let text: String = (1..=200).map(|n| format!("line {n}\n")).collect();
        let at = |line: usize| {
            let start = text.find(&format!("line {line}\n")).unwrap_or(0);
            offset(start)..offset(start + 4)
        };
        let out = with_snippet(&text, &[at(150), at(100)]);
        assert_eq!(out.matches('╭').count(), 2, "{out}");
        assert!(!out.contains("line 120"), "{out}");
    }
}
