//! RM typing of paths and containment, from [`RmType`]: which attributes a value has, which
//! of them are multi-valued, what types they reach, and which classes can lie inside which.

use std::collections::BTreeSet;

use cdr_rm::meta::RmType;

/// The type of a value a path reaches: an RM class (always concrete) or a primitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueType {
    Rm(RmType),
    String,
    Integer,
    Real,
    Boolean,
}

impl ValueType {
    /// The RM or primitive type name (`DV_QUANTITY`, `String`).
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Rm(t) => t.name(),
            ValueType::String => "String",
            ValueType::Integer => "Integer",
            ValueType::Real => "Real",
            ValueType::Boolean => "Boolean",
        }
    }
}

/// The types a path may reach: known (a set, possibly empty when the path can never hold a
/// value) or unknown (an attribute the RM does not declare for the types before it, or the
/// attributes of an `EHR` that the RM classes do not cover).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Types {
    Unknown,
    Known(BTreeSet<ValueType>),
}

impl Types {
    /// The concrete classes conforming to `t`.
    pub fn class(t: RmType) -> Types {
        Types::Known(t.concrete().map(ValueType::Rm).collect())
    }

    /// The types of an attribute declared as `declared` (`DV_TEXT`, `String`, `Integer`, …).
    pub fn declared(declared: &str) -> Types {
        let one = |v| Types::Known([v].into_iter().collect());
        match declared {
            "String" => one(ValueType::String),
            "Integer" => one(ValueType::Integer),
            "Real" => one(ValueType::Real),
            "Boolean" => one(ValueType::Boolean),
            other => RmType::parse(other).map_or(Types::Unknown, Types::class),
        }
    }

    /// Whether the values may include an object of a class conforming to `sup` (unknown types
    /// may).
    pub fn may_conform_to(&self, sup: RmType) -> bool {
        match self {
            Types::Unknown => true,
            Types::Known(set) => set
                .iter()
                .any(|t| matches!(t, ValueType::Rm(r) if r.conforms_to(sup))),
        }
    }

    /// Whether the values may be RM objects whose natural value is what they compare and
    /// order by (DV_ORDERED objects).
    pub fn may_be_ordered(&self) -> bool {
        self.may_conform_to(RmType::DvOrdered)
    }

    /// Whether the values may be RM objects that order by a natural value (DV_ORDERED, or
    /// the text of DV_TEXT).
    pub fn may_order_naturally(&self) -> bool {
        self.may_be_ordered() || self.may_conform_to(RmType::DvText)
    }

    /// The known types when every one is an RM class (no primitive among them).
    pub fn only_objects(&self) -> Option<Vec<RmType>> {
        match self {
            Types::Known(set) if !set.is_empty() => set
                .iter()
                .map(|t| match t {
                    ValueType::Rm(r) => Some(*r),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    }

    /// The attribute `name` of values of these types: the types it reaches, whether it is
    /// multi-valued for some of them, and its declared type name when all declare the same.
    pub fn attribute(&self, name: &str) -> Attribute {
        let Types::Known(set) = self else {
            return Attribute::unknown();
        };
        let mut reached = BTreeSet::new();
        let mut multiple = false;
        let mut declared: Option<&'static str> = None;
        let mut same = true;
        let mut found = false;
        for t in set {
            let ValueType::Rm(r) = t else { continue };
            let Some(a) = r.attribute(name) else { continue };
            found = true;
            multiple |= a.kind.is_list();
            match declared {
                None => declared = Some(a.declared),
                Some(d) if d != a.declared => same = false,
                Some(_) => {}
            }
            match Types::declared(a.declared) {
                Types::Known(s) => reached.extend(s),
                Types::Unknown => return Attribute::unknown(),
            }
        }
        if !found {
            return Attribute::unknown();
        }
        Attribute {
            types: Types::Known(reached),
            multiple,
            declared: declared.filter(|_| same),
        }
    }
}

/// What [`Types::attribute`] finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub types: Types,
    pub multiple: bool,
    pub declared: Option<&'static str>,
}

impl Attribute {
    fn unknown() -> Self {
        Attribute {
            types: Types::Unknown,
            multiple: false,
            declared: None,
        }
    }
}

/// The concrete RM classes whose instances can lie strictly inside an instance of one of
/// `outer`'s concrete classes, following declared attribute types (and every class conforming
/// to them).
pub fn reachable(outer: RmType) -> &'static BTreeSet<RmType> {
    static REACHABLE: std::sync::OnceLock<Vec<BTreeSet<RmType>>> = std::sync::OnceLock::new();
    let table = REACHABLE.get_or_init(|| RmType::ALL.iter().map(|&t| reach(t)).collect());
    &table[outer as usize]
}

fn reach(outer: RmType) -> BTreeSet<RmType> {
    let mut seen: BTreeSet<RmType> = BTreeSet::new();
    let mut todo: Vec<RmType> = outer.concrete().collect();
    let mut expanded: BTreeSet<RmType> = BTreeSet::new();
    while let Some(t) = todo.pop() {
        if !expanded.insert(t) {
            continue;
        }
        for a in t.attributes() {
            if let Some(d) = RmType::parse(a.declared) {
                for c in d.concrete() {
                    seen.insert(c);
                    todo.push(c);
                }
            }
        }
    }
    seen
}

/// Whether an instance of a class conforming to `inner` can lie strictly inside an instance of
/// `outer`.
pub fn can_contain(outer: RmType, inner: RmType) -> bool {
    let inside = reachable(outer);
    inner.concrete().any(|c| inside.contains(&c))
}
