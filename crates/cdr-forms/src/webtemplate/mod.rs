//! Web templates: the simplified JSON projection of an operational template that form builders
//! render and FLAT/STRUCTURED paths are made of (EHRbase/Better web template format 2.3).
//!
//! [`WebTemplate::from_template`] walks the constraint tree once. Each constrained object
//! becomes a node whose `id` comes from its name ([`node_id_from_name`]), with its AQL path,
//! occurrences and input widgets; RM attributes a form must fill (`language`, `subject`,
//! `time`, `context/start_time`, …) are added per RM type (see `rm.rs`). Structural levels are
//! left out and their children hoisted: ITEM_TREE/LIST/SINGLE/TABLE, HISTORY, an EVENT that is
//! its history's only one and does not repeat, and an ELEMENT with one value type (the value
//! node takes the element's id, name and occurrences). An ELEMENT whose value allows several
//! types keeps one child per type (`quantity_value`, `interval_of_count_value`, …).
//!
//! Every node also remembers the RM steps from its parent node to itself ([`Step`]), so FLAT
//! converters can rebuild the levels the web template leaves out.

mod build;
mod id;
mod inputs;
mod rm;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;

use cdr_template::Template;

pub use id::node_id_from_name;

/// DV_PROPORTION kinds by their `type` number (`proportionTypes` names).
pub const PROPORTION_KINDS: [&str; 5] = [
    "ratio",
    "unitary",
    "percent",
    "fraction",
    "integer_fraction",
];

/// The web template format version this crate produces.
pub const WEB_TEMPLATE_VERSION: &str = "2.3";

/// A web template.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebTemplate {
    pub template_id: String,
    pub version: String,
    pub default_language: String,
    pub languages: Vec<String>,
    pub tree: WebTemplateNode,
}

/// One node of a web template.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebTemplateNode {
    /// The FLAT path segment, unique among siblings.
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub localized_name: String,
    pub rm_type: String,
    /// The archetype id (archetype roots), the at-code, or absent for RM attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    pub min: i64,
    /// `-1` means unbounded.
    pub max: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub localized_names: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub localized_descriptions: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The AQL path from the composition root (`""` for the root itself).
    pub aql_path: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proportion_types: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Input>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_context: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub term_bindings: BTreeMap<String, TermBinding>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<WebTemplateNode>,
    /// The RM objects from the parent node's object to this node's object, outermost first
    /// (the last step is this node). Not part of the JSON.
    #[serde(skip)]
    pub steps: Vec<Step>,
    /// The template's unfilled slots below this node (hoisted like children), whose content the
    /// template does not describe. Not part of the JSON (web templates leave unfilled slots
    /// out); FLAT carries their content whole, as canonical JSON under `|raw`.
    #[serde(skip)]
    pub slots: Vec<WebTemplateNode>,
    /// For a node in `slots`: the archetypes the slot admits.
    #[serde(skip)]
    pub slot: Option<SlotRule>,
}

/// The archetype ids an unfilled slot admits: the regular expressions of its
/// `archetype_id/value matches {/…/}` includes and excludes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRule {
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
}

impl SlotRule {
    /// Whether an archetype id fills the slot: some include matches (or there is none) and no
    /// exclude does (an exclude of `.*` means "everything not included").
    pub fn admits(&self, archetype_id: &str) -> bool {
        let matches = |p: &str| {
            regex::Regex::new(&format!("^(?:{p})$")).is_ok_and(|r| r.is_match(archetype_id))
        };
        (self.includes.is_empty() || self.includes.iter().any(|p| matches(p)))
            && !self.excludes.iter().any(|p| p != ".*" && matches(p))
    }
}

/// One RM object on the way from a web template node to one of its children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The attribute of the enclosing object that holds this object (`data`, `items`, …).
    pub attribute: String,
    /// The RM type the template constrains the object to (`ITEM_TREE`, `ELEMENT`, …).
    pub rm_type: String,
    /// The object's `archetype_node_id` (LOCATABLEs only).
    pub node_id: Option<String>,
    /// The object's name: the name the template fixes, or the archetype term.
    pub name: Option<String>,
    /// Whether the template fixes `name` (same-code siblings are told apart by it).
    pub name_fixed: bool,
    /// When the name is not fixed: the names same-code siblings fix at the same attribute.
    /// An object named so is that sibling's, not this node's.
    pub names_of_siblings: Vec<String>,
    /// The (terminology, code) of a fixed coded name (a DV_CODED_TEXT name constraint).
    pub name_code: Option<(String, String)>,
    /// Whether the object is an archetype root (it carries `archetype_details`).
    pub archetype_root: bool,
    /// Whether the attribute is a container (`items`, `events`, `content`, …).
    pub multiple: bool,
}

impl Step {
    /// A step to a non-LOCATABLE object (no node id, no name).
    pub(crate) fn plain(attribute: &str, rm_type: &str, multiple: bool) -> Step {
        Step {
            attribute: attribute.to_owned(),
            rm_type: rm_type.to_owned(),
            node_id: None,
            name: None,
            name_fixed: false,
            names_of_siblings: Vec::new(),
            name_code: None,
            archetype_root: false,
            multiple,
        }
    }
}

/// An input widget of a node: one FLAT attribute (`suffix`) of the node's value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// `TEXT`, `INTEGER`, `DECIMAL`, `BOOLEAN`, `DATE`, `TIME`, `DATETIME` or `CODED_TEXT`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub list: Vec<InputValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_open: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminology: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<Validation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_value: Option<serde_json::Value>,
}

/// One allowed value of an input.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputValue {
    pub value: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordinal: Option<i64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub localized_labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub localized_descriptions: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub current_states: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<Validation>,
}

/// Range, precision and pattern limits of an input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Validation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<Range>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<Range>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

/// A numeric or ISO 8601 range with its operators (`>=`, `>`, `<=`, `<`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Range {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_op: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_op: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<serde_json::Value>,
}

/// A term binding of a node's code.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TermBinding {
    pub value: String,
    pub terminology_id: String,
}

impl WebTemplate {
    /// The web template of an operational template.
    pub fn from_template(template: &Template) -> WebTemplate {
        let mut web = build::build(template);
        note_sibling_names(&mut web.tree);
        web
    }

    /// The web template as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        // Serialising plain structs of strings, numbers and maps cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// Gives each node whose name is free the names its same-code siblings fix
/// ([`Step::names_of_siblings`]), below `node`.
fn note_sibling_names(node: &mut WebTemplateNode) {
    let own = |c: &WebTemplateNode| c.steps.get(crate::flat::own_step(c)).cloned();
    let fixed: Vec<(String, Option<String>, String)> = node
        .children
        .iter()
        .filter_map(|c| {
            let s = own(c)?;
            match (s.name_fixed, s.name) {
                (true, Some(name)) => Some((s.attribute, s.node_id, name)),
                _ => None,
            }
        })
        .collect();
    for c in &mut node.children {
        let at = crate::flat::own_step(c);
        if let Some(s) = c.steps.get_mut(at).filter(|s| !s.name_fixed) {
            s.names_of_siblings = fixed
                .iter()
                .filter(|(attr, id, _)| *attr == s.attribute && *id == s.node_id)
                .map(|(_, _, name)| name.clone())
                .collect();
        }
        note_sibling_names(c);
    }
}

/// The forms of a template.
pub trait Forms {
    /// The template's web template, built once and kept with the template (a cached parsed
    /// template caches its web template too).
    fn web_template(&self) -> Cow<'_, WebTemplate>;
}

impl Forms for Template {
    fn web_template(&self) -> Cow<'_, WebTemplate> {
        match self
            .derived
            .get_or_init(|| WebTemplate::from_template(self))
        {
            Some(web) => Cow::Borrowed(web),
            // The slot keeps something else: build the web template for this call.
            None => Cow::Owned(WebTemplate::from_template(self)),
        }
    }
}

impl WebTemplateNode {
    /// The child with id `id`.
    pub fn child(&self, id: &str) -> Option<&WebTemplateNode> {
        self.children.iter().find(|c| c.id == id)
    }

    /// The unfilled slot with FLAT segment `id`.
    pub fn slot(&self, id: &str) -> Option<&WebTemplateNode> {
        self.slots.iter().find(|c| c.id == id)
    }

    /// The input with suffix `suffix` (`None`: the input without suffix).
    pub fn input(&self, suffix: Option<&str>) -> Option<&Input> {
        self.inputs.iter().find(|i| i.suffix.as_deref() == suffix)
    }

    /// Whether FLAT paths index this node (`:n`): it may occur more than once.
    pub fn is_multiple(&self) -> bool {
        self.max != 1
    }
}
