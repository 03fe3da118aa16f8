//! Reflection over RM objects: attribute metadata, a uniform read-only view of values, and the
//! RM type hierarchy.
//!
//! Every RM class and every polymorphic family implements [`RmObject`], so generic code (the
//! JSON and XML writers, the validator, later the indexer and the AQL oracle) can walk any RM
//! tree without knowing its Rust types.

/// How an attribute is constrained by the RM itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrKind {
    /// RM-mandatory (an object or a primitive), but kept optional in memory so that the
    /// validator can report its absence.
    Mandatory,
    /// Optional.
    Optional,
    /// A list, possibly empty.
    List,
    /// A list the RM requires to be non-empty (checked by the validator).
    MandatoryList,
}

impl AttrKind {
    /// Whether the RM requires the attribute to be present (non-empty for lists).
    pub fn is_mandatory(self) -> bool {
        matches!(self, AttrKind::Mandatory | AttrKind::MandatoryList)
    }

    /// Whether the attribute is a container.
    pub fn is_list(self) -> bool {
        matches!(self, AttrKind::List | AttrKind::MandatoryList)
    }
}

/// Metadata of one RM attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrInfo {
    /// The RM attribute name (also the JSON key and the XML element name).
    pub name: &'static str,
    /// The statically declared RM type (`DV_TEXT`, `DATA_VALUE`, `String`, `Integer`, …).
    pub declared: &'static str,
    /// Whether the declared type admits several runtime types (then `_type` is needed).
    pub polymorphic: bool,
    pub kind: AttrKind,
}

impl AttrInfo {
    /// Whether this attribute is written as an XML attribute rather than an element.
    pub fn is_xml_attribute(&self) -> bool {
        self.name == "archetype_node_id"
    }
}

/// One value in an RM tree.
#[derive(Clone, Copy)]
pub enum Value<'a> {
    Object(&'a dyn RmObject),
    Str(&'a str),
    Int(i64),
    Real(f64),
    Bool(bool),
}

impl std::fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Object(o) => write!(f, "Object({})", o.rm_type()),
            Value::Str(s) => write!(f, "Str({s:?})"),
            Value::Int(i) => write!(f, "Int({i})"),
            Value::Real(r) => write!(f, "Real({r})"),
            Value::Bool(b) => write!(f, "Bool({b})"),
        }
    }
}

impl<'a> Value<'a> {
    /// The object, if this value is one.
    pub fn as_object(self) -> Option<&'a dyn RmObject> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The string, if this value is one.
    pub fn as_str(self) -> Option<&'a str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A list attribute seen through reflection.
pub trait RmList {
    fn len(&self) -> usize;
    fn get(&self, i: usize) -> Value<'_>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: AsValue> RmList for Vec<T> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn get(&self, i: usize) -> Value<'_> {
        self[i].as_value()
    }
}

/// The value of one attribute of an object.
#[derive(Clone, Copy)]
pub enum Attr<'a> {
    /// Absent (None, or an empty list).
    Absent,
    One(Value<'a>),
    Many(&'a dyn RmList),
}

impl std::fmt::Debug for Attr<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Attr::Absent => write!(f, "Absent"),
            Attr::One(v) => write!(f, "One({v:?})"),
            Attr::Many(l) => write!(f, "Many(len {})", l.len()),
        }
    }
}

impl<'a> Attr<'a> {
    /// The single value, if the attribute holds exactly one.
    pub fn one(self) -> Option<Value<'a>> {
        match self {
            Attr::One(v) => Some(v),
            _ => None,
        }
    }

    /// Number of values held.
    pub fn count(&self) -> usize {
        match self {
            Attr::Absent => 0,
            Attr::One(_) => 1,
            Attr::Many(l) => l.len(),
        }
    }

    /// The values held, in order.
    pub fn values(self) -> impl Iterator<Item = Value<'a>> {
        let (one, many) = match self {
            Attr::Absent => (None, None),
            Attr::One(v) => (Some(v), None),
            Attr::Many(l) => (None, Some(l)),
        };
        one.into_iter().chain(
            many.into_iter()
                .flat_map(|l| (0..l.len()).map(move |i| l.get(i))),
        )
    }
}

/// Read-only reflection over an RM object.
pub trait RmObject {
    /// The runtime RM type name (`DV_QUANTITY`).
    fn rm_type(&self) -> &'static str;
    /// Metadata of all attributes of the runtime type, in RM/XSD order.
    fn attr_infos(&self) -> &'static [AttrInfo];
    /// The attribute at index `i` of [`attr_infos`](Self::attr_infos).
    fn attr_at(&self, i: usize) -> Attr<'_>;

    /// The attribute named `name` (Absent when unknown or unset).
    fn attr(&self, name: &str) -> Attr<'_> {
        match self.attr_infos().iter().position(|a| a.name == name) {
            Some(i) => self.attr_at(i),
            None => Attr::Absent,
        }
    }

    /// `archetype_node_id`, for LOCATABLEs.
    fn archetype_node_id(&self) -> Option<&str> {
        self.attr("archetype_node_id").one().and_then(Value::as_str)
    }

    /// `name/value`, for LOCATABLEs.
    fn name_value(&self) -> Option<&str> {
        self.attr("name")
            .one()?
            .as_object()?
            .attr("value")
            .one()?
            .as_str()
    }
}

impl std::fmt::Debug for dyn RmObject + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{}>", self.rm_type())
    }
}

/// Conversion of a field value into a reflection [`Value`].
pub trait AsValue {
    fn as_value(&self) -> Value<'_>;
}

impl AsValue for String {
    fn as_value(&self) -> Value<'_> {
        Value::Str(self)
    }
}
impl AsValue for f64 {
    fn as_value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}
impl AsValue for i64 {
    fn as_value(&self) -> Value<'_> {
        Value::Int(*self)
    }
}
impl AsValue for bool {
    fn as_value(&self) -> Value<'_> {
        Value::Bool(*self)
    }
}
impl<T: AsValue> AsValue for Box<T> {
    fn as_value(&self) -> Value<'_> {
        (**self).as_value()
    }
}

/// The statically declared RM type of a Rust field type.
pub trait RmTyped {
    const RM_TYPE: &'static str;
    const POLYMORPHIC: bool = false;
}
impl RmTyped for String {
    const RM_TYPE: &'static str = "String";
}
impl RmTyped for f64 {
    const RM_TYPE: &'static str = "Real";
}
impl RmTyped for i64 {
    const RM_TYPE: &'static str = "Integer";
}
impl RmTyped for bool {
    const RM_TYPE: &'static str = "Boolean";
}
impl<T: RmTyped> RmTyped for Box<T> {
    const RM_TYPE: &'static str = T::RM_TYPE;
    const POLYMORPHIC: bool = T::POLYMORPHIC;
}

/// Direct parent of each RM type (abstract ones included); `None` for roots and unknown names.
/// A `match` on the name, which compiles to a length switch and a few comparisons.
fn parent_of(name: &str) -> Option<&'static str> {
    Some(match name {
        "DV_BOOLEAN" => "DATA_VALUE",
        "DV_STATE" => "DATA_VALUE",
        "DV_IDENTIFIER" => "DATA_VALUE",
        "DV_TEXT" => "DATA_VALUE",
        "DV_CODED_TEXT" => "DV_TEXT",
        "DV_PARAGRAPH" => "DATA_VALUE",
        "DV_ORDERED" => "DATA_VALUE",
        "DV_INTERVAL" => "DATA_VALUE",
        "DV_QUANTIFIED" => "DV_ORDERED",
        "DV_AMOUNT" => "DV_QUANTIFIED",
        "DV_ABSOLUTE_QUANTITY" => "DV_QUANTIFIED",
        "DV_TEMPORAL" => "DV_ABSOLUTE_QUANTITY",
        "DV_QUANTITY" => "DV_AMOUNT",
        "DV_COUNT" => "DV_AMOUNT",
        "DV_PROPORTION" => "DV_AMOUNT",
        "DV_DURATION" => "DV_AMOUNT",
        "DV_ORDINAL" => "DV_ORDERED",
        "DV_SCALE" => "DV_ORDERED",
        "DV_DATE_TIME" => "DV_TEMPORAL",
        "DV_DATE" => "DV_TEMPORAL",
        "DV_TIME" => "DV_TEMPORAL",
        "DV_ENCAPSULATED" => "DATA_VALUE",
        "DV_MULTIMEDIA" => "DV_ENCAPSULATED",
        "DV_PARSABLE" => "DV_ENCAPSULATED",
        "DV_URI" => "DATA_VALUE",
        "DV_EHR_URI" => "DV_URI",
        "DV_TIME_SPECIFICATION" => "DATA_VALUE",
        "DV_GENERAL_TIME_SPECIFICATION" => "DV_TIME_SPECIFICATION",
        "DV_PERIODIC_TIME_SPECIFICATION" => "DV_TIME_SPECIFICATION",
        "LOCATABLE" => "PATHABLE",
        "DATA_STRUCTURE" => "LOCATABLE",
        "ITEM_STRUCTURE" => "DATA_STRUCTURE",
        "ITEM_TREE" => "ITEM_STRUCTURE",
        "ITEM_LIST" => "ITEM_STRUCTURE",
        "ITEM_SINGLE" => "ITEM_STRUCTURE",
        "ITEM_TABLE" => "ITEM_STRUCTURE",
        "HISTORY" => "DATA_STRUCTURE",
        "ITEM" => "LOCATABLE",
        "CLUSTER" => "ITEM",
        "ELEMENT" => "ITEM",
        "EVENT" => "LOCATABLE",
        "POINT_EVENT" => "EVENT",
        "INTERVAL_EVENT" => "EVENT",
        "COMPOSITION" => "LOCATABLE",
        "CONTENT_ITEM" => "LOCATABLE",
        "SECTION" => "CONTENT_ITEM",
        "ENTRY" => "CONTENT_ITEM",
        "GENERIC_ENTRY" => "CONTENT_ITEM",
        "ADMIN_ENTRY" => "ENTRY",
        "CARE_ENTRY" => "ENTRY",
        "OBSERVATION" => "CARE_ENTRY",
        "EVALUATION" => "CARE_ENTRY",
        "INSTRUCTION" => "CARE_ENTRY",
        "ACTION" => "CARE_ENTRY",
        "ACTIVITY" => "LOCATABLE",
        "ISM_TRANSITION" => "PATHABLE",
        "INSTRUCTION_DETAILS" => "PATHABLE",
        "EVENT_CONTEXT" => "PATHABLE",
        "EHR_STATUS" => "LOCATABLE",
        "FOLDER" => "LOCATABLE",
        "PARTY_SELF" => "PARTY_PROXY",
        "PARTY_IDENTIFIED" => "PARTY_PROXY",
        "PARTY_RELATED" => "PARTY_IDENTIFIED",
        "ATTESTATION" => "AUDIT_DETAILS",
        "ORIGINAL_VERSION" => "VERSION",
        "IMPORTED_VERSION" => "VERSION",
        "VERSIONED_COMPOSITION" => "VERSIONED_OBJECT",
        "VERSIONED_EHR_STATUS" => "VERSIONED_OBJECT",
        "VERSIONED_FOLDER" => "VERSIONED_OBJECT",
        "UID_BASED_ID" => "OBJECT_ID",
        "HIER_OBJECT_ID" => "UID_BASED_ID",
        "OBJECT_VERSION_ID" => "UID_BASED_ID",
        "ARCHETYPE_ID" => "OBJECT_ID",
        "TEMPLATE_ID" => "OBJECT_ID",
        "TERMINOLOGY_ID" => "OBJECT_ID",
        "GENERIC_ID" => "OBJECT_ID",
        "PARTY_REF" => "OBJECT_REF",
        "LOCATABLE_REF" => "OBJECT_REF",
        "ACCESS_GROUP_REF" => "OBJECT_REF",
        _ => return None,
    })
}

/// RM types that are abstract (never the runtime type of an instance).
pub const ABSTRACT_TYPES: &[&str] = &[
    "DATA_VALUE",
    "DV_ORDERED",
    "DV_QUANTIFIED",
    "DV_AMOUNT",
    "DV_ABSOLUTE_QUANTITY",
    "DV_TEMPORAL",
    "DV_ENCAPSULATED",
    "DV_TIME_SPECIFICATION",
    "PATHABLE",
    "LOCATABLE",
    "DATA_STRUCTURE",
    "ITEM_STRUCTURE",
    "ITEM",
    "EVENT",
    "CONTENT_ITEM",
    "ENTRY",
    "CARE_ENTRY",
    "PARTY_PROXY",
    "VERSION",
    "VERSIONED_OBJECT",
    "OBJECT_ID",
    "UID_BASED_ID",
];

/// Strips generic parameters: `DV_INTERVAL<DV_COUNT>` → `DV_INTERVAL`.
#[inline]
pub fn base_type_name(name: &str) -> &str {
    if !name.ends_with('>') {
        return name;
    }
    match name.find('<') {
        Some(i) => name[..i].trim(),
        None => name,
    }
}

/// The direct parent of an RM type.
pub fn parent_type(name: &str) -> Option<&'static str> {
    parent_of(base_type_name(name))
}

/// Whether `sub` is `sup` or one of its descendants (generic parameters ignored).
pub fn conforms_to(sub: &str, sup: &str) -> bool {
    if sub == sup {
        return true;
    }
    let sup = base_type_name(sup);
    let mut cur = base_type_name(sub);
    loop {
        if cur == sup {
            return true;
        }
        match parent_of(cur) {
            Some(p) => cur = p,
            None => return false,
        }
    }
}

/// Whether the type is abstract.
pub fn is_abstract(name: &str) -> bool {
    ABSTRACT_TYPES.contains(&base_type_name(name))
}

/// Keys some producers add that carry only data derivable from other attributes; they are
/// accepted and dropped. Archie (and so EHRbase's XML output) writes the parts of an
/// ARCHETYPE_ID as elements beside `value`.
pub fn is_derived_key(rm_type: &str, key: &str) -> bool {
    rm_type == "ARCHETYPE_ID"
        && matches!(
            key,
            "qualifiedRmEntity"
                | "domainConcept"
                | "rmOriginator"
                | "rmName"
                | "rmEntity"
                | "specialisation"
                | "versionId"
                | "semanticId"
                | "conceptId"
                | "namespace"
        )
}
