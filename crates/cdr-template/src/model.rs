//! The constraint tree of an operational template (AOM 1.4 as used by OPT 1.4).
//!
//! The tree is owned and recursive: a [`CObject`] holds its [`CAttribute`]s, which hold their
//! child `CObject`s. Every C_ARCHETYPE_ROOT carries the term definitions of its archetype, so a
//! local code is always resolved against the nearest enclosing root.

use std::collections::HashMap;

/// An interval of integers or reals, as used by occurrences, existence, cardinality and ranges.
/// A missing bound is unbounded.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval<T> {
    pub lower: Option<T>,
    pub upper: Option<T>,
    pub lower_included: bool,
    pub upper_included: bool,
}

impl<T> Interval<T> {
    /// The closed interval `lower..=upper`.
    pub fn closed(lower: T, upper: T) -> Self {
        Interval {
            lower: Some(lower),
            upper: Some(upper),
            lower_included: true,
            upper_included: true,
        }
    }

    /// `lower..*` with the lower bound included.
    pub fn at_least(lower: T) -> Self {
        Interval {
            lower: Some(lower),
            upper: None,
            lower_included: true,
            upper_included: false,
        }
    }
}

impl<T: PartialOrd + Copy> Interval<T> {
    /// Whether `v` lies in the interval, respecting open and closed ends.
    pub fn contains(&self, v: T) -> bool {
        let lower_ok = match self.lower {
            None => true,
            Some(l) if self.lower_included => v >= l,
            Some(l) => v > l,
        };
        let upper_ok = match self.upper {
            None => true,
            Some(u) if self.upper_included => v <= u,
            Some(u) => v < u,
        };
        lower_ok && upper_ok
    }
}

impl Interval<i64> {
    /// The smallest count the interval allows (0 when unbounded below).
    pub fn min_count(&self) -> i64 {
        match self.lower {
            None => 0,
            Some(l) if self.lower_included => l,
            Some(l) => l.saturating_add(1),
        }
    }

    /// The largest count the interval allows (`None` when unbounded above).
    pub fn max_count(&self) -> Option<i64> {
        match self.upper {
            None => None,
            Some(u) if self.upper_included => Some(u),
            Some(u) => Some(u.saturating_sub(1)),
        }
    }
}

/// An operational template: its identity and the root of its constraint tree.
#[derive(Debug, Clone)]
pub struct Template {
    /// `template_id/value`: the id used in REST and in `archetype_details/template_id`.
    pub template_id: String,
    /// `uid/value`, when present.
    pub uid: Option<String>,
    /// `concept`.
    pub concept: String,
    /// The template's original language (`language/code_string`), e.g. `en`.
    pub language: String,
    /// The languages of `description/details` (the original language first when listed), e.g.
    /// `["en", "de"]`. Empty when the OPT has no description details.
    pub languages: Vec<String>,
    /// `description/details` purposes etc. are not kept; the root constraint is.
    pub definition: CObject,
    /// Annotations by path (`annotations path="…"` → key/value items).
    pub annotations: HashMap<String, Vec<(String, String)>>,
    /// Default values from the template's `constraints` section, in document order.
    pub default_values: Vec<DefaultValue>,
    /// AQL-style path (as produced by [`CObject`] walking, e.g.
    /// `/content[openEHR-EHR-OBSERVATION.blood_pressure.v2]/data[at0001]`) → the route to the
    /// constraint node(s) at that path. Several nodes can share a path (same node id, different
    /// names); each entry is the list of (attribute index, child index) steps from the root.
    pub path_index: HashMap<String, Vec<NodeRoute>>,
    /// What a later stage derives from the template once (the forms crate's web template), kept
    /// with it so that a cached template caches that too.
    pub derived: Derived,
}

/// One value derived from a [`Template`] and built on first use. The slot holds a single value
/// of a single type: the first `get_or_init` decides the type, and asking for another type
/// afterwards gets `None`.
#[derive(Default)]
pub struct Derived(std::sync::OnceLock<Box<dyn std::any::Any + Send + Sync>>);

impl Derived {
    /// The value, built by `init` if the slot is still empty; `None` when the slot already
    /// holds a value of another type.
    pub fn get_or_init<T: std::any::Any + Send + Sync>(
        &self,
        init: impl FnOnce() -> T,
    ) -> Option<&T> {
        self.0.get_or_init(|| Box::new(init())).downcast_ref()
    }
}

/// A clone starts empty and derives its value again when asked.
impl Clone for Derived {
    fn clone(&self) -> Self {
        Derived::default()
    }
}

impl std::fmt::Debug for Derived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "Derived(built)"
        } else {
            "Derived(empty)"
        })
    }
}

/// A default value the template sets on an attribute (`constraints/attributes` with a
/// `default_value`).
#[derive(Debug, Clone, PartialEq)]
pub struct DefaultValue {
    /// `differential_path` with the root archetype id removed and name predicates written
    /// `[at0001,'Name']`, e.g. `/content[openEHR-EHR-OBSERVATION.x.v1]/data[at0001]/items[at0004]`.
    pub path: String,
    /// `rm_attribute_name`, e.g. `value`.
    pub attribute: String,
    /// The `xsi:type` of the default value, e.g. `DV_CODED_TEXT`.
    pub rm_type: String,
    /// Its leaf fields: `value`, `magnitude`, `units`, `numerator`, …; a coded value's
    /// `defining_code/code_string` is listed as `defining_code`.
    pub fields: Vec<(String, String)>,
}

/// Steps from the template root to one constraint node: `(attribute index, child index)` pairs.
pub type NodeRoute = Vec<(u32, u32)>;

/// A constraint on an RM object (C_OBJECT and its descendants).
#[derive(Debug, Clone, PartialEq)]
pub struct CObject {
    /// `rm_type_name`, verbatim (generic names such as `DV_INTERVAL<DV_COUNT>` are kept as written).
    pub rm_type_name: String,
    /// `node_id`: an at-code, or empty for nodes that carry none (primitives, domain types).
    pub node_id: String,
    /// `occurrences`; OPTs always state it, the default is 1..1.
    pub occurrences: Interval<i64>,
    pub kind: CObjectKind,
}

/// What kind of constraint a [`CObject`] is.
#[derive(Debug, Clone, PartialEq)]
pub enum CObjectKind {
    /// C_COMPLEX_OBJECT: constrains attributes; no attributes means any RM-valid instance.
    Complex { attributes: Vec<CAttribute> },
    /// C_ARCHETYPE_ROOT: where an archetype is used. `node_id` of the CObject is the at-code of
    /// the root (usually `at0000`); instances carry `archetype_id` as `archetype_node_id`.
    ArchetypeRoot(Box<ArchetypeRoot>),
    /// ARCHETYPE_SLOT left unfilled.
    Slot(ArchetypeSlot),
    /// ARCHETYPE_INTERNAL_REF: use the constraint at `target_path` (relative to the enclosing
    /// archetype root, as written in the OPT).
    InternalRef { target_path: String },
    /// CONSTRAINT_REF (`acNNNN`): an external value set.
    ConstraintRef { reference: String },
    /// C_PRIMITIVE_OBJECT.
    Primitive(CPrimitive),
    /// C_CODE_PHRASE, and C_CODE_REFERENCE (then `reference_set_uri` is set).
    CodePhrase(CCodePhrase),
    /// C_DV_QUANTITY.
    DvQuantity(CDvQuantity),
    /// C_DV_ORDINAL.
    DvOrdinal(CDvOrdinal),
    /// C_DV_STATE (kept opaque; it is rare).
    DvState,
}

/// A C_ARCHETYPE_ROOT.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchetypeRoot {
    pub archetype_id: String,
    pub template_id: Option<String>,
    pub attributes: Vec<CAttribute>,
    /// Term definitions of this archetype: at-code → term. OPTs carry one language (the
    /// template's); `text` is the rubric, `description` the description.
    pub terms: HashMap<String, Term>,
    /// Term bindings: terminology → (at-code → bound code string).
    pub term_bindings: HashMap<String, HashMap<String, String>>,
}

/// One entry of `term_definitions`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Term {
    pub text: String,
    pub description: String,
    /// Any other items (`comment`, …) in document order.
    pub other: Vec<(String, String)>,
}

/// An ARCHETYPE_SLOT: archetype ids allowed (`includes`) and forbidden (`excludes`), as the
/// regular expressions found in `archetype_id/value matches {/…/}` assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchetypeSlot {
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
    /// Attributes, should a slot carry any (rare).
    pub attributes: Vec<CAttribute>,
}

/// A constraint on an attribute (C_SINGLE_ATTRIBUTE or C_MULTIPLE_ATTRIBUTE).
#[derive(Debug, Clone, PartialEq)]
pub struct CAttribute {
    pub rm_attribute_name: String,
    /// `existence`; default 1..1 when absent from the XML.
    pub existence: Interval<i64>,
    /// `Some` for C_MULTIPLE_ATTRIBUTE.
    pub cardinality: Option<Cardinality>,
    /// Alternatives (single) or member constraints (multiple). Empty means open.
    pub children: Vec<CObject>,
}

impl CAttribute {
    /// Whether this is a C_MULTIPLE_ATTRIBUTE.
    pub fn is_multiple(&self) -> bool {
        self.cardinality.is_some()
    }
}

/// The cardinality of a container attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct Cardinality {
    pub is_ordered: bool,
    pub is_unique: bool,
    pub interval: Interval<i64>,
}

/// C_PRIMITIVE leaf constraints.
#[derive(Debug, Clone, PartialEq)]
pub enum CPrimitive {
    String {
        pattern: Option<String>,
        list: Vec<String>,
        list_open: bool,
        assumed: Option<String>,
    },
    Integer {
        list: Vec<i64>,
        range: Option<Interval<i64>>,
        assumed: Option<i64>,
    },
    Real {
        list: Vec<f64>,
        range: Option<Interval<f64>>,
        assumed: Option<f64>,
    },
    Boolean {
        true_valid: bool,
        false_valid: bool,
        assumed: Option<bool>,
    },
    /// C_DATE, C_TIME, C_DATE_TIME: `pattern` like `yyyy-mm-ddTHH:MM:SS` (letters mandatory,
    /// `??` optional, `XX` forbidden); `timezone_validity` 1001 mandatory, 1002 optional,
    /// 1003 disallowed; `range` bounds as ISO 8601 strings.
    Date {
        pattern: Option<String>,
        timezone_validity: Option<i64>,
        range: Option<Interval<String>>,
    },
    Time {
        pattern: Option<String>,
        timezone_validity: Option<i64>,
        range: Option<Interval<String>>,
    },
    DateTime {
        pattern: Option<String>,
        timezone_validity: Option<i64>,
        range: Option<Interval<String>>,
    },
    /// C_DURATION: `pattern` such as `PYMWDTHMS` or `PTHMS`; `range` as ISO 8601 durations.
    Duration {
        pattern: Option<String>,
        range: Option<Interval<String>>,
    },
}

/// C_CODE_PHRASE / C_CODE_REFERENCE.
#[derive(Debug, Clone, PartialEq)]
pub struct CCodePhrase {
    pub terminology_id: Option<String>,
    pub code_list: Vec<String>,
    pub assumed: Option<(String, String)>,
    /// Set for C_CODE_REFERENCE (`referenceSetUri`).
    pub reference_set_uri: Option<String>,
}

/// C_DV_QUANTITY.
#[derive(Debug, Clone, PartialEq)]
pub struct CDvQuantity {
    /// `property` as (terminology, code).
    pub property: Option<(String, String)>,
    pub list: Vec<CQuantityItem>,
    pub assumed: Option<(f64, String)>,
}

/// One item of a C_DV_QUANTITY list.
#[derive(Debug, Clone, PartialEq)]
pub struct CQuantityItem {
    pub units: String,
    pub magnitude: Option<Interval<f64>>,
    pub precision: Option<Interval<i64>>,
}

/// C_DV_ORDINAL.
#[derive(Debug, Clone, PartialEq)]
pub struct CDvOrdinal {
    pub list: Vec<COrdinalItem>,
    pub assumed: Option<i64>,
}

/// One DV_ORDINAL allowed by a C_DV_ORDINAL.
#[derive(Debug, Clone, PartialEq)]
pub struct COrdinalItem {
    pub value: i64,
    /// `symbol/defining_code` as (terminology, code).
    pub terminology_id: String,
    pub code_string: String,
}

impl CObject {
    /// The attributes of a complex object or archetype root (empty for other kinds).
    pub fn attributes(&self) -> &[CAttribute] {
        match &self.kind {
            CObjectKind::Complex { attributes } => attributes,
            CObjectKind::ArchetypeRoot(root) => &root.attributes,
            CObjectKind::Slot(slot) => &slot.attributes,
            _ => &[],
        }
    }

    /// The attribute constraint named `name`, if any.
    pub fn attribute(&self, name: &str) -> Option<&CAttribute> {
        self.attributes()
            .iter()
            .find(|a| a.rm_attribute_name == name)
    }

    /// The archetype root, if this is one.
    pub fn as_archetype_root(&self) -> Option<&ArchetypeRoot> {
        match &self.kind {
            CObjectKind::ArchetypeRoot(root) => Some(root),
            _ => None,
        }
    }

    /// The node id an instance must carry as `archetype_node_id`: the archetype id for
    /// archetype roots, the at-code otherwise.
    pub fn instance_node_id(&self) -> &str {
        match &self.kind {
            CObjectKind::ArchetypeRoot(root) => &root.archetype_id,
            _ => &self.node_id,
        }
    }

    /// The RM type name without generic parameters (`DV_INTERVAL<DV_COUNT>` → `DV_INTERVAL`).
    pub fn base_rm_type(&self) -> &str {
        match self.rm_type_name.find('<') {
            Some(i) => &self.rm_type_name[..i],
            None => &self.rm_type_name,
        }
    }
}
