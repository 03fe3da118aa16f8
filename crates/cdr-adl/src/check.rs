//! The validity checks of an ADL 1.4 archetype, all findings at once. Each finding carries
//! the code of the rule it breaks, as the openEHR ADL 1.4 / AOM 1.4 specifications name the
//! rules (VATDF, VACDF, VACMM, …; the `W` and `I` codes are warnings), a message, the
//! archetype path and the source line where known.
//!
//! [`check`] looks at one archetype alone. [`check_specialisation`] compares a specialised
//! archetype with its flat parent: occurrences, existence and cardinality no wider than the
//! parent's, RM types that conform, node ids that are the parent's or derived from them, and
//! primitive constraints that are subsets where that is easily decided (codes, ordinals,
//! strings, numbers, units).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

use cdr_rm::meta::{self, RmType};

use crate::model::*;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The archetype is wrong.
    Error,
    /// Legal, but probably not what the author meant.
    Warning,
}

/// One thing wrong with an archetype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule's code (`VATDF`, `WOUC`, …).
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in words.
    pub message: String,
    /// The archetype path of the node concerned, where there is one.
    pub path: Option<String>,
    /// 1-based line and column in the source text, where known.
    pub line_col: Option<(usize, usize)>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{} ({sev}): {}", self.code, self.message)?;
        if let Some(p) = &self.path {
            write!(f, " at {p}")?;
        }
        Ok(())
    }
}

struct Findings<'a> {
    archetype: &'a Archetype,
    out: Vec<Finding>,
}

impl Findings<'_> {
    fn push(&mut self, code: &'static str, path: Option<&str>, pos: Option<Pos>, message: String) {
        let severity = if code.starts_with(['W', 'I']) {
            Severity::Warning
        } else {
            Severity::Error
        };
        self.push_with(code, severity, path, pos, message);
    }

    fn push_with(
        &mut self,
        code: &'static str,
        severity: Severity,
        path: Option<&str>,
        pos: Option<Pos>,
        message: String,
    ) {
        self.out.push(Finding {
            code,
            severity,
            message,
            path: path.map(str::to_owned),
            line_col: pos.and_then(|p| self.archetype.lines.line_col(p)),
        });
    }
}

/// The findings of each archetype of a set (in the same order): [`check`], and for a
/// specialised archetype [`check_specialisation`] against its parent flattened from the set.
/// A parent that is not in the set is a warning (VASID): the specialisation is not checked.
pub fn check_set(archetypes: &[Archetype]) -> Vec<Vec<Finding>> {
    archetypes
        .iter()
        .map(|a| {
            let mut findings = check(a);
            let Some(parent_id) = &a.specialise else {
                return findings;
            };
            let parent = archetypes.iter().find(|p| &p.archetype_id == parent_id);
            let mut f = Findings {
                archetype: a,
                out: Vec::new(),
            };
            match parent.map(|p| crate::flatten::flatten_in(p, archetypes)) {
                Some(Ok(flat)) => findings.extend(check_specialisation(a, &flat)),
                Some(Err(e)) => f.push("VASID", None, Some(Pos(0)), e.to_string()),
                None => f.push_with(
                    "VASID",
                    Severity::Warning,
                    None,
                    Some(Pos(0)),
                    format!("the parent {parent_id} is not among the archetypes checked, so the specialisation is not checked against it"),
                ),
            }
            findings.extend(f.out);
            findings
        })
        .collect()
}

/// The checks of one archetype on its own: codes, ids, structure, slots, references.
pub fn check(archetype: &Archetype) -> Vec<Finding> {
    let mut f = Findings {
        archetype,
        out: Vec::new(),
    };
    let a = archetype;
    let root_pos = Some(a.definition.pos);

    // VARDT: the root's type is the archetype id's RM entity.
    if let Some(entity) = id_rm_entity(&a.archetype_id) {
        if entity != meta::base_type_name(&a.definition.rm_type) {
            f.push(
                "VARDT",
                Some("/"),
                root_pos,
                format!(
                    "the root type {} is not the archetype id's RM type {entity}",
                    a.definition.rm_type
                ),
            );
        }
    }
    // VACCD: the root's node id is the concept code.
    if a.definition.node_id.as_deref() != Some(a.concept.as_str()) {
        f.push(
            "VACCD",
            Some("/"),
            root_pos,
            format!(
                "the root node id {} is not the concept code {}",
                a.definition.node_id.as_deref().unwrap_or("(none)"),
                a.concept
            ),
        );
    }
    // VACSD: the concept code is as deep as the id's specialisation.
    let depth = id_specialisation_depth(&a.archetype_id);
    if code_depth(&a.concept) != depth {
        f.push(
            "VACSD",
            None,
            Some(Pos(0)),
            format!(
                "the concept code {} has specialisation depth {}, the archetype id {depth}",
                a.concept,
                code_depth(&a.concept)
            ),
        );
    }
    if depth > 0 && a.specialise.is_none() {
        f.push(
            "VASID",
            None,
            Some(Pos(0)),
            format!("the archetype id names a specialisation (depth {depth}) but there is no `specialise` section"),
        );
    }

    // Walk the definition.
    let mut used = Used::default();
    let mut paths = HashMap::new();
    walk(&mut f, &a.definition, "/", &mut used, &mut paths);
    if let Some(id) = &a.definition.node_id {
        used.at
            .entry(id.clone())
            .or_insert((String::from("/"), a.definition.pos));
    }
    used.at
        .entry(a.concept.clone())
        .or_insert((String::from("/"), a.definition.pos));

    // Internal references (VUNP, VUNT).
    for (at_path, r) in &used.refs {
        match paths.get(r.target.as_str()) {
            None => f.push(
                "VUNP",
                Some(at_path),
                Some(r.pos),
                format!(
                    "use_node refers to {}, which is not an object node of this archetype",
                    r.target
                ),
            ),
            Some(target_type) => {
                if !meta::conforms_to(target_type, &r.rm_type) {
                    f.push(
                        "VUNT",
                        Some(at_path),
                        Some(r.pos),
                        format!(
                            "use_node {} refers to a {target_type}, which does not conform to it",
                            r.rm_type
                        ),
                    );
                }
            }
        }
    }

    // Codes against the ontology.
    let o = &a.ontology;
    let original = original_language(a);
    let langs: Vec<&str> = o.term_definitions.iter().map(|(l, _)| l.as_str()).collect();
    let primary = original
        .as_deref()
        .filter(|l| langs.contains(l))
        .or(langs.first().copied());
    match &original {
        Some(l) if !langs.contains(&l.as_str()) => f.push(
            "VOTM",
            None,
            Some(o.pos),
            format!("there are no term definitions in the original language `{l}`"),
        ),
        _ => {}
    }
    for l in translation_languages(a) {
        if !langs.contains(&l.as_str()) {
            f.push(
                "VOTM",
                None,
                Some(o.pos),
                format!("the translation `{l}` has no term definitions"),
            );
        }
    }
    let defined_in = |defs: &Definitions, lang: &str| -> HashSet<String> {
        defs.iter()
            .filter(|(l, _)| l == lang)
            .flat_map(|(_, t)| t.iter().map(|t| t.code.clone()))
            .collect()
    };
    if let Some(primary) = primary {
        let defined = defined_in(&o.term_definitions, primary);
        for (code, (path, pos)) in &used.at {
            if !defined.contains(code) {
                f.push(
                    "VATDF",
                    Some(path),
                    Some(*pos),
                    format!("{code} is used but not defined in the term definitions ({primary})"),
                );
            }
        }
        for lang in langs.iter().filter(|l| **l != primary) {
            let other = defined_in(&o.term_definitions, lang);
            let missing: BTreeSet<&String> = used
                .at
                .keys()
                .filter(|c| defined.contains(*c) && !other.contains(*c))
                .collect();
            if !missing.is_empty() {
                f.push(
                    "VONLC",
                    None,
                    Some(o.pos),
                    format!(
                        "the term definitions in `{lang}` lack {}",
                        missing
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
    } else if !used.at.is_empty() {
        f.push(
            "VATDF",
            None,
            Some(o.pos),
            "there are no term definitions".into(),
        );
    }
    let ac_lang = original
        .as_deref()
        .or(o.constraint_definitions.first().map(|(l, _)| l.as_str()));
    let ac_defined = ac_lang
        .map(|l| defined_in(&o.constraint_definitions, l))
        .unwrap_or_default();
    for (code, (path, pos)) in &used.ac {
        if !ac_defined.contains(code) {
            f.push(
                "VACDF",
                Some(path),
                Some(*pos),
                format!("{code} is used but not defined in the constraint definitions"),
            );
        }
    }
    // Codes deeper than the archetype (VATCD used, VONSD defined).
    for (code, (path, pos)) in used.at.iter().chain(used.ac.iter()) {
        if code_depth(code) > depth {
            f.push(
                "VATCD",
                Some(path),
                Some(*pos),
                format!("{code} is deeper than the archetype's specialisation depth {depth}"),
            );
        }
    }
    let mut reported_unused = HashSet::new();
    for (defs, uses) in [
        (&o.term_definitions, &used.at),
        (&o.constraint_definitions, &used.ac),
    ] {
        for (_, terms) in defs.iter() {
            for t in terms {
                if code_depth(&t.code) > depth && reported_unused.insert(("VONSD", t.code.clone()))
                {
                    f.push(
                        "VONSD",
                        None,
                        Some(t.pos),
                        format!(
                            "{} is deeper than the archetype's specialisation depth {depth}",
                            t.code
                        ),
                    );
                }
                if !uses.contains_key(&t.code) && reported_unused.insert(("WOUC", t.code.clone())) {
                    f.push(
                        "WOUC",
                        None,
                        Some(t.pos),
                        format!(
                            "{} is defined in the ontology but not used in the definition",
                            t.code
                        ),
                    );
                }
            }
        }
    }
    // VOKU: a code defined twice for one language.
    for defs in [&o.term_definitions, &o.constraint_definitions] {
        for (lang, terms) in defs {
            let mut seen = HashSet::new();
            for t in terms {
                if !seen.insert(t.code.as_str()) {
                    f.push(
                        "VOKU",
                        None,
                        Some(t.pos),
                        format!("{} is defined twice in `{lang}`", t.code),
                    );
                }
            }
        }
    }
    // WITB: bindings to codes or paths that do not exist.
    let all_defined: HashSet<&str> = o
        .term_definitions
        .iter()
        .chain(o.constraint_definitions.iter())
        .flat_map(|(_, t)| t.iter().map(|t| t.code.as_str()))
        .collect();
    for (terminology, items) in o.term_bindings.iter().chain(o.constraint_bindings.iter()) {
        for (key, _) in items {
            let ok = if key.starts_with('/') {
                resolves(key, &paths, &used.refs, 0)
            } else {
                all_defined.contains(key.as_str())
            };
            if !ok {
                f.push(
                    "WITB",
                    None,
                    Some(o.pos),
                    format!(
                        "the {terminology} binding of {key} binds nothing defined in the archetype"
                    ),
                );
            }
        }
    }
    f.out
}

/// Whether `path` names an object node, directly or through `use_node` references.
fn resolves(
    path: &str,
    paths: &HashMap<String, String>,
    refs: &[(String, &InternalRef)],
    depth: usize,
) -> bool {
    if paths.contains_key(path) {
        return true;
    }
    if depth > 8 {
        return false;
    }
    refs.iter().any(|(at, r)| {
        let Some(rest) = path.strip_prefix(at.as_str()) else {
            return false;
        };
        if !(rest.is_empty() || rest.starts_with(['[', '/'])) {
            return false;
        }
        // The reference stands for the target's node: its attribute path is the target's
        // path without the last node id.
        let base = match r.target.rsplit_once('[') {
            Some((b, _)) if rest.starts_with('[') => b,
            _ => r.target.as_str(),
        };
        resolves(&format!("{base}{rest}"), paths, refs, depth + 1)
    })
}

#[derive(Default)]
struct Used<'a> {
    /// at-code → where first used.
    at: HashMap<String, (String, Pos)>,
    /// ac-code → where first used.
    ac: HashMap<String, (String, Pos)>,
    /// Internal references with the path of their attribute.
    refs: Vec<(String, &'a InternalRef)>,
}

fn walk<'a>(
    f: &mut Findings<'_>,
    obj: &'a CComplexObject,
    path: &str,
    used: &mut Used<'a>,
    paths: &mut HashMap<String, String>,
) {
    paths.insert(path.to_owned(), obj.rm_type.clone());
    let rm = RmType::parse(&obj.rm_type);
    if rm.is_none() && !obj.rm_type.starts_with("C_") {
        f.push(
            "VCORM",
            Some(path),
            Some(obj.pos),
            format!(
                "{} is not a type of the openEHR reference model",
                obj.rm_type
            ),
        );
    }
    let mut names = HashSet::new();
    for attr in &obj.attributes {
        let attr_path = format!("{}/{}", path.trim_end_matches('/'), attr.name);
        if !names.insert(attr.name.as_str()) {
            f.push(
                "VCATU",
                Some(&attr_path),
                Some(attr.pos),
                format!("the attribute {} is constrained twice", attr.name),
            );
        }
        if let Some(t) = rm {
            if FUNCTIONS.contains(&attr.name.as_str()) {
                f.push(
                    "ICARM",
                    Some(&attr_path),
                    Some(attr.pos),
                    format!(
                        "{} constrains {}, a function of the RM rather than an attribute",
                        obj.rm_type, attr.name
                    ),
                );
            } else if !has_attribute(t, &attr.name) {
                f.push(
                    "VCARM",
                    Some(&attr_path),
                    Some(attr.pos),
                    format!("{} has no attribute {}", obj.rm_type, attr.name),
                );
            }
        }
        check_attribute(f, attr, &attr_path);
        for child in &attr.children {
            let child_p = child_path(path, &attr.name, child.node_id());
            match child {
                CObject::Complex(c) => {
                    if let Some(id) = &c.node_id {
                        used.at
                            .entry(id.clone())
                            .or_insert((child_p.clone(), c.pos));
                    }
                    walk(f, c, &child_p, used, paths);
                }
                CObject::Slot(s) => {
                    paths.insert(child_p.clone(), s.rm_type.clone());
                    if let Some(id) = &s.node_id {
                        used.at
                            .entry(id.clone())
                            .or_insert((child_p.clone(), s.pos));
                    }
                    check_slot(f, s, &child_p);
                }
                CObject::InternalRef(r) => used.refs.push((attr_path.clone(), r)),
                CObject::ConstraintRef(r) => {
                    used.ac
                        .entry(r.code.clone())
                        .or_insert((attr_path.clone(), r.pos));
                }
                CObject::CodePhrase(c) => {
                    if c.terminology == "local" {
                        for code in c.codes.iter().chain(c.assumed.iter()) {
                            used.at
                                .entry(code.clone())
                                .or_insert((attr_path.clone(), c.pos));
                        }
                    }
                    if let Some(a) = &c.assumed {
                        if !c.codes.is_empty() && !c.codes.contains(a) {
                            f.push(
                                "VOBAV",
                                Some(&attr_path),
                                Some(c.pos),
                                format!("the assumed code {a} is not one of the codes admitted"),
                            );
                        }
                    }
                }
                CObject::Ordinal(o) => {
                    for item in &o.items {
                        if item.symbol.terminology == "local" {
                            used.at
                                .entry(item.symbol.code.clone())
                                .or_insert((attr_path.clone(), o.pos));
                        }
                    }
                    if let Some(a) = o.assumed {
                        if !o.items.iter().any(|i| i.value == a) {
                            f.push(
                                "VOBAV",
                                Some(&attr_path),
                                Some(o.pos),
                                format!(
                                    "the assumed value {a} is not one of the ordinals admitted"
                                ),
                            );
                        }
                    }
                    let mut seen = HashSet::new();
                    for item in &o.items {
                        if !seen.insert(item.value) {
                            f.push(
                                "VOKU",
                                Some(&attr_path),
                                Some(o.pos),
                                format!("the ordinal value {} is given twice", item.value),
                            );
                        }
                    }
                }
                CObject::Primitive(p) => {
                    if let Some(m) = assumed_outside(p) {
                        f.push("VOBAV", Some(&attr_path), Some(p.pos), m);
                    }
                }
                CObject::Quantity(q) => {
                    if let Some(a) = &q.assumed {
                        let fits = q.list.is_empty()
                            || q.list.iter().any(|i| {
                                a.units.as_deref().is_none_or(|u| u == i.units)
                                    && match (&i.magnitude, a.magnitude) {
                                        (Some(m), Some(v)) => m.contains(&Interval::point(v)),
                                        _ => true,
                                    }
                            });
                        if !fits {
                            f.push(
                                "VOBAV",
                                Some(&attr_path),
                                Some(q.pos),
                                "the assumed quantity is not within any of the units admitted"
                                    .into(),
                            );
                        }
                    }
                }
            }
        }
    }
}

/// RM functions that archetypes commonly constrain as if they were attributes
/// (`DV_PROPORTION.is_integral`, `EVENT.offset`).
const FUNCTIONS: [&str; 2] = ["is_integral", "offset"];

/// Whether an attribute of that name exists on the type or, for an abstract type, on one of
/// its concrete descendants.
fn has_attribute(t: RmType, name: &str) -> bool {
    if t.is_abstract() {
        t.concrete().any(|c| c.attribute(name).is_some())
    } else {
        t.attribute(name).is_some()
    }
}

/// Sibling identity, occurrences against cardinality.
fn check_attribute(f: &mut Findings<'_>, attr: &CAttribute, path: &str) {
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut types: HashMap<&str, usize> = HashMap::new();
    for child in &attr.children {
        let identified = matches!(child, CObject::Complex(_) | CObject::Slot(_));
        match child.node_id() {
            Some(id) => {
                let n = ids.entry(id).or_default();
                *n += 1;
                if *n == 2 {
                    let (code, what) = if attr.is_multiple() {
                        ("VACMM", "container")
                    } else {
                        ("VACSI", "single-valued attribute")
                    };
                    f.push(
                        code,
                        Some(path),
                        Some(child.pos()),
                        format!("{id} is the node id of more than one child of this {what}"),
                    );
                }
            }
            None if identified && attr.is_multiple() => f.push(
                "VACMI",
                Some(path),
                Some(child.pos()),
                format!("a {} in a container has no node id", child.rm_type()),
            ),
            None if identified => {
                let n = types.entry(child.rm_type()).or_default();
                *n += 1;
                if *n == 2 {
                    f.push(
                        "VACSIT",
                        Some(path),
                        Some(child.pos()),
                        format!(
                            "more than one {} without a node id under this single-valued attribute",
                            child.rm_type()
                        ),
                    );
                }
            }
            None => {}
        }
        if let Some(occ) = child.occurrences() {
            if !attr.is_multiple() && occ.upper.is_none_or(|u| u > 1) {
                f.push(
                    "VACSO",
                    Some(&child_path_of(path, child)),
                    Some(child.pos()),
                    format!("occurrences {occ} under a single-valued attribute (at most 1)"),
                );
            }
        }
    }
    let Some(card) = attr.cardinality else {
        return;
    };
    let mut sum_lower: u64 = 0;
    let mut sum_upper: Option<u64> = Some(0);
    for child in &attr.children {
        let occ = child.occurrences().unwrap_or(Multiplicity::new(1, Some(1)));
        if let Some(u) = card.interval.upper {
            if occ.lower > u {
                f.push(
                    "VACMC",
                    Some(&child_path_of(path, child)),
                    Some(child.pos()),
                    format!(
                        "occurrences {occ} cannot be met within the attribute's cardinality {}",
                        card.interval
                    ),
                );
            }
        }
        sum_lower += u64::from(occ.lower);
        sum_upper = match (sum_upper, occ.upper) {
            (Some(s), Some(u)) => Some(s + u64::from(u)),
            _ => None,
        };
    }
    let lower_ok = card
        .interval
        .upper
        .is_none_or(|u| sum_lower <= u64::from(u));
    let upper_ok = sum_upper.is_none_or(|s| s >= u64::from(card.interval.lower));
    if !(attr.children.is_empty() || lower_ok && upper_ok) {
        let sum = match sum_upper {
            Some(u) => format!("{sum_lower}..{u}"),
            None => format!("{sum_lower}..*"),
        };
        f.push(
            "VACMC",
            Some(path),
            Some(attr.pos),
            format!(
                "the children's occurrences add up to {sum}, outside the cardinality {}",
                card.interval
            ),
        );
    }
}

fn child_path_of(attr_path: &str, child: &CObject) -> String {
    match child.node_id() {
        Some(id) => format!("{attr_path}[{id}]"),
        None => attr_path.to_owned(),
    }
}

/// VDFAI: slot assertions on archetype ids must be valid archetype id patterns.
fn check_slot(f: &mut Findings<'_>, slot: &ArchetypeSlot, path: &str) {
    for a in slot.includes.iter().chain(slot.excludes.iter()) {
        if a.path != "archetype_id/value" {
            continue;
        }
        let bad = |f: &mut Findings<'_>, m: String| f.push("VDFAI", Some(path), Some(a.pos), m);
        match &a.constraint.kind {
            PrimitiveKind::String {
                pattern: Some(p), ..
            } => {
                if let Err(e) = regex::Regex::new(p) {
                    let first = e.to_string();
                    let first = first.lines().last().unwrap_or("").trim();
                    bad(
                        f,
                        format!("/{p}/ is not a valid regular expression: {first}"),
                    );
                    continue;
                }
                for alt in top_level_alternatives(p) {
                    if let Some(m) = pattern_problem(alt, &slot.rm_type) {
                        bad(f, format!("/{p}/: {m}"));
                    }
                }
            }
            PrimitiveKind::String { values, .. } => {
                for v in values {
                    if !crate::is_archetype_id(v) {
                        bad(f, format!("\"{v}\" is not an archetype id"));
                    } else if let Some(m) = pattern_problem(&regex_escape_dots(v), &slot.rm_type) {
                        bad(f, m);
                    }
                }
            }
            _ => bad(
                f,
                "an archetype id assertion needs a string or a pattern".into(),
            ),
        }
    }
}

fn regex_escape_dots(s: &str) -> String {
    s.replace('.', "\\.")
}

/// The `|`-separated alternatives of a regular expression that are not inside parentheses.
fn top_level_alternatives(p: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start, mut escaped, mut in_class) = (0i32, 0, false, false);
    for (i, c) in p.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '[' => in_class = true,
            ']' => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class => depth -= 1,
            '|' if depth == 0 && !in_class => {
                out.push(&p[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&p[start..]);
    out
}

/// What is wrong with one alternative of an archetype id pattern: an RM type that does not
/// conform to the slot's, or a literal prefix no archetype id can have.
fn pattern_problem(alt: &str, slot_type: &str) -> Option<String> {
    let alt = alt.trim_start_matches('^');
    // The literal prefix: up to the first metacharacter, with `\.` and `\-` unescaped.
    let mut literal = String::new();
    let mut chars = alt.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n @ ('.' | '-' | '_')) => literal.push(n),
                _ => break,
            },
            '.' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' | '$' | '^' => {
                // A quantifier makes the last literal character optional.
                if matches!(c, '*' | '?' | '{') {
                    literal.pop();
                }
                break;
            }
            c => literal.push(c),
        }
    }
    if literal.is_empty() {
        return None;
    }
    // `originator-rm_name-RM_TYPE.` complete?
    let Some(dot) = literal.find('.') else {
        let parts = literal.split('-').count();
        if parts > 3
            || literal.contains(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        {
            return Some(format!("`{literal}` cannot begin an archetype id"));
        }
        return None;
    };
    let qualified = &literal[..dot];
    let parts: Vec<&str> = qualified.split('-').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Some(format!("`{qualified}` is not originator-rm_name-RM_TYPE"));
    }
    let rm_type = parts[2];
    match (RmType::parse(rm_type), RmType::parse(slot_type)) {
        (Some(a), Some(b)) if !a.conforms_to(b) => Some(format!(
            "admits {rm_type} archetypes, which do not conform to the slot's {slot_type}"
        )),
        (None, _) => Some(format!(
            "{rm_type} is not a type of the openEHR reference model"
        )),
        _ => None,
    }
}

/// The message when the assumed value of a primitive constraint lies outside it.
fn assumed_outside(p: &CPrimitive) -> Option<String> {
    fn in_items<T: PartialOrd + Clone>(items: &[Item<T>], v: &T) -> bool {
        items.is_empty()
            || items
                .iter()
                .any(|i| i.as_interval().contains(&Interval::point(v.clone())))
    }
    match &p.kind {
        PrimitiveKind::String {
            values,
            pattern,
            assumed: Some(a),
        } => {
            let in_values = values.is_empty() || values.contains(a);
            let matches = pattern.as_ref().is_none_or(|p| {
                regex::Regex::new(&format!("^(?:{p})$")).map_or(true, |r| r.is_match(a))
            });
            (!(in_values && matches)).then(|| format!("the assumed value \"{a}\" is not admitted"))
        }
        PrimitiveKind::Integer {
            items,
            assumed: Some(a),
        } => (!in_items(items, a)).then(|| format!("the assumed value {a} is not admitted")),
        PrimitiveKind::Real {
            items,
            assumed: Some(a),
        } => (!in_items(items, a)).then(|| format!("the assumed value {a} is not admitted")),
        PrimitiveKind::Boolean {
            values,
            assumed: Some(a),
        } => (!values.contains(a)).then(|| format!("the assumed value {a} is not admitted")),
        _ => None,
    }
}

/// The RM entity of an archetype id: `openEHR-EHR-OBSERVATION.x.v1` → `OBSERVATION`.
fn id_rm_entity(id: &str) -> Option<&str> {
    id.split('.').next()?.split('-').nth(2)
}

/// The specialisation depth an archetype id states: the `-` parts of its concept.
pub fn id_specialisation_depth(id: &str) -> usize {
    id.split('.')
        .nth(1)
        .map_or(0, |c| c.bytes().filter(|&b| b == b'-').count())
}

fn original_language(a: &Archetype) -> Option<String> {
    a.language
        .iter()
        .find(|(k, _)| k == "original_language")
        .and_then(|(_, v)| v.as_term_code())
        .map(|t| t.code.clone())
}

fn translation_languages(a: &Archetype) -> Vec<String> {
    a.language
        .iter()
        .find(|(k, _)| k == "translations")
        .map(|(_, v)| match v {
            crate::Dadl::Keyed(e) => e.iter().filter_map(|e| e.key.key_text()).collect(),
            _ => Vec::new(),
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------- specialisation

/// The checks of a specialised archetype against its flat parent: the `specialise` id
/// (VASID) and, node by node where the child redefines the parent, type (VSONCT), node id
/// (VSONCI), occurrences (VSONCO), existence (VSANCE), cardinality (VSANCC), the kind of
/// constraint (VSONT) and primitive values (VSONNC, no narrower rule code in AOM 1.4).
pub fn check_specialisation(child: &Archetype, parent: &Archetype) -> Vec<Finding> {
    let mut f = Findings {
        archetype: child,
        out: Vec::new(),
    };
    if child.specialise.as_deref() != Some(parent.archetype_id.as_str()) {
        f.push(
            "VASID",
            None,
            Some(Pos(0)),
            format!(
                "specialises {}, not {}",
                child.specialise.as_deref().unwrap_or("nothing"),
                parent.archetype_id
            ),
        );
    }
    let concept = |id: &str| id.split('.').nth(1).map(str::to_owned);
    if let (Some(c), Some(p)) = (concept(&child.archetype_id), concept(&parent.archetype_id)) {
        if !c.starts_with(&format!("{p}-"))
            || id_rm_entity(&child.archetype_id) != id_rm_entity(&parent.archetype_id)
        {
            f.push(
                "VASID",
                None,
                None,
                format!(
                    "the id {} does not extend its parent's {}",
                    child.archetype_id, parent.archetype_id
                ),
            );
        }
    }
    let depth = code_depth(&child.concept);
    compare_complex(&mut f, &child.definition, &parent.definition, "/", depth);
    f.out
}

/// Whether the child's code is the parent's or specialises it (`at0005.1` of `at0005`).
pub fn code_specialises(child: &str, parent: &str) -> bool {
    child == parent
        || (child.starts_with(parent)
            && child[parent.len()..].starts_with('.')
            && code_depth(child) > code_depth(parent))
}

/// The parent's object that the child's object redefines, if any.
pub fn matching_parent<'p>(child: &CObject, parents: &'p [CObject]) -> Option<&'p CObject> {
    match child.node_id() {
        Some(id) => parents
            .iter()
            .filter(|p| p.node_id().is_some_and(|pid| code_specialises(id, pid)))
            .max_by_key(|p| p.node_id().map_or(0, code_depth)),
        None => parents
            .iter()
            .find(|p| p.node_id().is_none() && p.rm_type() == child.rm_type())
            .or_else(|| {
                parents.iter().find(|p| {
                    p.node_id().is_none() && meta::conforms_to(child.rm_type(), p.rm_type())
                })
            }),
    }
}

fn compare_complex(
    f: &mut Findings<'_>,
    child: &CComplexObject,
    parent: &CComplexObject,
    path: &str,
    depth: usize,
) {
    for attr in &child.attributes {
        let attr_path = format!("{}/{}", path.trim_end_matches('/'), attr.name);
        let Some(pattr) = parent.attribute(&attr.name) else {
            continue;
        };
        if let (Some(c), Some(p)) = (attr.existence, pattr.existence) {
            if !p.contains(&c) {
                f.push(
                    "VSANCE",
                    Some(&attr_path),
                    Some(attr.pos),
                    format!("existence {c} is wider than the parent's {p}"),
                );
            }
        }
        if let (Some(c), Some(p)) = (attr.cardinality, pattr.cardinality) {
            if !p.interval.contains(&c.interval) {
                f.push(
                    "VSANCC",
                    Some(&attr_path),
                    Some(attr.pos),
                    format!(
                        "cardinality {} is wider than the parent's {}",
                        c.interval, p.interval
                    ),
                );
            }
        }
        for c in &attr.children {
            let cpath = child_path(path, &attr.name, c.node_id());
            let Some(p) = matching_parent(c, &pattr.children) else {
                if c.node_id().is_none() && !pattr.children.is_empty() && !pattr.any {
                    let types: Vec<&str> = pattr.children.iter().map(CObject::rm_type).collect();
                    f.push(
                        "VSONCT",
                        Some(&cpath),
                        Some(c.pos()),
                        format!(
                            "{} conforms to none of the parent's alternatives ({})",
                            c.rm_type(),
                            types.join(", ")
                        ),
                    );
                }
                if let Some(id) = c.node_id() {
                    if code_depth(id) < depth && !pattr.children.is_empty() {
                        f.push(
                            "VSONCI",
                            Some(&cpath),
                            Some(c.pos()),
                            format!(
                                "{id} is not a node of the parent here; a node added by a specialisation needs a code of depth {depth}"
                            ),
                        );
                    }
                }
                continue;
            };
            compare_object(f, c, p, &cpath, depth);
        }
    }
}

fn compare_object(f: &mut Findings<'_>, c: &CObject, p: &CObject, path: &str, depth: usize) {
    let pos = Some(c.pos());
    let kind = |o: &CObject| match o {
        CObject::Complex(_) => "an object constraint",
        CObject::Slot(_) => "a slot",
        CObject::InternalRef(_) => "an internal reference",
        CObject::ConstraintRef(_) => "a constraint reference",
        CObject::Primitive(_) => "a primitive constraint",
        CObject::CodePhrase(_) => "a code phrase constraint",
        CObject::Ordinal(_) => "an ordinal constraint",
        CObject::Quantity(_) => "a quantity constraint",
    };
    if !meta::conforms_to(c.rm_type(), p.rm_type()) {
        f.push(
            "VSONCT",
            Some(path),
            pos,
            format!(
                "{} does not conform to the parent's {}",
                c.rm_type(),
                p.rm_type()
            ),
        );
    }
    if let (Some(co), Some(po)) = (c.occurrences(), p.occurrences()) {
        if !po.contains(&co) {
            f.push(
                "VSONCO",
                Some(path),
                pos,
                format!("occurrences {co} are wider than the parent's {po}"),
            );
        }
    }
    match (c, p) {
        (CObject::Complex(cc), CObject::Complex(pc)) if !pc.any || !cc.any => {
            compare_complex(f, cc, pc, path, depth);
        }
        // A slot may be filled or closed by an object in the child.
        (CObject::Complex(_), CObject::Slot(_)) | (CObject::Slot(_), CObject::Slot(_)) => {}
        // A value set may be narrowed to codes.
        (CObject::CodePhrase(_), CObject::ConstraintRef(_))
        | (CObject::ConstraintRef(_), CObject::ConstraintRef(_)) => {}
        (CObject::CodePhrase(cc), CObject::CodePhrase(pc)) => {
            if cc.terminology != pc.terminology && !pc.codes.is_empty() {
                f.push(
                    "VSONNC",
                    Some(path),
                    pos,
                    format!(
                        "terminology {} is not the parent's {}",
                        cc.terminology, pc.terminology
                    ),
                );
            } else if !pc.codes.is_empty() {
                let extra: Vec<&str> = cc
                    .codes
                    .iter()
                    .filter(|code| !pc.codes.iter().any(|p| code_specialises(code, p)))
                    .map(String::as_str)
                    .collect();
                if !extra.is_empty() || cc.codes.is_empty() {
                    f.push(
                        "VSONNC",
                        Some(path),
                        pos,
                        format!(
                            "admits {} that the parent does not",
                            if extra.is_empty() {
                                "any code".to_owned()
                            } else {
                                extra.join(", ")
                            }
                        ),
                    );
                }
            }
        }
        (CObject::Ordinal(co), CObject::Ordinal(po)) => {
            let extra: Vec<String> = co
                .items
                .iter()
                .filter(|i| {
                    !po.items.iter().any(|p| {
                        p.value == i.value
                            && p.symbol.terminology == i.symbol.terminology
                            && code_specialises(&i.symbol.code, &p.symbol.code)
                    })
                })
                .map(|i| format!("{}|{}", i.value, i.symbol))
                .collect();
            if !extra.is_empty() {
                f.push(
                    "VSONNC",
                    Some(path),
                    pos,
                    format!("admits ordinals the parent does not: {}", extra.join(", ")),
                );
            }
        }
        (CObject::Quantity(cq), CObject::Quantity(pq)) if !pq.list.is_empty() => {
            for item in &cq.list {
                let ok = pq.list.iter().any(|p| {
                    p.units == item.units
                        && match (&p.magnitude, &item.magnitude) {
                            (Some(pm), Some(cm)) => pm.contains(cm),
                            (Some(_), None) => false,
                            (None, _) => true,
                        }
                });
                if !ok {
                    f.push(
                        "VSONNC",
                        Some(path),
                        pos,
                        format!(
                            "units {} or their magnitudes are not admitted by the parent",
                            item.units
                        ),
                    );
                }
            }
        }
        (CObject::Primitive(cp), CObject::Primitive(pp)) => {
            if let Some(m) = primitive_not_subset(&cp.kind, &pp.kind) {
                f.push("VSONNC", Some(path), pos, m);
            }
        }
        (CObject::InternalRef(_), _) | (_, CObject::InternalRef(_)) => {}
        // `TYPE matches {*}` may be redefined by any constraint on the type.
        (_, CObject::Complex(pc)) if pc.any || pc.attributes.is_empty() => {}
        (a, b) if std::mem::discriminant(a) != std::mem::discriminant(b) => f.push(
            "VSONT",
            Some(path),
            pos,
            format!("{} redefines {} of the parent", kind(a), kind(b)),
        ),
        _ => {}
    }
}

fn primitive_not_subset(c: &PrimitiveKind, p: &PrimitiveKind) -> Option<String> {
    fn items_within<T: PartialOrd + Clone>(c: &[Item<T>], p: &[Item<T>]) -> bool {
        p.is_empty()
            || (!c.is_empty()
                && c.iter().all(|ci| {
                    let ci = ci.as_interval();
                    p.iter().any(|pi| pi.as_interval().contains(&ci))
                }))
    }
    match (c, p) {
        (
            PrimitiveKind::String {
                values: cv,
                pattern: cp,
                ..
            },
            PrimitiveKind::String {
                values: pv,
                pattern: pp,
                ..
            },
        ) => {
            if !pv.is_empty() && pp.is_none() {
                let extra: Vec<&String> = cv.iter().filter(|v| !pv.contains(v)).collect();
                if !extra.is_empty() || cp.is_some() {
                    return Some("admits strings that the parent does not".into());
                }
            }
            if let (Some(pp), true) = (pp, cp.is_none()) {
                if let Ok(r) = regex::Regex::new(&format!("^(?:{pp})$")) {
                    if cv.iter().any(|v| !r.is_match(v)) {
                        return Some(format!(
                            "admits strings that do not match the parent's /{pp}/"
                        ));
                    }
                }
            }
            None
        }
        (PrimitiveKind::Integer { items: ci, .. }, PrimitiveKind::Integer { items: pi, .. }) => {
            (!items_within(ci, pi)).then(|| "admits integers that the parent does not".into())
        }
        (PrimitiveKind::Real { items: ci, .. }, PrimitiveKind::Real { items: pi, .. }) => {
            (!items_within(ci, pi)).then(|| "admits reals that the parent does not".into())
        }
        (PrimitiveKind::Boolean { values: cv, .. }, PrimitiveKind::Boolean { values: pv, .. }) => {
            (!pv.is_empty() && cv.iter().any(|v| !pv.contains(v)))
                .then(|| "admits a boolean value that the parent does not".into())
        }
        (PrimitiveKind::Temporal { kind: ck, .. }, PrimitiveKind::Temporal { kind: pk, .. }) => {
            (ck != pk).then(|| format!("constrains a {ck:?} where the parent constrains a {pk:?}"))
        }
        _ => Some("constrains another primitive type than the parent".into()),
    }
}
