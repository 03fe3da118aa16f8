//! Paths (`o/data[at0001]/events[at0006]/...`) and the predicates that may
//! follow a class, a variable or any path step.

use std::fmt;

use super::literal::{Ident, Literal, Parameter, StringLiteral};
use crate::span::{AttachedSpan, Span, Spanned};

/// A path rooted at a FROM variable: `variable[predicate]/object/path`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdentifiedPath {
    /// The variable the path starts from.
    pub variable: Ident,
    /// A predicate right after the variable, as in `o[name/value=$n]/data`.
    pub predicate: Option<Box<Predicate>>,
    /// The steps after the first `/`, if any; `None` for a bare variable.
    pub path: Option<ObjectPath>,
    /// Where the whole path is.
    pub span: AttachedSpan,
}

impl fmt::Display for IdentifiedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.variable)?;
        if let Some(p) = &self.predicate {
            write!(f, "{p}")?;
        }
        if let Some(path) = &self.path {
            write!(f, "/{path}")?;
        }
        Ok(())
    }
}

impl Spanned for IdentifiedPath {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// Attribute steps separated by `/`, without a leading slash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectPath {
    /// At least one step.
    pub steps: Vec<PathStep>,
    /// Where the steps are.
    pub span: AttachedSpan,
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::write_separated(f, &self.steps, "/")
    }
}

impl Spanned for ObjectPath {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// One step of a path: an RM attribute name and an optional predicate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathStep {
    /// The attribute, e.g. `data`, `items`, `value`.
    pub attribute: Ident,
    /// The predicate, e.g. `[at0001]`.
    pub predicate: Option<Box<Predicate>>,
    /// Where the step is.
    pub span: AttachedSpan,
}

impl fmt::Display for PathStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attribute)?;
        if let Some(p) = &self.predicate {
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl Spanned for PathStep {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// A predicate; printed with its brackets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Predicate {
    /// What the predicate says.
    pub kind: PredicateKind,
    /// Where it is: the brackets for a whole predicate, the term inside for a
    /// member of an AND/OR.
    pub span: AttachedSpan,
}

/// The forms a predicate takes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PredicateKind {
    /// `[path op operand]`, e.g. `[ehr_id/value=$ehrUid]`.
    Standard(StandardPredicate),
    /// `[path MATCHES {/regex/}]`.
    Regex(RegexPredicate),
    /// `[at0001]`, `[at0001, 'name']`, `[id5, $p]`, `[at0002, at0003]`,
    /// `[at0003, icd10AM::F60.1|text|]`.
    Node(NodePredicate),
    /// `[openEHR-EHR-OBSERVATION.blood_pressure.v2]` (optionally with a
    /// name, like a node predicate) or `[$archetypeId]`.
    Archetype(ArchetypePredicate),
    /// Terms joined by AND (at least two).
    And(Vec<Predicate>),
    /// Terms joined by OR (at least two).
    Or(Vec<Predicate>),
}

impl Predicate {
    /// Writes the predicate without its brackets.
    fn fmt_inner(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PredicateKind::Standard(p) => write!(f, "{p}"),
            PredicateKind::Regex(p) => write!(f, "{p}"),
            PredicateKind::Node(p) => write!(f, "{p}"),
            PredicateKind::Archetype(p) => write!(f, "{p}"),
            PredicateKind::And(terms) => self.fmt_terms(f, terms, " AND ", |k| {
                matches!(k, PredicateKind::And(_) | PredicateKind::Or(_))
            }),
            PredicateKind::Or(terms) => {
                self.fmt_terms(f, terms, " OR ", |k| matches!(k, PredicateKind::Or(_)))
            }
        }
    }

    fn fmt_terms(
        &self,
        f: &mut fmt::Formatter<'_>,
        terms: &[Predicate],
        sep: &str,
        needs_parens: fn(&PredicateKind) -> bool,
    ) -> fmt::Result {
        for (i, term) in terms.iter().enumerate() {
            if i > 0 {
                f.write_str(sep)?;
            }
            if needs_parens(&term.kind) {
                f.write_str("(")?;
                term.fmt_inner(f)?;
                f.write_str(")")?;
            } else {
                term.fmt_inner(f)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        self.fmt_inner(f)?;
        f.write_str("]")
    }
}

impl Spanned for Predicate {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// `path op operand`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StandardPredicate {
    /// The path, relative to the node the predicate is on.
    pub path: ObjectPath,
    /// The operator.
    pub op: ComparisonOp,
    /// The right-hand side.
    pub operand: PredicateOperand,
}

impl fmt::Display for StandardPredicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.path, self.op, self.operand)
    }
}

/// The right-hand side of a comparison inside a predicate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PredicateOperand {
    /// A literal.
    Literal(Literal),
    /// A parameter.
    Parameter(Parameter),
    /// An archetype id (an extension of the 1.1.0 grammar, for
    /// `[archetype_node_id=openEHR-EHR-...]`).
    Archetype(ArchetypeId),
    /// An at-code or id-code.
    Code(NodeCode),
    /// Another path.
    Path(ObjectPath),
}

impl fmt::Display for PredicateOperand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PredicateOperand::Literal(x) => x.fmt(f),
            PredicateOperand::Parameter(x) => x.fmt(f),
            PredicateOperand::Archetype(x) => x.fmt(f),
            PredicateOperand::Code(x) => x.fmt(f),
            PredicateOperand::Path(x) => x.fmt(f),
        }
    }
}

impl Spanned for PredicateOperand {
    fn span(&self) -> Span {
        match self {
            PredicateOperand::Literal(x) => x.span(),
            PredicateOperand::Parameter(x) => x.span(),
            PredicateOperand::Archetype(x) => x.span(),
            PredicateOperand::Code(x) => x.span(),
            PredicateOperand::Path(x) => x.span(),
        }
    }
}

/// `path MATCHES {/regex/}` inside a predicate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegexPredicate {
    /// The path tested.
    pub path: ObjectPath,
    /// The regular expression.
    pub regex: ContainedRegex,
}

impl fmt::Display for RegexPredicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} MATCHES {}", self.path, self.regex)
    }
}

/// `{/regex/}` or `{/regex/;'default'}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainedRegex {
    /// The text between the slashes, exactly as written (`\/` stays `\/`).
    pub pattern: String,
    /// The optional default after `;`.
    pub default: Option<StringLiteral>,
    /// Where the braces are.
    pub span: AttachedSpan,
}

impl fmt::Display for ContainedRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{/{}/", self.pattern)?;
        if let Some(d) = &self.default {
            write!(f, ";{d}")?;
        }
        f.write_str("}")
    }
}

impl Spanned for ContainedRegex {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// A node predicate: an at-code or id-code with an optional name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodePredicate {
    /// The node id (`archetype_node_id`).
    pub code: NodeCode,
    /// The name constraint after the comma.
    pub name: Option<NodeName>,
}

impl fmt::Display for NodePredicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(n) = &self.name {
            write!(f, ", {n}")?;
        }
        Ok(())
    }
}

/// An archetype predicate: an archetype id (optionally with a name) or a
/// parameter standing for one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArchetypePredicate {
    /// The archetype.
    pub archetype: ArchetypeRef,
    /// The name constraint after the comma (only with an archetype id).
    pub name: Option<NodeName>,
}

impl fmt::Display for ArchetypePredicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.archetype)?;
        if let Some(n) = &self.name {
            write!(f, ", {n}")?;
        }
        Ok(())
    }
}

/// An archetype id or a parameter that will hold one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ArchetypeRef {
    /// `openEHR-EHR-OBSERVATION.blood_pressure.v2`
    Id(ArchetypeId),
    /// `$archetypeId`
    Parameter(Parameter),
}

impl fmt::Display for ArchetypeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArchetypeRef::Id(x) => x.fmt(f),
            ArchetypeRef::Parameter(x) => x.fmt(f),
        }
    }
}

impl Spanned for ArchetypeRef {
    fn span(&self) -> Span {
        match self {
            ArchetypeRef::Id(x) => x.span(),
            ArchetypeRef::Parameter(x) => x.span(),
        }
    }
}

/// An archetype id as written, e.g. `openEHR-EHR-OBSERVATION.blood_pressure.v2`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArchetypeId {
    /// The id.
    pub value: String,
    /// Where it is.
    pub span: AttachedSpan,
}

impl fmt::Display for ArchetypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl Spanned for ArchetypeId {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// An at-code (`at0001`, ADL 1.4) or id-code (`id5`, ADL 2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeCode {
    /// The code as written, prefix included.
    pub value: String,
    /// Where it is.
    pub span: AttachedSpan,
}

impl NodeCode {
    /// Whether this is an ADL 2 `id` code rather than an `at` code.
    pub fn is_id_code(&self) -> bool {
        self.value.starts_with("id")
    }
}

impl fmt::Display for NodeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl Spanned for NodeCode {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// The name constraint after the comma of a node or archetype predicate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NodeName {
    /// `'Any event'`: `name/value` equals the text.
    String(StringLiteral),
    /// `$name`: `name/value` equals the parameter.
    Parameter(Parameter),
    /// `icd10AM::F60.1|text|`: a coded name.
    TermCode(Box<TermCode>),
    /// `at0003`: a coded name from the archetype's local terminology.
    Code(NodeCode),
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeName::String(x) => x.fmt(f),
            NodeName::Parameter(x) => x.fmt(f),
            NodeName::TermCode(x) => x.fmt(f),
            NodeName::Code(x) => x.fmt(f),
        }
    }
}

impl Spanned for NodeName {
    fn span(&self) -> Span {
        match self {
            NodeName::String(x) => x.span(),
            NodeName::Parameter(x) => x.span(),
            NodeName::TermCode(x) => x.span(),
            NodeName::Code(x) => x.span(),
        }
    }
}

/// `terminology[(version)]::code[|text|]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TermCode {
    /// The terminology id, e.g. `icd10AM`, `snomed_ct`.
    pub terminology: String,
    /// The terminology version in parentheses, e.g. `3.1`.
    pub version: Option<String>,
    /// The code, e.g. `F60.1`.
    pub code: String,
    /// The informational text between bars.
    pub text: Option<String>,
    /// Where it is.
    pub span: AttachedSpan,
}

impl fmt::Display for TermCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.terminology)?;
        if let Some(v) = &self.version {
            write!(f, "({v})")?;
        }
        write!(f, "::{}", self.code)?;
        if let Some(t) = &self.text {
            write!(f, "|{t}|")?;
        }
        Ok(())
    }
}

impl Spanned for TermCode {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComparisonOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl ComparisonOp {
    /// The operator with its operands swapped (`a < b` is `b > a`).
    pub fn mirrored(self) -> ComparisonOp {
        match self {
            ComparisonOp::Gt => ComparisonOp::Lt,
            ComparisonOp::Ge => ComparisonOp::Le,
            ComparisonOp::Lt => ComparisonOp::Gt,
            ComparisonOp::Le => ComparisonOp::Ge,
            o => o,
        }
    }

    /// The operator's symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            ComparisonOp::Eq => "=",
            ComparisonOp::Ne => "!=",
            ComparisonOp::Gt => ">",
            ComparisonOp::Ge => ">=",
            ComparisonOp::Lt => "<",
            ComparisonOp::Le => "<=",
        }
    }
}

impl fmt::Display for ComparisonOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
