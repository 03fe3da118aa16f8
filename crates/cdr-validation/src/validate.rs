//! The template walk: the instance tree and the constraint tree side by side (rules A–C of
//! openehr-digest §6.3). Paths are kept as segment stacks and only turned into strings when an
//! issue is reported, so valid documents are checked without allocating paths.

use crate::iso8601;
use crate::issue::{Constraint, ValidationIssue};
use cdr_rm::meta::{conforms_to, Attr, RmObject, Value};
use cdr_template::{
    ArchetypeRoot, CAttribute, CCodePhrase, CDvOrdinal, CDvQuantity, CObject, CObjectKind,
    CPrimitive, Interval, Template,
};
use regex::Regex;
use std::collections::HashMap;

const MAX_DEPTH: usize = 256;

/// One step of an instance path: attribute name and, for list members, the index.
#[derive(Clone, Copy)]
struct Seg<'a> {
    attr: &'a str,
    index: Option<usize>,
}

/// One step of an archetype path: attribute name and node id (may be empty).
#[derive(Clone, Copy)]
struct ASeg<'a> {
    attr: &'a str,
    node: &'a str,
}

pub(crate) struct Walker<'t> {
    template: &'t Template,
    pub(crate) issues: Vec<ValidationIssue>,
    ipath: Vec<Seg<'t>>,
    apath: Vec<ASeg<'t>>,
    roots: Vec<&'t CObject>,
    regexes: HashMap<String, Option<Regex>>,
    depth: usize,
    /// Whether the composition is in the template's language (or names none), so that its
    /// texts can be held to the template's terms (an OPT carries its own language only).
    template_language: bool,
}

fn render_ipath(segs: &[Seg<'_>]) -> String {
    if segs.is_empty() {
        return "/".to_owned();
    }
    let mut s = String::new();
    for seg in segs {
        s.push('/');
        s.push_str(seg.attr);
        if let Some(i) = seg.index {
            s.push('[');
            s.push_str(&i.to_string());
            s.push(']');
        }
    }
    s
}

fn render_apath(segs: &[ASeg<'_>]) -> String {
    if segs.is_empty() {
        return "/".to_owned();
    }
    let mut s = String::new();
    for seg in segs {
        s.push('/');
        s.push_str(seg.attr);
        if !seg.node.is_empty() {
            s.push('[');
            s.push_str(seg.node);
            s.push(']');
        }
    }
    s
}

fn str_attr<'a>(o: &'a dyn RmObject, name: &str) -> Option<&'a str> {
    o.attr(name).one().and_then(Value::as_str)
}

fn obj_attr<'a>(o: &'a dyn RmObject, name: &str) -> Option<&'a dyn RmObject> {
    o.attr(name).one().and_then(Value::as_object)
}

/// `terminology_id/value` and `code_string` of a CODE_PHRASE.
pub(crate) fn code_of(cp: &dyn RmObject) -> (Option<&str>, Option<&str>) {
    (
        obj_attr(cp, "terminology_id").and_then(|t| str_attr(t, "value")),
        str_attr(cp, "code_string"),
    )
}

fn fmt_interval<T: std::fmt::Display>(i: &Interval<T>) -> String {
    let lower = match &i.lower {
        None => "*".to_owned(),
        Some(l) => format!("{}{l}", if i.lower_included { "" } else { ">" }),
    };
    let upper = match &i.upper {
        None => "*".to_owned(),
        Some(u) => format!("{}{u}", if i.upper_included { "" } else { "<" }),
    };
    format!("{lower}..{upper}")
}

fn fmt_occ(i: &Interval<i64>) -> String {
    let max = i.max_count().map_or("*".to_owned(), |m| m.to_string());
    format!("{}..{}", i.min_count(), max)
}

fn value_text(v: Value<'_>) -> String {
    match v {
        Value::Object(o) => o.rm_type().to_owned(),
        Value::Str(s) => s.to_owned(),
        Value::Int(i) => i.to_string(),
        Value::Real(r) => r.to_string(),
        Value::Bool(b) => b.to_string(),
    }
}

impl<'t> Walker<'t> {
    pub(crate) fn new(template: &'t Template) -> Self {
        Walker {
            template,
            issues: Vec::new(),
            ipath: Vec::with_capacity(32),
            apath: Vec::with_capacity(32),
            roots: Vec::new(),
            regexes: HashMap::new(),
            depth: 0,
            template_language: true,
        }
    }

    fn report(
        &mut self,
        extra: Option<&str>,
        constraint: Constraint,
        expected: Option<String>,
        actual: Option<String>,
        message: String,
    ) {
        let mut path = render_ipath(&self.ipath);
        if let Some(e) = extra {
            if path == "/" {
                path.clear();
            }
            path.push('/');
            path.push_str(e);
        }
        self.issues.push(ValidationIssue {
            path,
            archetype_path: render_apath(&self.apath),
            constraint,
            expected,
            actual,
            message,
        });
    }

    /// Validates the root object against the template definition.
    pub(crate) fn validate_root(&mut self, root: &'t dyn RmObject) {
        let primary = |l: &str| {
            l.split(['-', '_'])
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        };
        self.template_language = obj_attr(root, "language")
            .and_then(|l| code_of(l).1)
            .is_none_or(|l| primary(l) == primary(&self.template.language));
        let def = &self.template.definition;
        let expected = def.instance_node_id();
        match root.archetype_node_id() {
            Some(id) if id == expected => {}
            actual => self.report(
                Some("archetype_node_id"),
                Constraint::ArchetypeMismatch,
                Some(expected.to_owned()),
                actual.map(str::to_owned),
                format!("the template's root archetype is {expected}"),
            ),
        }
        let tid = obj_attr(root, "archetype_details")
            .and_then(|d| obj_attr(d, "template_id"))
            .and_then(|t| str_attr(t, "value"));
        if tid != Some(self.template.template_id.as_str()) {
            self.report(
                Some("archetype_details/template_id/value"),
                Constraint::TemplateMismatch,
                Some(self.template.template_id.clone()),
                tid.map(str::to_owned),
                format!(
                    "the composition must name template {}",
                    self.template.template_id
                ),
            );
        }
        self.validate_object(root, def);
    }

    fn validate_object(&mut self, obj: &'t dyn RmObject, c: &'t CObject) {
        if self.depth >= MAX_DEPTH {
            return;
        }
        self.depth += 1;
        self.validate_object_inner(obj, c);
        self.depth -= 1;
    }

    fn validate_object_inner(&mut self, obj: &'t dyn RmObject, c: &'t CObject) {
        if let CObjectKind::InternalRef { target_path } = &c.kind {
            if let Some(target) = self.resolve_ref(target_path) {
                self.validate_object(obj, target);
            }
            return;
        }
        if !conforms_to(obj.rm_type(), c.base_rm_type()) {
            self.report(
                None,
                Constraint::RmTypeMismatch,
                Some(c.rm_type_name.clone()),
                Some(obj.rm_type().to_owned()),
                format!(
                    "{} is not allowed here; the template expects {}",
                    obj.rm_type(),
                    c.rm_type_name
                ),
            );
            return;
        }
        if obj.rm_type() == "DV_CODED_TEXT" && c.attribute("defining_code").is_none() {
            self.check_local_code(obj);
        }
        match &c.kind {
            CObjectKind::ArchetypeRoot(root) => {
                self.check_archetype_details(obj, &root.archetype_id);
                self.roots.push(c);
                for a in &root.attributes {
                    self.validate_attribute(obj, a);
                }
                self.roots.pop();
            }
            CObjectKind::Complex { attributes } => {
                for a in attributes {
                    self.validate_attribute(obj, a);
                }
            }
            CObjectKind::Slot(slot) => {
                let id = obj.archetype_node_id().unwrap_or_default();
                if !self.slot_allows(&slot.includes, &slot.excludes, id) {
                    self.report(
                        None,
                        Constraint::SlotNotAllowed,
                        Some(slot.includes.join(" | ")),
                        Some(id.to_owned()),
                        format!("archetype {id} is not allowed in this slot"),
                    );
                }
            }
            CObjectKind::CodePhrase(cp) => self.check_code_phrase(obj, cp),
            CObjectKind::DvQuantity(q) => self.check_quantity(obj, q),
            CObjectKind::DvOrdinal(o) => self.check_ordinal(obj, o),
            CObjectKind::Primitive(_)
            | CObjectKind::ConstraintRef { .. }
            | CObjectKind::DvState
            | CObjectKind::InternalRef { .. } => {}
        }
    }

    /// A local code must be defined by the enclosing archetype, even where the template does
    /// not constrain the code (e.g. a DV_CODED_TEXT accepted by a DV_TEXT constraint).
    fn check_local_code(&mut self, coded: &'t dyn RmObject) {
        let Some(dc) = obj_attr(coded, "defining_code") else {
            return;
        };
        let (term, code) = code_of(dc);
        let (Some("local"), Some(code)) = (term, code) else {
            return;
        };
        let Some(root) = self.terms() else { return };
        if root.terms.is_empty() || root.terms.contains_key(code) {
            return;
        }
        let archetype = root.archetype_id.clone();
        self.report(
            Some("defining_code/code_string"),
            Constraint::UnknownLocalCode,
            Some(format!("a code defined by {archetype}")),
            Some(code.to_owned()),
            format!("local code {code} is not defined by {archetype}"),
        );
    }

    fn check_archetype_details(&mut self, obj: &'t dyn RmObject, archetype_id: &str) {
        let details = obj_attr(obj, "archetype_details")
            .and_then(|d| obj_attr(d, "archetype_id"))
            .and_then(|a| str_attr(a, "value"));
        if let Some(d) = details {
            if d != archetype_id {
                self.report(
                    Some("archetype_details/archetype_id/value"),
                    Constraint::ArchetypeDetailsMismatch,
                    Some(archetype_id.to_owned()),
                    Some(d.to_owned()),
                    format!("archetype_details names {d} but the node is {archetype_id}"),
                );
            }
        }
    }

    fn regex(&mut self, pattern: &str) -> Option<&Regex> {
        if !self.regexes.contains_key(pattern) {
            let r = Regex::new(&format!("^(?:{pattern})$")).ok();
            self.regexes.insert(pattern.to_owned(), r);
        }
        self.regexes.get(pattern).and_then(Option::as_ref)
    }

    fn slot_allows(&mut self, includes: &[String], excludes: &[String], id: &str) -> bool {
        let included = includes.is_empty()
            || includes
                .iter()
                .any(|p| self.regex(p).is_none_or(|r| r.is_match(id)));
        let excluded = excludes.iter().any(|p| {
            // `.*` excludes mean "everything not included".
            p != ".*" && self.regex(p).is_some_and(|r| r.is_match(id))
        });
        included && !excluded
    }

    /// Resolves an ARCHETYPE_INTERNAL_REF target path within the enclosing archetype root
    /// (falling back to the template-wide path index).
    fn resolve_ref(&self, target_path: &str) -> Option<&'t CObject> {
        let root = *self.roots.last()?;
        let mut cur: &'t CObject = root;
        for seg in split_path(target_path) {
            let (attr, node) = match seg.find('[') {
                Some(i) => (&seg[..i], Some(seg[i + 1..].trim_end_matches(']'))),
                None => (seg, None),
            };
            let node = node.map(|n| n.split([',', ' ']).next().unwrap_or(n).trim());
            let a = cur.attribute(attr)?;
            cur = match node {
                Some(n) => a
                    .children
                    .iter()
                    .find(|c| c.instance_node_id() == n || c.node_id == n)?,
                None => a.children.first()?,
            };
        }
        if std::ptr::eq(cur, root) && !target_path.trim_matches('/').is_empty() {
            return None;
        }
        Some(cur)
    }

    fn node_matches(&self, o: &dyn RmObject, c: &'t CObject) -> bool {
        let (c_eff, node) = match &c.kind {
            CObjectKind::InternalRef { target_path } => match self.resolve_ref(target_path) {
                Some(t) => (
                    t,
                    if c.node_id.is_empty() {
                        t.instance_node_id()
                    } else {
                        c.node_id.as_str()
                    },
                ),
                None => return false,
            },
            _ => (c, c.instance_node_id()),
        };
        if !conforms_to(o.rm_type(), c.base_rm_type())
            && !conforms_to(o.rm_type(), c_eff.base_rm_type())
        {
            return false;
        }
        if matches!(c_eff.kind, CObjectKind::Slot(_)) {
            return true; // the slot's include patterns are checked when validating
        }
        match o.archetype_node_id() {
            Some(id) if !node.is_empty() => id == node,
            _ => true,
        }
    }

    /// Picks the child constraint a member matches: node id and type first; then a name
    /// constraint that accepts the member's name; then a constraint whose occurrences are not
    /// yet used up; then the first under which the whole member validates.
    fn choose(
        &mut self,
        o: &'t dyn RmObject,
        children: &'t [CObject],
        matched: &[i64],
    ) -> Option<usize> {
        let eligible = |w: &Self, c: &'t CObject| {
            !matches!(c.kind, CObjectKind::Primitive(_)) && w.node_matches(o, c)
        };
        // Fast path: exactly one constraint fits (the common case), no allocation.
        let mut first = None;
        let mut count = 0usize;
        for (i, c) in children.iter().enumerate() {
            if eligible(self, c) {
                count += 1;
                first.get_or_insert(i);
            }
        }
        if count <= 1 {
            return first;
        }
        let candidates: Vec<usize> = children
            .iter()
            .enumerate()
            .filter(|(_, c)| eligible(self, c))
            .map(|(i, _)| i)
            .collect();
        let mut candidates = candidates;
        // A slot only catches what no archetype root claims.
        if candidates.len() > 1 {
            let non_slot: Vec<usize> = candidates
                .iter()
                .copied()
                .filter(|&i| !matches!(children[i].kind, CObjectKind::Slot(_)))
                .collect();
            if !non_slot.is_empty() {
                candidates = non_slot;
            }
        }
        if candidates.len() <= 1 {
            return candidates.first().copied();
        }
        let mut named = Vec::new();
        let mut unnamed = Vec::new();
        let has_name = o.attr_infos().iter().any(|i| i.name == "name");
        for &i in &candidates {
            match children[i].attribute("name").filter(|_| has_name) {
                Some(name_c) => {
                    if self.probe(|w| w.validate_attribute(o, name_c)) {
                        named.push(i);
                    }
                }
                None => unnamed.push(i),
            }
        }
        let pool = if !named.is_empty() {
            named
        } else if !unnamed.is_empty() {
            unnamed
        } else {
            candidates
        };
        let open: Vec<usize> = pool
            .iter()
            .copied()
            .filter(|&i| {
                children[i]
                    .occurrences
                    .max_count()
                    .is_none_or(|m| matched[i] < m)
            })
            .collect();
        let pool = if open.is_empty() { pool } else { open };
        if pool.len() == 1 {
            return Some(pool[0]);
        }
        // The constraint under which the member has the fewest issues.
        let mut best = (usize::MAX, pool[0]);
        for &i in &pool {
            let n = self.count_issues(|w| w.validate_object(o, &children[i]));
            if n == 0 {
                return Some(i);
            }
            if n < best.0 {
                best = (n, i);
            }
        }
        Some(best.1)
    }

    /// Runs a check without keeping its issues; true when it found none.
    fn probe(&mut self, f: impl FnOnce(&mut Self)) -> bool {
        self.count_issues(f) == 0
    }

    /// Runs a check without keeping its issues; returns how many it found.
    fn count_issues(&mut self, f: impl FnOnce(&mut Self)) -> usize {
        let before = self.issues.len();
        let ip = self.ipath.len();
        let ap = self.apath.len();
        f(self);
        let found = self.issues.len() - before;
        self.issues.truncate(before);
        self.ipath.truncate(ip);
        self.apath.truncate(ap);
        found
    }

    fn validate_attribute(&mut self, obj: &'t dyn RmObject, a: &'t CAttribute) {
        let name: &'t str = &a.rm_attribute_name;
        let Some(idx) = obj.attr_infos().iter().position(|i| i.name == name) else {
            // Constraints on functions (`offset`, `is_integral`, …) or on attributes this RM
            // type does not store: nothing in the instance to check.
            return;
        };
        let attr = obj.attr_at(idx);
        let count = attr.count();
        if count == 0 && a.existence.min_count() >= 1 {
            self.report(
                Some(name),
                Constraint::AttributeMissing,
                Some(format!("existence {}", fmt_occ(&a.existence))),
                None,
                format!("attribute {name} is required by the template"),
            );
        }
        if count > 0 && a.existence.max_count() == Some(0) {
            self.report(
                Some(name),
                Constraint::AttributeNotAllowed,
                Some("absent".into()),
                Some("present".into()),
                format!("attribute {name} is not allowed by the template"),
            );
        }
        if let Some(card) = &a.cardinality {
            if count > 0 && !card.interval.contains(count as i64) {
                self.report(
                    Some(name),
                    Constraint::Cardinality,
                    Some(fmt_occ(&card.interval)),
                    Some(count.to_string()),
                    format!(
                        "{name} has {count} members; the template allows {}",
                        fmt_occ(&card.interval)
                    ),
                );
            }
        }
        if a.children.is_empty() {
            return;
        }
        let many = matches!(attr, Attr::Many(_)) || a.is_multiple();
        let mut small = [0i64; 16];
        let mut large = Vec::new();
        let matched: &mut [i64] = if a.children.len() <= small.len() {
            &mut small[..a.children.len()]
        } else {
            large.resize(a.children.len(), 0);
            &mut large
        };
        for (i, v) in attr.values().enumerate() {
            self.ipath.push(Seg {
                attr: name,
                index: many.then_some(i),
            });
            match v {
                Value::Object(o) => match self.choose(o, &a.children, matched) {
                    Some(ci) => {
                        let c = &a.children[ci];
                        matched[ci] += 1;
                        self.apath.push(ASeg {
                            attr: name,
                            node: c.instance_node_id(),
                        });
                        if c.occurrences.max_count().is_some_and(|m| matched[ci] > m) {
                            self.report(
                                None,
                                Constraint::OccurrencesTooMany,
                                Some(fmt_occ(&c.occurrences)),
                                Some(matched[ci].to_string()),
                                format!(
                                    "{} occurrences of {} allowed, found another",
                                    fmt_occ(&c.occurrences),
                                    self.describe(c)
                                ),
                            );
                        }
                        self.validate_object(o, c);
                        self.apath.pop();
                    }
                    None => self.report_unmatched(o, a),
                },
                prim => self.check_primitive_value(prim, a),
            }
            self.ipath.pop();
        }
        if a.is_multiple() {
            for (ci, c) in a.children.iter().enumerate() {
                let min = c.occurrences.min_count();
                if matched[ci] < min {
                    self.apath.push(ASeg {
                        attr: name,
                        node: c.instance_node_id(),
                    });
                    self.report(
                        Some(name),
                        Constraint::OccurrencesTooFew,
                        Some(fmt_occ(&c.occurrences)),
                        Some(matched[ci].to_string()),
                        format!(
                            "{} is mandatory ({}), found {}",
                            self.describe(c),
                            fmt_occ(&c.occurrences),
                            matched[ci]
                        ),
                    );
                    self.apath.pop();
                }
            }
        }
    }

    /// A human name for a constraint: its term text, else its node id, else its RM type.
    fn describe(&self, c: &CObject) -> String {
        let id = c.instance_node_id();
        if let Some(root) = c.as_archetype_root() {
            if let Some(t) = root.terms.get(&c.node_id) {
                return format!("'{}' ({id})", t.text);
            }
            return id.to_owned();
        }
        if let Some(t) = self.terms().and_then(|r| r.terms.get(id)) {
            return format!("'{}' ({id})", t.text);
        }
        if id.is_empty() {
            c.rm_type_name.clone()
        } else {
            id.to_owned()
        }
    }

    fn terms(&self) -> Option<&'t ArchetypeRoot> {
        self.roots.last().and_then(|r| r.as_archetype_root())
    }

    fn report_unmatched(&mut self, o: &'t dyn RmObject, a: &'t CAttribute) {
        let node = o.archetype_node_id();
        let allowed_nodes: Vec<&str> = a
            .children
            .iter()
            .map(|c| c.instance_node_id())
            .filter(|n| !n.is_empty())
            .collect();
        let node_known = match node {
            Some(id) => {
                allowed_nodes.is_empty()
                    || a.children.iter().any(|c| match c.kind {
                        // A slot or reference only makes an id plausible for RM types it takes.
                        CObjectKind::Slot(_) | CObjectKind::InternalRef { .. } => {
                            conforms_to(o.rm_type(), c.base_rm_type())
                        }
                        _ => c.instance_node_id() == id,
                    })
            }
            None => true,
        };
        if !node_known {
            let id = node.unwrap_or_default();
            self.report(
                None,
                Constraint::UnknownNode,
                Some(allowed_nodes.join(", ")),
                Some(id.to_owned()),
                format!(
                    "node {id} is not defined by the template under {}",
                    a.rm_attribute_name
                ),
            );
        } else {
            let types: Vec<&str> = a.children.iter().map(|c| c.rm_type_name.as_str()).collect();
            self.report(
                None,
                Constraint::RmTypeMismatch,
                Some(types.join(", ")),
                Some(o.rm_type().to_owned()),
                format!(
                    "{} is not allowed here; the template allows {}",
                    o.rm_type(),
                    types.join(", ")
                ),
            );
        }
    }

    fn check_primitive_value(&mut self, v: Value<'t>, a: &'t CAttribute) {
        let prims: Vec<&'t CPrimitive> = a
            .children
            .iter()
            .filter_map(|c| match &c.kind {
                CObjectKind::Primitive(p) => Some(p),
                _ => None,
            })
            .collect();
        if prims.is_empty() {
            return;
        }
        let mut first_err = None;
        for p in &prims {
            match self.primitive_ok(v, p) {
                Ok(()) => return,
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(e);
                    }
                }
            }
        }
        if let Some((constraint, expected, message)) = first_err {
            self.report(
                None,
                constraint,
                Some(expected),
                Some(value_text(v)),
                message,
            );
        }
    }

    fn primitive_ok(&mut self, v: Value<'_>, p: &CPrimitive) -> Result<(), PrimitiveError> {
        match (p, v) {
            (
                CPrimitive::String {
                    pattern,
                    list,
                    list_open,
                    ..
                },
                Value::Str(s),
            ) => {
                if !list.is_empty() && !list_open && !list.iter().any(|x| x == s) {
                    return Err((
                        Constraint::StringNotAllowed,
                        list.join(" | "),
                        format!("'{s}' is not one of the allowed values"),
                    ));
                }
                if let Some(pat) = pattern {
                    if s == pat {
                        // ACTIVITY.action_archetype_id holds a regex itself; the archetype's
                        // pattern is then the value.
                        return Ok(());
                    }
                    if let Some(r) = self.regex(pat) {
                        if !r.is_match(s) {
                            return Err((
                                Constraint::PatternMismatch,
                                pat.clone(),
                                format!("'{s}' does not match /{pat}/"),
                            ));
                        }
                    }
                }
                Ok(())
            }
            (CPrimitive::Integer { list, range, .. }, Value::Int(i)) => number_ok(i, list, range),
            (CPrimitive::Real { list, range, .. }, Value::Real(x)) => number_ok(x, list, range),
            (CPrimitive::Real { .. }, Value::Int(i)) => self.primitive_ok(Value::Real(i as f64), p),
            (
                CPrimitive::Boolean {
                    true_valid,
                    false_valid,
                    ..
                },
                Value::Bool(b),
            ) => {
                if (b && *true_valid) || (!b && *false_valid) {
                    Ok(())
                } else {
                    Err((
                        Constraint::BooleanNotAllowed,
                        (!b).to_string(),
                        format!("{b} is not allowed"),
                    ))
                }
            }
            (
                CPrimitive::Date {
                    pattern,
                    timezone_validity,
                    range,
                }
                | CPrimitive::Time {
                    pattern,
                    timezone_validity,
                    range,
                }
                | CPrimitive::DateTime {
                    pattern,
                    timezone_validity,
                    range,
                },
                Value::Str(s),
            ) => {
                let parse: fn(&str) -> Option<iso8601::DateTimeParts> = match p {
                    CPrimitive::Date { .. } => iso8601::parse_date,
                    CPrimitive::Time { .. } => iso8601::parse_time,
                    _ => iso8601::parse_date_time,
                };
                let kind = match p {
                    CPrimitive::Date { .. } => "date",
                    CPrimitive::Time { .. } => "time",
                    _ => "date-time",
                };
                let Some(parts) = parse(s) else {
                    return Err((
                        Constraint::InvalidTemporal,
                        format!("ISO 8601 {kind}"),
                        format!("'{s}' is not a valid ISO 8601 {kind}"),
                    ));
                };
                if let Some(pat) = pattern {
                    if let Err(m) = iso8601::check_pattern(&parts, pat) {
                        return Err((
                            Constraint::TemporalPattern,
                            pat.clone(),
                            format!("'{s}': {m}"),
                        ));
                    }
                }
                match (timezone_validity, parts.tz_minutes) {
                    (Some(1001), None) if parts.hour.is_some() => {
                        return Err((
                            Constraint::TemporalPattern,
                            "a time zone".into(),
                            format!("'{s}' needs a time zone"),
                        ))
                    }
                    (Some(1003), Some(_)) => {
                        return Err((
                            Constraint::TemporalPattern,
                            "no time zone".into(),
                            format!("'{s}' must not have a time zone"),
                        ))
                    }
                    _ => {}
                }
                match range {
                    Some(r) => temporal_range_ok(s, r, parts.approx_seconds(), |b| {
                        parse(b).map(|x| x.approx_seconds())
                    }),
                    None => Ok(()),
                }
            }
            (CPrimitive::Duration { pattern, range }, Value::Str(s)) => {
                let Some(d) = iso8601::parse_duration(s) else {
                    return Err((
                        Constraint::InvalidDuration,
                        "ISO 8601 duration".into(),
                        format!("'{s}' is not a valid ISO 8601 duration"),
                    ));
                };
                if let Some(pat) = pattern {
                    if let Err(m) = iso8601::check_duration_pattern(&d, pat) {
                        return Err((
                            Constraint::DurationPattern,
                            pat.clone(),
                            format!("'{s}': {m}"),
                        ));
                    }
                }
                match range {
                    Some(r) => temporal_range_ok(s, r, d.seconds, |b| {
                        iso8601::parse_duration(b).map(|x| x.seconds)
                    }),
                    None => Ok(()),
                }
            }
            (p, v) => Err((
                Constraint::RmTypeMismatch,
                primitive_name(p).to_owned(),
                format!("{} is not a {}", value_text(v), primitive_name(p)),
            )),
        }
    }

    fn check_code_phrase(&mut self, obj: &'t dyn RmObject, cp: &'t CCodePhrase) {
        if cp.reference_set_uri.is_some() {
            return; // external value set: membership needs a terminology service
        }
        let (term, code) = code_of(obj);
        if let Some(t) = &cp.terminology_id {
            if term != Some(t.as_str()) {
                self.report(
                    Some("terminology_id/value"),
                    Constraint::TerminologyMismatch,
                    Some(t.clone()),
                    term.map(str::to_owned),
                    format!("the code must come from terminology {t}"),
                );
                return;
            }
        }
        let Some(code) = code else { return };
        if !cp.code_list.is_empty() && !cp.code_list.iter().any(|c| c == code) {
            self.report(
                Some("code_string"),
                Constraint::CodeNotAllowed,
                Some(cp.code_list.join(" | ")),
                Some(code.to_owned()),
                format!("code {code} is not one of the codes the template allows"),
            );
            return;
        }
        if term == Some("local") && cp.code_list.is_empty() {
            if let Some(root) = self.terms() {
                if !root.terms.contains_key(code) {
                    let archetype = root.archetype_id.clone();
                    self.report(
                        Some("code_string"),
                        Constraint::UnknownLocalCode,
                        Some(format!("a code defined by {archetype}")),
                        Some(code.to_owned()),
                        format!("local code {code} is not defined by {archetype}"),
                    );
                }
            }
        }
    }

    fn check_quantity(&mut self, obj: &'t dyn RmObject, q: &'t CDvQuantity) {
        if q.list.is_empty() {
            return;
        }
        let units = str_attr(obj, "units").unwrap_or_default();
        let magnitude = match obj.attr("magnitude").one() {
            Some(Value::Real(m)) => m,
            Some(Value::Int(i)) => i as f64,
            _ => return,
        };
        let items: Vec<_> = q.list.iter().filter(|i| i.units == units).collect();
        if items.is_empty() {
            let allowed: Vec<&str> = q.list.iter().map(|i| i.units.as_str()).collect();
            self.report(
                Some("units"),
                Constraint::UnitNotAllowed,
                Some(allowed.join(" | ")),
                Some(units.to_owned()),
                format!(
                    "units '{units}' are not allowed; the template allows {}",
                    allowed.join(", ")
                ),
            );
            return;
        }
        let in_range: Vec<_> = items
            .iter()
            .filter(|i| i.magnitude.as_ref().is_none_or(|r| r.contains(magnitude)))
            .collect();
        if in_range.is_empty() {
            let ranges: Vec<String> = items
                .iter()
                .filter_map(|i| i.magnitude.as_ref().map(fmt_interval))
                .collect();
            self.report(
                Some("magnitude"),
                Constraint::MagnitudeOutOfRange,
                Some(ranges.join(" | ")),
                Some(magnitude.to_string()),
                format!(
                    "{magnitude} {units} is outside the allowed range {}",
                    ranges.join(" or ")
                ),
            );
            return;
        }
        let precision = match obj.attr("precision").one() {
            Some(Value::Int(p)) => Some(p),
            _ => None,
        };
        let precision_ok = in_range.iter().any(|i| match &i.precision {
            None => true,
            Some(p) => match precision.filter(|&pr| pr != -1) {
                Some(pr) => p.contains(pr),
                // Without a precision (or with -1, "any"), `0..0` still means an integral
                // magnitude.
                None => !(p.max_count() == Some(0) && magnitude.fract() != 0.0),
            },
        });
        if !precision_ok {
            let expected = in_range
                .iter()
                .find_map(|i| i.precision.as_ref().map(fmt_interval))
                .unwrap_or_default();
            self.report(
                Some("precision"),
                Constraint::PrecisionNotAllowed,
                Some(expected.clone()),
                Some(precision.map_or_else(|| magnitude.to_string(), |p| p.to_string())),
                format!("precision must be within {expected}"),
            );
        }
    }

    fn check_ordinal(&mut self, obj: &'t dyn RmObject, o: &'t CDvOrdinal) {
        if o.list.is_empty() {
            return;
        }
        let value = match obj.attr("value").one() {
            Some(Value::Int(v)) => v,
            _ => return,
        };
        let code = obj_attr(obj, "symbol")
            .and_then(|s| obj_attr(s, "defining_code"))
            .map(code_of);
        let ok = o.list.iter().any(|item| {
            item.value == value
                && code.is_some_and(|(t, c)| {
                    c == Some(item.code_string.as_str())
                        && t.is_none_or(|t| t == item.terminology_id)
                })
        });
        if ok {
            self.check_ordinal_symbol(obj, value, code.and_then(|c| c.1));
        } else {
            let allowed: Vec<String> = o
                .list
                .iter()
                .map(|i| format!("{}|{}", i.value, i.code_string))
                .collect();
            let actual = format!("{}|{}", value, code.and_then(|c| c.1).unwrap_or_default());
            self.report(
                None,
                Constraint::OrdinalNotAllowed,
                Some(allowed.join(", ")),
                Some(actual.clone()),
                format!("ordinal {actual} is not one of the template's values"),
            );
        }
    }
}

impl<'t> Walker<'t> {
    /// The symbol's text of an allowed ordinal must be the template's term for its code, when
    /// the composition is in the template's language (the only one whose terms an OPT holds).
    fn check_ordinal_symbol(&mut self, obj: &'t dyn RmObject, value: i64, code: Option<&str>) {
        if !self.template_language {
            return;
        }
        let (Some(code), Some(text)) = (
            code,
            obj_attr(obj, "symbol").and_then(|s| str_attr(s, "value")),
        ) else {
            return;
        };
        let Some(term) = self.terms().and_then(|r| r.terms.get(code)) else {
            return;
        };
        if term.text != text {
            let expected = term.text.clone();
            self.report(
                Some("symbol/value"),
                Constraint::OrdinalNotAllowed,
                Some(expected.clone()),
                Some(text.to_owned()),
                format!(
                    "the symbol of ordinal {value}|{code} is '{text}'; the template's term is '{expected}'"
                ),
            );
        }
    }
}

type PrimitiveError = (Constraint, String, String);

/// A number against a C_INTEGER / C_REAL list or range.
fn number_ok<T>(v: T, list: &[T], range: &Option<Interval<T>>) -> Result<(), PrimitiveError>
where
    T: PartialOrd + Copy + std::fmt::Display + std::fmt::Debug,
{
    let in_list = list.is_empty() || list.contains(&v);
    let in_range = range.as_ref().is_none_or(|r| r.contains(v));
    if in_list && in_range {
        return Ok(());
    }
    let expected = match range {
        Some(r) => fmt_interval(r),
        None => format!("{list:?}"),
    };
    Err((
        Constraint::NumberNotAllowed,
        expected.clone(),
        format!("{v} is outside {expected}"),
    ))
}

/// A date/time or duration (as seconds) against a range whose bounds are ISO 8601 text.
fn temporal_range_ok(
    text: &str,
    r: &Interval<String>,
    seconds: f64,
    to_seconds: impl Fn(&str) -> Option<f64>,
) -> Result<(), PrimitiveError> {
    let bound = |b: &Option<String>| b.as_deref().and_then(&to_seconds);
    let ri = Interval {
        lower: bound(&r.lower),
        upper: bound(&r.upper),
        lower_included: r.lower_included,
        upper_included: r.upper_included,
    };
    if ri.contains(seconds) {
        return Ok(());
    }
    let expected = fmt_interval(r);
    Err((
        Constraint::TemporalOutOfRange,
        expected.clone(),
        format!("'{text}' is outside {expected}"),
    ))
}

fn primitive_name(p: &CPrimitive) -> &'static str {
    match p {
        CPrimitive::String { .. } => "String",
        CPrimitive::Integer { .. } => "Integer",
        CPrimitive::Real { .. } => "Real",
        CPrimitive::Boolean { .. } => "Boolean",
        CPrimitive::Date { .. } => "Date",
        CPrimitive::Time { .. } => "Time",
        CPrimitive::DateTime { .. } => "DateTime",
        CPrimitive::Duration { .. } => "Duration",
    }
}

/// Splits an archetype path into segments, keeping `/` inside predicates.
fn split_path(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0usize;
    for (i, ch) in path.char_indices() {
        match ch {
            '[' => depth += 1,
            ']' => depth -= 1,
            '/' if depth == 0 => {
                if i > start {
                    out.push(&path[start..i]);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < path.len() {
        out.push(&path[start..]);
    }
    out
}
