//! Reading a FLAT (or STRUCTURED) composition as a form builder needs it: every problem at
//! once, each at its FLAT key and web template node. The conversion keeps going past what it
//! cannot convert (leaving that out); the result is decoded, and what does not decode (an RM
//! attribute the FLAT left out, a literal the RM cannot hold) is placed through the instance
//! path where decoding stopped, taken out, and decoding tried again. The caller validates the
//! composition and places its issues with [`super::locate`].

use serde_json::{Map, Value};

use cdr_rm::Composition;

use super::{locate, to_rm, FlatError};
use crate::Forms;
use cdr_template::Template;

/// A problem of a FLAT or STRUCTURED composition found while reading it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FlatIssue {
    /// Instance path in the canonical composition, when the problem is there (an RM attribute
    /// missing, a value the RM cannot hold); absent for keys that convert to nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The stable code: `unknown_path`, `invalid_path`, `invalid_value` or
    /// `rm_mandatory_missing`.
    pub constraint: &'static str,
    pub message: String,
    /// The FLAT key (or where the missing attribute's key belongs).
    pub flat_path: String,
    /// The web template node the key reaches (the deepest node it names).
    pub web_template_id: String,
}

impl std::fmt::Display for FlatIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} [{}]",
            self.flat_path, self.message, self.constraint
        )
    }
}

/// A FLAT or STRUCTURED composition read through its template.
#[derive(Debug, Clone)]
pub struct FormReading {
    /// The canonical JSON of what converted (issue paths refer to it).
    pub canonical: Value,
    /// The composition, when what converted decodes (after taking out what did not).
    pub composition: Option<Composition>,
    /// Every problem found, in the order met.
    pub issues: Vec<FlatIssue>,
    /// Instance paths of what was taken out so that the rest decodes.
    taken_out: Vec<String>,
}

impl FormReading {
    /// Whether a validation issue at `path` only says that something taken out (already an
    /// issue here) is missing: at that place, or at the object that held it and its attributes
    /// (an ELEMENT left without value wants a null flavour).
    pub fn follows_from_issues(&self, path: &str) -> bool {
        let path = path.trim_end_matches('/');
        self.taken_out.iter().any(|t| {
            let holder = parent(t).filter(|h| !h.is_empty());
            t == path || holder == Some(path) || (holder.is_some() && parent(path) == holder)
        })
    }

    /// Reading that found nothing wrong.
    pub fn is_clean(&self) -> bool {
        self.issues.is_empty() && self.composition.is_some()
    }
}

/// Reads a FLAT composition for `template`: every problem collected, each at its key. `now`
/// (ISO 8601) stands in for `ctx/time` when the FLAT gives none.
pub fn read_flat(template: &Template, flat: &Map<String, Value>, now: &str) -> FormReading {
    let (canonical, problems) = to_rm::convert(template, flat, now);
    finish(template, canonical, problems)
}

/// Places the conversion `problems` and decodes `canonical`, placing what does not decode.
pub(crate) fn finish(
    template: &Template,
    canonical: Value,
    problems: Vec<FlatError>,
) -> FormReading {
    let mut issues: Vec<FlatIssue> = problems.iter().map(|e| placed(template, e)).collect();
    let mut taken_out = Vec::new();
    let mut work = canonical.clone();
    let mut composition = None;
    let at = locate(template, &canonical);
    // Each round takes one object out; a composition has far fewer broken values than this.
    for _ in 0..256 {
        let failure = match decode(&work) {
            Ok(c) => {
                composition = Some(c);
                break;
            }
            Err(f) => f,
        };
        let path = match &failure.missing {
            Some(attribute) => format!("{}/{attribute}", failure.object),
            None => failure.at.clone(),
        };
        let place = at.find(&path);
        // Not again what is already an issue: an object damaged by taking something out, a
        // node whose key did not convert.
        let damaged = taken_out
            .iter()
            .any(|t: &String| t.starts_with(&format!("{}/", failure.object)));
        let node = |flat: &str| flat.split('|').next().unwrap_or_default().to_owned();
        let known = place.as_ref().is_some_and(|p| {
            let n = node(&p.flat_path);
            problems.iter().any(|e| node(e.path()) == n)
        });
        if !damaged && !known {
            let (flat_path, web_template_id) = match place {
                Some(p) => (p.flat_path, p.web_template_id),
                None => {
                    let root = &template.web_template().tree.id;
                    (root.clone(), root.clone())
                }
            };
            let (constraint, message) = match &failure.missing {
                Some(attribute) => (
                    "rm_mandatory_missing",
                    format!(
                        "{}.{attribute} is missing (the RM requires it)",
                        rm_type_at(&work, &failure.object)
                    ),
                ),
                None => ("invalid_value", failure.message.clone()),
            };
            issues.push(FlatIssue {
                path: Some(path),
                constraint,
                message,
                flat_path,
                web_template_id,
            });
        }
        if failure.object.is_empty() || !take_out(&mut work, &failure.object) {
            break;
        }
        taken_out.push(failure.object);
    }
    if composition.is_none() && issues.is_empty() {
        let root = template.web_template().tree.id.clone();
        issues.push(FlatIssue {
            path: Some(String::new()),
            constraint: "invalid_value",
            message: "what the composition gives does not make a composition".into(),
            flat_path: root.clone(),
            web_template_id: root,
        });
    }
    FormReading {
        canonical,
        composition,
        issues,
        taken_out,
    }
}

/// A conversion problem at its key, with the web template node the key reaches.
fn placed(template: &Template, e: &FlatError) -> FlatIssue {
    FlatIssue {
        path: None,
        constraint: e.code(),
        message: e.message(),
        flat_path: e.path().to_owned(),
        web_template_id: node_reached(template, e.path()),
    }
}

/// The id of the deepest web template node a FLAT key names (the root for keys that name
/// none; for `ctx/…` the root's node of that name, as `ctx/language` is the root's language).
pub(crate) fn node_reached(template: &Template, key: &str) -> String {
    let tree = &template.web_template().tree;
    let body = key.split('|').next().unwrap_or_default();
    if let Some(field) = body.strip_prefix("ctx/") {
        let name = field.split(':').next().unwrap_or_default();
        return tree.child(name).unwrap_or(tree).id.clone();
    }
    let mut segments = body.split('/').map(|s| s.split(':').next().unwrap_or(s));
    let mut node = tree;
    if segments.next() == Some(tree.id.as_str()) {
        for id in segments {
            match node.child(id) {
                Some(c) => node = c,
                None => break,
            }
        }
    }
    node.id.clone()
}

/// Where and why decoding stopped.
struct DecodeFailure {
    /// Instance path of the value decoding stopped at.
    at: String,
    /// The object holding it (or, for a missing attribute, lacking it).
    object: String,
    /// The RM attribute the object lacks, when that is the failure.
    missing: Option<String>,
    message: String,
}

/// Decodes canonical JSON written so that every line starts one member, so that the line
/// decoding stops at names the instance path there.
fn decode(canonical: &Value) -> Result<Composition, DecodeFailure> {
    let mut text = String::new();
    let mut lines = vec![String::new()];
    write(canonical, "", &mut text, &mut lines);
    cdr_rm::from_json::<Composition>(text.as_bytes()).map_err(|e| {
        let line = lines
            .get(e.line.saturating_sub(1))
            .cloned()
            .unwrap_or_default();
        let missing = e
            .message
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
            .map(str::to_owned);
        // A missing attribute is found at the end of its object, whose line is the object's;
        // a wrong `_type` at its own line; any other value on the line of its attribute.
        let (at, object) = match (line.strip_suffix("/_type"), &missing) {
            (Some(typed), _) => (typed.to_owned(), typed.to_owned()),
            (None, Some(_)) => (line.clone(), line.clone()),
            (None, None) => (line.clone(), parent(&line).unwrap_or_default().to_owned()),
        };
        DecodeFailure {
            at,
            object,
            missing,
            message: e.message,
        }
    })
}

/// Writes `v` (at instance path `path`) as JSON, a new line before every member and item and
/// before each closing bracket; `lines[n]` is the instance path on line `n + 1`.
fn write(v: &Value, path: &str, out: &mut String, lines: &mut Vec<String>) {
    fn newline(out: &mut String, lines: &mut Vec<String>, at: String) {
        out.push('\n');
        lines.push(at);
    }
    match v {
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let at = format!("{path}/{k}");
                newline(out, lines, at.clone());
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                match x {
                    Value::Array(items) => {
                        out.push('[');
                        for (j, item) in items.iter().enumerate() {
                            if j > 0 {
                                out.push(',');
                            }
                            let item_at = format!("{at}[{j}]");
                            newline(out, lines, item_at.clone());
                            write(item, &item_at, out, lines);
                        }
                        newline(out, lines, at);
                        out.push(']');
                    }
                    other => write(other, &at, out, lines),
                }
            }
            newline(out, lines, path.to_owned());
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The instance path one step up (`None` at the root).
fn parent(path: &str) -> Option<&str> {
    path.rsplit_once('/').map(|(p, _)| p)
}

/// The `_type` of the object at an instance path.
fn rm_type_at(v: &Value, path: &str) -> String {
    value_at(v, path)
        .and_then(|o| o.get("_type"))
        .and_then(Value::as_str)
        .unwrap_or("the object")
        .to_owned()
}

/// `items[3]` → (`items`, Some(3)).
fn segment(s: &str) -> (&str, Option<usize>) {
    match s.strip_suffix(']').and_then(|s| s.split_once('[')) {
        Some((name, i)) => (name, i.parse().ok()),
        None => (s, None),
    }
}

fn value_at<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    let mut cur = v;
    for s in path.split('/').filter(|s| !s.is_empty()) {
        let (name, index) = segment(s);
        cur = cur.get(name)?;
        if let Some(i) = index {
            cur = cur.get(i)?;
        }
    }
    Some(cur)
}

/// Takes the value at an instance path out of `v`; false when there is none.
fn take_out(v: &mut Value, path: &str) -> bool {
    let Some((up, last)) = path.rsplit_once('/') else {
        return false;
    };
    let mut cur = v;
    for s in up.split('/').filter(|s| !s.is_empty()) {
        let (name, index) = segment(s);
        let Some(next) = cur.get_mut(name) else {
            return false;
        };
        cur = next;
        if let Some(i) = index {
            let Some(next) = cur.get_mut(i) else {
                return false;
            };
            cur = next;
        }
    }
    let (name, index) = segment(last);
    match (cur, index) {
        (Value::Object(m), None) => m.remove(name).is_some(),
        (Value::Object(m), Some(i)) => match m.get_mut(name) {
            Some(Value::Array(items)) if i < items.len() => {
                items.remove(i);
                true
            }
            _ => false,
        },
        _ => false,
    }
}
