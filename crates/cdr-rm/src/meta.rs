//! Reflection over RM objects: attribute metadata, a uniform read-only view of values, and the
//! RM type hierarchy.
//!
//! Every RM class and every polymorphic family implements [`RmObject`], so generic code (the
//! JSON and XML writers, the validator, the indexer) can walk any RM tree without knowing its
//! Rust types. [`RmType`] names every RM class, abstract ones included, with its place in the
//! hierarchy and (for concrete classes) the attribute metadata of its `rm_struct!`
//! declaration; the AQL binder types paths with it.

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

/// Declares [`RmType`]: one variant per RM class, abstract ones included, each with its name,
/// its direct parent and, for classes declared with `rm_struct!`, that declaration (whose name
/// and attribute metadata the variant reports).
macro_rules! rm_types {
    ( $( $variant:ident = $name:literal $( : $parent:ident )? $( => $rust:ty )? ; )* ) => {
        /// An RM class: the closed set of classes cdr knows, abstract ones included.
        ///
        /// Concrete classes take their name and attributes from their `rm_struct!`
        /// declaration; the hierarchy (`parent`, `conforms_to`) is declared here once.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RmType {
            $( #[doc = $name] $variant, )*
        }

        impl RmType {
            /// Every RM class, in declaration order.
            pub const ALL: &'static [RmType] = &[ $( RmType::$variant, )* ];

            /// The RM class name (`DV_QUANTITY`).
            pub fn name(self) -> &'static str {
                match self { $( RmType::$variant => rm_types!(@name $name $( $rust )?), )* }
            }

            /// The direct parent class; `None` for roots.
            pub fn parent(self) -> Option<RmType> {
                match self { $( RmType::$variant => rm_types!(@parent $( $parent )?), )* }
            }

            /// Whether the class is abstract (never the runtime type of an instance).
            pub fn is_abstract(self) -> bool {
                match self { $( RmType::$variant => rm_types!(@abstract $( $rust )?), )* }
            }

            /// The attributes of a concrete class, in RM/XSD order (inherited ones included);
            /// empty for abstract classes.
            pub fn attributes(self) -> &'static [AttrInfo] {
                match self { $( RmType::$variant => rm_types!(@attrs $( $rust )?), )* }
            }

            /// The class named exactly `name`.
            fn from_name(name: &str) -> Option<RmType> {
                match name { $( $name => Some(RmType::$variant), )* _ => None }
            }
        }
    };
    (@name $name:literal $rust:ty) => { <$rust>::RM_TYPE };
    (@name $name:literal) => { $name };
    (@parent $parent:ident) => { Some(RmType::$parent) };
    (@parent) => { None };
    (@abstract $rust:ty) => { false };
    (@abstract) => { true };
    (@attrs $rust:ty) => { <$rust>::ATTRS };
    (@attrs) => { &[] };
}

rm_types! {
    DataValue = "DATA_VALUE";
    DvBoolean = "DV_BOOLEAN": DataValue => crate::DvBoolean;
    DvState = "DV_STATE": DataValue => crate::DvState;
    DvIdentifier = "DV_IDENTIFIER": DataValue => crate::DvIdentifier;
    DvText = "DV_TEXT": DataValue => crate::DvText;
    DvCodedText = "DV_CODED_TEXT": DvText => crate::DvCodedText;
    DvParagraph = "DV_PARAGRAPH": DataValue => crate::DvParagraph;
    DvOrdered = "DV_ORDERED": DataValue;
    DvInterval = "DV_INTERVAL": DataValue => crate::DvInterval;
    DvQuantified = "DV_QUANTIFIED": DvOrdered;
    DvAmount = "DV_AMOUNT": DvQuantified;
    DvAbsoluteQuantity = "DV_ABSOLUTE_QUANTITY": DvQuantified;
    DvTemporal = "DV_TEMPORAL": DvAbsoluteQuantity;
    DvQuantity = "DV_QUANTITY": DvAmount => crate::DvQuantity;
    DvCount = "DV_COUNT": DvAmount => crate::DvCount;
    DvProportion = "DV_PROPORTION": DvAmount => crate::DvProportion;
    DvDuration = "DV_DURATION": DvAmount => crate::DvDuration;
    DvOrdinal = "DV_ORDINAL": DvOrdered => crate::DvOrdinal;
    DvScale = "DV_SCALE": DvOrdered => crate::DvScale;
    DvDateTime = "DV_DATE_TIME": DvTemporal => crate::DvDateTime;
    DvDate = "DV_DATE": DvTemporal => crate::DvDate;
    DvTime = "DV_TIME": DvTemporal => crate::DvTime;
    DvEncapsulated = "DV_ENCAPSULATED": DataValue;
    DvMultimedia = "DV_MULTIMEDIA": DvEncapsulated => crate::DvMultimedia;
    DvParsable = "DV_PARSABLE": DvEncapsulated => crate::DvParsable;
    DvUri = "DV_URI": DataValue => crate::DvUri;
    DvEhrUri = "DV_EHR_URI": DvUri => crate::DvEhrUri;
    DvTimeSpecification = "DV_TIME_SPECIFICATION": DataValue;
    DvGeneralTimeSpecification = "DV_GENERAL_TIME_SPECIFICATION": DvTimeSpecification
        => crate::DvGeneralTimeSpecification;
    DvPeriodicTimeSpecification = "DV_PERIODIC_TIME_SPECIFICATION": DvTimeSpecification
        => crate::DvPeriodicTimeSpecification;
    CodePhrase = "CODE_PHRASE" => crate::CodePhrase;
    TermMapping = "TERM_MAPPING" => crate::TermMapping;
    ReferenceRange = "REFERENCE_RANGE" => crate::ReferenceRange;
    Pathable = "PATHABLE";
    Locatable = "LOCATABLE": Pathable;
    DataStructure = "DATA_STRUCTURE": Locatable;
    ItemStructure = "ITEM_STRUCTURE": DataStructure;
    ItemTree = "ITEM_TREE": ItemStructure => crate::ItemTree;
    ItemList = "ITEM_LIST": ItemStructure => crate::ItemList;
    ItemSingle = "ITEM_SINGLE": ItemStructure => crate::ItemSingle;
    ItemTable = "ITEM_TABLE": ItemStructure => crate::ItemTable;
    History = "HISTORY": DataStructure => crate::History;
    Item = "ITEM": Locatable;
    Cluster = "CLUSTER": Item => crate::Cluster;
    Element = "ELEMENT": Item => crate::Element;
    Event = "EVENT": Locatable;
    PointEvent = "POINT_EVENT": Event => crate::PointEvent;
    IntervalEvent = "INTERVAL_EVENT": Event => crate::IntervalEvent;
    Composition = "COMPOSITION": Locatable => crate::Composition;
    EventContext = "EVENT_CONTEXT": Pathable => crate::EventContext;
    ContentItem = "CONTENT_ITEM": Locatable;
    Section = "SECTION": ContentItem => crate::Section;
    Entry = "ENTRY": ContentItem;
    GenericEntry = "GENERIC_ENTRY": ContentItem => crate::GenericEntry;
    AdminEntry = "ADMIN_ENTRY": Entry => crate::AdminEntry;
    CareEntry = "CARE_ENTRY": Entry;
    Observation = "OBSERVATION": CareEntry => crate::Observation;
    Evaluation = "EVALUATION": CareEntry => crate::Evaluation;
    Instruction = "INSTRUCTION": CareEntry => crate::Instruction;
    Action = "ACTION": CareEntry => crate::Action;
    Activity = "ACTIVITY": Locatable => crate::Activity;
    IsmTransition = "ISM_TRANSITION": Pathable => crate::IsmTransition;
    InstructionDetails = "INSTRUCTION_DETAILS": Pathable => crate::InstructionDetails;
    EhrStatus = "EHR_STATUS": Locatable => crate::EhrStatus;
    Folder = "FOLDER": Locatable => crate::Folder;
    Archetyped = "ARCHETYPED" => crate::Archetyped;
    Link = "LINK" => crate::Link;
    FeederAudit = "FEEDER_AUDIT" => crate::FeederAudit;
    FeederAuditDetails = "FEEDER_AUDIT_DETAILS" => crate::FeederAuditDetails;
    PartyProxy = "PARTY_PROXY";
    PartySelf = "PARTY_SELF": PartyProxy => crate::PartySelf;
    PartyIdentified = "PARTY_IDENTIFIED": PartyProxy => crate::PartyIdentified;
    PartyRelated = "PARTY_RELATED": PartyIdentified => crate::PartyRelated;
    Participation = "PARTICIPATION" => crate::Participation;
    AuditDetails = "AUDIT_DETAILS" => crate::AuditDetails;
    Attestation = "ATTESTATION": AuditDetails => crate::Attestation;
    Contribution = "CONTRIBUTION" => crate::Contribution;
    Version = "VERSION";
    OriginalVersion = "ORIGINAL_VERSION": Version => crate::OriginalVersion;
    ImportedVersion = "IMPORTED_VERSION": Version => crate::ImportedVersion;
    VersionedObject = "VERSIONED_OBJECT";
    VersionedComposition = "VERSIONED_COMPOSITION": VersionedObject
        => crate::VersionedComposition;
    VersionedEhrStatus = "VERSIONED_EHR_STATUS": VersionedObject => crate::VersionedEhrStatus;
    VersionedFolder = "VERSIONED_FOLDER": VersionedObject => crate::VersionedFolder;
    RevisionHistory = "REVISION_HISTORY" => crate::RevisionHistory;
    RevisionHistoryItem = "REVISION_HISTORY_ITEM" => crate::RevisionHistoryItem;
    ObjectId = "OBJECT_ID";
    UidBasedId = "UID_BASED_ID": ObjectId;
    HierObjectId = "HIER_OBJECT_ID": UidBasedId => crate::HierObjectId;
    ObjectVersionId = "OBJECT_VERSION_ID": UidBasedId => crate::ObjectVersionId;
    ArchetypeId = "ARCHETYPE_ID": ObjectId => crate::ArchetypeId;
    TemplateId = "TEMPLATE_ID": ObjectId => crate::TemplateId;
    TerminologyId = "TERMINOLOGY_ID": ObjectId => crate::TerminologyId;
    GenericId = "GENERIC_ID": ObjectId => crate::GenericId;
    ObjectRef = "OBJECT_REF" => crate::ObjectRef;
    PartyRef = "PARTY_REF": ObjectRef => crate::PartyRef;
    LocatableRef = "LOCATABLE_REF": ObjectRef => crate::LocatableRef;
    AccessGroupRef = "ACCESS_GROUP_REF": ObjectRef => crate::AccessGroupRef;
}

impl RmType {
    /// The class named `name` (generic parameters ignored: `DV_INTERVAL<DV_COUNT>`);
    /// `None` for names that are not RM classes (`String`, `EHR`, a typo).
    pub fn parse(name: &str) -> Option<RmType> {
        RmType::from_name(base_type_name(name))
    }

    /// Whether an instance of `self` is an instance of `sup` (`self` or a descendant).
    pub fn conforms_to(self, sup: RmType) -> bool {
        let mut cur = Some(self);
        while let Some(t) = cur {
            if t == sup {
                return true;
            }
            cur = t.parent();
        }
        false
    }

    /// The concrete classes that conform to `self` (itself, when concrete), in declaration
    /// order: the runtime types an instance of `self` may have.
    pub fn concrete(self) -> impl Iterator<Item = RmType> {
        static CONCRETE: std::sync::OnceLock<Vec<Vec<RmType>>> = std::sync::OnceLock::new();
        let table = CONCRETE.get_or_init(|| {
            RmType::ALL
                .iter()
                .map(|&sup| {
                    RmType::ALL
                        .iter()
                        .copied()
                        .filter(|t| !t.is_abstract() && t.conforms_to(sup))
                        .collect()
                })
                .collect()
        });
        table[self as usize].iter().copied()
    }

    /// The attribute named `name` of a concrete class.
    pub fn attribute(self, name: &str) -> Option<&'static AttrInfo> {
        self.attributes().iter().find(|a| a.name == name)
    }
}

impl std::fmt::Display for RmType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

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
    RmType::parse(name)?.parent().map(RmType::name)
}

/// Whether `sub` is `sup` or one of its descendants (generic parameters ignored); names that
/// are not RM classes conform only to themselves.
pub fn conforms_to(sub: &str, sup: &str) -> bool {
    if sub == sup {
        return true;
    }
    match (RmType::parse(sub), RmType::parse(sup)) {
        (Some(a), Some(b)) => a.conforms_to(b),
        _ => base_type_name(sub) == base_type_name(sup),
    }
}

/// Whether the type is abstract.
pub fn is_abstract(name: &str) -> bool {
    RmType::parse(name).is_some_and(RmType::is_abstract)
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
