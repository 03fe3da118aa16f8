//! OET template + ADL 1.4 archetypes → operational template (OPT 1.4).
//!
//! ```text
//! OET ──parse_oet──▶ Oet ─┐
//!                         ├──compile──▶ OptDocument ──write_opt──▶ OPT XML
//! archetypes (cdr-adl) ───┘
//! ```
//!
//! Each archetype the template names (its root and every slot filling) is flattened onto its
//! parents (cdr-adl), turned into an archetype root of this crate's constraint model (terms and
//! bindings in the template's language; RM defaults made explicit), has its rules applied
//! (occurrences, exclusions, names, clones, defaults, hidden nodes, narrowed values) and is
//! placed at its path in its parent, where it takes the slot's place. The caller passes the
//! archetypes; the compiler does no IO.

mod aom;
mod oet;

use std::collections::HashMap;

use cdr_adl as adl;

pub use oet::{parse_oet, Oet, OetItem, Rule, ValueConstraint};

use crate::model::{CAttribute, CObject, CObjectKind, CPrimitive, DefaultValue, Interval};
use crate::writer::{write_opt, OptDocument};

/// Why a template could not be compiled: what, and the line of the OET element it comes from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}line {line}: {message}", embedded_from.as_ref().map(|t| format!("embedded template '{t}', ")).unwrap_or_default())]
pub struct CompileError {
    /// The 1-based line in the OET (of the `<Rule>` or archetype element).
    pub line: usize,
    pub message: String,
    /// The name of the embedded template whose line it is (`None`: the template compiled).
    pub embedded_from: Option<String>,
}

impl CompileError {
    /// `file:line: message` for the OET `file` (naming the embedded template when the line is
    /// one of its).
    pub fn located(&self, file: &str) -> String {
        match &self.embedded_from {
            None => format!("{file}:{}: {}", self.line, self.message),
            Some(t) => format!(
                "{file}: embedded template '{t}', line {}: {}",
                self.line, self.message
            ),
        }
    }
}

/// Compiles the OET `oet` with `archetypes` (found by id; specialised ones are flattened onto
/// their parents, which must be among them) into OPT 1.4 XML. Every error is reported.
pub fn compile(oet: &[u8], archetypes: &[adl::Archetype]) -> Result<String, Vec<CompileError>> {
    compile_with(oet, archetypes, &[])
}

/// [`compile`], with `templates` that the OET may embed (found by their `<id>`).
pub fn compile_with(
    oet: &[u8],
    archetypes: &[adl::Archetype],
    templates: &[Oet],
) -> Result<String, Vec<CompileError>> {
    let doc = compile_document(oet, archetypes, templates)?;
    Ok(write_opt(&doc))
}

/// Compiles the OET `oet` into the operational template's parts (see [`compile_with`]).
pub fn compile_document(
    oet: &[u8],
    archetypes: &[adl::Archetype],
    templates: &[Oet],
) -> Result<OptDocument, Vec<CompileError>> {
    let oet = parse_oet(oet).map_err(|e| {
        let (line, message) = match e {
            crate::OptError::Xml {
                line,
                column,
                message,
            }
            | crate::OptError::Invalid {
                line,
                column,
                message,
            } => (line, format!("column {column}: {message}")),
            crate::OptError::Limit(m) => (0, m),
        };
        vec![CompileError {
            line,
            message,
            embedded_from: None,
        }]
    })?;
    let mut c = Compiler {
        by_id: archetypes
            .iter()
            .map(|a| (a.archetype_id.as_str(), a))
            .collect(),
        archetypes,
        templates,
        embedding: Vec::new(),
        language: String::new(),
        errors: Vec::new(),
        default_values: Vec::new(),
        hidden: Vec::new(),
    };
    c.language = c
        .by_id
        .get(oet.definition.archetype_id.as_str())
        .map_or_else(|| "en".to_owned(), |a| language_of(a));
    let definition = c.item(&oet.definition, "");
    match definition {
        Some(mut definition) if c.errors.is_empty() => {
            prune(&mut definition);
            if let CObjectKind::ArchetypeRoot(root) = &mut definition.kind {
                root.template_id = Some(oet.name.clone());
            }
            Ok(OptDocument {
                template_id: oet.name.clone(),
                uid: oet.id.clone(),
                concept: oet.name,
                language: c.language,
                other_details: oet.other_details,
                definition,
                default_values: c.default_values,
                hidden: c.hidden,
            })
        }
        _ => Err(c.errors),
    }
}

/// The template's language: English when the root archetype has it, else its original language.
fn language_of(a: &adl::Archetype) -> String {
    if a.ontology.terms("en").is_some() {
        return "en".to_owned();
    }
    a.language
        .iter()
        .find(|(k, _)| k == "original_language")
        .and_then(|(_, v)| v.as_term_code())
        .map_or_else(|| "en".to_owned(), |t| t.code.clone())
}

struct Compiler<'a> {
    by_id: HashMap<&'a str, &'a adl::Archetype>,
    /// Templates that may be embedded, found by `<id>`.
    templates: &'a [Oet],
    /// The embedded templates being compiled, outermost first (to refuse cycles).
    embedding: Vec<String>,
    archetypes: &'a [adl::Archetype],
    language: String,
    errors: Vec<CompileError>,
    default_values: Vec<DefaultValue>,
    hidden: Vec<String>,
}

impl Compiler<'_> {
    fn error(&mut self, at: (usize, &Option<String>), message: String) {
        self.errors.push(CompileError {
            line: at.0,
            message,
            embedded_from: at.1.clone(),
        });
    }

    /// The archetype root of `item` with its rules applied and its fillings in place;
    /// `at` is its path in the template (from the root archetype).
    fn item(&mut self, item: &OetItem, at: &str) -> Option<CObject> {
        if let Some(uid) = &item.template_id {
            let merged = self.embed(item, uid)?;
            self.embedding.push(uid.clone());
            let built = self.item(&merged, at);
            self.embedding.pop();
            return built;
        }
        let Some(archetype) = self.by_id.get(item.archetype_id.as_str()).copied() else {
            self.error(
                (item.line, &item.embedded_from),
                format!("archetype {} not found", item.archetype_id),
            );
            return None;
        };
        let flat = match adl::flatten_in(archetype, self.archetypes) {
            Ok(flat) => flat,
            Err(e) => {
                self.error(
                    (item.line, &item.embedded_from),
                    format!("{}: {e}", item.archetype_id),
                );
                return None;
            }
        };
        let pristine = aom::archetype_root(&flat, &self.language);
        let mut root = pristine.clone();
        let (relative, absolute): (Vec<&Rule>, Vec<&Rule>) =
            item.rules.iter().partition(|r| !r.path.starts_with('['));
        for rule in relative {
            self.rule(&mut root, &pristine, rule, &item.archetype_id, at);
        }
        if let Some(name) = &item.name {
            if !is_own_name(&root, name) {
                set_name(&mut root, name);
            }
        }
        let mut filled_slots = Vec::new();
        for child in &item.children {
            let child_at = format!("{at}{}", filling_path(&child.path, &child.archetype_id));
            let Some(built) = self.item(child, &child_at) else {
                continue;
            };
            if !place(&mut root, child, built, &mut filled_slots) {
                self.error(
                    (child.line, &child.embedded_from),
                    format!(
                        "{} is placed at {}, which matches no node of {}",
                        child.archetype_id, child.path, item.archetype_id
                    ),
                );
            }
        }
        remove_filled_slots(&mut root, &filled_slots);
        for rule in absolute {
            let path = rule
                .path
                .strip_prefix(&format!("[{}]", item.archetype_id))
                .unwrap_or(&rule.path);
            let rule = Rule {
                path: path.to_owned(),
                ..rule.clone()
            };
            self.rule(&mut root, &pristine, &rule, &item.archetype_id, at);
        }
        if item.hide {
            self.hidden.push(at.to_owned());
        }
        Some(root)
    }

    /// The item `item` with the template `uid` embedded: the embedded template's rules and
    /// fillings first (marked as its), then the item's own; the item's path, occurrences and
    /// name, else the embedded template's.
    fn embed(&mut self, item: &OetItem, uid: &str) -> Option<OetItem> {
        let at = (item.line, &item.embedded_from);
        let Some(embedded) = self.templates.iter().find(|t| t.id.as_deref() == Some(uid)) else {
            self.error(
                at,
                format!(
                    "{} embeds the template {uid}, which is not among the templates given",
                    item.archetype_id
                ),
            );
            return None;
        };
        if self.embedding.iter().any(|e| e == uid) {
            self.error(at, format!("the template {uid} embeds itself"));
            return None;
        }
        let def = &embedded.definition;
        if def.archetype_id != item.archetype_id {
            self.error(
                at,
                format!(
                    "the embedded template {uid} ('{}') is of {}, not {}",
                    embedded.name, def.archetype_id, item.archetype_id
                ),
            );
            return None;
        }
        let mut from = def.clone();
        mark_embedded(&mut from, &embedded.name);
        let mut rules = from.rules;
        rules.extend(item.rules.iter().cloned());
        let mut children = from.children;
        children.extend(item.children.iter().cloned());
        Some(OetItem {
            template_id: from.template_id,
            min: item.min.or(from.min),
            max: item.max.or(from.max),
            name: item.name.clone().or(from.name),
            hide: item.hide || from.hide,
            rules,
            children,
            ..item.clone()
        })
    }

    /// Applies `rule` to the nodes of the archetype root `root` its path names.
    fn rule(&mut self, root: &mut CObject, pristine: &CObject, rule: &Rule, id: &str, at: &str) {
        let Some(steps) = parse_path(&rule.path) else {
            self.error(
                (rule.line, &rule.embedded_from),
                format!("rule path {} is not a path", rule.path),
            );
            return;
        };
        if let Some(ValueConstraint::Other(kind)) = &rule.constraint {
            self.error(
                (rule.line, &rule.embedded_from),
                format!(
                    "rule {}: constraints of kind '{kind}' are not supported",
                    rule.path
                ),
            );
            return;
        }
        if steps.is_empty() {
            // A rule on the archetype root itself.
            apply_to_root(root, rule);
            return;
        }
        if rule.clone {
            let source = find(pristine, &steps).into_iter().next().cloned();
            let Some(mut copy) = source else {
                self.error(
                    (rule.line, &rule.embedded_from),
                    format!("rule {} matches no node of {id}", rule.path),
                );
                return;
            };
            set_occurrences(&mut copy, rule.min, rule.max);
            if let Some(name) = &rule.name {
                set_name(&mut copy, name);
            }
            let (parent, last) = steps.split_at(steps.len() - 1);
            let inserted = with_parents(root, parent, &mut |obj| {
                let Some(attr) = attribute_mut(obj, &last[0].attr) else {
                    return false;
                };
                let after = attr
                    .children
                    .iter()
                    .rposition(|c| c.node_id == copy.node_id)
                    .map_or(attr.children.len(), |i| i + 1);
                attr.children.insert(after, copy.clone());
                true
            });
            if !inserted {
                self.error(
                    (rule.line, &rule.embedded_from),
                    format!("rule {} matches no node of {id}", rule.path),
                );
            }
            return;
        }
        let mut defaults = Vec::new();
        // A rule may name nodes that the archetype reaches through `use_node`: those
        // references become copies of their targets, which the rule then narrows.
        if find(root, &steps).is_empty() {
            expand_refs(root, pristine, &steps);
        }
        let matched = with_matches(root, &steps, &mut |obj, terms| {
            set_occurrences(obj, rule.min, rule.max);
            if let Some(name) = &rule.name {
                if !is_own_name_in(obj, name, terms) {
                    set_name(obj, name);
                }
            }
            if let Some(c) = &rule.constraint {
                constrain(obj, c);
            }
            if let Some((included, excluded)) = &rule.name_constraint {
                if let Some(name) = attribute_mut(obj, "name") {
                    narrow_codes(&mut name.children, included, excluded);
                }
            }
            if let Some(d) = &rule.default {
                defaults.push(default_value(obj, d, terms));
            }
        });
        if matched == 0 {
            self.error(
                (rule.line, &rule.embedded_from),
                format!("rule {} matches no node of {id}", rule.path),
            );
            return;
        }
        let path = format!("{at}{}", template_path(&steps));
        if rule.hide {
            self.hidden.push(path.clone());
        }
        for (rm_type, fields) in defaults.into_iter().take(1) {
            self.default_values.push(DefaultValue {
                path: path.clone(),
                attribute: "value".to_owned(),
                rm_type,
                fields,
            });
        }
    }
}

/// Marks every element of an embedded template's definition as coming from `name`.
fn mark_embedded(item: &mut OetItem, name: &str) {
    item.embedded_from.get_or_insert_with(|| name.to_owned());
    for r in &mut item.rules {
        r.embedded_from.get_or_insert_with(|| name.to_owned());
    }
    for c in &mut item.children {
        mark_embedded(c, name);
    }
}

/// One step of a rule or filling path: `attr[at0001]`, `attr[at0001 and name/value='X']`,
/// `attr[at0001,'X']`, `attr[archetype-id]` or `attr`.
#[derive(Debug, Clone, PartialEq)]
struct Step {
    attr: String,
    node: Option<String>,
    name: Option<String>,
}

fn parse_path(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut rest = path.trim();
    while !rest.is_empty() {
        rest = rest.strip_prefix('/')?;
        if rest.is_empty() {
            break;
        }
        let end = rest.find(['/', '[']).unwrap_or(rest.len());
        let attr = rest[..end].trim().to_owned();
        rest = &rest[end..];
        let (mut node, mut name) = (None, None);
        if let Some(inner) = rest.strip_prefix('[') {
            let close = inner.find(']')?;
            let pred = inner[..close].trim();
            rest = &inner[close + 1..];
            let (code, named) = if let Some((c, n)) = pred.split_once(" and ") {
                (c, n.trim().strip_prefix("name/value=").map(str::trim))
            } else if let Some((c, n)) = pred.split_once(',') {
                (c, Some(n.trim()))
            } else {
                (pred, None)
            };
            node = Some(code.trim().to_owned());
            name = named.map(|n| n.trim_matches(|c| c == '\'' || c == '"').to_owned());
        }
        if attr.is_empty() {
            return None;
        }
        steps.push(Step { attr, node, name });
    }
    Some(steps)
}

/// The path of a rule's node in the template, names written `[at0001,'Name']`.
fn template_path(steps: &[Step]) -> String {
    let mut out = String::new();
    for s in steps {
        out.push('/');
        out.push_str(&s.attr);
        match (&s.node, &s.name) {
            (Some(n), Some(name)) => out.push_str(&format!("[{n},'{name}']")),
            (Some(n), None) => out.push_str(&format!("[{n}]")),
            _ => {}
        }
    }
    out
}

/// The path of a filling in the template: its path in the parent with the last node id
/// replaced by (or, where it has none, given) the archetype id.
fn filling_path(path: &str, archetype_id: &str) -> String {
    let base = match path.rfind('[') {
        Some(i) if path.ends_with(']') && !path[i..].contains('/') => &path[..i],
        _ => path,
    };
    format!("{base}[{archetype_id}]")
}

fn attribute_mut<'a>(obj: &'a mut CObject, name: &str) -> Option<&'a mut CAttribute> {
    attributes_mut(obj)?
        .iter_mut()
        .find(|a| a.rm_attribute_name == name)
}

fn attributes_mut(obj: &mut CObject) -> Option<&mut Vec<CAttribute>> {
    match &mut obj.kind {
        CObjectKind::Complex { attributes } => Some(attributes),
        CObjectKind::ArchetypeRoot(root) => Some(&mut root.attributes),
        CObjectKind::Slot(slot) => Some(&mut slot.attributes),
        _ => None,
    }
}

/// The name a template (or archetype) fixes for the object: the first string of its `name`
/// constraint.
fn fixed_name(obj: &CObject) -> Option<&str> {
    let name = obj.attribute("name")?.children.first()?;
    match &name.attribute("value")?.children.first()?.kind {
        CObjectKind::Primitive(CPrimitive::String { list, .. }) => list.first().map(String::as_str),
        _ => None,
    }
}

/// Whether `obj` is the object a step names (by node id or archetype id, and name).
fn step_matches(obj: &CObject, step: &Step, unnamed_only: bool) -> bool {
    let Some(node) = &step.node else {
        return true;
    };
    let id_ok = &obj.node_id == node
        || obj
            .as_archetype_root()
            .is_some_and(|r| &r.archetype_id == node);
    id_ok
        && match &step.name {
            Some(n) => fixed_name(obj) == Some(n.as_str()),
            None => !unnamed_only || fixed_name(obj).is_none(),
        }
}

/// The indices of the children of `attr` a step names: those without a template name when
/// the step gives none and some are unnamed, else all with its id.
fn matching(attr: &CAttribute, step: &Step) -> Vec<usize> {
    let unnamed: Vec<usize> = (0..attr.children.len())
        .filter(|&i| step_matches(&attr.children[i], step, true))
        .collect();
    if !unnamed.is_empty() || step.name.is_some() {
        return unnamed;
    }
    (0..attr.children.len())
        .filter(|&i| step_matches(&attr.children[i], step, false))
        .collect()
}

/// The objects at `steps` below `obj` (read only).
fn find<'a>(obj: &'a CObject, steps: &[Step]) -> Vec<&'a CObject> {
    let Some((first, rest)) = steps.split_first() else {
        return vec![obj];
    };
    let Some(attr) = obj.attribute(&first.attr) else {
        return Vec::new();
    };
    matching(attr, first)
        .into_iter()
        .flat_map(|i| find(&attr.children[i], rest))
        .collect()
}

/// Replaces, along `steps` below `obj`, each internal reference (`use_node`) a step names by
/// a copy of its target (found in the archetype as it is, `pristine`), with the reference's
/// occurrences. Whether any was replaced.
fn expand_refs(obj: &mut CObject, pristine: &CObject, steps: &[Step]) -> bool {
    let Some((first, rest)) = steps.split_first() else {
        return false;
    };
    let Some(attr) = attribute_mut(obj, &first.attr) else {
        return false;
    };
    let mut changed = false;
    for c in &mut attr.children {
        let CObjectKind::InternalRef { target_path } = &c.kind else {
            continue;
        };
        let Some(target) = parse_path(target_path) else {
            continue;
        };
        if target.last().map(|t| &t.node) != Some(&first.node) {
            continue;
        }
        if let Some(found) = find(pristine, &target).into_iter().next() {
            let occurrences = c.occurrences.clone();
            *c = found.clone();
            c.occurrences = occurrences;
            changed = true;
        }
    }
    for i in matching(attr, first) {
        changed |= expand_refs(&mut attr.children[i], pristine, rest);
    }
    changed
}

/// Calls `f` on every object at `steps` below `obj`, with the terms of the nearest archetype
/// root; returns how many there were.
fn with_matches(
    obj: &mut CObject,
    steps: &[Step],
    f: &mut dyn FnMut(&mut CObject, &HashMap<String, crate::model::Term>),
) -> usize {
    fn walk(
        obj: &mut CObject,
        steps: &[Step],
        terms: &HashMap<String, crate::model::Term>,
        f: &mut dyn FnMut(&mut CObject, &HashMap<String, crate::model::Term>),
    ) -> usize {
        let Some((first, rest)) = steps.split_first() else {
            f(obj, terms);
            return 1;
        };
        let Some(attr) = attribute_mut(obj, &first.attr) else {
            return 0;
        };
        let mut n = 0;
        for i in matching(attr, first) {
            n += walk(&mut attr.children[i], rest, terms, f);
        }
        n
    }
    // The terms are lent out of the root while its nodes are changed.
    let terms = match &mut obj.kind {
        CObjectKind::ArchetypeRoot(r) => std::mem::take(&mut r.terms),
        _ => HashMap::new(),
    };
    let n = walk(obj, steps, &terms, f);
    if let CObjectKind::ArchetypeRoot(r) = &mut obj.kind {
        r.terms = terms;
    }
    n
}

/// Calls `f` on the first object at `steps` below `obj`; whether `f` said it was done.
fn with_parents(
    obj: &mut CObject,
    steps: &[Step],
    f: &mut dyn FnMut(&mut CObject) -> bool,
) -> bool {
    let Some((first, rest)) = steps.split_first() else {
        return f(obj);
    };
    let Some(attr) = attribute_mut(obj, &first.attr) else {
        return false;
    };
    for i in matching(attr, first) {
        if with_parents(&mut attr.children[i], rest, f) {
            return true;
        }
    }
    false
}

fn apply_to_root(root: &mut CObject, rule: &Rule) {
    set_occurrences(root, rule.min, rule.max);
    if let Some(name) = &rule.name {
        set_name(root, name);
    }
}

fn set_occurrences(obj: &mut CObject, min: Option<i64>, max: Option<i64>) {
    if let Some(max) = max {
        obj.occurrences.upper = Some(max);
        obj.occurrences.upper_included = true;
        if obj.occurrences.lower.is_some_and(|l| l > max) {
            obj.occurrences.lower = Some(max);
        }
    }
    if let Some(min) = min {
        obj.occurrences.lower = Some(min);
        obj.occurrences.lower_included = true;
    }
}

/// Whether `name` is the archetype root's own name (the text of its concept), which needs no
/// constraint.
fn is_own_name(root: &CObject, name: &str) -> bool {
    root.as_archetype_root()
        .is_some_and(|r| is_own_name_in(root, name, &r.terms))
}

/// Whether `name` is the text of the object's node id among `terms`.
fn is_own_name_in(obj: &CObject, name: &str, terms: &HashMap<String, crate::model::Term>) -> bool {
    terms.get(&obj.node_id).is_some_and(|t| t.text == name)
}

/// Fixes the object's name to `name` (a DV_TEXT whose value is that string), as its last
/// attribute (where the Ocean tools put it).
fn set_name(obj: &mut CObject, name: &str) {
    let one = Interval::closed(1, 1);
    let attr = CAttribute {
        rm_attribute_name: "name".into(),
        existence: one.clone(),
        cardinality: None,
        children: vec![CObject {
            rm_type_name: "DV_TEXT".into(),
            node_id: String::new(),
            occurrences: one,
            kind: CObjectKind::Complex {
                attributes: vec![string_list_attribute("value", vec![name.to_owned()])],
            },
        }],
    };
    if let Some(attrs) = attributes_mut(obj) {
        attrs.retain(|a| a.rm_attribute_name != "name");
        attrs.push(attr);
    }
}

/// The RM data value type an OET type name stands for (`Coded_text` → `DV_CODED_TEXT`,
/// `Quantity (Qualified real)` → `DV_QUANTITY`).
fn data_value_type(name: &str) -> String {
    let base = name.split(" (").next().unwrap_or(name).trim();
    match base {
        "DateTime" | "Date_time" => "DV_DATE_TIME".to_owned(),
        "Coded_text" | "CodedText" => "DV_CODED_TEXT".to_owned(),
        "Multimedia" => "DV_MULTIMEDIA".to_owned(),
        other if other.starts_with("DV_") => other.to_owned(),
        other => format!("DV_{}", other.to_ascii_uppercase()),
    }
}

/// Narrows the value of the element `obj` as a rule's constraint says.
fn constrain(obj: &mut CObject, c: &ValueConstraint) {
    if let ValueConstraint::Events(allowed) = c {
        if let [one] = allowed.as_slice() {
            let ty = match one.as_str() {
                "PointInTime" => "POINT_EVENT",
                "Interval" => "INTERVAL_EVENT",
                _ => return,
            };
            if obj.rm_type_name == "EVENT" {
                obj.rm_type_name = ty.to_owned();
            }
        }
        return;
    }
    let Some(value) = attribute_mut(obj, "value") else {
        return;
    };
    match c {
        ValueConstraint::Types(types) => {
            let wanted: Vec<String> = types.iter().map(|t| data_value_type(t)).collect();
            value
                .children
                .retain(|o| wanted.iter().any(|w| w == o.base_rm_type()));
            for w in &wanted {
                if !value.children.iter().any(|o| o.base_rm_type() == w) {
                    value.children.push(CObject {
                        rm_type_name: w.clone(),
                        node_id: String::new(),
                        occurrences: Interval::closed(1, 1),
                        kind: CObjectKind::Complex {
                            attributes: Vec::new(),
                        },
                    });
                }
            }
        }
        ValueConstraint::Text { included, excluded } => {
            narrow_codes(&mut value.children, included, excluded);
            let texts: Vec<String> = included
                .iter()
                .filter(|v| !v.contains("::"))
                .cloned()
                .collect();
            if !texts.is_empty() {
                for o in &mut value.children {
                    if o.base_rm_type() == "DV_TEXT" {
                        if let Some(attrs) = attributes_mut(o) {
                            attrs.retain(|a| a.rm_attribute_name != "value");
                            attrs.push(string_list_attribute("value", texts.clone()));
                        }
                    }
                }
            }
        }
        ValueConstraint::Quantity { included, excluded } => {
            for o in &mut value.children {
                if let CObjectKind::DvQuantity(q) = &mut o.kind {
                    if !included.is_empty() {
                        q.list.retain(|i| included.contains(&i.units));
                    }
                    q.list.retain(|i| !excluded.contains(&i.units));
                }
            }
        }
        ValueConstraint::Ordinal { included, excluded } => {
            let number = |v: &String| v.split('|').next().and_then(|n| n.trim().parse().ok());
            let inc: Vec<i64> = included.iter().filter_map(number).collect();
            let exc: Vec<i64> = excluded.iter().filter_map(number).collect();
            for o in &mut value.children {
                if let CObjectKind::DvOrdinal(ord) = &mut o.kind {
                    if !inc.is_empty() {
                        ord.list.retain(|i| inc.contains(&i.value));
                    }
                    ord.list.retain(|i| !exc.contains(&i.value));
                }
            }
        }
        ValueConstraint::Events(_) | ValueConstraint::Other(_) => {}
    }
}

/// Keeps, in the code lists of the DV_CODED_TEXTs among `values`, the codes `included`
/// names (all when it names none) less those `excluded` names (`terminology::code` each).
fn narrow_codes(values: &mut [CObject], included: &[String], excluded: &[String]) {
    let code = |v: &String| v.rsplit_once("::").map(|(_, c)| c.to_owned());
    let inc: Vec<String> = included.iter().filter_map(code).collect();
    let exc: Vec<String> = excluded.iter().filter_map(code).collect();
    for o in values {
        let Some(dc) = attribute_mut(o, "defining_code") else {
            continue;
        };
        for p in &mut dc.children {
            if let CObjectKind::CodePhrase(cp) = &mut p.kind {
                if !inc.is_empty() {
                    cp.code_list.retain(|c| inc.contains(c));
                }
                cp.code_list.retain(|c| !exc.contains(c));
            }
        }
    }
}

fn string_list_attribute(name: &str, list: Vec<String>) -> CAttribute {
    let one = Interval::closed(1, 1);
    CAttribute {
        rm_attribute_name: name.to_owned(),
        existence: one.clone(),
        cardinality: None,
        children: vec![CObject {
            rm_type_name: "STRING".into(),
            node_id: String::new(),
            occurrences: one,
            kind: CObjectKind::Primitive(CPrimitive::String {
                pattern: None,
                list,
                list_open: false,
                assumed: None,
            }),
        }],
    }
}

/// The default value `text` for the element `obj`: `terminology::code::text` or the text of
/// one of its local codes is a DV_CODED_TEXT, anything else a DV_TEXT.
fn default_value(
    obj: &CObject,
    text: &str,
    terms: &HashMap<String, crate::model::Term>,
) -> (String, Vec<(String, String)>) {
    let coded = |terminology: &str, code: &str, value: &str| {
        (
            "DV_CODED_TEXT".to_owned(),
            vec![
                ("value".to_owned(), value.to_owned()),
                ("terminology_id".to_owned(), terminology.to_owned()),
                ("defining_code".to_owned(), code.to_owned()),
            ],
        )
    };
    let parts: Vec<&str> = text.splitn(3, "::").collect();
    if let [terminology, code, value] = parts.as_slice() {
        return coded(terminology, code, value);
    }
    let local_codes = obj
        .attribute("value")
        .into_iter()
        .flat_map(|v| &v.children)
        .filter_map(|o| o.attribute("defining_code"))
        .flat_map(|a| &a.children)
        .filter_map(|p| match &p.kind {
            CObjectKind::CodePhrase(cp) => Some(&cp.code_list),
            _ => None,
        })
        .flatten();
    for code in local_codes {
        if terms.get(code).is_some_and(|t| t.text == text) {
            return coded("local", code, text);
        }
    }
    (
        "DV_TEXT".to_owned(),
        vec![("value".to_owned(), text.to_owned())],
    )
}

/// Puts the archetype root `built` where `child.path` says in `root`: before the slot (or
/// node) its last step names, or, for a path ending in an attribute, before the first slot of
/// that attribute that admits it (else at its end, creating the attribute if the archetype
/// leaves it open). It takes the slot's occurrences unless the template gives its own. A
/// filled slot is recorded for removal. Whether the path was found. A slot the path names
/// takes the archetype whether or not its include patterns admit it, as the Ocean tools do
/// (published templates of the corpus rely on it).
fn place(root: &mut CObject, child: &OetItem, built: CObject, filled: &mut Vec<String>) -> bool {
    let Some(steps) = parse_path(&child.path) else {
        return false;
    };
    let Some((last, parents)) = steps.split_last() else {
        return false;
    };
    let mut built = Some(built);
    with_parents(root, parents, &mut |obj| {
        if obj.attribute(&last.attr).is_none() {
            let Some(new) = aom::rm_attribute(&obj.rm_type_name, &last.attr, false) else {
                return false;
            };
            if let Some(attrs) = attributes_mut(obj) {
                attrs.push(new);
            }
        }
        let Some(attr) = attribute_mut(obj, &last.attr) else {
            return false;
        };
        let target = match &last.node {
            Some(_) => matching(attr, last).into_iter().next(),
            None => attr.children.iter().position(|o| match &o.kind {
                CObjectKind::Slot(s) => admits(s, &child.archetype_id),
                _ => false,
            }),
        };
        let Some(mut placed) = built.take() else {
            return false;
        };
        let index = match target {
            Some(i) => {
                let slot = &attr.children[i];
                placed.occurrences = slot.occurrences.clone();
                if let CObjectKind::Slot(_) = slot.kind {
                    filled.push(format!("{}#{}", child.path, slot.node_id));
                }
                i
            }
            None if last.node.is_none() => {
                placed.occurrences = if attr.is_multiple() {
                    Interval::at_least(0)
                } else {
                    Interval::closed(0, 1)
                };
                attr.children.len()
            }
            None => {
                built = Some(placed);
                return false;
            }
        };
        set_occurrences(&mut placed, child.min, child.max);
        attr.children.insert(index, placed);
        true
    })
}

/// Whether the slot admits the archetype `id` (an include pattern matches and no exclude
/// does; a slot without includes admits any).
fn admits(slot: &crate::model::ArchetypeSlot, id: &str) -> bool {
    let matches =
        |p: &String| regex::Regex::new(&format!("^(?:{p})$")).is_ok_and(|r| r.is_match(id));
    (slot.includes.is_empty() || slot.includes.iter().any(matches))
        && !slot.excludes.iter().any(matches)
}

/// Removes the slots that fillings took the place of.
fn remove_filled_slots(root: &mut CObject, filled: &[String]) {
    for key in filled {
        let Some((path, node)) = key.rsplit_once('#') else {
            continue;
        };
        let Some(steps) = parse_path(path) else {
            continue;
        };
        let Some((last, parents)) = steps.split_last() else {
            continue;
        };
        let node = node.to_owned();
        with_parents(root, parents, &mut |obj| {
            if let Some(attr) = attribute_mut(obj, &last.attr) {
                if let Some(i) = attr
                    .children
                    .iter()
                    .position(|o| matches!(o.kind, CObjectKind::Slot(_)) && o.node_id == node)
                {
                    attr.children.remove(i);
                    return true;
                }
            }
            false
        });
    }
}

/// Removes the objects a template excluded (occurrences `0..0`).
fn prune(obj: &mut CObject) {
    if let Some(attrs) = attributes_mut(obj) {
        for a in attrs {
            a.children.retain(|c| c.occurrences.upper != Some(0));
            for c in &mut a.children {
                prune(c);
            }
        }
    }
}
