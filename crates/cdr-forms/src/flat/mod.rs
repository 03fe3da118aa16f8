//! The FLAT format (simSDT): a composition as `path → value` pairs whose paths are web
//! template ids (`vitals/blood_pressure:0/any_event:0/systolic|magnitude`), plus `ctx/*`
//! defaults; converted to and from canonical JSON, driven by the template's web template.
//!
//! FLAT → canonical: every key must resolve, against the web template or, for `_`-segments
//! (`_uid`, `_link:0`, `_feeder_audit/…`, `_normal_range/lower`), against the RM shapes in
//! `shapes.rs`; an unknown key is an error naming it, never dropped. The levels the web
//! template leaves out are rebuilt from each node's steps; RM-mandatory attributes missing
//! from the FLAT come from `ctx` and the template (`defaults.rs`).

mod ctx;
mod defaults;
mod from_rm;
mod locate;
pub(crate) mod path;
mod read;
pub(crate) mod shapes;
mod to_rm;

use serde_json::{Map, Value};

pub use locate::{locate, FlatLocation, FlatLocations};
pub use read::{read_flat, FlatIssue, FormReading};

use crate::webtemplate::{Step, WebTemplateNode};
use cdr_template::Template;

/// Why a FLAT composition could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlatError {
    /// The key names no node of the web template and no RM attribute there.
    #[error("{path}: unknown path")]
    UnknownPath { path: String },
    /// The key is not a well-formed FLAT path, or repeats what occurs once.
    #[error("{path}: {message}")]
    BadPath { path: String, message: String },
    /// The value does not fit the attribute (a number where text is needed, …).
    #[error("{path}: {message}")]
    BadValue { path: String, message: String },
    /// Canonical data that FLAT cannot express.
    #[error("{path}: cannot be written as FLAT: {message}")]
    NotRepresentable { path: String, message: String },
}

impl FlatError {
    /// The stable snake_case code of the kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            FlatError::UnknownPath { .. } => "unknown_path",
            FlatError::BadPath { .. } => "invalid_path",
            FlatError::BadValue { .. } => "invalid_value",
            FlatError::NotRepresentable { .. } => "not_representable",
        }
    }

    /// What is wrong, without the path.
    pub fn message(&self) -> String {
        match self {
            FlatError::UnknownPath { .. } => "unknown path".to_owned(),
            FlatError::BadPath { message, .. } | FlatError::BadValue { message, .. } => {
                message.clone()
            }
            FlatError::NotRepresentable { message, .. } => {
                format!("cannot be written as FLAT: {message}")
            }
        }
    }

    /// The FLAT path (or instance path) the error is about.
    pub fn path(&self) -> &str {
        match self {
            FlatError::UnknownPath { path }
            | FlatError::BadPath { path, .. }
            | FlatError::BadValue { path, .. }
            | FlatError::NotRepresentable { path, .. } => path,
        }
    }
}

/// Converts a FLAT composition for `template` to canonical JSON (every object with `_type`).
/// `now` (ISO 8601) stands in for `ctx/time` when the FLAT gives none.
pub fn flat_to_canonical(
    template: &Template,
    flat: &Map<String, Value>,
    now: &str,
) -> Result<Value, FlatError> {
    let (composition, problems) = to_rm::convert(template, flat, now);
    match problems.into_iter().next() {
        Some(first) => Err(first),
        None => Ok(composition),
    }
}

/// Reads the FLAT keys a STRUCTURED composition gave (`problems`: what its structure got
/// wrong) as [`read_flat`] does, all problems together.
pub(crate) fn read_regrouped(
    template: &Template,
    flat: &Map<String, Value>,
    now: &str,
    mut problems: Vec<FlatError>,
) -> FormReading {
    let (canonical, more) = to_rm::convert(template, flat, now);
    problems.extend(more);
    read::finish(template, canonical, problems)
}

/// Converts a canonical composition (JSON, `_type` where ITS-JSON requires it or everywhere) for
/// `template` to FLAT. Data that FLAT cannot express is an error naming where it is.
pub fn canonical_to_flat(
    template: &Template,
    composition: &Value,
) -> Result<Map<String, Value>, FlatError> {
    from_rm::convert(template, composition)
}

/// The `_type` of a JSON object (empty when absent).
fn rm_type_of(obj: &Map<String, Value>) -> String {
    obj.get("_type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Whether a JSON object is the object a step describes (same node id; same name when the
/// template fixes it).
fn matches_step(v: &Value, step: &Step) -> bool {
    let id_ok = match &step.node_id {
        Some(id) => v.get("archetype_node_id").and_then(Value::as_str) == Some(id.as_str()),
        None => true,
    };
    let name = v
        .get("name")
        .and_then(|n| n.get("value"))
        .and_then(Value::as_str);
    // A fixed name must be the object's; a free one must not be a same-code sibling's.
    let name_ok = match step.name_fixed {
        true => name == step.name.as_deref(),
        false => !name.is_some_and(|n| step.names_of_siblings.iter().any(|s| s == n)),
    };
    id_ok && name_ok
}

/// The first of a node's steps that is the node's own object (those before it are shared
/// levels the web template leaves out): an ELEMENT merged with its value counts as the node.
pub(crate) fn own_step(node: &WebTemplateNode) -> usize {
    let n = node.steps.len();
    if n >= 2
        && node.steps[n - 1].attribute == "value"
        && cdr_rm::meta::base_type_name(&node.steps[n - 2].rm_type) == "ELEMENT"
    {
        n - 2
    } else {
        n.saturating_sub(1)
    }
}

/// The value at a path of attribute names.
fn get_value<'v>(obj: &'v Map<String, Value>, path: &[&str]) -> Option<&'v Value> {
    let (first, rest) = path.split_first()?;
    let mut cur = obj.get(*first)?;
    for a in rest {
        cur = cur.get(*a)?;
    }
    Some(cur)
}
