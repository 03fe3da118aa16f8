//! Flattening a specialised archetype onto its parent.
//!
//! ADL 1.4 specialised archetypes are usually written in full, but nothing forbids leaving
//! out what the parent already says, so flattening is the differential merge: the result
//! starts from the flat parent; each object of the child replaces the parent's object it
//! redefines (same node id, or one derived from it such as `at0005.1` of `at0005`; for
//! objects without node ids, same or conforming RM type) and is merged with it attribute by
//! attribute, so that what the child leaves out is inherited; objects the child adds (new
//! codes) are appended. Under an attribute, objects without node ids (value alternatives,
//! primitives, code lists) are the child's alone when the child gives any: a child that
//! narrows `DV_TEXT` to `DV_CODED_TEXT` does not keep the parent's `DV_TEXT`. The ontology
//! is merged per language and terminology: the child's terms and bindings replace the
//! parent's of the same code, the others are kept. A flat archetype keeps no source text:
//! its nodes come from two, so findings on it carry paths but no lines.

use crate::check::matching_parent;
use crate::model::*;

/// Why an archetype could not be flattened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlattenError {
    /// The archetype has no `specialise` section.
    #[error("{0} is not a specialised archetype")]
    NotSpecialised(String),
    /// The parent given is not the one the archetype names.
    #[error("{child} specialises {expected}, not {given}")]
    WrongParent {
        /// The child's id.
        child: String,
        /// The id in its `specialise` section.
        expected: String,
        /// The id of the archetype given as parent.
        given: String,
    },
    /// The parent is not among the archetypes given.
    #[error("{child} specialises {parent}, which is not among the archetypes given")]
    ParentNotFound {
        /// The child's id.
        child: String,
        /// The parent's id.
        parent: String,
    },
    /// The chain of parents comes back to an archetype already in it.
    #[error("the specialisation chain of {0} is circular")]
    Cycle(String),
}

/// The flat form of `child` on its flat `parent`.
pub fn flatten(child: &Archetype, parent: &Archetype) -> Result<Archetype, FlattenError> {
    let expected = child
        .specialise
        .clone()
        .ok_or_else(|| FlattenError::NotSpecialised(child.archetype_id.clone()))?;
    if expected != parent.archetype_id {
        return Err(FlattenError::WrongParent {
            child: child.archetype_id.clone(),
            expected,
            given: parent.archetype_id.clone(),
        });
    }
    let mut flat = child.clone();
    flat.definition = merge_complex(&parent.definition, &child.definition);
    flat.ontology = merge_ontology(&parent.ontology, &child.ontology);
    // Its nodes come from two texts, so no one text gives their lines.
    flat.lines = LineIndex::default();
    Ok(flat)
}

/// The flat form of `archetype`, its parents found by id in `archetypes` (and flattened in
/// turn); an archetype that specialises nothing is returned as it is.
pub fn flatten_in(
    archetype: &Archetype,
    archetypes: &[Archetype],
) -> Result<Archetype, FlattenError> {
    let mut chain = vec![archetype];
    while let Some(parent_id) = &chain.last().and_then(|a| a.specialise.as_ref()) {
        let parent = archetypes
            .iter()
            .find(|a| &a.archetype_id == *parent_id)
            .ok_or_else(|| FlattenError::ParentNotFound {
                child: chain
                    .last()
                    .map(|a| a.archetype_id.clone())
                    .unwrap_or_default(),
                parent: (*parent_id).clone(),
            })?;
        if chain.iter().any(|a| a.archetype_id == parent.archetype_id) {
            return Err(FlattenError::Cycle(archetype.archetype_id.clone()));
        }
        chain.push(parent);
    }
    let mut flat = chain.pop().cloned().expect("the chain holds the archetype");
    while let Some(child) = chain.pop() {
        flat = flatten(child, &flat)?;
    }
    Ok(flat)
}

fn merge_complex(parent: &CComplexObject, child: &CComplexObject) -> CComplexObject {
    let mut out = child.clone();
    if child.any && !parent.any {
        // `matches {*}` in the child says nothing more than the parent.
        out.any = false;
        out.attributes = parent.attributes.clone();
        return out;
    }
    let mut attributes = Vec::new();
    for pattr in &parent.attributes {
        match child.attribute(&pattr.name) {
            Some(cattr) => attributes.push(merge_attribute(pattr, cattr)),
            None => attributes.push(pattr.clone()),
        }
    }
    for cattr in &child.attributes {
        if parent.attribute(&cattr.name).is_none() {
            attributes.push(cattr.clone());
        }
    }
    out.attributes = attributes;
    out
}

fn merge_attribute(parent: &CAttribute, child: &CAttribute) -> CAttribute {
    let mut out = child.clone();
    out.existence = child.existence.or(parent.existence);
    out.cardinality = child.cardinality.or(parent.cardinality);
    if child.any {
        out.any = parent.any;
        out.children = parent.children.clone();
        return out;
    }
    let child_has_unidentified = child.children.iter().any(|c| c.node_id().is_none());
    let mut children: Vec<CObject> = Vec::new();
    let mut used = vec![false; child.children.len()];
    for pobj in &parent.children {
        // The child objects that redefine this parent object, in the child's order.
        let redefining: Vec<usize> = child
            .children
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                matching_parent(c, std::slice::from_ref(pobj)).is_some()
                    && matching_parent(c, &parent.children).is_some_and(|m| std::ptr::eq(m, pobj))
            })
            .map(|(i, _)| i)
            .collect();
        if redefining.is_empty() {
            if pobj.node_id().is_some() || !child_has_unidentified {
                children.push(pobj.clone());
            }
            continue;
        }
        for i in redefining {
            used[i] = true;
            children.push(merge_object(pobj, &child.children[i]));
        }
    }
    for (i, c) in child.children.iter().enumerate() {
        if !used[i] {
            children.push(c.clone());
        }
    }
    out.children = children;
    out
}

fn merge_object(parent: &CObject, child: &CObject) -> CObject {
    match (parent, child) {
        (CObject::Complex(p), CObject::Complex(c)) => {
            let mut m = merge_complex(p, c);
            m.occurrences = c.occurrences.or(p.occurrences);
            CObject::Complex(m)
        }
        (CObject::Slot(p), CObject::Slot(c)) => {
            let mut s = c.clone();
            s.occurrences = c.occurrences.or(p.occurrences);
            CObject::Slot(s)
        }
        _ => child.clone(),
    }
}

fn merge_ontology(parent: &Ontology, child: &Ontology) -> Ontology {
    let mut out = child.clone();
    out.terminologies_available = parent.terminologies_available.clone();
    for t in &child.terminologies_available {
        if !out.terminologies_available.contains(t) {
            out.terminologies_available.push(t.clone());
        }
    }
    out.term_definitions = merge_keyed(&parent.term_definitions, &child.term_definitions, |t| {
        &t.code
    });
    out.constraint_definitions = merge_keyed(
        &parent.constraint_definitions,
        &child.constraint_definitions,
        |t| &t.code,
    );
    out.term_bindings = merge_keyed(&parent.term_bindings, &child.term_bindings, |(k, _)| k);
    out.constraint_bindings = merge_keyed(
        &parent.constraint_bindings,
        &child.constraint_bindings,
        |(k, _)| k,
    );
    for (k, v) in &parent.other {
        if !out.other.iter().any(|(ck, _)| ck == k) {
            out.other.push((k.clone(), v.clone()));
        }
    }
    out
}

/// Per group (language or terminology): the parent's items with the child's replacing those
/// of the same key, then the child's new items; groups only the child has come last.
fn merge_keyed<T: Clone>(
    parent: &[(String, Vec<T>)],
    child: &[(String, Vec<T>)],
    key: impl Fn(&T) -> &String,
) -> Vec<(String, Vec<T>)> {
    let mut out: Vec<(String, Vec<T>)> = Vec::new();
    for (group, pitems) in parent {
        let citems = child.iter().find(|(g, _)| g == group).map(|(_, i)| i);
        let mut items: Vec<T> = pitems
            .iter()
            .map(|p| {
                citems
                    .and_then(|c| c.iter().find(|c| key(c) == key(p)))
                    .unwrap_or(p)
                    .clone()
            })
            .collect();
        if let Some(c) = citems {
            for ci in c {
                if !pitems.iter().any(|p| key(p) == key(ci)) {
                    items.push(ci.clone());
                }
            }
        }
        out.push((group.clone(), items));
    }
    for (group, citems) in child {
        if !parent.iter().any(|(g, _)| g == group) {
            out.push((group.clone(), citems.clone()));
        }
    }
    out
}
