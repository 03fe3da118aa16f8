//! Canonical JSON → FLAT: the composition is walked beside the web template; each node's
//! objects are found through the node's steps, their attributes written with the same table
//! (`shapes.rs`) the other direction reads. What is written is taken out of a copy of the
//! composition; anything left at the end cannot be said in FLAT and is an error, so the
//! conversion never loses data silently.

use serde_json::{Map, Value};

use super::shapes::{self, Leaf};
use super::{get_value, matches_step, own_step, rm_type_of, FlatError};
use crate::webtemplate::{Step, WebTemplateNode};
use crate::Forms;
use cdr_template::Template;

/// Converts a canonical composition to FLAT.
pub(crate) fn convert(
    template: &Template,
    composition: &Value,
) -> Result<Map<String, Value>, FlatError> {
    let web = template.web_template();
    let mut root = composition.clone();
    let Some(obj) = root.as_object_mut() else {
        return Err(FlatError::NotRepresentable {
            path: "/".into(),
            message: "a composition is a JSON object".into(),
        });
    };
    let mut out = Map::new();
    let step = web.tree.steps.first();
    let w = Writer { out: &mut out };
    let mut w = w;
    w.node(obj, &web.tree, &web.tree.id, step)?;
    Ok(out)
}

struct Writer<'o> {
    out: &'o mut Map<String, Value>,
}

/// Whether a level the web template leaves out holds nothing FLAT would not rebuild: its
/// type, node id, the step's name (coded as the step codes it) and archetype details.
fn rebuilt(v: &Value, step: &Step) -> bool {
    let Some(obj) = v.as_object() else {
        return false;
    };
    let name_ok = match obj.get("name") {
        None => true,
        Some(n) => {
            let text_ok = n.get("value").and_then(Value::as_str) == step.name.as_deref();
            let code = n
                .pointer("/defining_code/code_string")
                .and_then(Value::as_str);
            let code_ok = match &step.name_code {
                Some((_, c)) => code == Some(c.as_str()),
                None => code.is_none(),
            };
            text_ok && code_ok
        }
    };
    let details_ok = obj.get("archetype_details").is_none_or(|d| {
        d.pointer("/archetype_id/value").and_then(Value::as_str) == step.node_id.as_deref()
    });
    name_ok
        && details_ok
        && obj.keys().all(|k| {
            matches!(
                k.as_str(),
                "_type" | "archetype_node_id" | "name" | "archetype_details"
            )
        })
}

fn key(prefix: &str, suffix: &str) -> String {
    if suffix.is_empty() {
        prefix.to_owned()
    } else {
        format!("{prefix}|{suffix}")
    }
}

/// Removes the value at `path` (attribute names), pruning objects left holding only `_type`.
fn take(obj: &mut Map<String, Value>, path: &[&str]) -> Option<Value> {
    let (first, rest) = path.split_first()?;
    if rest.is_empty() {
        return obj.remove(*first);
    }
    let child = obj.get_mut(*first)?.as_object_mut()?;
    let v = take(child, rest);
    if child.keys().all(|k| k == "_type") {
        obj.remove(*first);
    }
    v
}

impl Writer<'_> {
    /// Writes one node instance: `obj` is the object of the node's last step.
    fn node(
        &mut self,
        obj: &mut Map<String, Value>,
        w: &WebTemplateNode,
        prefix: &str,
        step: Option<&Step>,
    ) -> Result<(), FlatError> {
        // Identity the step rebuilds.
        if let Some(step) = step {
            self.identity(obj, step);
        }
        // Nested segments first: `history_origin` empties a history the children then drop.
        self.nested(obj, prefix, &rm_type_of(obj))?;
        for c in &w.children {
            self.child(obj, c, prefix)?;
        }
        // What the template describes is written; what is left in a slot's place fills it.
        for s in &w.slots {
            self.child(obj, s, prefix)?;
        }
        if rm_type_of(obj) == "PARTY_SELF" && w.id != "subject" {
            self.out
                .insert(key(prefix, "_type"), Value::String("PARTY_SELF".into()));
        }
        self.fields(obj, prefix)?;
        prune(obj);
        leftover(obj, prefix)
    }

    /// Takes out what a step determines (type, node id, default name, archetype details);
    /// a name other than the default is written as `/_name`.
    fn identity(&mut self, obj: &mut Map<String, Value>, step: &Step) {
        if step.node_id.is_some() {
            obj.remove("archetype_node_id");
            let default = step.name.clone().unwrap_or_default();
            let same = obj
                .get("name")
                .and_then(|n| n.get("value"))
                .and_then(Value::as_str)
                == Some(default.as_str());
            let coded_as_expected = match (&step.name_code, obj.get("name")) {
                (Some((t, c)), Some(n)) => {
                    n.pointer("/defining_code/code_string")
                        .and_then(Value::as_str)
                        == Some(c)
                        && n.pointer("/defining_code/terminology_id/value")
                            .and_then(Value::as_str)
                            == Some(t)
                }
                (None, Some(n)) => n.get("defining_code").is_none(),
                _ => true,
            };
            if same && coded_as_expected {
                obj.remove("name");
            }
            // Archetype details are rebuilt from the node id (and the template id at the root);
            // their rm_version is not kept (FLAT has no place for it).
            let rebuilt = obj
                .get("archetype_details")
                .and_then(|d| d.pointer("/archetype_id/value"))
                .and_then(Value::as_str)
                == step.node_id.as_deref();
            if step.archetype_root && rebuilt {
                obj.remove("archetype_details");
            }
        }
    }

    /// All instances of child node `c` below `obj`.
    fn child(
        &mut self,
        obj: &mut Map<String, Value>,
        c: &WebTemplateNode,
        prefix: &str,
    ) -> Result<(), FlatError> {
        let own = own_step(c);
        if c.steps.get(own).is_none() {
            return Ok(());
        }
        let mut index = 0usize;
        self.descend(obj, c, &c.steps[..own], own, prefix, &mut index)
    }

    /// Follows the shared steps, then writes each own object found.
    fn descend(
        &mut self,
        obj: &mut Map<String, Value>,
        c: &WebTemplateNode,
        shared: &[Step],
        own: usize,
        prefix: &str,
        index: &mut usize,
    ) -> Result<(), FlatError> {
        let Some((step, rest)) = shared.split_first() else {
            return self.own_objects(obj, c, own, prefix, index);
        };
        let attr = step.attribute.as_str();
        match obj.get_mut(attr) {
            Some(Value::Array(items)) => {
                for item in items.iter_mut().filter(|v| matches_step(v, step)) {
                    if let Some(m) = item.as_object_mut() {
                        self.descend(m, c, rest, own, prefix, index)?;
                    }
                }
                items.retain(|v| !(matches_step(v, step) && rebuilt(v, step)));
                if items.is_empty() {
                    obj.remove(attr);
                }
            }
            Some(v @ Value::Object(_)) if matches_step(v, step) => {
                if let Some(m) = v.as_object_mut() {
                    self.descend(m, c, rest, own, prefix, index)?;
                }
                if rebuilt(v, step) {
                    obj.remove(attr);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Writes every object of node `c` held at its own step's attribute of `obj`.
    fn own_objects(
        &mut self,
        obj: &mut Map<String, Value>,
        c: &WebTemplateNode,
        own: usize,
        prefix: &str,
        index: &mut usize,
    ) -> Result<(), FlatError> {
        let step = &c.steps[own];
        let attr = step.attribute.as_str();
        if c.rm_type == "STRING" {
            if let Some(v) = obj.remove(attr) {
                self.out.insert(format!("{prefix}/{}", c.id), v);
            }
            return Ok(());
        }
        let mut taken = Vec::new();
        let claims = |v: &Value| {
            let placed = match &c.slot {
                Some(rule) => v
                    .get("archetype_node_id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| rule.admits(id)),
                None => matches_step(v, step),
            };
            placed && fits(v, c, own)
        };
        match obj.get_mut(attr) {
            Some(Value::Array(items)) => {
                let mut i = 0;
                while i < items.len() {
                    if claims(&items[i]) {
                        taken.push(items.remove(i));
                    } else {
                        i += 1;
                    }
                }
                if items.is_empty() {
                    obj.remove(attr);
                }
            }
            Some(v @ Value::Object(_)) if claims(v) => {
                if let Some(v) = obj.remove(attr) {
                    taken.push(v);
                }
            }
            _ => {}
        }
        for mut v in taken {
            let seg = if c.is_multiple() {
                format!("{prefix}/{}:{}", c.id, *index)
            } else {
                format!("{prefix}/{}", c.id)
            };
            *index += 1;
            if c.slot.is_some() {
                // The template says nothing about a slot's content: it goes whole.
                self.out
                    .insert(key(&seg, "raw"), Value::String(v.to_string()));
                continue;
            }
            let Some(m) = v.as_object_mut() else {
                return Err(FlatError::NotRepresentable {
                    path: seg,
                    message: format!("'{attr}' is not an object"),
                });
            };
            self.instance(m, c, own, &seg)?;
        }
        Ok(())
    }

    /// One instance: `own_obj` is the object of step `own`; the node's values and children
    /// are on its last step's object.
    fn instance(
        &mut self,
        own_obj: &mut Map<String, Value>,
        c: &WebTemplateNode,
        own: usize,
        seg: &str,
    ) -> Result<(), FlatError> {
        if own + 1 == c.steps.len() {
            return self.node(own_obj, c, seg, c.steps.get(own));
        }
        // A merged ELEMENT: the value (when present) carries the node.
        let value_step = &c.steps[own + 1];
        self.identity(own_obj, &c.steps[own]);
        if let Some(Value::Object(mut value)) = own_obj.remove(&value_step.attribute) {
            self.node(&mut value, c, seg, Some(value_step))?;
        }
        self.nested(own_obj, seg, &rm_type_of(own_obj))?;
        leftover(own_obj, seg)
    }

    /// Writes an object's `|suffix` attributes (a participation's party ones too).
    fn fields(&mut self, obj: &mut Map<String, Value>, prefix: &str) -> Result<(), FlatError> {
        let rm = rm_type_of(obj);
        for implied in shapes::implied(&rm) {
            let attrs: Vec<&str> = implied.path.iter().map(|(a, _)| *a).collect();
            if get_value(obj, &attrs).and_then(Value::as_str) == Some(implied.value) {
                take(obj, &attrs);
            }
        }
        let mut seen: Vec<Vec<&str>> = Vec::new();
        for field in shapes::fields(&rm) {
            let attrs: Vec<&str> = field.path.iter().map(|(a, _)| *a).collect();
            if seen.contains(&attrs) {
                continue;
            }
            seen.push(attrs.clone());
            if let Some(pos) = attrs.iter().position(|a| a.ends_with("[]")) {
                // A list addressed by the suffix index (`|identifiers_id:1`).
                let list = attrs[pos].trim_end_matches("[]");
                let Some(Value::Array(items)) = value_at_mut(obj, &attrs[..pos], list) else {
                    continue;
                };
                for (i, item) in items.iter_mut().enumerate() {
                    if let Some(m) = item.as_object_mut() {
                        if let Some(v) = take(m, &attrs[pos + 1..]) {
                            self.out
                                .insert(key(prefix, &format!("{}:{i}", field.suffix)), v);
                        }
                    }
                }
                let empty = items.iter().all(|v| {
                    v.as_object()
                        .is_some_and(|m| m.keys().all(|k| k == "_type"))
                });
                if empty {
                    take(obj, &[&attrs[..pos], &[list]].concat());
                }
                continue;
            }
            if let Some(v) = take(obj, &attrs) {
                let v = match (field.leaf, v) {
                    (Leaf::Str, Value::Number(n)) => Value::String(n.to_string()),
                    (_, v) => v,
                };
                self.out.insert(key(prefix, field.suffix), v);
            }
        }
        if rm == "PARTICIPATION" {
            if let Some(mode) = obj.remove("mode") {
                // Written as its text; read back through the openEHR 'participation mode' group.
                let text = mode
                    .get("value")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_default();
                self.out.insert(key(prefix, "mode"), Value::String(text));
            }
        }
        if let Some((attr, _)) = shapes::delegate(&rm) {
            if let Some(Value::Object(mut inner)) = obj.remove(attr) {
                let inner_type = rm_type_of(&inner);
                if inner_type != "PARTY_IDENTIFIED" {
                    self.out
                        .insert(key(prefix, "_type"), Value::String(inner_type));
                }
                self.fields(&mut inner, prefix)?;
                let t = rm_type_of(&inner);
                self.nested(&mut inner, prefix, &t)?;
                inner.remove("_type");
                if !inner.is_empty() {
                    obj.insert(attr.into(), Value::Object(inner));
                }
            }
        }
        Ok(())
    }

    /// Writes the nested objects (`_segment`s) of an object.
    fn nested(
        &mut self,
        obj: &mut Map<String, Value>,
        prefix: &str,
        rm: &str,
    ) -> Result<(), FlatError> {
        for n in shapes::nested(rm) {
            let holder: &mut Map<String, Value> = match n.via {
                None => &mut *obj,
                Some((attr, _)) => match obj.get_mut(attr).and_then(Value::as_object_mut) {
                    Some(h) => h,
                    None => continue,
                },
            };
            // Two segments may share an attribute (`original_content` as text or multimedia):
            // the value's type picks one.
            let typed = holder
                .get(n.attribute)
                .and_then(|v| v.get("_type"))
                .and_then(Value::as_str);
            let shared = shapes::nested(rm)
                .iter()
                .filter(|o| o.attribute == n.attribute)
                .count()
                > 1;
            if shared && typed.is_some_and(|t| t != n.rm_type) {
                continue;
            }
            let Some(v) = holder.remove(n.attribute) else {
                continue;
            };
            let seg = format!("{prefix}/{}", n.segment);
            match v {
                Value::String(s) if n.rm_type == "String" => {
                    self.out.insert(seg, Value::String(s));
                }
                Value::Array(items) if n.multiple => {
                    for (i, mut item) in items.into_iter().enumerate() {
                        self.plain(&mut item, &format!("{seg}:{i}"))?;
                    }
                }
                mut other => self.plain(&mut other, &seg)?,
            }
            if let Some((attr, _)) = n.via {
                if obj
                    .get(attr)
                    .and_then(Value::as_object)
                    .is_some_and(|h| h.keys().all(|k| k == "_type"))
                {
                    obj.remove(attr);
                }
            }
        }
        Ok(())
    }

    /// A nested object: its fields and nested objects, nothing left over.
    fn plain(&mut self, v: &mut Value, prefix: &str) -> Result<(), FlatError> {
        let Some(m) = v.as_object_mut() else {
            return Err(FlatError::NotRepresentable {
                path: prefix.to_owned(),
                message: "expected an object".into(),
            });
        };
        let rm = rm_type_of(m);
        // A party's or an event's type follows from what it holds.
        match rm.as_str() {
            "PARTY_SELF" if !m.keys().any(|k| k != "_type") => {
                self.out
                    .insert(key(prefix, "_type"), Value::String(rm.clone()));
            }
            _ => {}
        }
        self.fields(m, prefix)?;
        self.nested(m, prefix, &rm)?;
        leftover(m, prefix)
    }
}

fn value_at_mut<'v>(
    obj: &'v mut Map<String, Value>,
    path: &[&str],
    last: &str,
) -> Option<&'v mut Value> {
    let mut cur = obj;
    for a in path {
        cur = cur.get_mut(*a)?.as_object_mut()?;
    }
    cur.get_mut(last)
}

/// Whether an object found at a node's own step is that node's (a value choice is told apart
/// by its type).
pub(crate) fn fits(v: &Value, c: &WebTemplateNode, own: usize) -> bool {
    let Some(last) = c.steps.last() else {
        return true;
    };
    let t = if own + 1 == c.steps.len() {
        v.get("_type").and_then(Value::as_str)
    } else {
        v.get("value")
            .and_then(|x| x.get("_type"))
            .and_then(Value::as_str)
    };
    match t {
        None => true,
        Some(t) => type_fits(t, &last.rm_type),
    }
}

fn type_fits(actual: &str, constrained: &str) -> bool {
    let c = shapes::base(constrained);
    actual == c
        || cdr_rm::meta::conforms_to(actual, c)
        || (c == "DV_CODED_TEXT" && actual == "DV_TEXT")
}

/// Drops objects emptied by writing them (only their `_type` left).
fn prune(obj: &mut Map<String, Value>) {
    let identity_only = |v: &Value| {
        v.as_object()
            .is_some_and(|m| m.keys().all(|k| k == "_type"))
    };
    obj.retain(|_, v| match v {
        Value::Array(items) => {
            items.retain(|i| !identity_only(i));
            !items.is_empty()
        }
        other => !identity_only(other),
    });
}

/// Anything left in an object after writing it cannot be said in FLAT.
fn leftover(obj: &Map<String, Value>, prefix: &str) -> Result<(), FlatError> {
    let rest: Vec<String> = obj
        .iter()
        .filter(|(k, _)| *k != "_type")
        .map(|(k, v)| describe(k, v))
        .collect();
    if rest.is_empty() {
        Ok(())
    } else {
        Err(FlatError::NotRepresentable {
            path: prefix.to_owned(),
            message: format!("no FLAT path for {}", rest.join(", ")),
        })
    }
}

/// Where inside `v` (held at `at`) the data FLAT cannot say is: the first member that is not
/// just a level's identity, e.g. `data/items (openEHR-EHR-CLUSTER.device.v1)`.
fn describe(at: &str, v: &Value) -> String {
    const IDENTITY: [&str; 4] = ["_type", "archetype_node_id", "name", "archetype_details"];
    match v {
        Value::Array(items) => match items.first() {
            Some(first) => match first.get("archetype_node_id").and_then(Value::as_str) {
                Some(id) => format!("{at} ({id})"),
                None => describe(at, first),
            },
            None => at.to_owned(),
        },
        Value::Object(m) => match m.iter().find(|(k, _)| !IDENTITY.contains(&k.as_str())) {
            Some((k, inner)) => describe(&format!("{at}/{k}"), inner),
            None if m.contains_key("name") => format!("{at}/name"),
            None => at.to_owned(),
        },
        _ => at.to_owned(),
    }
}
