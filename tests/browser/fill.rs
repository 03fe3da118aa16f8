//! Filling a rendered `<cdr-form>` with a template's example values through its controls, as
//! a person would (typing, choosing, clicking), and comparing what the server stored with the
//! example.
//!
//! Which example keys the form shows is read from the web template: every key of a node that
//! is not `inContext` (nor below one); keys of no web template node (e.g. `history_origin`) are
//! skipped, and so are those of context nodes, which the server fills.

use std::collections::{BTreeMap, HashMap};

use fantoccini::{Client, Locator};
use serde_json::{Map, Value};

use crate::harness::css_str;

/// What the web template says of one node (by its id path without indexes).
#[derive(Debug, Clone)]
pub struct Node {
    pub rm_type: String,
    /// The node or one above it is `inContext`.
    pub in_context: bool,
    /// An ELEMENT whose children are the alternatives of its value (a choice).
    pub choice: bool,
    /// Its name in the template (what a `_name` key of the example gives).
    pub name: String,
    /// `max` is -1 or above 1: its FLAT keys carry `:n`.
    pub may_repeat: bool,
}

/// The nodes of a web template by id path (`root/section/entry/element`).
pub fn nodes(web_template: &Value) -> HashMap<String, Node> {
    fn walk(n: &Value, path: &str, ctx: bool, out: &mut HashMap<String, Node>) {
        let id = n["id"].as_str().unwrap_or_default();
        let path = if path.is_empty() {
            id.to_owned()
        } else {
            format!("{path}/{id}")
        };
        let in_context = ctx || n["inContext"].as_bool().unwrap_or(false);
        let children = n["children"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let rm_type = n["rmType"].as_str().unwrap_or_default().to_owned();
        for c in children {
            walk(c, &path, in_context, out);
        }
        let choice = rm_type == "ELEMENT" && !children.is_empty();
        let max = n["max"].as_i64().unwrap_or(1);
        out.insert(
            path,
            Node {
                rm_type,
                in_context,
                choice,
                name: n["name"].as_str().unwrap_or_default().to_owned(),
                may_repeat: max == -1 || max > 1,
            },
        );
    }
    let mut out = HashMap::new();
    walk(&web_template["tree"], "", false, &mut out);
    out
}

/// A FLAT key split: its segments with their instance indexes, and its `|suffix`.
#[derive(Debug, Clone)]
pub struct Key {
    pub segments: Vec<(String, Option<usize>)>,
}

impl Key {
    pub fn parse(key: &str) -> Key {
        let base = key.split('|').next().unwrap_or(key);
        let segments = base
            .split('/')
            .map(|s| match s.rsplit_once(':') {
                Some((id, n)) if n.parse::<usize>().is_ok() => (id.to_owned(), n.parse().ok()),
                _ => (s.to_owned(), None),
            })
            .collect();
        Key { segments }
    }

    /// The id path of the first `n` segments (no indexes).
    pub fn id_path(&self, n: usize) -> String {
        let ids: Vec<&str> = self.segments[..n].iter().map(|(s, _)| s.as_str()).collect();
        ids.join("/")
    }

    /// The FLAT prefix of the first `n` segments (with indexes).
    pub fn prefix(&self, n: usize) -> String {
        let parts: Vec<String> = self.segments[..n]
            .iter()
            .map(|(s, i)| match i {
                Some(i) => format!("{s}:{i}"),
                None => s.clone(),
            })
            .collect();
        parts.join("/")
    }
}

/// Why an example key is not filled through the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Skip {
    /// Its node is `inContext`: the server fills it.
    Context,
    /// No node of the web template has its path.
    NotInWebTemplate,
}

/// The example keys of a template sorted into those the form shows and those it does not.
#[derive(Debug, Default)]
pub struct Plan {
    /// Shown keys (the example's) with the key of their control and their example value, in
    /// key order (`:0` before `:1`).
    pub shown: BTreeMap<String, (String, Value)>,
    pub skipped: BTreeMap<String, Skip>,
    /// How many shown keys the form writes under another key (see `named_siblings`).
    pub renamed: usize,
}

/// The instances the example names after a sibling node (`…/request:1/_name` = "Request #3"
/// for the web template's `request_3`, named "Request #3"): FLAT prefix in the example →
/// FLAT prefix of that sibling's controls.
fn named_siblings(
    example: &Map<String, Value>,
    nodes: &HashMap<String, Node>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in example {
        let Some(instance) = k.strip_suffix("/_name") else {
            continue;
        };
        let key = Key::parse(instance);
        let n = key.segments.len();
        let parent = key.id_path(n - 1);
        let sibling = nodes.iter().find(|(path, node)| {
            path.rsplit_once('/').map(|(p, _)| p) == Some(parent.as_str())
                && Some(node.name.as_str()) == v.as_str()
        });
        if let Some((path, node)) = sibling {
            let id = path.rsplit('/').next().unwrap_or_default();
            let mut to = key.prefix(n - 1);
            to.push('/');
            to.push_str(id);
            if node.may_repeat {
                to.push_str(":0");
            }
            out.push((instance.to_owned(), to));
        }
    }
    out
}

pub fn plan(example: &Map<String, Value>, nodes: &HashMap<String, Node>) -> Plan {
    let renames = named_siblings(example, nodes);
    let mut plan = Plan::default();
    for (k, v) in example {
        let form_key = renames
            .iter()
            .find_map(|(from, to)| {
                let rest = k.strip_prefix(from.as_str())?;
                (rest.starts_with('/') || rest.starts_with('|')).then(|| format!("{to}{rest}"))
            })
            .unwrap_or_else(|| k.clone());
        let key = Key::parse(&form_key);
        match nodes.get(&key.id_path(key.segments.len())) {
            None => {
                plan.skipped.insert(k.clone(), Skip::NotInWebTemplate);
            }
            Some(n) if n.in_context => {
                plan.skipped.insert(k.clone(), Skip::Context);
            }
            Some(_) => {
                if form_key != *k {
                    plan.renamed += 1;
                }
                plan.shown.insert(k.clone(), (form_key, v.clone()));
            }
        }
    }
    plan
}

/// What filling one template did.
#[derive(Debug, Default)]
pub struct Filled {
    /// Keys (the example's) set through a control.
    pub filled: Vec<String>,
    /// Skipped keys the form shows all the same (e.g. an interval event's width), set through
    /// their control and compared like the others.
    pub extra: Vec<String>,
    /// Keys with no control of their own, of a node another control of which (or of a node
    /// below it) was set: the form writes them from it (a coded text's `|value` from its
    /// `|code`, an interval's `|lower_unbounded` from its lower bound).
    pub derived: Vec<String>,
    /// Keys the form gave no way to set, with why.
    pub missing: Vec<String>,
    /// The kind of control each key was set with (`input:date`, `select`, …).
    pub control: HashMap<String, String>,
}

/// The example value as the text a person types or a control holds.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A date/time value without its zone (`Z`, `+hh:mm`): native pickers hold local values.
pub fn without_zone(s: &str) -> &str {
    if let Some(rest) = s.strip_suffix('Z') {
        return rest;
    }
    // `…T08:00:00+01:00` or `08:00:00-05:00`: a sign and `hh:mm` after a time.
    let b = s.as_bytes();
    let n = b.len();
    if n > 6 && matches!(b[n - 6], b'+' | b'-') && b[n - 3] == b':' && s[..n - 6].contains(':') {
        return &s[..n - 6];
    }
    s
}

/// Makes sure the instance `:n` of every repeating node on the key's path exists (clicking its
/// add button) and that every choice on the path shows the key's alternative.
async fn prepare(client: &Client, key: &Key, nodes: &HashMap<String, Node>) -> Result<(), String> {
    for i in 1..=key.segments.len() {
        if let Some(n) = key.segments[i - 1].1.filter(|n| *n >= 1) {
            let instance = key.prefix(i);
            let mut without = key.prefix(i - 1);
            if !without.is_empty() {
                without.push('/');
            }
            without.push_str(&key.segments[i - 1].0);
            for _ in 0..n {
                let exists = client
                    .find_all(Locator::Css(&format!(
                        "cdr-form [data-node-path={}]",
                        css_str(&instance)
                    )))
                    .await
                    .map_err(|e| e.to_string())?;
                if !exists.is_empty() {
                    break;
                }
                let add = client
                    .find(Locator::Css(&format!(
                        "cdr-form button[data-add={}]",
                        css_str(&without)
                    )))
                    .await
                    .map_err(|_| format!("no button[data-add=\"{without}\"] to add {instance}"))?;
                add.click().await.map_err(|e| e.to_string())?;
            }
        }
        if i < key.segments.len() && nodes.get(&key.id_path(i)).is_some_and(|n| n.choice) {
            let prefix = key.prefix(i);
            let alternative = &key.segments[i].0;
            let switch = client
                .find_all(Locator::Css(&format!(
                    "cdr-form select[data-choice={}]",
                    css_str(&prefix)
                )))
                .await
                .map_err(|e| e.to_string())?;
            if let Some(switch) = switch.first() {
                let rm_type = nodes
                    .get(&key.id_path(i + 1))
                    .map(|n| n.rm_type.clone())
                    .unwrap_or_default();
                if switch.select_by_value(alternative).await.is_err()
                    && switch.select_by_value(&rm_type).await.is_err()
                {
                    return Err(format!(
                        "select[data-choice=\"{prefix}\"] has no option {alternative} nor {rm_type}"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Sets `key` to `value` through its control(s); returns the kind of control used, or why it
/// could not, or `None` when the form has no control with that key.
async fn set(client: &Client, key: &str, value: &Value) -> Result<Option<String>, String> {
    let controls = client
        .find_all(Locator::Css(&format!(
            "cdr-form [data-flat-path={}]",
            css_str(key)
        )))
        .await
        .map_err(|e| e.to_string())?;
    let Some(first) = controls.first() else {
        return Ok(None);
    };
    let err = |e: fantoccini::error::CmdError| format!("{key}: {e}");
    let tag = first.tag_name().await.map_err(err)?.to_ascii_lowercase();
    let kind = first
        .attr("type")
        .await
        .map_err(err)?
        .unwrap_or_default()
        .to_ascii_lowercase();
    let text = text_of(value);
    match (tag.as_str(), kind.as_str()) {
        ("select", _) => {
            first
                .select_by_value(&text)
                .await
                .map_err(|_| format!("{key}: the select has no option {text:?}"))?;
        }
        ("input", "radio") => {
            let mut clicked = false;
            for radio in &controls {
                if radio.attr("value").await.map_err(err)?.as_deref() == Some(text.as_str()) {
                    radio.click().await.map_err(err)?;
                    clicked = true;
                    break;
                }
            }
            if !clicked {
                return Err(format!("{key}: no radio with the value {text:?}"));
            }
        }
        ("input", "checkbox") => {
            let wanted = value == &Value::Bool(true) || text == "true";
            if first.is_selected().await.map_err(err)? != wanted {
                first.click().await.map_err(err)?;
            }
        }
        ("input", "date" | "time" | "datetime-local" | "month" | "week") => {
            let local = if kind == "date" || kind == "month" || kind == "week" {
                text.clone()
            } else {
                without_zone(&text).to_owned()
            };
            let held = client
                .execute(
                    "const el = arguments[0]; el.focus(); el.value = arguments[1]; \
                     el.dispatchEvent(new Event('input', {bubbles: true})); \
                     el.dispatchEvent(new Event('change', {bubbles: true})); \
                     el.blur(); return el.value;",
                    vec![
                        serde_json::to_value(first).map_err(|e| e.to_string())?,
                        Value::String(local.clone()),
                    ],
                )
                .await
                .map_err(err)?;
            if held.as_str().unwrap_or_default().is_empty() {
                return Err(format!(
                    "{key}: the {kind} input does not take the value {local:?}"
                ));
            }
        }
        ("input", "file") => {
            return Err(format!("{key}: a file input cannot hold {text:?}"));
        }
        _ => {
            first.clear().await.map_err(err)?;
            first.send_keys(&text).await.map_err(err)?;
        }
    }
    Ok(Some(if kind.is_empty() {
        tag
    } else {
        format!("{tag}:{kind}")
    }))
}

/// The node part of a key (the key without its `|suffix`).
fn node_of(key: &str) -> &str {
    key.split('|').next().unwrap_or(key)
}

/// Whether `control` is a key of the node of `key` or of a node below it.
fn written_from(key: &str, control: &str) -> bool {
    let node = node_of(key);
    control
        .strip_prefix(node)
        .is_some_and(|rest| rest.starts_with('|') || rest.starts_with('/'))
        || node_of(control) == node
}

/// Fills every shown key of `plan` through the form's controls, and the skipped keys the form
/// has a control for all the same.
pub async fn fill(
    client: &Client,
    plan: &Plan,
    example: &Map<String, Value>,
    nodes: &HashMap<String, Node>,
) -> Filled {
    let mut out = Filled::default();
    let mut without_control = Vec::new();
    for (k, (form_key, v)) in &plan.shown {
        let key = Key::parse(form_key);
        if let Err(e) = prepare(client, &key, nodes).await {
            out.missing.push(e);
            continue;
        }
        match set(client, form_key, v).await {
            Ok(Some(kind)) => {
                out.filled.push(k.clone());
                out.control.insert(k.clone(), kind);
            }
            Ok(None) => without_control.push((k.clone(), form_key.clone())),
            Err(e) => out.missing.push(e),
        }
    }
    for k in plan.skipped.keys() {
        match set(client, k, &example[k]).await {
            Ok(Some(kind)) => {
                out.extra.push(k.clone());
                out.control.insert(k.clone(), kind);
            }
            Ok(None) => {}
            Err(e) => out.missing.push(e),
        }
    }
    for (k, form_key) in without_control {
        let set_keys = out
            .filled
            .iter()
            .filter_map(|f| plan.shown.get(f).map(|(fk, _)| fk));
        if set_keys.clone().any(|f| written_from(&form_key, f)) {
            out.derived.push(k);
        } else {
            out.missing
                .push(format!("{form_key}: no control [data-flat-path] for it"));
        }
    }
    // Leave the last control, so its blur validation runs like the others'.
    let _ = client
        .execute(
            "if (document.activeElement) document.activeElement.blur();",
            vec![],
        )
        .await;
    out
}

/// Whether the stored value is the example's: numbers as numbers, date/times of native pickers
/// without the zone the example carries (the picker holds local values).
pub fn same(example: &Value, stored: &Value, control: Option<&str>) -> bool {
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    };
    if example.is_number() || stored.is_number() {
        return match (number(example), number(stored)) {
            (Some(a), Some(b)) => (a - b).abs() <= f64::EPSILON * a.abs().max(1.0),
            _ => false,
        };
    }
    if matches!(control, Some("input:time" | "input:datetime-local")) {
        if let (Some(a), Some(b)) = (example.as_str(), stored.as_str()) {
            return without_zone(a) == without_zone(b);
        }
    }
    example == stored
}

/// The shown (and extra) keys whose stored value differs from the example's (or is
/// missing), described.
pub fn differences(
    plan: &Plan,
    example: &Map<String, Value>,
    filled: &Filled,
    stored: &Map<String, Value>,
) -> Vec<String> {
    let mut out = Vec::new();
    for k in plan.shown.keys().chain(&filled.extra) {
        let want = &example[k];
        let control = filled.control.get(k).map(String::as_str);
        match stored.get(k) {
            Some(got) if same(want, got, control) => {}
            Some(got) => out.push(format!("{k}: stored {got}, example {want}")),
            None => out.push(format!("{k}: not stored (example {want})")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_instance_named_after_a_sibling_is_filled_in_that_sibling() {
        let wt = json!({"tree": {"id": "r", "rmType": "COMPOSITION", "children": [
            {"id": "i", "rmType": "INSTRUCTION", "max": -1, "children": [
                {"id": "request", "name": "Request", "rmType": "ACTIVITY", "max": -1,
                 "children": [{"id": "what", "rmType": "DV_TEXT"}]},
                {"id": "request_3", "name": "Request #3", "rmType": "ACTIVITY", "max": 1,
                 "children": [{"id": "what", "rmType": "DV_TEXT"}]}]}]}});
        let nodes = nodes(&wt);
        let example = json!({
            "r/i:0/request:0/what": "a",
            "r/i:0/request:1/_name": "Request #3",
            "r/i:0/request:1/what": "b",
        });
        let plan = plan(example.as_object().unwrap(), &nodes);
        assert_eq!(plan.shown["r/i:0/request:0/what"].0, "r/i:0/request:0/what");
        assert_eq!(plan.shown["r/i:0/request:1/what"].0, "r/i:0/request_3/what");
        assert_eq!(plan.renamed, 1);
        assert_eq!(
            plan.skipped["r/i:0/request:1/_name"],
            Skip::NotInWebTemplate
        );
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn zones_are_dropped_from_times_only() {
        assert_eq!(without_zone("2026-12-06T08:27:42Z"), "2026-12-06T08:27:42");
        assert_eq!(
            without_zone("2026-12-06T08:27:42+01:00"),
            "2026-12-06T08:27:42"
        );
        assert_eq!(without_zone("08:27:42-05:00"), "08:27:42");
        assert_eq!(without_zone("2026-12-06"), "2026-12-06");
        assert_eq!(without_zone("2026-12"), "2026-12");
    }

    #[test]
    fn values_compare_as_the_form_holds_them() {
        assert!(same(&json!(1.0), &json!(1), None));
        assert!(same(&json!(1), &json!("1"), Some("input:number")));
        assert!(!same(&json!(1.5), &json!(1), None));
        assert!(same(
            &json!("2026-12-06T08:27:42Z"),
            &json!("2026-12-06T08:27:42"),
            Some("input:datetime-local")
        ));
        assert!(!same(
            &json!("2026-12-06T08:27:42Z"),
            &json!("2026-12-06T08:27:43"),
            Some("input:datetime-local")
        ));
        assert!(!same(
            &json!("2026-12-06T08:27:42Z"),
            &json!("2026-12-06T08:27:42"),
            Some("input:text")
        ));
        assert!(!same(&json!("a"), &json!("b"), None));
    }

    #[test]
    fn keys_map_to_nodes_and_context_keys_are_skipped() {
        let wt = json!({"tree": {"id": "r", "rmType": "COMPOSITION", "children": [
            {"id": "e", "rmType": "OBSERVATION", "max": -1, "children": [
                {"id": "c", "rmType": "ELEMENT", "children": [
                    {"id": "quantity_value", "rmType": "DV_QUANTITY"}]},
                {"id": "language", "rmType": "CODE_PHRASE", "inContext": true}]},
            {"id": "context", "rmType": "EVENT_CONTEXT", "inContext": true, "children": [
                {"id": "start_time", "rmType": "DV_DATE_TIME"}]}]}});
        let nodes = nodes(&wt);
        assert!(nodes["r/e/c"].choice);
        assert!(nodes["r/context/start_time"].in_context);
        let example = json!({
            "r/e:1/c/quantity_value|magnitude": 1.0,
            "r/e:0/language|code": "en",
            "r/context/start_time": "2026-01-01T00:00:00Z",
            "r/e:0/history_origin": "2026-01-01T00:00:00Z",
        });
        let plan = plan(example.as_object().unwrap(), &nodes);
        assert_eq!(
            plan.shown.keys().collect::<Vec<_>>(),
            ["r/e:1/c/quantity_value|magnitude"]
        );
        assert_eq!(plan.renamed, 0);
        assert_eq!(plan.skipped["r/e:0/language|code"], Skip::Context);
        assert_eq!(plan.skipped["r/context/start_time"], Skip::Context);
        assert_eq!(plan.skipped["r/e:0/history_origin"], Skip::NotInWebTemplate);
        assert!(written_from("r/e:0/c", "r/e:0/c/quantity_value|magnitude"));
        assert!(written_from("r/e:0/c|value", "r/e:0/c|code"));
        assert!(!written_from("r/e:0/c|value", "r/e:0/cc|code"));
        let key = Key::parse("r/e:1/c/quantity_value|magnitude");
        assert_eq!(key.prefix(2), "r/e:1");
        assert_eq!(key.id_path(3), "r/e/c");
    }
}
