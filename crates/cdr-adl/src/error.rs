//! The parse error: which source, where (line, column) and what went wrong.

/// Why an archetype could not be parsed, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}:{column}: {message}")]
pub struct ParseError {
    /// The file name or label the caller gave.
    pub source_name: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// Byte offset in the text.
    pub offset: usize,
    /// What went wrong.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(source: &str, text: &str, offset: usize, message: String) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        ParseError {
            source_name: source.to_owned(),
            line,
            column,
            offset,
            message,
        }
    }
}
