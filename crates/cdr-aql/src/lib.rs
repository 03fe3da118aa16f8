//! Parser for the openEHR Archetype Query Language (AQL 1.1.0).
//!
//! [`parse`] turns query text into a typed [`Query`]. The crate checks syntax
//! only: whether variables are declared, paths exist in a template or types
//! match is for the binder that consumes the AST.
//!
//! ```
//! let q = cdr_aql::parse(
//!     "select c/name/value from EHR e contains COMPOSITION c where c/name/value = \"x\"",
//! )
//! .unwrap();
//! assert_eq!(
//!     q.to_string(),
//!     "SELECT c/name/value FROM EHR e CONTAINS COMPOSITION c WHERE c/name/value = 'x'"
//! );
//! assert_eq!(cdr_aql::parse(&q.to_string()).unwrap(), q);
//! ```
//!
//! # Properties
//!
//! * `Display` prints canonical AQL (upper-case keywords, single spaces,
//!   single-quoted strings) and `parse(&q.to_string()) == Ok(q)`.
//! * Every node carries an [`AttachedSpan`] (byte offsets); spans never take
//!   part in `==` or hashing. [`line_col`] turns an offset into line:column.
//! * [`ParseError`] has the line, column and span of the problem and, for
//!   syntax errors, readable names of what was expected.
//! * Parsing never panics. Nesting deeper than [`MAX_NESTING`] is rejected
//!   before pest sees it.
//!
//! # Grammar
//!
//! The grammar is `aql-grammar/aql.pest` at the workspace root, reproduced
//! at the end of this page. Choices where the 1.1.0 ANTLR grammar is loose
//! or silent:
//!
//! * Keywords are case-insensitive; identifiers keep their spelling. The
//!   reserved words (keywords, `COUNT`/`MIN`/`MAX`/`SUM`/`AVG`,
//!   `TERMINOLOGY`, `true`, `false`, `NULL`) cannot be variables, class
//!   names, aliases, attribute names or function names, except that
//!   `CONTAINS(...)` is the string function.
//! * Precedence: in WHERE, NOT > AND > OR; in FROM, CONTAINS > AND > OR, so
//!   `A CONTAINS B AND C` is `(A CONTAINS B) AND C`.
//! * `--` starts a comment running to the end of the line anywhere outside
//!   strings (ANTLR requires a blank after `--`).
//! * Numbers with a fraction or an exponent are reals (`1e3` is a real);
//!   a sign must touch its digits (`-5`, not `- 5`). String escapes are those
//!   of the ANTLR lexer; any other backslash escape is an error.
//! * Predicates may use parentheses, and a standard predicate may compare
//!   with an archetype id (`[archetype_node_id=openEHR-EHR-...]`); neither is
//!   in the 1.1.0 grammar.
//! * Dates and times are string literals; [`ast::LiteralValue::temporal_kind`]
//!   tells which ISO 8601 form a string has.
//! * `LIMIT 0` parses; the row count's lower bound is a semantic check.
//!
//! ```text
#![doc = include_str!("../../../aql-grammar/aql.pest")]
//! ```

#![warn(missing_docs)]

pub mod ast;
mod error;
mod parser;
mod span;

pub use ast::Query;
pub use error::{ParseError, ParseErrorKind};
pub use span::{line_col, AttachedSpan, LineCol, Span, Spanned};

/// The deepest nesting [`parse`] accepts: parentheses, brackets and braces,
/// and chains of NOT or CONTAINS, each count one level.
///
/// The AST builder recurses once per level. Unoptimised builds spend about
/// 10 KB of stack per level of nested predicates, so 64 levels stay well
/// inside the 2 MB stacks of test and Tokio worker threads; no real query
/// comes close.
pub const MAX_NESTING: usize = 64;

/// Parses one AQL query.
///
/// # Errors
///
/// A [`ParseError`] with the position of the first problem found.
pub fn parse(text: &str) -> Result<Query, ParseError> {
    parser::parse(text)
}
