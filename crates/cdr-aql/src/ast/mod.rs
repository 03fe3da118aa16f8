//! The typed AQL syntax tree, one module per clause.
//!
//! Every node derives `Debug, Clone, PartialEq, Eq, Hash` and prints as
//! canonical AQL through `Display`. Spans are stored as
//! [`AttachedSpan`], which never affects equality.

mod expr;
mod from;
mod literal;
mod path;
mod select;

use std::fmt;

pub use expr::{
    Aggregate, AggregateArg, AggregateFunction, BuiltinFunction, FunctionCall, FunctionName,
    LikePattern, MatchesOperand, Operand, TerminologyCall, Uri, ValueList, WhereExpr, WhereKind,
};
pub use from::{
    ClassExpr, Containment, ContainmentKind, RmClassExpr, VersionClassExpr, VersionPredicate,
    VersionPredicateKind,
};
pub(crate) use literal::unescape;
pub use literal::{
    temporal_kind, write_quoted, Ident, Literal, LiteralValue, Parameter, StringLiteral,
    TemporalKind,
};
pub use path::{
    ArchetypeId, ArchetypePredicate, ArchetypeRef, ComparisonOp, ContainedRegex, IdentifiedPath,
    NodeCode, NodeName, NodePredicate, ObjectPath, PathStep, Predicate, PredicateKind,
    PredicateOperand, RegexPredicate, StandardPredicate, TermCode,
};
pub use select::{ColumnExpr, Select, SelectColumn, Top, TopDirection};

use crate::span::{AttachedSpan, Span, Spanned};

/// A parsed AQL query.
///
/// `Display` prints canonical AQL: upper-case keywords, single spaces,
/// single-quoted strings, and only the parentheses the structure needs.
/// Parsing the printed text gives back an equal `Query`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Query {
    /// The SELECT clause.
    pub select: Select,
    /// The FROM clause's containment expression.
    pub from: Containment,
    /// The WHERE condition.
    pub where_clause: Option<WhereExpr>,
    /// The ORDER BY keys, in order; empty without ORDER BY.
    pub order_by: Vec<OrderBy>,
    /// `LIMIT n [OFFSET m]`.
    pub limit: Option<Limit>,
    /// Where the query is, leading and trailing blanks excluded.
    pub span: AttachedSpan,
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} FROM {}", self.select, self.from)?;
        if let Some(w) = &self.where_clause {
            write!(f, " WHERE {w}")?;
        }
        if !self.order_by.is_empty() {
            f.write_str(" ORDER BY ")?;
            write_separated(f, &self.order_by, ", ")?;
        }
        if let Some(limit) = &self.limit {
            write!(f, " {limit}")?;
        }
        Ok(())
    }
}

impl Spanned for Query {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// One ORDER BY key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderBy {
    /// The sort key (a path, or a bare identifier such as an alias).
    pub path: IdentifiedPath,
    /// The direction; ASC when not written.
    pub direction: SortDirection,
    /// Where the key is.
    pub span: AttachedSpan,
}

impl fmt::Display for OrderBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if self.direction == SortDirection::Descending {
            f.write_str(" DESC")?;
        }
        Ok(())
    }
}

impl Spanned for OrderBy {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// A sort direction. `ASC`/`ASCENDING` and `DESC`/`DESCENDING` are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SortDirection {
    /// Smallest first (the default).
    #[default]
    Ascending,
    /// Largest first.
    Descending,
}

/// `LIMIT row_count [OFFSET offset]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Limit {
    /// Maximum number of rows. The parser accepts 0; rejecting it is semantic.
    pub row_count: u64,
    /// Rows to skip (0-based).
    pub offset: Option<u64>,
    /// Where the clause is.
    pub span: AttachedSpan,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LIMIT {}", self.row_count)?;
        if let Some(offset) = self.offset {
            write!(f, " OFFSET {offset}")?;
        }
        Ok(())
    }
}

impl Spanned for Limit {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// Writes `items` with `sep` between them.
fn write_separated<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
    sep: &str,
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// Writes `e`, in parentheses when `needs_parens` says its structure requires them.
fn write_operand<T: std::fmt::Display>(
    f: &mut std::fmt::Formatter<'_>,
    e: &T,
    needs_parens: fn(&T) -> bool,
) -> std::fmt::Result {
    if needs_parens(e) {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

/// Writes `items` separated by `sep`, each through [`write_operand`].
fn write_joined<T: std::fmt::Display>(
    f: &mut std::fmt::Formatter<'_>,
    items: &[T],
    sep: &str,
    needs_parens: fn(&T) -> bool,
) -> std::fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write_operand(f, item, needs_parens)?;
    }
    Ok(())
}
