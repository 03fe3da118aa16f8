//! WHERE conditions, operands, function calls, TERMINOLOGY and aggregates.

use std::fmt;

use super::literal::{Literal, Parameter, StringLiteral};
use super::path::{ComparisonOp, IdentifiedPath};
use crate::span::{AttachedSpan, Span, Spanned};

/// A WHERE condition.
///
/// Precedence: NOT binds tightest, then AND, then OR.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WhereExpr {
    /// What the condition is.
    pub kind: WhereKind,
    /// Where it is.
    pub span: AttachedSpan,
}

/// The forms of a WHERE condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WhereKind {
    /// `left op right`; the parser puts a path or function call on the left.
    Comparison {
        /// Left-hand side.
        left: Operand,
        /// The operator.
        op: ComparisonOp,
        /// Right-hand side: literal, parameter, path or function call.
        right: Operand,
    },
    /// `left LIKE 'pattern'` or `left LIKE $param`.
    Like {
        /// The value tested.
        left: Operand,
        /// The pattern (`?` one character, `*` any run).
        pattern: LikePattern,
    },
    /// `left MATCHES {...}` or `left MATCHES TERMINOLOGY(...)`.
    Matches {
        /// The value tested.
        left: Operand,
        /// What it must match.
        operand: MatchesOperand,
    },
    /// `EXISTS path`.
    Exists(IdentifiedPath),
    /// `NOT condition`.
    Not(Box<WhereExpr>),
    /// Conditions joined by AND (at least two).
    And(Vec<WhereExpr>),
    /// Conditions joined by OR (at least two).
    Or(Vec<WhereExpr>),
}

impl fmt::Display for WhereExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            WhereKind::Comparison { left, op, right } => write!(f, "{left} {op} {right}"),
            WhereKind::Like { left, pattern } => write!(f, "{left} LIKE {pattern}"),
            WhereKind::Matches { left, operand } => write!(f, "{left} MATCHES {operand}"),
            WhereKind::Exists(path) => write!(f, "EXISTS {path}"),
            WhereKind::Not(inner) => {
                f.write_str("NOT ")?;
                super::write_operand(f, inner, |e| {
                    matches!(e.kind, WhereKind::And(_) | WhereKind::Or(_))
                })
            }
            WhereKind::And(items) => super::write_joined(f, items, " AND ", |e| {
                matches!(e.kind, WhereKind::And(_) | WhereKind::Or(_))
            }),
            WhereKind::Or(items) => {
                super::write_joined(f, items, " OR ", |e| matches!(e.kind, WhereKind::Or(_)))
            }
        }
    }
}

impl Spanned for WhereExpr {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// The pattern of LIKE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LikePattern {
    /// A string pattern.
    String(StringLiteral),
    /// A parameter holding the pattern.
    Parameter(Parameter),
}

impl fmt::Display for LikePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LikePattern::String(x) => x.fmt(f),
            LikePattern::Parameter(x) => x.fmt(f),
        }
    }
}

impl Spanned for LikePattern {
    fn span(&self) -> Span {
        match self {
            LikePattern::String(x) => x.span(),
            LikePattern::Parameter(x) => x.span(),
        }
    }
}

/// The right-hand side of MATCHES.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MatchesOperand {
    /// `{ item, ... }`; the parser only puts literals, parameters and
    /// TERMINOLOGY calls in the list.
    List(ValueList),
    /// `TERMINOLOGY('expand', ...)`.
    Terminology(Box<TerminologyCall>),
    /// `{ terminology://snomed-ct/hierarchy?rootConceptId=50043002 }`.
    Uri(Uri),
}

impl fmt::Display for MatchesOperand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchesOperand::List(x) => x.fmt(f),
            MatchesOperand::Terminology(x) => x.fmt(f),
            MatchesOperand::Uri(x) => write!(f, "{{{x}}}"),
        }
    }
}

impl Spanned for MatchesOperand {
    fn span(&self) -> Span {
        match self {
            MatchesOperand::List(x) => x.span.get(),
            MatchesOperand::Terminology(x) => x.span(),
            MatchesOperand::Uri(x) => x.span.get(),
        }
    }
}

/// `{ item, ... }` after MATCHES.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ValueList {
    /// At least one item.
    pub items: Vec<Operand>,
    /// Where the braces are.
    pub span: AttachedSpan,
}

impl fmt::Display for ValueList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        super::write_separated(f, &self.items, ", ")?;
        f.write_str("}")
    }
}

/// A URI as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Uri {
    /// The URI.
    pub value: String,
    /// Where it is (without the braces).
    pub span: AttachedSpan,
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// A value in a condition or a function argument.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Operand {
    /// A literal.
    Literal(Literal),
    /// A parameter.
    Parameter(Parameter),
    /// A path.
    Path(Box<IdentifiedPath>),
    /// A function call.
    Function(Box<FunctionCall>),
    /// A TERMINOLOGY call.
    Terminology(Box<TerminologyCall>),
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Literal(x) => x.fmt(f),
            Operand::Parameter(x) => x.fmt(f),
            Operand::Path(x) => x.fmt(f),
            Operand::Function(x) => x.fmt(f),
            Operand::Terminology(x) => x.fmt(f),
        }
    }
}

impl Spanned for Operand {
    fn span(&self) -> Span {
        match self {
            Operand::Literal(x) => x.span(),
            Operand::Parameter(x) => x.span(),
            Operand::Path(x) => x.span(),
            Operand::Function(x) => x.span(),
            Operand::Terminology(x) => x.span(),
        }
    }
}

/// A built-in or vendor function call, `NAME(arg, ...)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionCall {
    /// The function.
    pub name: FunctionName,
    /// The arguments.
    pub args: Vec<Operand>,
    /// Where the call is.
    pub span: AttachedSpan,
}

impl fmt::Display for FunctionCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name)?;
        super::write_separated(f, &self.args, ", ")?;
        f.write_str(")")
    }
}

impl Spanned for FunctionCall {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// The name of a called function.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FunctionName {
    /// One of the AQL 1.1 functions (matched case-insensitively).
    Builtin(BuiltinFunction),
    /// Any other name, spelled as written.
    Other(String),
}

impl fmt::Display for FunctionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FunctionName::Builtin(b) => f.write_str(b.name()),
            FunctionName::Other(s) => f.write_str(s),
        }
    }
}

/// The functions AQL 1.1 defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinFunction {
    /// `LENGTH(s)`
    Length,
    /// `CONTAINS(s, sub)`
    Contains,
    /// `POSITION(sub, s)`
    Position,
    /// `SUBSTRING(s, pos[, len])`
    Substring,
    /// `CONCAT(s1, ...)`
    Concat,
    /// `CONCAT_WS(sep, s1, ...)`
    ConcatWs,
    /// `ABS(x)`
    Abs,
    /// `MOD(x, y)`
    Mod,
    /// `CEIL(x)`
    Ceil,
    /// `FLOOR(x)`
    Floor,
    /// `ROUND(x[, decimals])`
    Round,
    /// `CURRENT_DATE()`
    CurrentDate,
    /// `CURRENT_TIME()`
    CurrentTime,
    /// `CURRENT_DATE_TIME()`
    CurrentDateTime,
    /// `NOW()`
    Now,
    /// `CURRENT_TIMEZONE()`
    CurrentTimezone,
}

impl BuiltinFunction {
    /// Every built-in function.
    pub const ALL: [BuiltinFunction; 16] = [
        BuiltinFunction::Length,
        BuiltinFunction::Contains,
        BuiltinFunction::Position,
        BuiltinFunction::Substring,
        BuiltinFunction::Concat,
        BuiltinFunction::ConcatWs,
        BuiltinFunction::Abs,
        BuiltinFunction::Mod,
        BuiltinFunction::Ceil,
        BuiltinFunction::Floor,
        BuiltinFunction::Round,
        BuiltinFunction::CurrentDate,
        BuiltinFunction::CurrentTime,
        BuiltinFunction::CurrentDateTime,
        BuiltinFunction::Now,
        BuiltinFunction::CurrentTimezone,
    ];

    /// The canonical (upper-case) name.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinFunction::Length => "LENGTH",
            BuiltinFunction::Contains => "CONTAINS",
            BuiltinFunction::Position => "POSITION",
            BuiltinFunction::Substring => "SUBSTRING",
            BuiltinFunction::Concat => "CONCAT",
            BuiltinFunction::ConcatWs => "CONCAT_WS",
            BuiltinFunction::Abs => "ABS",
            BuiltinFunction::Mod => "MOD",
            BuiltinFunction::Ceil => "CEIL",
            BuiltinFunction::Floor => "FLOOR",
            BuiltinFunction::Round => "ROUND",
            BuiltinFunction::CurrentDate => "CURRENT_DATE",
            BuiltinFunction::CurrentTime => "CURRENT_TIME",
            BuiltinFunction::CurrentDateTime => "CURRENT_DATE_TIME",
            BuiltinFunction::Now => "NOW",
            BuiltinFunction::CurrentTimezone => "CURRENT_TIMEZONE",
        }
    }

    /// The built-in function with this name, ignoring case.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|b| b.name().eq_ignore_ascii_case(name))
    }
}

/// `TERMINOLOGY('operation', 'service_api', 'params_uri')`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TerminologyCall {
    /// `expand`, `validate`, `lookup`, `map` or `subsumes`.
    pub operation: StringLiteral,
    /// E.g. `hl7.org/fhir/4.0`.
    pub service_api: StringLiteral,
    /// E.g. `http://snomed.info/sct?fhir_vs=isa/50697003`.
    pub params: StringLiteral,
    /// Where the call is.
    pub span: AttachedSpan,
}

impl fmt::Display for TerminologyCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TERMINOLOGY({}, {}, {})",
            self.operation, self.service_api, self.params
        )
    }
}

impl Spanned for TerminologyCall {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// An aggregate in the SELECT clause.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Aggregate {
    /// Which aggregate.
    pub function: AggregateFunction,
    /// `COUNT(DISTINCT path)`; always false for the other functions.
    pub distinct: bool,
    /// `*` (COUNT only) or a path.
    pub argument: AggregateArg,
    /// Where the call is.
    pub span: AttachedSpan,
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.function.name())?;
        if self.distinct {
            f.write_str("DISTINCT ")?;
        }
        match &self.argument {
            AggregateArg::Star => f.write_str("*")?,
            AggregateArg::Path(p) => write!(f, "{p}")?,
        }
        f.write_str(")")
    }
}

impl Spanned for Aggregate {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// The aggregate functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateFunction {
    /// `COUNT`
    Count,
    /// `MIN`
    Min,
    /// `MAX`
    Max,
    /// `SUM`
    Sum,
    /// `AVG`
    Avg,
}

impl AggregateFunction {
    /// The canonical (upper-case) name.
    pub fn name(self) -> &'static str {
        match self {
            AggregateFunction::Count => "COUNT",
            AggregateFunction::Min => "MIN",
            AggregateFunction::Max => "MAX",
            AggregateFunction::Sum => "SUM",
            AggregateFunction::Avg => "AVG",
        }
    }
}

/// The argument of an aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AggregateArg {
    /// `COUNT(*)`
    Star,
    /// A path.
    Path(IdentifiedPath),
}
