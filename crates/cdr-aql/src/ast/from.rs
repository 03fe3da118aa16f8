//! The FROM clause: class expressions combined with CONTAINS, NOT CONTAINS,
//! AND, OR and parentheses.

use std::fmt;

use super::literal::Ident;
use super::path::{Predicate, StandardPredicate};
use crate::span::{AttachedSpan, Span, Spanned};

/// A containment expression.
///
/// Precedence follows the ANTLR grammar: CONTAINS binds tighter than AND,
/// AND tighter than OR, so `A CONTAINS B AND C` is `(A CONTAINS B) AND C`;
/// write `A CONTAINS (B AND C)` for the other reading.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Containment {
    /// What the expression is.
    pub kind: ContainmentKind,
    /// Where it is.
    pub span: AttachedSpan,
}

/// The forms of a containment expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ContainmentKind {
    /// A class expression on its own.
    Class(ClassExpr),
    /// `outer CONTAINS inner` or `outer NOT CONTAINS inner`.
    Contains {
        /// The containing class.
        outer: ClassExpr,
        /// `NOT CONTAINS`.
        negated: bool,
        /// What it must (or must not) contain, at any depth.
        inner: Box<Containment>,
    },
    /// Operands joined by AND (at least two).
    And(Vec<Containment>),
    /// Operands joined by OR (at least two).
    Or(Vec<Containment>),
}

impl fmt::Display for Containment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ContainmentKind::Class(c) => c.fmt(f),
            ContainmentKind::Contains {
                outer,
                negated,
                inner,
            } => {
                write!(f, "{outer} ")?;
                if *negated {
                    f.write_str("NOT ")?;
                }
                f.write_str("CONTAINS ")?;
                super::write_operand(f, inner, |e| {
                    matches!(e.kind, ContainmentKind::And(_) | ContainmentKind::Or(_))
                })
            }
            ContainmentKind::And(items) => super::write_joined(f, items, " AND ", |e| {
                matches!(e.kind, ContainmentKind::And(_) | ContainmentKind::Or(_))
            }),
            ContainmentKind::Or(items) => super::write_joined(f, items, " OR ", |e| {
                matches!(e.kind, ContainmentKind::Or(_))
            }),
        }
    }
}

impl Spanned for Containment {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// A class expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClassExpr {
    /// `RM_TYPE [variable] [predicate]`.
    Rm(RmClassExpr),
    /// `VERSION [variable] [[LATEST_VERSION | ALL_VERSIONS | path op value]]`.
    Version(VersionClassExpr),
}

impl ClassExpr {
    /// The variable, if one is declared.
    pub fn variable(&self) -> Option<&Ident> {
        match self {
            ClassExpr::Rm(c) => c.variable.as_ref(),
            ClassExpr::Version(c) => c.variable.as_ref(),
        }
    }

    /// The RM type name as written, or `VERSION`.
    pub fn rm_type(&self) -> &str {
        match self {
            ClassExpr::Rm(c) => &c.rm_type.name,
            ClassExpr::Version(_) => "VERSION",
        }
    }
}

impl fmt::Display for ClassExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClassExpr::Rm(c) => c.fmt(f),
            ClassExpr::Version(c) => c.fmt(f),
        }
    }
}

impl Spanned for ClassExpr {
    fn span(&self) -> Span {
        match self {
            ClassExpr::Rm(c) => c.span.get(),
            ClassExpr::Version(c) => c.span.get(),
        }
    }
}

/// `COMPOSITION c[openEHR-EHR-COMPOSITION.encounter.v1]`, `EHR e[ehr_id/value=$id]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RmClassExpr {
    /// The RM type, spelled as written.
    pub rm_type: Ident,
    /// The variable, if declared.
    pub variable: Option<Ident>,
    /// The predicate, if any.
    pub predicate: Option<Box<Predicate>>,
    /// Where the expression is.
    pub span: AttachedSpan,
}

impl fmt::Display for RmClassExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.rm_type)?;
        if let Some(v) = &self.variable {
            write!(f, " {v}")?;
        }
        if let Some(p) = &self.predicate {
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// `VERSION v[ALL_VERSIONS]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionClassExpr {
    /// The variable, if declared.
    pub variable: Option<Ident>,
    /// The version predicate; absent means the latest version.
    pub predicate: Option<VersionPredicate>,
    /// Where the expression is.
    pub span: AttachedSpan,
}

impl fmt::Display for VersionClassExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VERSION")?;
        if let Some(v) = &self.variable {
            write!(f, " {v}")?;
        }
        if let Some(p) = &self.predicate {
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// The predicate of a VERSION class expression; printed with brackets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionPredicate {
    /// Which versions.
    pub kind: VersionPredicateKind,
    /// Where the text inside the brackets is.
    pub span: AttachedSpan,
}

/// Which versions a VERSION class expression ranges over.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VersionPredicateKind {
    /// `[LATEST_VERSION]`
    LatestVersion,
    /// `[ALL_VERSIONS]`
    AllVersions,
    /// `[commit_audit/time_committed/value > '2021-01-01']`
    Standard(StandardPredicate),
}

impl fmt::Display for VersionPredicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            VersionPredicateKind::LatestVersion => f.write_str("[LATEST_VERSION]"),
            VersionPredicateKind::AllVersions => f.write_str("[ALL_VERSIONS]"),
            VersionPredicateKind::Standard(p) => write!(f, "[{p}]"),
        }
    }
}

impl Spanned for VersionPredicate {
    fn span(&self) -> Span {
        self.span.get()
    }
}
