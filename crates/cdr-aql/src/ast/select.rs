//! The SELECT clause.

use std::fmt;

use super::expr::{Aggregate, FunctionCall, TerminologyCall};
use super::literal::{Ident, Literal};
use super::path::IdentifiedPath;
use crate::span::{AttachedSpan, Span, Spanned};

/// `SELECT [DISTINCT] [TOP n [FORWARD|BACKWARD]] column, ...`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Select {
    /// `SELECT DISTINCT`.
    pub distinct: bool,
    /// The deprecated `TOP` clause.
    pub top: Option<Top>,
    /// At least one column.
    pub columns: Vec<SelectColumn>,
    /// Where the clause is.
    pub span: AttachedSpan,
}

impl fmt::Display for Select {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        if self.distinct {
            f.write_str("DISTINCT ")?;
        }
        if let Some(top) = &self.top {
            write!(f, "{top} ")?;
        }
        super::write_separated(f, &self.columns, ", ")
    }
}

impl Spanned for Select {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// `TOP n [FORWARD|BACKWARD]` (deprecated in AQL 1.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Top {
    /// The number of rows.
    pub count: u64,
    /// The direction, if written.
    pub direction: Option<TopDirection>,
    /// Where the clause is.
    pub span: AttachedSpan,
}

impl fmt::Display for Top {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TOP {}", self.count)?;
        match self.direction {
            Some(TopDirection::Forward) => f.write_str(" FORWARD"),
            Some(TopDirection::Backward) => f.write_str(" BACKWARD"),
            None => Ok(()),
        }
    }
}

/// The direction of TOP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopDirection {
    /// `FORWARD`
    Forward,
    /// `BACKWARD`
    Backward,
}

/// One result column: an expression and an optional alias.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SelectColumn {
    /// The expression.
    pub expr: ColumnExpr,
    /// `AS alias`.
    pub alias: Option<Ident>,
    /// Where the column is, alias included.
    pub span: AttachedSpan,
}

impl fmt::Display for SelectColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        if let Some(alias) = &self.alias {
            write!(f, " AS {alias}")?;
        }
        Ok(())
    }
}

impl Spanned for SelectColumn {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// What a column selects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ColumnExpr {
    /// A path or a bare variable (the whole RM object).
    Path(IdentifiedPath),
    /// A constant.
    Literal(Literal),
    /// COUNT, MIN, MAX, SUM or AVG.
    Aggregate(Aggregate),
    /// A built-in or vendor function.
    Function(FunctionCall),
    /// A TERMINOLOGY call.
    Terminology(TerminologyCall),
}

impl fmt::Display for ColumnExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnExpr::Path(x) => x.fmt(f),
            ColumnExpr::Literal(x) => x.fmt(f),
            ColumnExpr::Aggregate(x) => x.fmt(f),
            ColumnExpr::Function(x) => x.fmt(f),
            ColumnExpr::Terminology(x) => x.fmt(f),
        }
    }
}

impl Spanned for ColumnExpr {
    fn span(&self) -> Span {
        match self {
            ColumnExpr::Path(x) => x.span(),
            ColumnExpr::Literal(x) => x.span(),
            ColumnExpr::Aggregate(x) => x.span(),
            ColumnExpr::Function(x) => x.span(),
            ColumnExpr::Terminology(x) => x.span(),
        }
    }
}
