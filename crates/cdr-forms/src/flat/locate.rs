//! Where each object of a canonical composition is in FLAT: the composition is walked beside
//! the web template (read-only, as `from_rm.rs` walks it to write FLAT), and every node
//! instance's instance path (`/content[0]/data/events[0]/data/items[1]`) is recorded with its
//! FLAT path and web template id. A validation issue's instance path then finds the deepest
//! node above it, and what is left of the path becomes a `|suffix` or `/_segment` through the
//! shapes table.

use serde_json::{Map, Value};

use super::shapes;
use super::{matches_step, own_step, rm_type_of};
use crate::webtemplate::{Step, WebTemplateNode};
use crate::Forms;
use cdr_template::Template;

/// The FLAT place of an object of a canonical composition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatLocation {
    /// The FLAT path (`vitals/blood_pressure:0/any_event:0/systolic|magnitude`).
    pub flat_path: String,
    /// The id of the web template node the path ends in (`systolic`).
    pub web_template_id: String,
}

/// The FLAT places of the node instances of one canonical composition.
#[derive(Debug, Clone, Default)]
pub struct FlatLocations {
    /// (instance path, FLAT path, web template id, RM type of the object there).
    entries: Vec<(String, String, String, String)>,
    /// Where a missing child node would be: (FLAT path of the parent instance, the child's
    /// archetype path without name predicates, its id, whether it is indexed).
    children: Vec<(String, String, String, bool)>,
}

/// Records where the node instances of `composition` are in FLAT.
pub fn locate(template: &Template, composition: &Value) -> FlatLocations {
    let web = template.web_template();
    let mut out = FlatLocations::default();
    if let Some(root) = composition.as_object() {
        out.record(String::new(), &web.tree.id, &web.tree.id, root);
        out.node(root, "", &web.tree, &web.tree.id);
    }
    out
}

impl FlatLocations {
    fn record(&mut self, path: String, flat: &str, id: &str, obj: &Map<String, Value>) {
        self.entries
            .push((path, flat.to_owned(), id.to_owned(), rm_type_of(obj)));
    }

    /// The FLAT place of the object at `instance_path` (as validation issues write it): the
    /// deepest node instance at or above it, with the rest of the path as a suffix where the
    /// shapes table has one.
    pub fn find(&self, instance_path: &str) -> Option<FlatLocation> {
        let path = instance_path.trim_end_matches('/');
        let (at, flat, id, rm) = self
            .entries
            .iter()
            .filter(|(p, ..)| {
                path == p
                    || path
                        .strip_prefix(p.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .max_by_key(|(p, ..)| p.len())?;
        let rest: Vec<(&str, Option<usize>)> = path[at.len()..]
            .split('/')
            .filter(|s| !s.is_empty())
            .map(segment)
            .collect();
        let suffix = suffix_for(rm, &rest).unwrap_or_default();
        Some(FlatLocation {
            flat_path: format!("{flat}{suffix}"),
            web_template_id: id.clone(),
        })
    }

    /// The FLAT place of a validation issue: a node the template requires but the composition
    /// lacks (its archetype path names a child of the node instance above `instance_path`) is
    /// placed at that child's key; anything else as [`FlatLocations::find`] places it.
    pub fn find_issue(&self, instance_path: &str, archetype_path: &str) -> Option<FlatLocation> {
        let found = self.find(instance_path)?;
        let wanted = without_names(archetype_path);
        let parent = found.flat_path.as_str();
        let missing = self
            .children
            .iter()
            .find(|(at, path, ..)| at == parent && *path == wanted);
        Some(match missing {
            Some((_, _, id, multiple)) => FlatLocation {
                flat_path: format!("{parent}/{id}{}", if *multiple { ":0" } else { "" }),
                web_template_id: id.clone(),
            },
            None => found,
        })
    }

    /// The children of one node instance (`obj` is the object of the node's last step).
    fn node(&mut self, obj: &Map<String, Value>, path: &str, w: &WebTemplateNode, prefix: &str) {
        for c in &w.children {
            // A merged ELEMENT's path ends at its value; the issue names the ELEMENT.
            let merged = own_step(c) + 2 == c.steps.len();
            let aql = match c.aql_path.strip_suffix("/value") {
                Some(element) if merged => element,
                _ => &c.aql_path,
            };
            self.children.push((
                prefix.to_owned(),
                without_names(aql),
                c.id.clone(),
                c.is_multiple(),
            ));
        }
        for c in &w.children {
            let own = own_step(c);
            if c.steps.get(own).is_none() {
                continue;
            }
            let mut index = 0;
            self.descend(obj, path, c, &c.steps[..own], own, prefix, &mut index);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn descend(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        c: &WebTemplateNode,
        shared: &[Step],
        own: usize,
        prefix: &str,
        index: &mut usize,
    ) {
        let Some((step, rest)) = shared.split_first() else {
            return self.own_objects(obj, path, c, own, prefix, index);
        };
        for (p, o) in members(obj, path, step, |v| matches_step(v, step)) {
            self.descend(o, &p, c, rest, own, prefix, index);
        }
    }

    fn own_objects(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        c: &WebTemplateNode,
        own: usize,
        prefix: &str,
        index: &mut usize,
    ) {
        let step = &c.steps[own];
        if c.rm_type == "STRING" {
            if obj.contains_key(&step.attribute) {
                let p = format!("{path}/{}", step.attribute);
                let flat = format!("{prefix}/{}", c.id);
                self.entries
                    .push((p, flat, c.id.clone(), "String".to_owned()));
            }
            return;
        }
        let found = members(obj, path, step, |v| {
            matches_step(v, step) && super::from_rm::fits(v, c, own)
        });
        for (p, o) in found {
            let flat = if c.is_multiple() {
                format!("{prefix}/{}:{}", c.id, *index)
            } else {
                format!("{prefix}/{}", c.id)
            };
            *index += 1;
            self.record(p.clone(), &flat, &c.id, o);
            if own + 1 == c.steps.len() {
                self.node(o, &p, c, &flat);
                continue;
            }
            // A merged ELEMENT: its value carries the node.
            let value_attr = &c.steps[own + 1].attribute;
            if let Some(Value::Object(v)) = o.get(value_attr) {
                let vp = format!("{p}/{value_attr}");
                self.record(vp.clone(), &flat, &c.id, v);
                self.node(v, &vp, c, &flat);
            }
        }
    }
}

/// The objects at a step's attribute of `obj` that `keep` accepts, with their instance paths.
fn members<'v>(
    obj: &'v Map<String, Value>,
    path: &str,
    step: &Step,
    keep: impl Fn(&Value) -> bool,
) -> Vec<(String, &'v Map<String, Value>)> {
    let attr = &step.attribute;
    match obj.get(attr) {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter(|(_, v)| keep(v))
            .filter_map(|(i, v)| Some((format!("{path}/{attr}[{i}]"), v.as_object()?)))
            .collect(),
        Some(v @ Value::Object(o)) if keep(v) => vec![(format!("{path}/{attr}"), o)],
        _ => Vec::new(),
    }
}

/// An archetype path without name predicates (`items[at0004,'Systolic']` → `items[at0004]`),
/// as validation issues write them.
fn without_names(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let (mut in_name, mut quoted) = (false, false);
    for ch in path.chars() {
        match ch {
            ',' if !in_name => in_name = true,
            '\'' if in_name => quoted = !quoted,
            ']' if in_name && !quoted => {
                in_name = false;
                out.push(ch);
            }
            _ if in_name => {}
            _ => out.push(ch),
        }
    }
    out
}

/// `items[3]` → (`items`, 3).
fn segment(s: &str) -> (&str, Option<usize>) {
    match s.strip_suffix(']').and_then(|s| s.split_once('[')) {
        Some((name, i)) => (name, i.parse().ok()),
        None => (s, None),
    }
}

/// The FLAT ending (`""`, `|unit`, `/_null_flavour|code`) of the attribute path `rest` below an
/// object of type `rm`, when the shapes table has one.
fn suffix_for(rm: &str, rest: &[(&str, Option<usize>)]) -> Option<String> {
    if rest.is_empty() {
        return Some(String::new());
    }
    for field in shapes::fields(rm) {
        if field.path.len() != rest.len() {
            continue;
        }
        let mut index = None;
        let same = field.path.iter().zip(rest).all(|((attr, _), (given, i))| {
            match attr.strip_suffix("[]") {
                Some(list) => {
                    index = *i;
                    list == *given
                }
                None => attr == given,
            }
        });
        if same {
            return Some(match (field.suffix, index) {
                ("", _) => String::new(),
                (s, Some(i)) => format!("|{s}:{i}"),
                (s, None) => format!("|{s}"),
            });
        }
    }
    let (attr, i) = rest[0];
    let n = shapes::nested(rm)
        .into_iter()
        .find(|n| n.via.is_none() && n.attribute == attr)?;
    let seg = if n.multiple {
        format!("/{}:{}", n.segment, i.unwrap_or(0))
    } else {
        format!("/{}", n.segment)
    };
    let inner = match (n.segment, n.rm_type) {
        ("_normal_range", _) => "DV_INTERVAL",
        (_, "*") => rm,
        (_, t) => t,
    };
    Some(match suffix_for(inner, &rest[1..]) {
        Some(s) => seg + &s,
        None => seg,
    })
}
