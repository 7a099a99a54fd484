//! Source files and spans: what every diagnostic and syntax node points into.

use std::sync::Arc;

/// Index of a file in a [`Sources`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A byte range in one file. Files are limited to [`MAX_FILE_BYTES`], so
/// offsets fit in `u32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

/// Largest policy file accepted; larger files get a diagnostic, not a parse.
pub const MAX_FILE_BYTES: usize = 64 << 20;

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Self {
            file,
            start: offset(start),
            end: offset(end),
        }
    }

    /// The smallest span covering both (which must be in the same file).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// Byte offsets are bounded by [`MAX_FILE_BYTES`], which the loader enforces
/// before lexing, so saturation never happens on accepted input.
fn offset(at: usize) -> u32 {
    u32::try_from(at).unwrap_or(u32::MAX)
}

/// One policy file's name and text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
    line_starts: Vec<u32>,
    /// `char_marks[i]` is the number of characters in the first
    /// `i * CHAR_MARK_BYTES` bytes, so a column on a line of megabytes is
    /// found without counting the whole line (a generated policy may be one
    /// line, with thousands of diagnostics on it).
    char_marks: Vec<u32>,
}

/// Distance between two entries of [`SourceFile::char_marks`].
const CHAR_MARK_BYTES: usize = 4096;

/// A 1-based line and column; the column counts characters, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCol {
    pub line: u32,
    pub column: u32,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        let text: Arc<str> = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| offset(i + 1)))
            .collect();
        let mut char_marks = vec![0];
        let mut chars = 0;
        for block in text.as_bytes().chunks(CHAR_MARK_BYTES) {
            chars += count_chars(block);
            char_marks.push(offset(chars));
        }
        Self {
            name: name.into(),
            text,
            line_starts,
            char_marks,
        }
    }

    /// Byte offsets at which lines start: `0`, then one past each `\n`.
    pub fn line_starts(&self) -> &[u32] {
        &self.line_starts
    }

    /// The 0-based line holding a byte offset (clamped to the text); a
    /// `\n` belongs to the line it ends.
    pub fn line_of(&self, at: u32) -> usize {
        let at = at.min(offset(self.text.len()));
        // `line_starts[0]` is 0, so at least one start is `<= at`.
        self.line_starts
            .partition_point(|start| *start <= at)
            .saturating_sub(1)
    }

    /// Line and column of a byte offset (clamped to the text, and moved back
    /// to a character boundary). Costs a binary search and at most a few
    /// KiB of counting, however long the line.
    pub fn line_col(&self, at: u32) -> LineCol {
        let mut at = (at as usize).min(self.text.len());
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        let line = self.line_of(offset(at));
        let line_start = self.line_starts.get(line).map_or(0, |s| *s as usize);
        let column = if at - line_start <= CHAR_MARK_BYTES {
            count_chars(&self.text.as_bytes()[line_start..at])
        } else {
            self.chars_before(at) - self.chars_before(line_start)
        } + 1;
        LineCol {
            line: offset(line + 1),
            column: offset(column),
        }
    }

    /// Characters before byte offset `at`, a character boundary.
    fn chars_before(&self, at: usize) -> usize {
        let block = at / CHAR_MARK_BYTES;
        let marked = self.char_marks.get(block).map_or(0, |m| *m as usize);
        let from = block * CHAR_MARK_BYTES;
        marked + count_chars(&self.text.as_bytes()[from..at])
    }
}

/// Characters in UTF-8 bytes: every byte but the continuation bytes
/// (`0b10xx_xxxx`) starts one. Counts a character cut at the end of `bytes`.
fn count_chars(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| (**b as i8) >= -0x40).count()
}

/// The files of one package, in the order they were added.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, name: impl Into<String>, text: impl Into<Arc<str>>) -> FileId {
        let id = FileId(offset(self.files.len()));
        self.files.push(SourceFile::new(name, text));
        id
    }

    /// The file with `id`. Ids come only from [`Sources::add`] on this value.
    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(offset(i)), f))
    }

    pub fn text(&self, span: Span) -> &str {
        &self.file(span.file).text[span.range()]
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let file = SourceFile::new("a.reaper", "ab\n\u{e9}x\n");
        assert_eq!(file.line_col(0), LineCol { line: 1, column: 1 });
        assert_eq!(file.line_col(3), LineCol { line: 2, column: 1 });
        // `x` follows a two-byte character: byte 5, column 2.
        assert_eq!(file.line_col(5), LineCol { line: 2, column: 2 });
        assert_eq!(file.line_col(99), LineCol { line: 3, column: 1 });
        // Inside the two-byte character: its column.
        assert_eq!(file.line_col(4), LineCol { line: 2, column: 1 });
        assert_eq!(file.line_of(2), 0);
        assert_eq!(file.line_of(3), 1);
        assert_eq!(file.line_of(99), 2);
    }

    #[test]
    fn columns_on_lines_of_megabytes_count_characters() {
        // Lines that cross many marks, with multi-byte characters on either
        // side of mark boundaries.
        let line = "é".repeat(3000) + &"x".repeat(5000) + &"名".repeat(2000);
        let text = format!("first\n{line}\n{line}");
        let file = SourceFile::new("long.reaper", text.as_str());
        for (at, _) in text.char_indices().step_by(997) {
            let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let expected = text[start..at].chars().count() + 1;
            assert_eq!(
                file.line_col(offset(at)).column,
                offset(expected),
                "at {at}"
            );
        }
        let end = file.line_col(offset(text.len()));
        assert_eq!(end.line, 3);
        assert_eq!(end.column, offset(line.chars().count() + 1));
    }
}
