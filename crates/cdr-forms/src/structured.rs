//! The STRUCTURED format (structSDT): the FLAT paths of a composition nested as JSON. Each
//! web template id (or `_rm_attribute` segment) is a key holding a list of instances, the list
//! position standing for FLAT's `:n`; an instance is a bare value or an object whose `|suffix`
//! keys are the value's attributes (`""` holds the bare value beside them); `ctx` is an object
//! at the top. STRUCTURED is read and written through FLAT, so both formats share one set of
//! rules and errors name the FLAT key of the offending value
//! (`vitals/blood_pressure:0/any_event:1/systolic|magnitude`).
//!
//! STRUCTURED → FLAT walks beside the web template only to index repeating nodes as FLAT does
//! (`:0` on a node that may repeat, none on one that occurs once); FLAT → STRUCTURED needs no
//! template.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::flat::{self, path, shapes, FlatError, FormReading};
use crate::webtemplate::WebTemplateNode;
use crate::Forms;
use cdr_template::Template;

/// Converts a STRUCTURED composition for `template` to canonical JSON. `now` (ISO 8601) stands
/// in for `ctx/time` when the composition gives none.
pub fn structured_to_canonical(
    template: &Template,
    structured: &Value,
    now: &str,
) -> Result<Value, FlatError> {
    let flat = structured_to_flat(template, structured)?;
    flat::flat_to_canonical(template, &flat, now)
}

/// Reads a STRUCTURED composition for `template` as [`flat::read_flat`] reads FLAT: every
/// problem collected, each at its FLAT key.
pub fn read_structured(template: &Template, structured: &Value, now: &str) -> FormReading {
    let (flat, problems) = read(template, structured);
    flat::read_regrouped(template, &flat, now, problems)
}

/// Converts a canonical composition for `template` to STRUCTURED. Data that FLAT (and so
/// STRUCTURED) cannot express is an error naming where it is.
pub fn canonical_to_structured(
    template: &Template,
    composition: &Value,
) -> Result<Value, FlatError> {
    let flat = flat::canonical_to_flat(template, composition)?;
    flat_to_structured(&flat)
}

/// The FLAT keys of a STRUCTURED composition. Structural mistakes (a list inside a list, a key
/// that is not one segment, a key that gives nothing and names nothing) are errors naming the
/// FLAT path where they are; whether each key resolves is left to the FLAT conversion.
pub fn structured_to_flat(
    template: &Template,
    structured: &Value,
) -> Result<Map<String, Value>, FlatError> {
    let (flat, problems) = read(template, structured);
    match problems.into_iter().next() {
        Some(first) => Err(first),
        None => Ok(flat),
    }
}

/// The FLAT keys of a STRUCTURED composition and every structural mistake (what a mistake
/// concerns is left out).
pub(crate) fn read(
    template: &Template,
    structured: &Value,
) -> (Map<String, Value>, Vec<FlatError>) {
    let mut reader = Reader {
        out: Map::new(),
        problems: Vec::new(),
    };
    let Value::Object(top) = structured else {
        reader.problems.push(FlatError::BadValue {
            path: String::new(),
            message: "a STRUCTURED composition is a JSON object".into(),
        });
        return (reader.out, reader.problems);
    };
    let tree = &template.web_template().tree;
    for (key, value) in top {
        let node = if key == "ctx" {
            None
        } else if *key == tree.id {
            Some(tree)
        } else {
            reader
                .problems
                .push(FlatError::UnknownPath { path: key.clone() });
            continue;
        };
        match instances(value) {
            [Value::Object(members)] => reader.members(node, key, members, 1),
            [] => {}
            [_] => reader.problems.push(FlatError::BadValue {
                path: key.clone(),
                message: "expected an object".into(),
            }),
            _ => reader.problems.push(FlatError::BadPath {
                path: format!("{key}:1"),
                message: format!("'{key}' occurs once"),
            }),
        }
    }
    (reader.out, reader.problems)
}

/// The instances a STRUCTURED member holds: the items of a list, else the value itself.
fn instances(v: &Value) -> &[Value] {
    match v {
        Value::Array(items) => items,
        other => std::slice::from_ref(other),
    }
}

struct Reader {
    out: Map<String, Value>,
    problems: Vec<FlatError>,
}

impl Reader {
    /// The members of one instance at FLAT path `prefix` (`w`: its web template node, when the
    /// instance is one).
    fn members(
        &mut self,
        w: Option<&WebTemplateNode>,
        prefix: &str,
        obj: &Map<String, Value>,
        depth: usize,
    ) {
        if depth > path::MAX_SEGMENTS {
            self.problems.push(FlatError::BadPath {
                path: prefix.to_owned(),
                message: format!("more than {} levels", path::MAX_SEGMENTS),
            });
            return;
        }
        for (key, value) in obj {
            if key.is_empty() {
                self.put(prefix.to_owned(), value);
                continue;
            }
            if let Some(suffix) = key.strip_prefix('|') {
                let flat_key = format!("{prefix}|{suffix}");
                if suffix.is_empty() || suffix.contains(['/', '|']) {
                    self.problems.push(FlatError::BadPath {
                        path: flat_key,
                        message: "the part after '|' must be one attribute name".into(),
                    });
                } else {
                    self.put(flat_key, value);
                }
                continue;
            }
            let at = format!("{prefix}/{key}");
            if prefix == "ctx" && w.is_none() && key.contains(['|', ':']) && !key.contains('/') {
                // A `ctx` field as FLAT writes it after `ctx/` (`health_care_facility|id`,
                // `participation_name:1`).
                self.put(at, value);
                continue;
            }
            if key.contains(['/', '|', ':']) {
                self.problems.push(FlatError::BadPath {
                    path: at,
                    message: "a STRUCTURED key is one web template id or RM attribute".into(),
                });
                continue;
            }
            let child = w.and_then(|w| w.child(key).or_else(|| w.slot(key)));
            let multiple = child.is_some_and(WebTemplateNode::is_multiple);
            let before = self.out.len() + self.problems.len();
            for (i, item) in instances(value).iter().enumerate() {
                let seg = if multiple || i > 0 {
                    format!("{at}:{i}")
                } else {
                    at.clone()
                };
                match item {
                    Value::Object(m) => self.members(child, &seg, m, depth + 1),
                    Value::Array(_) => self.problems.push(FlatError::BadValue {
                        path: seg,
                        message: "an instance is a value or an object, not a list".into(),
                    }),
                    scalar => self.put(seg, scalar),
                }
            }
            if self.out.len() + self.problems.len() == before && child.is_none() {
                // Nothing given: harmless for a known attribute, a dropped key otherwise.
                match w {
                    Some(w) if known_segment(w, key) => {}
                    Some(_) => self.problems.push(FlatError::UnknownPath { path: at }),
                    None => self.problems.push(FlatError::BadValue {
                        path: at,
                        message: "gives no value".into(),
                    }),
                }
            }
        }
    }

    fn put(&mut self, key: String, value: &Value) {
        if self.out.contains_key(&key) {
            self.problems.push(FlatError::BadPath {
                path: key,
                message: "given twice".into(),
            });
            return;
        }
        self.out.insert(key, value.clone());
    }
}

/// Whether `segment` is an RM attribute segment (`_link`, `width`, …) of one of the RM objects
/// a web template node stands for.
fn known_segment(w: &WebTemplateNode, segment: &str) -> bool {
    std::iter::once(w.rm_type.as_str())
        .chain(w.steps.iter().map(|s| s.rm_type.as_str()))
        .any(|t| shapes::nested(t).iter().any(|n| n.segment == segment))
}

/// One node instance of a FLAT composition, while it is regrouped.
#[derive(Default)]
struct Group<'a> {
    /// (`|suffix` or `""`, value).
    values: Vec<(&'a str, &'a Value)>,
    /// Child id → instances by index.
    children: Vec<(String, BTreeMap<usize, Group<'a>>)>,
}

impl Group<'_> {
    fn into_value(self) -> Value {
        if self.children.is_empty() && self.values.len() == 1 && self.values[0].0.is_empty() {
            return self.values[0].1.clone();
        }
        let mut m = Map::new();
        for (suffix, v) in self.values {
            let key = if suffix.is_empty() {
                String::new()
            } else {
                format!("|{suffix}")
            };
            m.insert(key, v.clone());
        }
        for (id, instances) in self.children {
            let items = instances.into_values().map(Group::into_value).collect();
            m.insert(id, Value::Array(items));
        }
        Value::Object(m)
    }
}

/// Regroups FLAT keys as STRUCTURED (no template needed: the keys carry the ids and indexes).
/// The root node and `ctx` are objects, not lists.
pub fn flat_to_structured(flat: &Map<String, Value>) -> Result<Value, FlatError> {
    let mut top = Group::default();
    for (key, value) in flat {
        let p = path::parse(key)?;
        let mut g = &mut top;
        for seg in &p.segments {
            let pos = match g.children.iter().position(|(id, _)| *id == seg.id) {
                Some(pos) => pos,
                None => {
                    g.children.push((seg.id.clone(), BTreeMap::new()));
                    g.children.len() - 1
                }
            };
            g = g.children[pos].1.entry(seg.index.unwrap_or(0)).or_default();
        }
        let suffix = key.split_once('|').map_or("", |(_, s)| s);
        if g.values.iter().any(|(s, _)| *s == suffix) {
            return Err(FlatError::BadPath {
                path: key.clone(),
                message: "given twice (with and without ':0')".into(),
            });
        }
        g.values.push((suffix, value));
    }
    let mut out = Map::new();
    for (id, mut instances) in top.children {
        match (instances.len(), instances.remove(&0)) {
            (1, Some(root)) => {
                out.insert(id, root.into_value());
            }
            _ => {
                return Err(FlatError::BadPath {
                    path: format!("{id}:1"),
                    message: format!("'{id}' occurs once"),
                })
            }
        }
    }
    Ok(Value::Object(out))
}
