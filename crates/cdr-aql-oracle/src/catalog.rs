//! What the query generator knows about the data: per archetype, its RM type, names, the
//! archetypes inside it and the AQL paths to its leaf values with some observed values.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::value::json_key;

/// Observed values kept per path.
const SAMPLES: usize = 6;
/// Names kept per archetype.
const NAMES: usize = 4;
/// Path steps below an archetype root, at most.
const MAX_DEPTH: usize = 14;
/// Leaf paths kept per archetype.
const MAX_PATHS: usize = 400;

/// Archetypes found in a set of canonical documents (compositions, EHR_STATUS, folders).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    /// One entry per archetype id, sorted by id.
    pub archetypes: Vec<ArchetypeInfo>,
}

/// One archetype as observed in the documents.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchetypeInfo {
    /// The archetype id (`archetype_node_id` of its roots).
    pub archetype_id: String,
    /// The RM type of its roots (`_type`).
    pub rm_type: String,
    /// Observed `name/value`s of its roots.
    pub names: Vec<String>,
    /// Archetype ids of archetype roots found strictly inside its roots.
    pub contains: Vec<String>,
    /// Paths from the root to leaf values, sorted.
    pub paths: Vec<LeafPath>,
}

/// An AQL path from an archetype root to leaf values (strings, numbers, booleans).
#[derive(Debug, Clone, PartialEq)]
pub struct LeafPath {
    /// E.g. `/data[at0001]/events[at0006]/data[at0003]/items[at0004]/value/magnitude`.
    pub path: String,
    /// Some distinct values seen at the path.
    pub samples: Vec<Value>,
}

#[derive(Default)]
struct Builder {
    rm_type: String,
    names: BTreeSet<String>,
    contains: BTreeSet<String>,
    paths: BTreeMap<String, Vec<Value>>,
}

impl Catalog {
    /// Walks the documents and collects every archetype root (an object whose
    /// `archetype_node_id` starts with `openEHR-`). Paths and ids that would not parse as AQL
    /// are left out.
    pub fn from_documents(documents: &[Value]) -> Catalog {
        let mut builders: BTreeMap<String, Builder> = BTreeMap::new();
        let mut valid = Validity::default();
        for doc in documents {
            let mut roots = Vec::new();
            find_roots(doc, &mut roots);
            for root in roots {
                add_root(root, &mut builders, &mut valid);
            }
        }
        let archetypes = builders
            .into_iter()
            .map(|(id, b)| ArchetypeInfo {
                archetype_id: id,
                rm_type: b.rm_type,
                names: b.names.into_iter().take(NAMES).collect(),
                contains: b.contains.into_iter().collect(),
                paths: b
                    .paths
                    .into_iter()
                    .take(MAX_PATHS)
                    .map(|(path, samples)| LeafPath { path, samples })
                    .collect(),
            })
            .collect();
        Catalog { archetypes }
    }

    /// The archetype with this id.
    pub fn get(&self, archetype_id: &str) -> Option<&ArchetypeInfo> {
        self.archetypes
            .iter()
            .find(|a| a.archetype_id == archetype_id)
    }
}

fn root_id(v: &Value) -> Option<&str> {
    v.get("archetype_node_id")
        .and_then(Value::as_str)
        .filter(|id| id.starts_with("openEHR-"))
}

/// Every archetype root in `v`, `v` included.
fn find_roots<'v>(v: &'v Value, out: &mut Vec<&'v Value>) {
    if root_id(v).is_some() {
        out.push(v);
    }
    match v {
        Value::Object(m) => m.values().for_each(|c| find_roots(c, out)),
        Value::Array(a) => a.iter().for_each(|c| find_roots(c, out)),
        _ => {}
    }
}

fn add_root(root: &Value, builders: &mut BTreeMap<String, Builder>, valid: &mut Validity) {
    let (Some(id), Some(rm_type)) = (root_id(root), root.get("_type").and_then(Value::as_str))
    else {
        return;
    };
    if !valid.check(&format!("SELECT x FROM {rm_type} x[{id}]")) {
        return;
    }
    let b = builders.entry(id.to_owned()).or_default();
    if b.rm_type.is_empty() {
        b.rm_type = rm_type.to_owned();
    }
    if let Some(name) = root.pointer("/name/value").and_then(Value::as_str) {
        b.names.insert(name.to_owned());
    }
    let mut inner = Vec::new();
    for child in children(root) {
        find_roots(child, &mut inner);
    }
    b.contains
        .extend(inner.iter().filter_map(|r| root_id(r)).map(str::to_owned));
    let mut leaves = Vec::new();
    collect_leaves(root, String::new(), 0, &mut leaves);
    for (path, value) in leaves {
        if !b.paths.contains_key(&path) {
            if b.paths.len() >= MAX_PATHS || !valid.path(&path) {
                continue;
            }
            b.paths.insert(path.clone(), Vec::new());
        }
        if let Some(samples) = b.paths.get_mut(&path) {
            let key = json_key(value);
            if samples.len() < SAMPLES && !samples.iter().any(|s| json_key(s) == key) {
                samples.push(value.clone());
            }
        }
    }
}

fn children(v: &Value) -> Box<dyn Iterator<Item = &Value> + '_> {
    match v {
        Value::Object(m) => Box::new(m.values()),
        Value::Array(a) => Box::new(a.iter()),
        _ => Box::new(std::iter::empty()),
    }
}

/// Leaf values below `v` with their AQL paths (relative to `v`, starting with `/`).
fn collect_leaves<'v>(
    v: &'v Value,
    prefix: String,
    depth: usize,
    out: &mut Vec<(String, &'v Value)>,
) {
    let Value::Object(map) = v else {
        return;
    };
    for (key, child) in map {
        if key == "_type" {
            continue;
        }
        let items: Vec<&Value> = match child {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for item in items {
            match item {
                Value::Null | Value::Array(_) => {}
                Value::Object(_) if depth < MAX_DEPTH => {
                    let step = match item.get("archetype_node_id").and_then(Value::as_str) {
                        Some(node) => format!("{prefix}/{key}[{node}]"),
                        None => format!("{prefix}/{key}"),
                    };
                    collect_leaves(item, step, depth + 1, out);
                }
                Value::Object(_) => {}
                // Node ids are what predicates test; as values they only repeat the path.
                _ if key == "archetype_node_id" => {}
                leaf => out.push((format!("{prefix}/{key}"), leaf)),
            }
        }
    }
}

/// Remembers which query texts parse.
#[derive(Default)]
struct Validity(HashMap<String, bool>);

impl Validity {
    /// Whether every step of a path (`/a[x]/b`) parses; paths are sequences of steps, so the
    /// path then parses too.
    fn path(&mut self, path: &str) -> bool {
        let Some(steps) = path.strip_prefix('/') else {
            return false;
        };
        steps
            .split('/')
            .all(|step| !step.is_empty() && self.check(&format!("SELECT x/{step} FROM EHR x")))
    }

    fn check(&mut self, text: &str) -> bool {
        *self
            .0
            .entry(text.to_owned())
            .or_insert_with(|| cdr_aql::parse(text).is_ok())
    }
}
