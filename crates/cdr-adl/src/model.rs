//! The typed model of an ADL 1.4 archetype (the archetype object model, AOM 1.4): the header,
//! the cADL definition as a tree of constraint objects, and the ontology. Source positions are
//! kept beside the nodes in [`Pos`] values that never take part in equality, so a parsed
//! archetype equals the parse of its written form.

use std::fmt;

use crate::dadl::{Dadl, TermCode};

/// A byte offset in the source text. Every `Pos` equals every other, so positions never make
/// two models differ.
#[derive(Clone, Copy, Default)]
pub struct Pos(pub usize);

impl PartialEq for Pos {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for Pos {}

impl fmt::Debug for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", self.0)
    }
}

/// The source text, kept to turn a [`Pos`] into a line and column when a finding needs one.
/// Ignored by equality, like `Pos`.
#[derive(Clone, Default)]
pub struct LineIndex {
    text: Option<std::sync::Arc<str>>,
}

impl LineIndex {
    /// The index of `text`.
    pub fn new(text: &str) -> Self {
        LineIndex {
            text: Some(text.into()),
        }
    }

    /// The 1-based line and column (in characters) of `pos`; `None` for a model that was not
    /// parsed from text.
    pub fn line_col(&self, pos: Pos) -> Option<(usize, usize)> {
        let text = self.text.as_deref()?;
        let mut offset = pos.0.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let start = before.rfind('\n').map_or(0, |i| i + 1);
        Some((line, before[start..].chars().count() + 1))
    }
}

impl PartialEq for LineIndex {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for LineIndex {}

impl fmt::Debug for LineIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "LineIndex({} bytes)",
            self.text.as_deref().map_or(0, str::len)
        )
    }
}

/// An ADL 1.4 archetype.
#[derive(Debug, Clone, PartialEq)]
pub struct Archetype {
    /// The items in parentheses after `archetype`, in order: `adl_version=1.4`, `uid=…`,
    /// `controlled`, `generated` (a name without a value has `None`).
    pub meta: Vec<(String, Option<String>)>,
    /// The archetype id, e.g. `openEHR-EHR-OBSERVATION.blood_pressure.v1`.
    pub archetype_id: String,
    /// The parent's id, for a specialised archetype.
    pub specialise: Option<String>,
    /// The concept's at-code (`at0000`, `at0000.1`).
    pub concept: String,
    /// The `language` section (dADL attributes: `original_language`, `translations`).
    pub language: Vec<(String, Dadl)>,
    /// The `description` section (dADL attributes), when present.
    pub description: Option<Vec<(String, Dadl)>>,
    /// The root of the definition.
    pub definition: CComplexObject,
    /// The text of the `invariant` section, when present.
    pub invariant: Option<String>,
    /// The ontology.
    pub ontology: Ontology,
    /// The source text, for the lines and columns of findings (empty for a built model).
    pub lines: LineIndex,
}

impl Archetype {
    /// The `adl_version` of the header, if given.
    pub fn adl_version(&self) -> Option<&str> {
        self.meta
            .iter()
            .find(|(k, _)| k == "adl_version")
            .and_then(|(_, v)| v.as_deref())
    }

    /// The RM type of the root, from the definition.
    pub fn rm_type(&self) -> &str {
        &self.definition.rm_type
    }

    /// The specialisation depth: the number of dots in the concept code (`at0000.1` → 1).
    pub fn specialisation_depth(&self) -> usize {
        code_depth(&self.concept)
    }

    /// Every complex object of the definition (the root first, then in document order) with
    /// its archetype path.
    pub fn complex_objects(&self) -> Vec<(String, &CComplexObject)> {
        let mut out = Vec::new();
        fn walk<'a>(
            obj: &'a CComplexObject,
            path: String,
            out: &mut Vec<(String, &'a CComplexObject)>,
        ) {
            let children: Vec<(String, &'a CComplexObject)> = obj
                .attributes
                .iter()
                .flat_map(|a| {
                    let path = &path;
                    a.children.iter().filter_map(move |c| match c {
                        CObject::Complex(c) => {
                            Some((child_path(path, &a.name, c.node_id.as_deref()), c))
                        }
                        _ => None,
                    })
                })
                .collect();
            out.push((path, obj));
            for (p, c) in children {
                walk(c, p, out);
            }
        }
        walk(&self.definition, "/".to_owned(), &mut out);
        out
    }
}

/// The path of a child object under the attribute `attr` of the object at `parent`.
pub fn child_path(parent: &str, attr: &str, node_id: Option<&str>) -> String {
    let parent = parent.trim_end_matches('/');
    match node_id {
        Some(id) => format!("{parent}/{attr}[{id}]"),
        None => format!("{parent}/{attr}"),
    }
}

/// The specialisation depth of an at- or ac-code: its number of dots.
pub fn code_depth(code: &str) -> usize {
    code.bytes().filter(|&b| b == b'.').count()
}

/// A `lower..upper` range of occurrences, existence or cardinality; `upper: None` is `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Multiplicity {
    /// The least count.
    pub lower: u32,
    /// The greatest count, `None` when unbounded.
    pub upper: Option<u32>,
}

impl Multiplicity {
    /// `lower..upper`.
    pub const fn new(lower: u32, upper: Option<u32>) -> Self {
        Multiplicity { lower, upper }
    }

    /// Whether every count `other` admits is admitted by `self`.
    pub fn contains(&self, other: &Multiplicity) -> bool {
        other.lower >= self.lower
            && match (self.upper, other.upper) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(a), Some(b)) => b <= a,
            }
    }
}

impl fmt::Display for Multiplicity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.upper {
            Some(u) => write!(f, "{}..{}", self.lower, u),
            None => write!(f, "{}..*", self.lower),
        }
    }
}

/// Cardinality of a container attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cardinality {
    /// How many members.
    pub interval: Multiplicity,
    /// `ordered` (the default) or `unordered`.
    pub ordered: bool,
    /// `unique`.
    pub unique: bool,
}

/// A constraint object: one alternative under an attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum CObject {
    /// `TYPE[atNNNN] occurrences matches {…} matches {…}`
    Complex(CComplexObject),
    /// `allow_archetype TYPE[atNNNN] … matches { include … exclude … }`
    Slot(ArchetypeSlot),
    /// `use_node TYPE occurrences matches {…} /path`
    InternalRef(InternalRef),
    /// `[acNNNN]`
    ConstraintRef(ConstraintRef),
    /// A primitive constraint (the value of an RM attribute of primitive type).
    Primitive(CPrimitive),
    /// `C_CODE_PHRASE`, short form `[local::at0001, at0002; at0001]` or dADL.
    CodePhrase(CCodePhrase),
    /// `C_DV_ORDINAL`, short form `0|[local::at0001], 1|[local::at0002]` or dADL.
    Ordinal(CDvOrdinal),
    /// `C_DV_QUANTITY` in dADL.
    Quantity(CDvQuantity),
}

impl CObject {
    /// The at-code of the object, if it has one.
    pub fn node_id(&self) -> Option<&str> {
        match self {
            CObject::Complex(c) => c.node_id.as_deref(),
            CObject::Slot(s) => s.node_id.as_deref(),
            _ => None,
        }
    }

    /// The RM type the object constrains.
    pub fn rm_type(&self) -> &str {
        match self {
            CObject::Complex(c) => &c.rm_type,
            CObject::Slot(s) => &s.rm_type,
            CObject::InternalRef(r) => &r.rm_type,
            CObject::ConstraintRef(_) | CObject::CodePhrase(_) => "CODE_PHRASE",
            CObject::Primitive(p) => p.type_name(),
            CObject::Ordinal(_) => "DV_ORDINAL",
            CObject::Quantity(_) => "DV_QUANTITY",
        }
    }

    /// The declared occurrences, if any.
    pub fn occurrences(&self) -> Option<Multiplicity> {
        match self {
            CObject::Complex(c) => c.occurrences,
            CObject::Slot(s) => s.occurrences,
            CObject::InternalRef(r) => r.occurrences,
            _ => None,
        }
    }

    /// Where the object starts in the source.
    pub fn pos(&self) -> Pos {
        match self {
            CObject::Complex(c) => c.pos,
            CObject::Slot(s) => s.pos,
            CObject::InternalRef(r) => r.pos,
            CObject::ConstraintRef(r) => r.pos,
            CObject::Primitive(p) => p.pos,
            CObject::CodePhrase(c) => c.pos,
            CObject::Ordinal(o) => o.pos,
            CObject::Quantity(q) => q.pos,
        }
    }
}

/// `TYPE[atNNNN] occurrences matches {…} matches { attributes }`
#[derive(Debug, Clone, PartialEq)]
pub struct CComplexObject {
    /// The RM type, e.g. `ELEMENT` or `DV_INTERVAL<DV_QUANTITY>`.
    pub rm_type: String,
    /// The at-code.
    pub node_id: Option<String>,
    /// The occurrences, when given.
    pub occurrences: Option<Multiplicity>,
    /// `matches {*}`: any instance of the type.
    pub any: bool,
    /// The constrained attributes.
    pub attributes: Vec<CAttribute>,
    /// Where the object starts.
    pub pos: Pos,
}

impl CComplexObject {
    /// An object of `rm_type` with no constraints.
    pub fn new(rm_type: impl Into<String>, node_id: Option<String>) -> Self {
        CComplexObject {
            rm_type: rm_type.into(),
            node_id,
            occurrences: None,
            any: false,
            attributes: Vec::new(),
            pos: Pos::default(),
        }
    }

    /// The attribute named `name`.
    pub fn attribute(&self, name: &str) -> Option<&CAttribute> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

/// An attribute constraint: `name existence matches {…} cardinality matches {…} matches {…}`.
#[derive(Debug, Clone, PartialEq)]
pub struct CAttribute {
    /// The RM attribute name.
    pub name: String,
    /// The existence, when given.
    pub existence: Option<Multiplicity>,
    /// The cardinality, when given (container attributes).
    pub cardinality: Option<Cardinality>,
    /// `matches {*}`.
    pub any: bool,
    /// The alternatives (single-valued) or members (container).
    pub children: Vec<CObject>,
    /// Where the attribute starts.
    pub pos: Pos,
}

impl CAttribute {
    /// Whether the attribute is a container (has a cardinality).
    pub fn is_multiple(&self) -> bool {
        self.cardinality.is_some()
    }
}

/// `allow_archetype TYPE[atNNNN] occurrences matches {…} matches { include … exclude … }`
#[derive(Debug, Clone, PartialEq)]
pub struct ArchetypeSlot {
    /// The RM type of archetypes the slot admits.
    pub rm_type: String,
    /// The at-code.
    pub node_id: Option<String>,
    /// The occurrences, when given.
    pub occurrences: Option<Multiplicity>,
    /// `matches {*}`.
    pub any: bool,
    /// The include assertions.
    pub includes: Vec<Assertion>,
    /// The exclude assertions.
    pub excludes: Vec<Assertion>,
    /// Where the slot starts.
    pub pos: Pos,
}

/// `archetype_id/value matches {/regex/}`
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    /// The path on the left, e.g. `archetype_id/value`.
    pub path: String,
    /// The constraint on the right.
    pub constraint: CPrimitive,
    /// Where the assertion starts.
    pub pos: Pos,
}

/// `use_node TYPE occurrences matches {…} /path`
#[derive(Debug, Clone, PartialEq)]
pub struct InternalRef {
    /// The RM type of the referenced node.
    pub rm_type: String,
    /// The occurrences, when given.
    pub occurrences: Option<Multiplicity>,
    /// The archetype path of the referenced node.
    pub target: String,
    /// Where the reference starts.
    pub pos: Pos,
}

/// `[acNNNN]`: a value set named in the ontology's constraint definitions.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstraintRef {
    /// The ac-code.
    pub code: String,
    /// Where the reference starts.
    pub pos: Pos,
}

/// A constraint on a CODE_PHRASE: a terminology, the admitted codes and an assumed code.
#[derive(Debug, Clone, PartialEq)]
pub struct CCodePhrase {
    /// The terminology id (`local`, `openehr`, `SNOMED-CT`).
    pub terminology: String,
    /// The admitted codes (none: any code of the terminology).
    pub codes: Vec<String>,
    /// The assumed code.
    pub assumed: Option<String>,
    /// Where the constraint starts.
    pub pos: Pos,
}

/// A constraint on a DV_ORDINAL: the admitted (value, symbol) pairs and an assumed value.
#[derive(Debug, Clone, PartialEq)]
pub struct CDvOrdinal {
    /// The admitted ordinals.
    pub items: Vec<OrdinalItem>,
    /// The assumed value.
    pub assumed: Option<i64>,
    /// Where the constraint starts.
    pub pos: Pos,
}

/// One admitted ordinal: `0|[local::at0003]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrdinalItem {
    /// The number.
    pub value: i64,
    /// The symbol's code.
    pub symbol: TermCode,
}

/// A constraint on a DV_QUANTITY: a property, admitted units with magnitude and precision
/// limits, and an assumed value.
#[derive(Debug, Clone, PartialEq)]
pub struct CDvQuantity {
    /// The physical property (`[openehr::125]`).
    pub property: Option<TermCode>,
    /// The admitted units.
    pub list: Vec<QuantityItem>,
    /// The assumed value.
    pub assumed: Option<QuantityAssumed>,
    /// Where the constraint starts.
    pub pos: Pos,
}

/// One admitted unit of a [`CDvQuantity`].
#[derive(Debug, Clone, PartialEq)]
pub struct QuantityItem {
    /// The units (UCUM).
    pub units: String,
    /// The admitted magnitudes.
    pub magnitude: Option<Interval<f64>>,
    /// The admitted precisions.
    pub precision: Option<Interval<i64>>,
}

/// The assumed value of a [`CDvQuantity`].
#[derive(Debug, Clone, PartialEq)]
pub struct QuantityAssumed {
    /// Its units.
    pub units: Option<String>,
    /// Its magnitude.
    pub magnitude: Option<f64>,
    /// Its precision.
    pub precision: Option<i64>,
}

/// An interval; a missing bound is unbounded.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval<T> {
    /// The lower bound.
    pub lower: Option<T>,
    /// The upper bound.
    pub upper: Option<T>,
    /// Whether the lower bound is in the interval.
    pub lower_included: bool,
    /// Whether the upper bound is in the interval.
    pub upper_included: bool,
}

impl<T: PartialOrd> Interval<T> {
    /// `|v|`
    pub fn point(v: T) -> Self
    where
        T: Clone,
    {
        Interval {
            lower: Some(v.clone()),
            upper: Some(v),
            lower_included: true,
            upper_included: true,
        }
    }

    /// Whether every value of `other` lies in `self`.
    pub fn contains(&self, other: &Interval<T>) -> bool {
        let lower_ok = match (&self.lower, &other.lower) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => {
                a < b || (a == b && (self.lower_included || !other.lower_included))
            }
        };
        let upper_ok = match (&self.upper, &other.upper) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => {
                b < a || (a == b && (self.upper_included || !other.upper_included))
            }
        };
        lower_ok && upper_ok
    }
}

/// One item of a primitive constraint's list: a value or an interval.
#[derive(Debug, Clone, PartialEq)]
pub enum Item<T> {
    /// A single value.
    Value(T),
    /// An interval of values.
    Range(Interval<T>),
}

impl<T: PartialOrd + Clone> Item<T> {
    /// The item as an interval.
    pub fn as_interval(&self) -> Interval<T> {
        match self {
            Item::Value(v) => Interval::point(v.clone()),
            Item::Range(r) => r.clone(),
        }
    }
}

/// The kinds of date/time constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemporalKind {
    /// ISO 8601 date (`yyyy-mm-dd`).
    Date,
    /// ISO 8601 time (`HH:MM:SS`).
    Time,
    /// ISO 8601 date and time.
    DateTime,
    /// ISO 8601 duration (`PYMWDTHMS`).
    Duration,
}

/// A primitive constraint.
#[derive(Debug, Clone, PartialEq)]
pub struct CPrimitive {
    /// What it constrains, and how.
    pub kind: PrimitiveKind,
    /// Where the constraint starts.
    pub pos: Pos,
}

/// The kinds of primitive constraint, with their values.
#[derive(Debug, Clone, PartialEq)]
pub enum PrimitiveKind {
    /// Strings: a list of values or a regular expression.
    String {
        /// The admitted strings.
        values: Vec<String>,
        /// A regular expression (without delimiters; `\/` unescaped).
        pattern: Option<String>,
        /// The assumed value.
        assumed: Option<String>,
    },
    /// Integers: values and intervals.
    Integer {
        /// The admitted values and intervals.
        items: Vec<Item<i64>>,
        /// The assumed value.
        assumed: Option<i64>,
    },
    /// Reals: values and intervals.
    Real {
        /// The admitted values and intervals.
        items: Vec<Item<f64>>,
        /// The assumed value.
        assumed: Option<f64>,
    },
    /// Booleans: the admitted values in the order written.
    Boolean {
        /// The admitted values.
        values: Vec<bool>,
        /// The assumed value.
        assumed: Option<bool>,
    },
    /// Dates, times, date-times and durations: a pattern (with, for durations, an interval),
    /// or values and intervals, as ISO 8601 text.
    Temporal {
        /// Which temporal type.
        kind: TemporalKind,
        /// The pattern (`yyyy-mm-dd`, `PYMWD`).
        pattern: Option<String>,
        /// The admitted values and intervals.
        items: Vec<Item<String>>,
        /// The assumed value.
        assumed: Option<String>,
    },
}

impl CPrimitive {
    /// The RM primitive type name it constrains.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            PrimitiveKind::String { .. } => "STRING",
            PrimitiveKind::Integer { .. } => "INTEGER",
            PrimitiveKind::Real { .. } => "REAL",
            PrimitiveKind::Boolean { .. } => "BOOLEAN",
            PrimitiveKind::Temporal { kind, .. } => match kind {
                TemporalKind::Date => "DATE",
                TemporalKind::Time => "TIME",
                TemporalKind::DateTime => "DATE_TIME",
                TemporalKind::Duration => "DURATION",
            },
        }
    }
}

/// Term or constraint definitions: per language, the terms.
pub type Definitions = Vec<(String, Vec<ArchetypeTerm>)>;

/// Term or constraint bindings: per terminology, code (or path) → the bound value.
pub type Bindings = Vec<(String, Vec<(String, Dadl)>)>;

/// The ontology: terms and constraints defined in every language, and their bindings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ontology {
    /// `terminologies_available`.
    pub terminologies_available: Vec<String>,
    /// `term_definitions`: per language, the terms.
    pub term_definitions: Definitions,
    /// `constraint_definitions`: per language, the ac-code definitions.
    pub constraint_definitions: Definitions,
    /// `term_bindings`: per terminology, code (or path) → bound term code.
    pub term_bindings: Bindings,
    /// `constraint_bindings`: per terminology, ac-code → bound value set (a URI).
    pub constraint_bindings: Bindings,
    /// Other attributes of the section (e.g. `terminology_extracts`), kept as dADL.
    pub other: Vec<(String, Dadl)>,
    /// Where the section starts.
    pub pos: Pos,
}

impl Ontology {
    /// The term definitions of `language`.
    pub fn terms(&self, language: &str) -> Option<&[ArchetypeTerm]> {
        self.term_definitions
            .iter()
            .find(|(l, _)| l == language)
            .map(|(_, t)| t.as_slice())
    }

    /// The term `code` in `language`.
    pub fn term(&self, language: &str, code: &str) -> Option<&ArchetypeTerm> {
        self.terms(language)?.iter().find(|t| t.code == code)
    }
}

/// A term or constraint definition: its code and items (`text`, `description`, `comment`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchetypeTerm {
    /// The at- or ac-code.
    pub code: String,
    /// The items in the order written.
    pub items: Vec<(String, String)>,
    /// Where the definition starts.
    pub pos: Pos,
}

impl ArchetypeTerm {
    /// The item `key` (e.g. `text`).
    pub fn item(&self, key: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}
