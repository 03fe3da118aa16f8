//! Example compositions of a template: one instance of every node of the web template (as
//! many as a node's `min` asks for), written as FLAT and converted to canonical JSON, so an
//! example is FLAT-representable by construction and its RM context (language, territory,
//! composer, times, setting, entry subject and encoding) comes from `ctx` like any FLAT
//! composition's.
//!
//! Values follow the inputs of each node: the first allowed code, unit or ordinal (the
//! template's default when it has one), a number inside the ranges (an integer where one fits,
//! so precisions hold), dates and times from `now` cut to what the pattern allows, a duration
//! inside its per-unit bounds. Of the alternatives for one single-valued attribute (the value
//! types of an ELEMENT, …) only the first is filled.

mod pattern;

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use crate::flat::{self, own_step, FlatError};
use crate::webtemplate::{Input, Range, WebTemplateNode, PROPORTION_KINDS};
use crate::Forms;
use cdr_template::Template;

/// RM context attributes FLAT fills from `ctx` (and the template) when they are not given.
const FROM_CTX: &[&str] = &[
    "language",
    "territory",
    "encoding",
    "composer",
    "subject",
    "time",
    "start_time",
];

/// The example of `template` as FLAT. `now` (ISO 8601, e.g. `2024-01-01T10:00:00Z`) is the
/// time the example is written at and the source of every date and time in it.
pub fn example_flat(template: &Template, now: &str) -> Map<String, Value> {
    let web = template.web_template();
    let mut g = Generator {
        out: Map::new(),
        now: Now::parse(now),
        log: Vec::new(),
        content: 0,
    };
    g.out
        .insert("ctx/language".into(), json!(web.default_language));
    g.out.insert("ctx/territory".into(), json!("US"));
    g.out
        .insert("ctx/composer_name".into(), json!("Example Composer"));
    g.out.insert("ctx/time".into(), json!(g.now.date_time()));
    g.node(&web.tree, &web.tree.id, "", 1);
    g.out
}

/// The example of `template` as canonical JSON (see [`example_flat`]).
pub fn example_composition(template: &Template, now: &str) -> Result<Value, FlatError> {
    flat::flat_to_canonical(template, &example_flat(template, now), now)
}

/// The most instances of one node an example holds.
const MAX_INSTANCES: usize = 100;

struct Generator {
    out: Map<String, Value>,
    now: Now,
    /// The keys written, in order (so a node that turns out empty can be taken back).
    log: Vec<String>,
    /// How many values outside RM context attributes have been written.
    content: usize,
}

impl Generator {
    fn put(&mut self, prefix: &str, suffix: &str, value: Value) {
        let key = if suffix.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}|{suffix}")
        };
        self.out.insert(key.clone(), value);
        self.log.push(key);
    }

    /// One instance of `w` at FLAT path `prefix`; `owner` is the RM type of the parent node.
    /// An optional structural node that receives no value of its own is taken back (an event or
    /// entry with only its context would be incomplete).
    /// `weight` is how many instances of this node the example holds (the product of the
    /// counts above it), which bounds how many more a `min` may ask for.
    fn node(&mut self, w: &WebTemplateNode, prefix: &str, owner: &str, weight: usize) {
        let (mark, content) = (self.log.len(), self.content);
        self.value(w, prefix, owner);
        if !w.in_context && self.log.len() > mark {
            self.content += 1;
        }
        let mut filled_slots = HashSet::new();
        let mut filled_codes = HashSet::new();
        for c in &w.children {
            if c.max == 0
                || (c.in_context && FROM_CTX.contains(&c.id.as_str()))
                || flat::shapes::is_computed(c)
            {
                continue;
            }
            if c.in_context && c.min < 1 && !has_list(c) {
                continue;
            }
            if let Some(slot) = single_slot(c) {
                if !filled_slots.insert(slot) {
                    continue;
                }
            }
            // Optional siblings with one node id and coded names are alternatives (the names
            // one constraint allows): the first stands for them.
            if let Some(code) = coded_name_alternative(c) {
                if !filled_codes.insert(code) && c.min < 1 {
                    continue;
                }
            }
            if c.rm_type == "ISM_TRANSITION" {
                self.ism_transition(c, &format!("{prefix}/{}", c.id));
                continue;
            }
            // At most MAX_INSTANCES instances of any node (a template asking for more gets
            // fewer than its `min`, not an example that grows with the product of them).
            let wanted = usize::try_from(c.min).unwrap_or(0).max(1);
            let count = wanted.min(MAX_INSTANCES / weight).max(1);
            for i in 0..count {
                let seg = if c.is_multiple() {
                    format!("{prefix}/{}:{i}", c.id)
                } else {
                    format!("{prefix}/{}", c.id)
                };
                self.node(c, &seg, &w.rm_type, weight * count);
            }
        }
        let structural = w.inputs.is_empty() && !w.rm_type.starts_with("DV_");
        if structural && w.min < 1 && self.content == content {
            for key in self.log.drain(mark..) {
                self.out.remove(&key);
            }
        }
    }

    /// A careflow step and a current state that belongs to it.
    fn ism_transition(&mut self, w: &WebTemplateNode, prefix: &str) {
        let step = w
            .child("careflow_step")
            .and_then(|c| code_input(c)?.list.first());
        let states = w.child("current_state").and_then(code_input);
        let state = match (step, states) {
            (Some(step), Some(states)) => states
                .list
                .iter()
                .find(|s| step.current_states.contains(&s.value))
                .or(states.list.first()),
            (None, Some(states)) => states.list.first(),
            _ => None,
        };
        if let Some(step) = step {
            self.put(
                &format!("{prefix}/careflow_step"),
                "code",
                json!(step.value),
            );
        }
        if let Some(state) = state {
            self.put(
                &format!("{prefix}/current_state"),
                "code",
                json!(state.value),
            );
        }
    }

    /// The value of a data value node (nothing for structural nodes).
    fn value(&mut self, w: &WebTemplateNode, prefix: &str, owner: &str) {
        let base = cdr_rm::meta::base_type_name(&w.rm_type);
        match base {
            "DV_TEXT" => {
                let i = w.input(None);
                let pattern = i
                    .and_then(|i| i.validation.as_ref())
                    .and_then(|v| v.pattern.as_deref());
                let text = i
                    .and_then(|i| i.default_value.as_ref().and_then(Value::as_str))
                    .map(str::to_owned)
                    .or_else(|| i.and_then(|i| i.list.first()).map(|v| v.value.clone()))
                    .or_else(|| pattern.and_then(pattern::sample))
                    .unwrap_or_else(|| display_name(w));
                self.put(prefix, "", json!(text));
            }
            "DV_CODED_TEXT" => self.coded(w, prefix, owner),
            "CODE_PHRASE" => {
                if let Some(v) = w.input(Some("code")).and_then(|i| i.list.first()) {
                    self.put(prefix, "code", json!(v.value));
                }
            }
            "DV_ORDINAL" => {
                if let Some(i) = w.input(None) {
                    if let Some(v) = preferred(i) {
                        self.put(prefix, "code", json!(v.value));
                        self.put(prefix, "value", json!(v.label));
                        if let Some(o) = v.ordinal {
                            self.put(prefix, "ordinal", json!(o));
                        }
                    }
                }
            }
            "DV_QUANTITY" => {
                let unit = w.input(Some("unit"));
                let chosen = unit.and_then(preferred);
                let range = chosen
                    .and_then(|u| u.validation.as_ref())
                    .or_else(|| w.input(Some("magnitude"))?.validation.as_ref())
                    .and_then(|v| v.range.as_ref());
                self.put(prefix, "magnitude", number_in(range, 1.0));
                let unit = chosen.map_or_else(|| "1".to_owned(), |u| u.value.clone());
                self.put(prefix, "unit", json!(unit));
            }
            "DV_COUNT" => {
                let range = w
                    .input(None)
                    .and_then(|i| i.validation.as_ref())
                    .and_then(|v| v.range.as_ref());
                self.put(prefix, "", number_in(range, 1.0));
            }
            "DV_PROPORTION" => {
                let kind = w.proportion_types.first().map_or("ratio", String::as_str);
                let type_no = PROPORTION_KINDS
                    .iter()
                    .position(|k| *k == kind)
                    .unwrap_or(0);
                let range = |s: &str| {
                    w.input(Some(s))
                        .and_then(|i| i.validation.as_ref())
                        .and_then(|v| v.range.as_ref())
                };
                let denominator = match kind {
                    "unitary" => json!(1),
                    "percent" => json!(100),
                    _ => number_in(range("denominator"), 1.0),
                };
                self.put(prefix, "numerator", number_in(range("numerator"), 1.0));
                self.put(prefix, "denominator", denominator);
                self.put(prefix, "type", json!(type_no));
            }
            "DV_BOOLEAN" => {
                let v = w
                    .input(None)
                    .and_then(|i| i.list.first())
                    .is_none_or(|v| v.value == "true");
                self.put(prefix, "", json!(v));
            }
            "DV_DATE_TIME" | "DV_DATE" | "DV_TIME" => {
                let pattern = w
                    .input(None)
                    .and_then(|i| i.validation.as_ref())
                    .and_then(|v| v.pattern.as_deref());
                let v = match base {
                    "DV_DATE" => self.now.date(pattern),
                    "DV_TIME" => self.now.time(pattern),
                    _ => self.now.date_time_for(pattern),
                };
                self.put(prefix, "", json!(v));
            }
            "DV_DURATION" => self.put(prefix, "", json!(duration(&w.inputs))),
            "DV_IDENTIFIER" => {
                for (suffix, v) in [
                    ("id", "1234"),
                    ("issuer", "Example issuer"),
                    ("assigner", "Example assigner"),
                    ("type", "Example type"),
                ] {
                    self.put(prefix, suffix, json!(v));
                }
            }
            "DV_URI" => self.put(prefix, "", json!("https://example.org/")),
            "DV_EHR_URI" => self.put(prefix, "", json!("ehr://example/")),
            "DV_MULTIMEDIA" => {
                self.put(prefix, "", json!("https://example.org/example.png"));
                self.put(prefix, "mediatype", json!("image/png"));
                self.put(prefix, "size", json!(0));
            }
            "DV_PARSABLE" => {
                self.put(prefix, "value", json!("example"));
                self.put(prefix, "formalism", json!("text/plain"));
            }
            "PARTY_PROXY" | "PARTY_IDENTIFIED" | "PARTY_RELATED" => {
                self.put(prefix, "name", json!("Example Party"));
            }
            _ => {}
        }
    }

    /// A coded text: the first allowed code (the template's default when allowed), or free
    /// text where the list is open, or a code of the openEHR group the attribute is bound to.
    fn coded(&mut self, w: &WebTemplateNode, prefix: &str, owner: &str) {
        let Some(code) = code_input(w) else {
            return;
        };
        if let Some(v) = preferred(code) {
            self.put(prefix, "code", json!(v.value));
            if !v.label.is_empty() {
                self.put(prefix, "value", json!(v.label));
            }
            if let Some(t) = code.terminology.as_deref().filter(|t| *t != "local") {
                self.put(prefix, "terminology", json!(t));
            }
            return;
        }
        if w.input(Some("other")).is_some() {
            self.put(prefix, "other", json!(display_name(w)));
            return;
        }
        let attribute = w.steps.last().map_or("", |s| s.attribute.as_str());
        let group = cdr_rm::terminology::openehr_group(owner, attribute).map(|(_, g)| g);
        if let Some((c, rubric)) = group.and_then(|g| g.first()) {
            self.put(prefix, "code", json!(c));
            self.put(prefix, "value", json!(rubric));
            self.put(prefix, "terminology", json!("openehr"));
            return;
        }
        match code.terminology.as_deref() {
            // Any local code: the node's own at-code is one its archetype defines.
            None | Some("local") => {
                if let Some(at) = own_at_code(w) {
                    self.put(prefix, "code", json!(at));
                    self.put(prefix, "value", json!(display_name(w)));
                    self.put(prefix, "terminology", json!("local"));
                }
            }
            Some(t) => {
                self.put(prefix, "code", json!("example"));
                self.put(prefix, "value", json!(display_name(w)));
                self.put(prefix, "terminology", json!(t));
            }
        }
    }
}

/// A node's name, or its id when it has none.
fn display_name(w: &WebTemplateNode) -> String {
    if w.name.is_empty() {
        w.id.clone()
    } else {
        w.name.clone()
    }
}

/// The nearest at-code on the way to a node (its ELEMENT's, or an enclosing object's).
fn own_at_code(w: &WebTemplateNode) -> Option<&str> {
    w.node_id
        .as_deref()
        .into_iter()
        .chain(w.steps.iter().rev().filter_map(|s| s.node_id.as_deref()))
        .find(|id| id.starts_with("at"))
}

/// The (attribute, node id) of a node's own object when the template codes its name.
fn coded_name_alternative(c: &WebTemplateNode) -> Option<(String, String)> {
    let step = c.steps.get(own_step(c))?;
    step.name_code.as_ref()?;
    Some((step.attribute.clone(), step.node_id.clone()?))
}

fn code_input(w: &WebTemplateNode) -> Option<&Input> {
    w.input(Some("code"))
}

fn has_list(w: &WebTemplateNode) -> bool {
    w.inputs.iter().any(|i| !i.list.is_empty())
}

/// The list value to use: the input's default when the list has it, else the first.
fn preferred(i: &Input) -> Option<&crate::webtemplate::InputValue> {
    let default = i.default_value.as_ref().and_then(Value::as_str);
    i.list
        .iter()
        .find(|v| Some(v.value.as_str()) == default)
        .or(i.list.first())
}

/// One level on the way to an attribute: (attribute, node id, name).
type Level = (String, Option<String>, Option<String>);

/// The single-valued attribute a node fills (its levels and the attribute), when the
/// attribute holds one object: alternatives for it are filled once.
fn single_slot(c: &WebTemplateNode) -> Option<Vec<Level>> {
    let own = own_step(c);
    let step = c.steps.get(own)?;
    if step.multiple {
        return None;
    }
    let mut key: Vec<_> = c.steps[..own]
        .iter()
        .map(|s| (s.attribute.clone(), s.node_id.clone(), s.name.clone()))
        .collect();
    key.push((step.attribute.clone(), None, None));
    Some(key)
}

/// A number inside `range`: an integer where one fits (so precision limits hold), else the
/// middle of the range; `preferred` when the range allows it.
fn number_in(range: Option<&Range>, preferred: f64) -> Value {
    let bound = |v: &Option<Value>| v.as_ref().and_then(Value::as_f64);
    let (min, max) = match range {
        Some(r) => (bound(&r.min), bound(&r.max)),
        None => (None, None),
    };
    let min_incl = range.is_none_or(|r| r.min_op.as_deref() != Some(">"));
    let max_incl = range.is_none_or(|r| r.max_op.as_deref() != Some("<"));
    let fits = |v: f64| {
        min.is_none_or(|m| if min_incl { v >= m } else { v > m })
            && max.is_none_or(|m| if max_incl { v <= m } else { v < m })
    };
    let mut candidates = vec![preferred];
    if let Some(m) = min {
        candidates.extend([m.ceil(), m.floor() + 1.0]);
    }
    if let Some(m) = max {
        candidates.extend([m.floor(), m.ceil() - 1.0]);
    }
    if let Some(v) = candidates.into_iter().find(|v| fits(*v)) {
        return json!(v as i64);
    }
    let middle = match (min, max) {
        (Some(a), Some(b)) => (a + b) / 2.0,
        (Some(a), None) => a + 0.5,
        (None, Some(b)) => b - 0.5,
        (None, None) => preferred,
    };
    serde_json::Number::from_f64(middle).map_or(json!(0), Value::Number)
}

fn range(i: &Input) -> Option<&Range> {
    i.validation.as_ref().and_then(|v| v.range.as_ref())
}

/// An ISO 8601 duration of one unit inside that unit's bounds: the first unit the template
/// bounds from above (else from below, else the first unit), at 1 when allowed.
fn duration(inputs: &[Input]) -> String {
    let has = |i: &Input, max: bool| {
        range(i).is_some_and(|r| {
            if max {
                r.max.is_some()
            } else {
                r.min.as_ref().is_some_and(|m| m.as_f64() != Some(0.0))
            }
        })
    };
    let unit = inputs
        .iter()
        .find(|i| has(i, true))
        .or_else(|| inputs.iter().find(|i| has(i, false)))
        .or(inputs.first());
    let Some(unit) = unit else {
        return "PT1H".to_owned();
    };
    let n = number_in(range(unit), 1.0).as_f64().unwrap_or(1.0).max(0.0) as i64;
    let (designator, in_time) = match unit.suffix.as_deref() {
        Some("year") => ('Y', false),
        Some("month") => ('M', false),
        Some("week") => ('W', false),
        Some("day") => ('D', false),
        Some("hour") => ('H', true),
        Some("minute") => ('M', true),
        _ => ('S', true),
    };
    if in_time {
        format!("PT{n}{designator}")
    } else {
        format!("P{n}{designator}")
    }
}

/// The example's time, in parts.
struct Now {
    date: [String; 3],
    time: [String; 3],
    zone: String,
}

impl Now {
    /// Reads `YYYY-MM-DDTHH:MM:SS[.fff][zone]`; anything else stands for 2024-01-01T00:00:00Z.
    fn parse(s: &str) -> Now {
        let ok = s.len() >= 19
            && s.is_char_boundary(19)
            && s.as_bytes()[4] == b'-'
            && s.as_bytes()[10] == b'T';
        let s = if ok { s } else { "2024-01-01T00:00:00Z" };
        let rest = &s[19..];
        let zone = rest.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
        Now {
            date: [s[0..4].into(), s[5..7].into(), s[8..10].into()],
            time: [s[11..13].into(), s[14..16].into(), s[17..19].into()],
            zone: zone.to_owned(),
        }
    }

    fn date_time(&self) -> String {
        self.date_time_for(None)
    }

    /// How many of three parts a pattern allows (`yyyy-mm-XX` allows two; `??` counts).
    fn allowed(part: Option<&str>) -> usize {
        let forbidden = |f: &str| !f.is_empty() && f.chars().all(|c| c == 'X');
        part.map_or(3, |p| {
            p.split(['-', ':'])
                .take_while(|f| !forbidden(f))
                .count()
                .min(3)
        })
    }

    fn date(&self, pattern: Option<&str>) -> String {
        let date_part = pattern.map(|p| p.split('T').next().unwrap_or(p));
        self.date[..Self::allowed(date_part).max(1)].join("-")
    }

    fn time(&self, pattern: Option<&str>) -> String {
        let n = Self::allowed(pattern).max(1);
        let mut t = self.time[..n].join(":");
        if n == 3 {
            t.push_str(&self.zone);
        }
        t
    }

    fn date_time_for(&self, pattern: Option<&str>) -> String {
        let (date_part, time_part) = match pattern {
            Some(p) => match p.split_once('T') {
                Some((d, t)) => (Some(d), Some(t)),
                None => (Some(p), Some("XX")),
            },
            None => (None, None),
        };
        let d = Self::allowed(date_part).max(1);
        if d < 3 || time_part == Some("XX") {
            return self.date[..d].join("-");
        }
        let t = Self::allowed(time_part);
        if t == 0 {
            return self.date.join("-");
        }
        let mut out = format!("{}T{}", self.date.join("-"), self.time[..t].join(":"));
        out.push_str(&self.zone);
        out
    }
}
