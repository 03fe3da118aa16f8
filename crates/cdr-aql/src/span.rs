//! Byte-offset spans, their line/column form, and the span wrapper that AST
//! nodes carry so that spans never take part in equality or hashing.

use std::fmt;
use std::hash::{Hash, Hasher};

/// A half-open range of byte offsets `start..end` into the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    /// Offset of the first byte.
    pub start: usize,
    /// Offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end` (byte offsets).
    pub const fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    /// Line and column of the start of the span in `text`.
    pub fn line_col(&self, text: &str) -> LineCol {
        line_col(text, self.start)
    }

    /// The text the span covers, if it lies within `text` on character boundaries.
    pub fn slice<'t>(&self, text: &'t str) -> Option<&'t str> {
        text.get(self.start..self.end)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// A 1-based line and column; columns count Unicode scalar values, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LineCol {
    /// Line number, starting at 1. Lines are separated by `\n`.
    pub line: usize,
    /// Column number, starting at 1.
    pub column: usize,
}

impl fmt::Display for LineCol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Converts a byte offset in `text` into a line and column.
///
/// Offsets past the end are clamped to the end; an offset inside a multi-byte
/// character is moved back to the start of that character.
pub fn line_col(text: &str, offset: usize) -> LineCol {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    LineCol { line, column }
}

/// The span stored in an AST node.
///
/// Every `AttachedSpan` is equal to every other and hashes to nothing, so two
/// ASTs compare equal when they differ only in where their nodes came from
/// (for example a query and the re-parse of its printed form).
#[derive(Clone, Copy, Default)]
pub struct AttachedSpan(pub Span);

impl AttachedSpan {
    /// The wrapped span.
    pub fn get(self) -> Span {
        self.0
    }
}

impl From<Span> for AttachedSpan {
    fn from(span: Span) -> Self {
        AttachedSpan(span)
    }
}

impl PartialEq for AttachedSpan {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for AttachedSpan {}

impl Hash for AttachedSpan {
    fn hash<H: Hasher>(&self, _state: &mut H) {}
}

impl fmt::Debug for AttachedSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// AST nodes that know where they came from.
pub trait Spanned {
    /// The span of the node in the query text.
    fn span(&self) -> Span;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_lines_and_chars() {
        let text = "ab\ncé\nx";
        assert_eq!(line_col(text, 0), LineCol { line: 1, column: 1 });
        assert_eq!(line_col(text, 2), LineCol { line: 1, column: 3 });
        assert_eq!(line_col(text, 3), LineCol { line: 2, column: 1 });
        // `é` is two bytes; the offset after it is column 3.
        assert_eq!(line_col(text, 6), LineCol { line: 2, column: 3 });
        // Inside `é`: moved back to its start.
        assert_eq!(line_col(text, 5), LineCol { line: 2, column: 2 });
        assert_eq!(line_col(text, 99), LineCol { line: 3, column: 2 });
    }

    #[test]
    fn attached_spans_are_all_equal() {
        assert_eq!(AttachedSpan(Span::new(1, 2)), AttachedSpan(Span::new(5, 9)));
    }
}
