//! A flat ADL 1.4 archetype (cdr-adl's model) as an OPT archetype root (this crate's model):
//! the definition node for node, RM defaults made explicit (an object's occurrences, an
//! attribute's existence and a container's cardinality, as the openEHR tools write them), and
//! the archetype's terms and bindings in the template's language.

use std::collections::HashMap;

use cdr_adl as adl;

use crate::model::{
    ArchetypeRoot, ArchetypeSlot, CAttribute, CCodePhrase, CDvOrdinal, CDvQuantity, CObject,
    CObjectKind, COrdinalItem, CPrimitive, CQuantityItem, Cardinality, Interval, Term,
};

/// The archetype root of the flat archetype `a`, with its terms in `language` (or, when it has
/// none in that language, its first).
pub(crate) fn archetype_root(a: &adl::Archetype, language: &str) -> CObject {
    let def = &a.definition;
    let terms = a
        .ontology
        .terms(language)
        .or_else(|| {
            a.ontology
                .term_definitions
                .first()
                .map(|(_, t)| t.as_slice())
        })
        .unwrap_or(&[])
        .iter()
        .map(|t| {
            let mut term = Term::default();
            for (k, v) in &t.items {
                match k.as_str() {
                    "text" => term.text = v.clone(),
                    "description" => term.description = v.clone(),
                    _ => term.other.push((k.clone(), v.clone())),
                }
            }
            (t.code.clone(), term)
        })
        .collect();
    let mut term_bindings: HashMap<String, HashMap<String, String>> = HashMap::new();
    for (terminology, items) in &a.ontology.term_bindings {
        let map = term_bindings.entry(terminology.clone()).or_default();
        for (code, value) in items {
            if let Some(tc) = value.as_term_code() {
                map.insert(code.clone(), tc.code.clone());
            }
        }
    }
    CObject {
        rm_type_name: def.rm_type.clone(),
        node_id: def.node_id.clone().unwrap_or_else(|| a.concept.clone()),
        occurrences: multiplicity(def.occurrences),
        kind: CObjectKind::ArchetypeRoot(Box::new(ArchetypeRoot {
            archetype_id: a.archetype_id.clone(),
            template_id: None,
            attributes: attributes(def),
            terms,
            term_bindings,
        })),
    }
}

fn multiplicity(m: Option<adl::Multiplicity>) -> Interval<i64> {
    match m {
        Some(m) => Interval {
            lower: Some(i64::from(m.lower)),
            upper: m.upper.map(i64::from),
            lower_included: true,
            upper_included: m.upper.is_some(),
        },
        None => Interval::closed(1, 1),
    }
}

fn attributes(obj: &adl::CComplexObject) -> Vec<CAttribute> {
    obj.attributes
        .iter()
        .map(|a| {
            let mut attr = rm_attribute(&obj.rm_type, &a.name, a.cardinality.is_some())
                .unwrap_or_else(|| CAttribute {
                    rm_attribute_name: a.name.clone(),
                    existence: Interval::closed(0, 1),
                    cardinality: None,
                    children: Vec::new(),
                });
            if let Some(e) = a.existence {
                attr.existence = multiplicity(Some(e));
            }
            if let Some(c) = a.cardinality {
                attr.cardinality = Some(Cardinality {
                    is_ordered: c.ordered,
                    is_unique: c.unique,
                    interval: multiplicity(Some(c.interval)),
                });
            }
            let many = attr.is_multiple();
            attr.children = a.children.iter().map(|c| object(c, many)).collect();
            if let Some(terminology) = bound_terminology(&a.name) {
                for c in &mut attr.children {
                    if let CObjectKind::CodePhrase(cp) = &mut c.kind {
                        let openehr = cp
                            .terminology_id
                            .as_deref()
                            .is_some_and(|t| t.eq_ignore_ascii_case("openehr"));
                        if openehr && cp.code_list.is_empty() {
                            cp.terminology_id = Some(terminology.to_owned());
                        }
                    }
                }
            }
            attr
        })
        .collect()
}

/// The external terminology the RM binds a CODE_PHRASE attribute to. An archetype that
/// constrains such an attribute to "any openEHR code" (`[openEHR::]`, an old form) means that
/// terminology, and the operational template names it.
fn bound_terminology(attribute: &str) -> Option<&'static str> {
    match attribute {
        "media_type" => Some("IANA_media-types"),
        "charset" | "encoding" => Some("IANA_character-sets"),
        "language" => Some("ISO_639-1"),
        "territory" => Some("ISO_3166-1"),
        _ => None,
    }
}

/// The unconstrained attribute `name` of the RM type `rm_type` (its existence and, for a
/// container, its cardinality as the RM has them); `None` when the RM type has no such
/// attribute. `multiple` makes it a container whatever the RM says.
pub(crate) fn rm_attribute(rm_type: &str, name: &str, multiple: bool) -> Option<CAttribute> {
    let rm = cdr_rm::meta::RmType::parse(cdr_rm::meta::base_type_name(rm_type));
    let info = rm.and_then(|t| t.attribute(name));
    if info.is_none() && !multiple {
        return None;
    }
    let existence = if info.is_some_and(|i| i.kind.is_mandatory()) {
        Interval::closed(1, 1)
    } else {
        Interval::closed(0, 1)
    };
    let list = multiple || info.is_some_and(|i| i.kind.is_list());
    Some(CAttribute {
        rm_attribute_name: name.to_owned(),
        existence,
        cardinality: list.then(|| Cardinality {
            is_ordered: false,
            is_unique: false,
            interval: Interval::at_least(0),
        }),
        children: Vec::new(),
    })
}

/// A cADL object under a container (`many`) or single attribute. Occurrences not stated are
/// `1..1`, except for slots in a container (`0..*`), as the openEHR tools take them.
fn object(o: &adl::CObject, many: bool) -> CObject {
    let one = Interval::closed(1, 1);
    let occurrences = |m: Option<adl::Multiplicity>| match m {
        None if many => Interval::at_least(0),
        m => multiplicity(m),
    };
    match o {
        adl::CObject::Complex(c) => CObject {
            rm_type_name: c.rm_type.clone(),
            node_id: c.node_id.clone().unwrap_or_default(),
            occurrences: multiplicity(c.occurrences),
            kind: CObjectKind::Complex {
                attributes: attributes(c),
            },
        },
        adl::CObject::Slot(s) => CObject {
            rm_type_name: s.rm_type.clone(),
            node_id: s.node_id.clone().unwrap_or_default(),
            occurrences: occurrences(s.occurrences),
            kind: CObjectKind::Slot(ArchetypeSlot {
                includes: patterns(&s.includes),
                excludes: patterns(&s.excludes),
                attributes: Vec::new(),
            }),
        },
        adl::CObject::InternalRef(r) => CObject {
            rm_type_name: r.rm_type.clone(),
            node_id: String::new(),
            occurrences: multiplicity(r.occurrences),
            kind: CObjectKind::InternalRef {
                target_path: r.target.clone(),
            },
        },
        adl::CObject::ConstraintRef(r) => CObject {
            rm_type_name: "CODE_PHRASE".into(),
            node_id: String::new(),
            occurrences: one,
            kind: CObjectKind::ConstraintRef {
                reference: r.code.clone(),
            },
        },
        adl::CObject::Primitive(p) => CObject {
            rm_type_name: p.type_name().into(),
            node_id: String::new(),
            occurrences: one,
            kind: CObjectKind::Primitive(primitive(&p.kind)),
        },
        adl::CObject::CodePhrase(c) => CObject {
            rm_type_name: "CODE_PHRASE".into(),
            node_id: String::new(),
            occurrences: one,
            kind: CObjectKind::CodePhrase(CCodePhrase {
                terminology_id: Some(c.terminology.clone()),
                code_list: c.codes.clone(),
                assumed: c.assumed.clone().map(|a| (c.terminology.clone(), a)),
                reference_set_uri: None,
            }),
        },
        adl::CObject::Ordinal(o) => CObject {
            rm_type_name: "DV_ORDINAL".into(),
            node_id: String::new(),
            occurrences: one,
            kind: CObjectKind::DvOrdinal(CDvOrdinal {
                list: o
                    .items
                    .iter()
                    .map(|i| COrdinalItem {
                        value: i.value,
                        terminology_id: i.symbol.terminology.clone(),
                        code_string: i.symbol.code.clone(),
                    })
                    .collect(),
                assumed: o.assumed,
            }),
        },
        adl::CObject::Quantity(q) => CObject {
            rm_type_name: "DV_QUANTITY".into(),
            node_id: String::new(),
            occurrences: one,
            kind: CObjectKind::DvQuantity(CDvQuantity {
                property: q
                    .property
                    .as_ref()
                    .map(|p| (p.terminology.clone(), p.code.clone())),
                list: q
                    .list
                    .iter()
                    .map(|i| CQuantityItem {
                        units: i.units.clone(),
                        magnitude: i.magnitude.as_ref().map(interval),
                        precision: i.precision.as_ref().map(interval),
                    })
                    .collect(),
                assumed: q
                    .assumed
                    .as_ref()
                    .and_then(|a| Some((a.magnitude?, a.units.clone().unwrap_or_default()))),
            }),
        },
    }
}

/// The regular expressions of a slot's `archetype_id/value matches {/…/}` assertions.
fn patterns(assertions: &[adl::Assertion]) -> Vec<String> {
    assertions
        .iter()
        .filter_map(|a| match &a.constraint.kind {
            adl::PrimitiveKind::String { pattern, .. } => pattern.clone(),
            _ => None,
        })
        .collect()
}

fn interval<T: Clone>(i: &adl::Interval<T>) -> Interval<T> {
    Interval {
        lower: i.lower.clone(),
        upper: i.upper.clone(),
        lower_included: i.lower.is_some() && i.lower_included,
        upper_included: i.upper.is_some() && i.upper_included,
    }
}

/// A list of values and intervals as the OPT's list and (first) range.
fn split<T: Clone + PartialOrd>(items: &[adl::Item<T>]) -> (Vec<T>, Option<Interval<T>>) {
    let mut list = Vec::new();
    let mut range = None;
    for i in items {
        match i {
            adl::Item::Value(v) => list.push(v.clone()),
            adl::Item::Range(r) => {
                if range.is_none() {
                    range = Some(interval(r));
                }
            }
        }
    }
    (list, range)
}

fn primitive(p: &adl::PrimitiveKind) -> CPrimitive {
    match p {
        adl::PrimitiveKind::String {
            values,
            pattern,
            assumed,
        } => CPrimitive::String {
            pattern: pattern.clone(),
            list: values.clone(),
            list_open: false,
            assumed: assumed.clone(),
        },
        adl::PrimitiveKind::Integer { items, assumed } => {
            let (list, range) = split(items);
            CPrimitive::Integer {
                list,
                range,
                assumed: *assumed,
            }
        }
        adl::PrimitiveKind::Real { items, assumed } => {
            let (list, range) = split(items);
            CPrimitive::Real {
                list,
                range,
                assumed: *assumed,
            }
        }
        adl::PrimitiveKind::Boolean { values, assumed } => CPrimitive::Boolean {
            true_valid: values.contains(&true),
            false_valid: values.contains(&false),
            assumed: *assumed,
        },
        adl::PrimitiveKind::Temporal {
            kind,
            pattern,
            items,
            ..
        } => {
            let (_, range) = split(items);
            let pattern = pattern.clone();
            match kind {
                adl::TemporalKind::Date => CPrimitive::Date {
                    pattern,
                    timezone_validity: None,
                    range,
                },
                adl::TemporalKind::Time => CPrimitive::Time {
                    pattern,
                    timezone_validity: None,
                    range,
                },
                adl::TemporalKind::DateTime => CPrimitive::DateTime {
                    pattern,
                    timezone_validity: None,
                    range,
                },
                adl::TemporalKind::Duration => CPrimitive::Duration { pattern, range },
            }
        }
    }
}
