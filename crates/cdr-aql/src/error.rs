//! The parse error: where (line, column, span) and what went wrong.

use std::fmt;

use crate::span::{line_col, Span};

/// Why a query could not be parsed, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct ParseError {
    /// What went wrong.
    pub kind: ParseErrorKind,
    /// The offending text (empty at the end of input).
    pub span: Span,
    /// 1-based line of `span.start`.
    pub line: usize,
    /// 1-based column of `span.start`, counted in characters.
    pub column: usize,
}

impl ParseError {
    /// An error of `kind` at `span` of `text`.
    pub(crate) fn new(text: &str, kind: ParseErrorKind, span: Span) -> Self {
        let lc = line_col(text, span.start);
        ParseError {
            kind,
            span,
            line: lc.line,
            column: lc.column,
        }
    }
}

/// The kinds of parse error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// The text does not follow the grammar.
    #[error("expected {}, found {found}", ExpectedList(expected))]
    Syntax {
        /// Readable names of what could have come next, e.g. `a class
        /// expression`, `CONTAINS`, `')'`.
        expected: Vec<String>,
        /// What was there instead: a quoted word or symbol, or `end of input`.
        found: String,
    },
    /// A string literal has no closing quote.
    #[error("unterminated string literal")]
    UnterminatedString,
    /// A backslash escape in a string literal is not one AQL knows.
    #[error("invalid escape sequence `{0}` in string literal")]
    InvalidEscape(String),
    /// A number does not fit the AST's numeric types.
    #[error("number `{0}` is out of range")]
    NumberOutOfRange(String),
    /// Parentheses, brackets, braces, NOTs or CONTAINS are nested deeper than
    /// [`MAX_NESTING`](crate::MAX_NESTING).
    #[error("nesting deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// The parser itself failed (a bug, or pest's stack guard tripped).
    #[error("internal parser error: {0}")]
    Internal(String),
}

/// Formats `["a", "b", "c"]` as `a, b or c`.
struct ExpectedList<'a>(&'a [String]);

impl fmt::Display for ExpectedList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [] => f.write_str("something else"),
            [one] => f.write_str(one),
            [init @ .., last] => {
                for (i, item) in init.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(item)?;
                }
                write!(f, " or {last}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_read_naturally() {
        let e = ParseError::new(
            "SELECT c FORM",
            ParseErrorKind::Syntax {
                expected: vec!["','".into(), "AS".into(), "FROM".into()],
                found: "`FORM`".into(),
            },
            Span::new(9, 13),
        );
        assert_eq!(
            e.to_string(),
            "line 1, column 10: expected ',', AS or FROM, found `FORM`"
        );
    }
}
