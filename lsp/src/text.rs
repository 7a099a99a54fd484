//! Text and positions: open documents as ropes edited in place by the
//! client's incremental changes, and conversion between the compiler's byte
//! offsets and LSP positions in the negotiated encoding (UTF-16 unless the
//! client offers UTF-8).

use ropey::Rope;
use tower_lsp_server::ls_types::{Position, Range, TextDocumentContentChangeEvent};

/// How LSP positions count characters within a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    Utf8,
    #[default]
    Utf16,
}

/// An open document: its text and the version the client gave it.
#[derive(Debug, Clone)]
pub struct Document {
    pub rope: Rope,
    pub version: i32,
}

impl Document {
    pub fn new(text: &str, version: i32) -> Self {
        Self {
            rope: Rope::from_str(text),
            version,
        }
    }

    /// Applies one change: a range replaced, or the whole text.
    pub fn apply(&mut self, change: &TextDocumentContentChangeEvent, encoding: Encoding) {
        match change.range {
            Some(range) => {
                let start = rope_char(&self.rope, range.start, encoding);
                let end = rope_char(&self.rope, range.end, encoding).max(start);
                self.rope.remove(start..end);
                self.rope.insert(start, &change.text);
            }
            None => self.rope = Rope::from_str(&change.text),
        }
    }
}

/// The rope character index of `position`, clamped to the text (a client
/// that sends a position past a line's end means the line's end).
fn rope_char(rope: &Rope, position: Position, encoding: Encoding) -> usize {
    let line_index = position.line as usize;
    if line_index >= rope.len_lines() {
        return rope.len_chars();
    }
    let line = rope.line(line_index);
    let start = rope.line_to_char(line_index);
    // Without the line break: a position never points into it.
    let mut len_chars = line.len_chars();
    let last = (len_chars > 0).then(|| line.char(len_chars - 1));
    if last == Some('\n') {
        len_chars -= 1;
        if len_chars > 0 && line.char(len_chars - 1) == '\r' {
            len_chars -= 1;
        }
    }
    let line = line.slice(..len_chars);
    let column = position.character as usize;
    let chars = match encoding {
        Encoding::Utf16 => {
            let units = column.min(line.len_utf16_cu());
            line.utf16_cu_to_char(units)
        }
        Encoding::Utf8 => {
            let bytes = column.min(line.len_bytes());
            line.byte_to_char(bytes)
        }
    };
    start + chars
}

/// Positions in one text: line starts, computed once.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
    encoding: Encoding,
}

impl LineIndex {
    /// Lines end at `\n`, `\r\n` or a lone `\r`, as the protocol says.
    pub fn new(text: &str, encoding: Encoding) -> Self {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        for (at, byte) in bytes.iter().enumerate() {
            let ends = *byte == b'\n' || (*byte == b'\r' && bytes.get(at + 1) != Some(&b'\n'));
            if ends {
                starts.push(at + 1);
            }
        }
        Self { starts, encoding }
    }

    /// The LSP position of byte `offset` in `text`.
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let line = self.starts.partition_point(|s| *s <= offset) - 1;
        let start = self.starts[line];
        let column = match self.encoding {
            Encoding::Utf8 => offset - start,
            Encoding::Utf16 => text[start..offset].encode_utf16().count(),
        };
        Position::new(to_u32(line), to_u32(column))
    }

    pub fn range(&self, text: &str, start: usize, end: usize) -> Range {
        Range::new(self.position(text, start), self.position(text, end))
    }

    /// The byte offset of `position` in `text`, clamped to its line.
    pub fn offset(&self, text: &str, position: Position) -> usize {
        let line = position.line as usize;
        let Some(&start) = self.starts.get(line) else {
            return text.len();
        };
        let end = self.starts.get(line + 1).copied().unwrap_or(text.len());
        let line_text = text[start..end].trim_end_matches(['\n', '\r']);
        let column = position.character as usize;
        let within = match self.encoding {
            Encoding::Utf8 => floor_char_boundary(line_text, column.min(line_text.len())),
            Encoding::Utf16 => {
                let mut units = 0;
                let mut bytes = line_text.len();
                for (at, c) in line_text.char_indices() {
                    if units >= column {
                        bytes = at;
                        break;
                    }
                    units += c.len_utf16();
                }
                bytes
            }
        };
        start + within
    }
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Line and column numbers fit in `u32`: files are limited to 64 MiB.
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(range: Option<Range>, text: &str) -> TextDocumentContentChangeEvent {
        TextDocumentContentChangeEvent {
            range,
            range_length: None,
            text: text.to_owned(),
        }
    }

    #[test]
    fn positions_count_utf16_units_or_bytes() {
        let text = "ab\n\u{1F600}x = \"é\"\r\nend";
        for encoding in [Encoding::Utf16, Encoding::Utf8] {
            let index = LineIndex::new(text, encoding);
            for (offset, _) in text.char_indices() {
                let position = index.position(text, offset);
                if text[offset..].starts_with('\n') && offset > 0 && text[..offset].ends_with('\r')
                {
                    continue;
                }
                assert_eq!(
                    index.offset(text, position),
                    offset,
                    "{encoding:?} {offset}"
                );
            }
        }
        let index = LineIndex::new(text, Encoding::Utf16);
        assert_eq!(
            index.position(text, text.find('x').unwrap_or(0)),
            Position::new(1, 2)
        );
        let index = LineIndex::new(text, Encoding::Utf8);
        assert_eq!(
            index.position(text, text.find('x').unwrap_or(0)),
            Position::new(1, 4)
        );
    }

    #[test]
    fn lines_end_at_a_lone_carriage_return_and_nowhere_else() {
        let text = "a\rb\r\nc\u{2028}d\ne";
        let index = LineIndex::new(text, Encoding::Utf16);
        assert_eq!(
            index.position(text, text.find('b').unwrap_or(0)),
            Position::new(1, 0)
        );
        assert_eq!(
            index.position(text, text.find('d').unwrap_or(0)),
            Position::new(2, 2)
        );
        assert_eq!(
            index.position(text, text.find('e').unwrap_or(0)),
            Position::new(3, 0)
        );
        let mut doc = Document::new(text, 1);
        let at = Range::new(Position::new(3, 0), Position::new(3, 0));
        doc.apply(&change(Some(at), "x"), Encoding::Utf16);
        assert_eq!(doc.rope.to_string(), "a\rb\r\nc\u{2028}d\nxe");
    }

    #[test]
    fn incremental_changes_edit_the_rope() {
        let mut doc = Document::new("permit read;\nforbid edit;\n", 1);
        let range = Range::new(Position::new(1, 7), Position::new(1, 11));
        doc.apply(&change(Some(range), "delete"), Encoding::Utf16);
        assert_eq!(doc.rope.to_string(), "permit read;\nforbid delete;\n");
        // Past the end of a line or of the text: clamped, never a panic.
        let range = Range::new(Position::new(0, 99), Position::new(9, 0));
        doc.apply(&change(Some(range), "!"), Encoding::Utf16);
        assert_eq!(doc.rope.to_string(), "permit read;!");
        doc.apply(&change(None, "x"), Encoding::Utf8);
        assert_eq!(doc.rope.to_string(), "x");
    }
}
