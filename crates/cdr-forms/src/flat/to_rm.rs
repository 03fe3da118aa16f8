//! FLAT → canonical JSON: the FLAT keys become a trie, which is walked beside the web template;
//! each node instance becomes its RM object (with the levels the web template leaves out
//! rebuilt from the node's steps), then RM-mandatory attributes are filled from `ctx`.

use std::cell::RefCell;

use serde_json::{json, Map, Value};

use super::ctx::{text, Ctx};
use super::path::{self, Segment};
use super::shapes::{self, Leaf, Nested};
use super::{defaults, get_value, matches_step, own_step, rm_type_of, FlatError};
use crate::webtemplate::{InputValue, Step, WebTemplateNode, PROPORTION_KINDS};
use crate::Forms;
use cdr_template::Template;

/// The FLAT keys below one node instance.
#[derive(Debug)]
pub(crate) struct Trie<'a> {
    /// A key that reaches this node (for errors).
    pub key: &'a str,
    /// `(suffix, value, key)` of the keys that end here.
    pub entries: Vec<(Option<&'a str>, &'a Value, &'a str)>,
    pub children: Vec<(Segment, Trie<'a>)>,
}

impl<'a> Trie<'a> {
    fn new(key: &'a str) -> Self {
        Trie {
            key,
            entries: Vec::new(),
            children: Vec::new(),
        }
    }

    fn insert(
        &mut self,
        segments: &[Segment],
        suffix: Option<&'a str>,
        value: &'a Value,
        key: &'a str,
    ) {
        let mut node = self;
        for seg in segments {
            let i =
                match node.children.iter().position(|(s, _)| {
                    s.id == seg.id && s.index.unwrap_or(0) == seg.index.unwrap_or(0)
                }) {
                    Some(i) => i,
                    None => {
                        node.children.push((seg.clone(), Trie::new(key)));
                        node.children.len() - 1
                    }
                };
            node = &mut node.children[i].1;
        }
        node.entries.push((suffix, value, key));
    }

    /// The children with id `id`, by index.
    fn instances(&self, id: &str) -> Vec<(usize, &Trie<'a>)> {
        let mut v: Vec<_> = self
            .children
            .iter()
            .filter(|(s, _)| s.id == id)
            .map(|(s, t)| (s.index.unwrap_or(0), t))
            .collect();
        v.sort_by_key(|(i, _)| *i);
        v
    }
}

/// Converts a FLAT composition (keys → values) for `template` to canonical JSON. `now` is the
/// time used when `ctx/time` is absent. Every problem is collected and what it concerns left
/// out; the rest is converted.
pub(crate) fn convert(
    template: &Template,
    flat: &Map<String, Value>,
    now: &str,
) -> (Value, Vec<FlatError>) {
    let web = template.web_template();
    let conv = ToRm {
        template,
        problems: RefCell::new(Vec::new()),
    };
    let mut ctx = Ctx::default();
    let mut trie = Trie::new("");
    for (key, value) in flat {
        if let Some(rest) = key.strip_prefix("ctx/") {
            conv.report(ctx.set(key, rest, value));
            continue;
        }
        let p = match path::parse(key) {
            Ok(p) => p,
            Err(e) => {
                conv.report(Err(e));
                continue;
            }
        };
        match p.segments.split_first() {
            Some((first, rest)) if first.id == web.tree.id && first.index.unwrap_or(0) == 0 => {
                let suffix = key.split_once('|').map(|(_, s)| s);
                trie.insert(rest, suffix, value, key);
            }
            _ => conv.report(Err(FlatError::UnknownPath { path: key.clone() })),
        }
    }
    if ctx.time.is_none() {
        ctx.time = Some(now.to_owned());
    }
    if let [_, None, scheme, namespace] = &ctx.health_care_facility {
        for (given, part) in [(scheme, "id_scheme"), (namespace, "id_namespace")] {
            if given.is_some() {
                conv.report(Err(FlatError::BadValue {
                    path: format!("ctx/health_care_facility|{part}"),
                    message: "a reference needs its id: give ctx/health_care_facility|id".into(),
                }));
            }
        }
    }
    let Some(step) = web.tree.steps.first() else {
        let root = FlatError::BadPath {
            path: web.tree.id.clone(),
            message: "the template has no root".into(),
        };
        return (Value::Null, vec![root]);
    };
    let mut root = conv.new_object(step);
    let extras = conv.fill(&mut root, &web.tree, &trie);
    for (seg, t) in extras {
        conv.report(conv.extra_on(&mut [&mut root], seg, t));
    }
    let mut root = Value::Object(root);
    defaults::apply(&mut root, &ctx, &web);
    (root, conv.problems.into_inner())
}

struct ToRm<'a> {
    template: &'a Template,
    /// What could not be converted, in the order met.
    problems: RefCell<Vec<FlatError>>,
}

impl<'a> ToRm<'a> {
    /// Keeps the problem of an outcome (what it concerns is left out).
    fn report(&self, outcome: Result<(), FlatError>) {
        if let Err(e) = outcome {
            self.problems.borrow_mut().push(e);
        }
    }

    /// An empty RM object for a step: `_type`, and for LOCATABLEs node id, name and archetype
    /// details.
    fn new_object(&self, step: &Step) -> Map<String, Value> {
        let t = shapes::concrete(&step.rm_type);
        let mut m = Map::new();
        m.insert("_type".into(), json!(t));
        if shapes::is_locatable(t) {
            let id = step.node_id.clone().unwrap_or_default();
            let name = step.name.clone().unwrap_or_else(|| id.clone());
            let name = match &step.name_code {
                Some((terminology, code)) => json!({
                    "_type": "DV_CODED_TEXT",
                    "value": name,
                    "defining_code": {"_type": "CODE_PHRASE", "terminology_id": {"_type": "TERMINOLOGY_ID", "value": terminology}, "code_string": code},
                }),
                None => json!({"_type": "DV_TEXT", "value": name}),
            };
            m.insert("name".into(), name);
            m.insert("archetype_node_id".into(), json!(id));
            if step.archetype_root {
                let mut details = json!({
                    "_type": "ARCHETYPED",
                    "archetype_id": {"_type": "ARCHETYPE_ID", "value": id},
                    "rm_version": "1.0.4",
                });
                if step.attribute.is_empty() {
                    details["template_id"] =
                        json!({"_type": "TEMPLATE_ID", "value": self.template.template_id});
                }
                m.insert("archetype_details".into(), details);
            }
        }
        m
    }

    /// Puts the values and child nodes of one instance of `w` into `obj` (the object of w's
    /// last step). Returns the `_` segments it did not place (they may belong to an
    /// enclosing object, such as the ELEMENT of a merged value).
    fn fill<'t>(
        &self,
        obj: &mut Map<String, Value>,
        w: &WebTemplateNode,
        t: &'t Trie<'t>,
    ) -> Vec<(&'t Segment, &'t Trie<'t>)> {
        self.set_values(obj, Some(w), &t.entries);
        let mut extras = Vec::new();
        let rm = rm_type_of(obj);
        for (seg, ct) in &t.children {
            if w.child(&seg.id).is_some() || w.slot(&seg.id).is_some() {
                continue;
            }
            if seg.id.starts_with('_') || find_nested(&rm, &seg.id).is_some() {
                extras.push((seg, ct));
            } else {
                self.report(Err(FlatError::UnknownPath {
                    path: ct.key.to_owned(),
                }));
            }
        }
        for c in w.children.iter().chain(&w.slots) {
            let instances = t.instances(&c.id);
            let allowed = if c.is_multiple() { instances.len() } else { 1 };
            for (_, extra) in instances.iter().skip(allowed) {
                self.report(Err(FlatError::BadPath {
                    path: extra.key.to_owned(),
                    message: format!("'{}' occurs at most once", c.id),
                }));
            }
            for (_, ct) in instances.into_iter().take(allowed) {
                self.report(self.instance(obj, c, ct));
            }
        }
        let mut unplaced = Vec::new();
        for (seg, et) in extras {
            if find_nested(&rm_type_of(obj), &seg.id).is_some() {
                self.report(self.extra_on(&mut [obj], seg, et));
            } else {
                unplaced.push((seg, et));
            }
        }
        unplaced
    }

    /// One instance of node `c` under `parent` (the object of c's parent node).
    fn instance(
        &self,
        parent: &mut Map<String, Value>,
        c: &WebTemplateNode,
        ct: &Trie<'_>,
    ) -> Result<(), FlatError> {
        if shapes::is_computed(c) {
            return Err(FlatError::BadPath {
                path: ct.key.to_owned(),
                message: format!(
                    "'{}' is computed by the RM (the event's time minus the history's origin) and not stored; give the event's time instead",
                    c.id
                ),
            });
        }
        let own = own_step(c);
        if c.steps.get(own).is_none() {
            return Err(FlatError::UnknownPath {
                path: ct.key.to_owned(),
            });
        }
        if c.rm_type == "STRING" {
            // A plain string attribute (`action_archetype_id`).
            let Some(&(None, value, key)) = ct.entries.first() else {
                return Err(FlatError::UnknownPath {
                    path: ct.key.to_owned(),
                });
            };
            if let Some((_, ext)) = ct.children.first() {
                return Err(FlatError::UnknownPath {
                    path: ext.key.to_owned(),
                });
            }
            let target = self.navigate(parent, &c.steps[..own], key)?;
            target.insert(c.steps[own].attribute.clone(), json!(text(key, value)?));
            return Ok(());
        }
        let mut chain: Vec<Map<String, Value>> = match raw(ct)? {
            Some(obj) => vec![obj],
            None if c.slot.is_some() => {
                return Err(FlatError::BadPath {
                    path: ct.key.to_owned(),
                    message: format!(
                        "'{}' is an unfilled slot of the template: its content is given whole, as canonical JSON in |raw",
                        c.id
                    ),
                })
            }
            None => c.steps[own..].iter().map(|s| self.new_object(s)).collect(),
        };
        let raw_given = chain.len() == 1 && ct.entries.iter().any(|(s, _, _)| *s == Some("raw"));
        if !raw_given {
            let Some(last) = chain.last_mut() else {
                return Ok(());
            };
            let before = self.problems.borrow().len();
            let unplaced = self.fill(last, c, ct);
            for (seg, et) in unplaced {
                let mut objs: Vec<&mut Map<String, Value>> = chain.iter_mut().collect();
                objs.reverse();
                self.report(self.extra_on(&mut objs, seg, et));
            }
            // A data value given nothing (an ELEMENT with only a null flavour) is left out.
            while chain.len() > 1 && chain.last().is_some_and(is_empty_value) {
                chain.pop();
            }
            if chain.len() == 1 && is_empty_value(&chain[0]) && c.steps.len() == own + 1 {
                return Ok(());
            }
            // A node of which nothing converted is left out (its problems say why), not
            // given empty.
            let failed = self.problems.borrow().len() > before;
            if failed && chain.len() == 1 && is_bare(&chain[0]) {
                return Ok(());
            }
        }
        // Fold the chain (innermost last) into one object.
        let mut obj = chain.pop().unwrap_or_default();
        while let Some(mut outer) = chain.pop() {
            let step = &c.steps[own + chain.len() + 1];
            put(&mut outer, step, obj, ct.key)?;
            obj = outer;
        }
        let target = self.navigate(parent, &c.steps[..own], ct.key)?;
        put(target, &c.steps[own], obj, ct.key)
    }

    /// The object at the end of the shared `steps` below `obj`, created when missing.
    fn navigate<'m>(
        &self,
        mut obj: &'m mut Map<String, Value>,
        steps: &[Step],
        key: &str,
    ) -> Result<&'m mut Map<String, Value>, FlatError> {
        for step in steps {
            let holder = obj.entry(step.attribute.clone()).or_insert_with(|| {
                if step.multiple {
                    json!([])
                } else {
                    Value::Null
                }
            });
            if holder.is_null() {
                *holder = Value::Object(self.new_object(step));
            }
            let next = match holder {
                Value::Array(items) => match items.iter().position(|v| matches_step(v, step)) {
                    Some(i) => &mut items[i],
                    None => {
                        items.push(Value::Object(self.new_object(step)));
                        let last = items.len() - 1;
                        &mut items[last]
                    }
                },
                other => other,
            };
            obj = next.as_object_mut().ok_or_else(|| FlatError::BadPath {
                path: key.to_owned(),
                message: format!(
                    "'{}' is given as a value and as a structure",
                    step.attribute
                ),
            })?;
        }
        Ok(obj)
    }

    /// Sets the `|suffix` values of a node (or nested object) on `obj`, each problem kept.
    fn set_values(
        &self,
        obj: &mut Map<String, Value>,
        w: Option<&WebTemplateNode>,
        entries: &[(Option<&str>, &Value, &str)],
    ) {
        let given = |names: &[&str]| {
            entries.iter().any(|(s, _, _)| {
                let name = s.unwrap_or("").split(':').next().unwrap_or("");
                names.contains(&name)
            })
        };
        let rm = rm_type_of(obj);
        if shapes::base(&rm) == "DV_TEXT" && given(&["code", "terminology", "preferred_term"]) {
            // A coded value where the template allows text (DV_CODED_TEXT is a DV_TEXT).
            obj.insert("_type".into(), json!("DV_CODED_TEXT"));
        }
        if rm == "POINT_EVENT" && given(&["sample_count"]) {
            obj.insert("_type".into(), json!("INTERVAL_EVENT"));
        }
        let rm = rm_type_of(obj);
        let fields = shapes::fields(&rm);
        let is_part =
            |s: Option<&str>| shapes::DURATION_UNITS.iter().any(|(p, _, _)| Some(*p) == s);
        let (parts, others): (Vec<_>, Vec<_>) = entries
            .iter()
            .partition(|(s, _, _)| shapes::base(&rm) == "DV_DURATION" && is_part(*s));
        if !parts.is_empty() {
            // A duration given by the web template's inputs, one per unit.
            self.report(duration_from_parts(&parts).map(|d| {
                obj.insert("value".into(), json!(d));
            }));
        }
        for &&(suffix, value, key) in &others {
            self.report(self.set_value(obj, &rm, &fields, suffix, value, key));
        }
        let key = entries.first().map_or("", |e| e.2);
        self.report(self.complete(obj, w, key));
    }

    /// Sets one `|suffix` value (of a key) on `obj`, an object of type `rm` with `fields`.
    fn set_value(
        &self,
        obj: &mut Map<String, Value>,
        rm: &str,
        fields: &[shapes::Field],
        suffix: Option<&str>,
        value: &Value,
        key: &str,
    ) -> Result<(), FlatError> {
        let (name, index) = split_index(suffix.unwrap_or(""), key)?;
        if name == "raw" {
            return Ok(());
        }
        if name == "other" && matches!(shapes::base(rm), "DV_CODED_TEXT" | "DV_TEXT") {
            obj.insert("_type".into(), json!("DV_TEXT"));
            obj.insert("value".into(), json!(leaf(Leaf::Str, value, key)?));
            return Ok(());
        }
        if name == "mode" && shapes::base(rm) == "PARTICIPATION" {
            obj.insert(
                "mode".into(),
                coded("PARTICIPATION", "mode", &text(key, value)?),
            );
            return Ok(());
        }
        if name == "_type" && rm.starts_with("PARTY_") {
            obj.insert("_type".into(), json!(text(key, value)?));
            return Ok(());
        }
        if name.is_empty() && shapes::base(rm) == "DV_PROPORTION" {
            // The bare value of a proportion is its magnitude, derived from the rest.
            return Ok(());
        }
        let Some(field) = fields.iter().find(|f| f.suffix == name) else {
            if let Some((attr, ty)) = shapes::delegate(rm) {
                let target = obj
                    .entry(attr)
                    .or_insert_with(|| json!({"_type": ty}))
                    .as_object_mut()
                    .ok_or_else(|| FlatError::BadPath {
                        path: key.to_owned(),
                        message: format!("'{attr}' is not an object"),
                    })?;
                self.set_values(target, None, &[(suffix, value, key)]);
                return Ok(());
            }
            return Err(FlatError::UnknownPath {
                path: key.to_owned(),
            });
        };
        let v = match value {
            Value::Object(parts) if field.leaf == Leaf::Str => json!(partial_temporal(parts, key)?),
            _ => leaf(field.leaf, value, key)?,
        };
        if field.path.is_empty() {
            return Err(FlatError::BadValue {
                path: key.to_owned(),
                message: "a plain value is expected here".into(),
            });
        }
        set_path(obj, field.path, index, v);
        Ok(())
    }

    /// Completes a data value from the template: rubrics and terminologies of codes given
    /// alone, ordinal values, implied terminology ids.
    fn complete(
        &self,
        obj: &mut Map<String, Value>,
        w: Option<&WebTemplateNode>,
        key: &str,
    ) -> Result<(), FlatError> {
        let rm = rm_type_of(obj);
        match shapes::base(&rm) {
            "DV_CODED_TEXT" => {
                let code = get_str(obj, &["defining_code", "code_string"]);
                let Some(code) = code else {
                    let Some(text) = get_str(obj, &["value"]) else {
                        return Ok(());
                    };
                    let Some(w) = w else {
                        // A nested value: its attribute's openEHR group decides (below).
                        return Ok(());
                    };
                    match code_of_text(w, &text) {
                        // A term text of the node (the older dialect's bare value or
                        // `|value` alone): its code.
                        Some((code, terminology)) => {
                            set_path(obj, shapes::fields("DV_CODED_TEXT")[0].path, 0, json!(code));
                            set_path(
                                obj,
                                shapes::fields("DV_CODED_TEXT")[2].path,
                                0,
                                json!(terminology),
                            );
                        }
                        // A coded ELEMENT value given other text: plain text (where the RM
                        // wants a coded text, it stays one, its code missing).
                        None if holds_any_value(w) => {
                            obj.insert("_type".into(), json!("DV_TEXT"));
                            obj.remove("defining_code");
                        }
                        None => {}
                    }
                    return Ok(());
                };
                let input = w.and_then(|w| w.input(Some("code")));
                let item = input.and_then(|i| i.list.iter().find(|v| v.value == code));
                if !obj.contains_key("value") {
                    let label = item
                        .map(|v| v.label.clone())
                        .or_else(|| w.and_then(|w| openehr_rubric(w, &code).map(str::to_owned)));
                    match label {
                        Some(label) => {
                            obj.insert("value".into(), json!(label));
                        }
                        // A nested value is completed by its attribute's openEHR group.
                        None if w.is_none() => {}
                        None => {
                            return Err(FlatError::BadValue {
                                path: key.to_owned(),
                                message: format!(
                                "|value is missing and code '{code}' has no text in the template"
                            ),
                            })
                        }
                    }
                }
                if get_str(obj, &["defining_code", "terminology_id", "value"]).is_none() {
                    let terminology = input
                        .and_then(|i| i.terminology.clone())
                        .or_else(|| item.map(|_| "local".to_owned()));
                    if let Some(t) = terminology {
                        set_path(obj, shapes::fields("DV_CODED_TEXT")[2].path, 0, json!(t));
                    }
                }
            }
            "DV_ORDINAL" => {
                let mut code = get_str(obj, &["symbol", "defining_code", "code_string"]);
                if code.is_none() {
                    // Given by its term text or its ordinal alone: the template's item.
                    let list = w.and_then(|w| w.inputs.first()).map(|i| i.list.as_slice());
                    let text = get_str(obj, &["symbol", "value"]);
                    let ordinal = obj.get("value").and_then(Value::as_i64);
                    let by_ordinal =
                        |o: i64| list.and_then(|l| only(l.iter().filter(|v| v.ordinal == Some(o))));
                    let found = match (&text, ordinal) {
                        (Some(t), _) => list
                            .and_then(|l| only(l.iter().filter(|v| has_label(v, t))))
                            // A bare ordinal number (`…/pain: 1`) names its item too.
                            .or_else(|| t.trim().parse().ok().and_then(by_ordinal)),
                        (None, Some(o)) => by_ordinal(o),
                        (None, None) => None,
                    };
                    if let Some(item) = found {
                        set_path(
                            obj,
                            shapes::fields("DV_ORDINAL")[0].path,
                            0,
                            json!(item.value),
                        );
                        set_path(
                            obj,
                            shapes::fields("DV_ORDINAL")[1].path,
                            0,
                            json!(item.label),
                        );
                        code = Some(item.value.clone());
                    }
                }
                if code.is_some()
                    && get_str(obj, &["symbol", "defining_code", "terminology_id", "value"])
                        .is_none()
                {
                    set_path(obj, shapes::fields("DV_ORDINAL")[2].path, 0, json!("local"));
                }
                let item = code.and_then(|c| {
                    w.and_then(|w| w.inputs.first())
                        .and_then(|i| i.list.iter().find(|v| v.value == c).cloned())
                });
                if let Some(item) = item {
                    let symbol = obj
                        .entry("symbol")
                        .or_insert_with(|| json!({"_type": "DV_CODED_TEXT"}));
                    if symbol.get("value").is_none() {
                        symbol["value"] = json!(item.label);
                    }
                    if symbol["defining_code"].get("terminology_id").is_none() {
                        symbol["defining_code"]["terminology_id"] =
                            json!({"_type": "TERMINOLOGY_ID", "value": "local"});
                    }
                    if !obj.contains_key("value") {
                        if let Some(o) = item.ordinal {
                            obj.insert("value".into(), json!(o));
                        }
                    }
                }
            }
            "DV_QUANTITY" => {
                let units = w
                    .and_then(|w| w.input(Some("unit")))
                    .filter(|i| i.list.len() == 1)
                    .map(|i| i.list[0].value.clone());
                if let (Some(u), false, true) = (
                    units,
                    obj.contains_key("units"),
                    obj.contains_key("magnitude"),
                ) {
                    obj.insert("units".into(), json!(u));
                }
            }
            "DV_PROPORTION" => {
                // A proportion kind fixed by the template implies its denominator and type.
                if let Some(w) = w {
                    if let [only] = w.proportion_types.as_slice() {
                        if let Some(k) = PROPORTION_KINDS.iter().position(|k| k == only) {
                            obj.entry("type").or_insert(json!(k));
                        }
                    }
                    let fixed = w
                        .input(Some("denominator"))
                        .and_then(|i| i.validation.as_ref())
                        .and_then(|v| v.range.as_ref())
                        .filter(|r| r.min.is_some() && r.min == r.max)
                        .and_then(|r| r.min.clone());
                    if let (Some(d), true) = (fixed, obj.contains_key("numerator")) {
                        obj.entry("denominator").or_insert(d);
                    }
                }
            }
            "DV_PARSABLE" if obj.contains_key("value") && !obj.contains_key("formalism") => {
                obj.insert("formalism".into(), json!("timing"));
            }
            "CODE_PHRASE" if !obj.contains_key("terminology_id") => {
                let t = match w.map(|w| w.id.as_str()) {
                    Some("language") => Some("ISO_639-1"),
                    Some("territory") => Some("ISO_3166-1"),
                    Some("encoding") => Some("IANA_character-sets"),
                    _ => w
                        .and_then(|w| w.input(Some("code")))
                        .and_then(|i| i.terminology.as_deref()),
                };
                if let (Some(t), true) = (t, obj.contains_key("code_string")) {
                    obj.insert(
                        "terminology_id".into(),
                        json!({"_type": "TERMINOLOGY_ID", "value": t}),
                    );
                }
            }
            _ => {}
        }
        for implied in shapes::implied(&rm) {
            let (parent, _) = implied.path.split_at(implied.path.len() - 2);
            let exists = get_value(obj, &parent.iter().map(|(a, _)| *a).collect::<Vec<_>>())
                .is_some_and(Value::is_object);
            let attrs: Vec<&str> = implied.path.iter().map(|(a, _)| *a).collect();
            if exists && get_value(obj, &attrs).is_none() {
                set_path(obj, implied.path, 0, json!(implied.value));
            }
        }
        Ok(())
    }

    /// Places a `_segment` (or nested segment) on the first of `objs` whose type has it.
    fn extra_on(
        &self,
        objs: &mut [&mut Map<String, Value>],
        seg: &Segment,
        t: &Trie<'_>,
    ) -> Result<(), FlatError> {
        for obj in objs.iter_mut() {
            let rm = rm_type_of(obj);
            if let Some(nested) = find_nested(&rm, &seg.id) {
                if let ("POINT_EVENT", "width" | "math_function") = (rm.as_str(), nested.segment) {
                    // Only an INTERVAL_EVENT has a width and a math function.
                    obj.insert("_type".into(), json!("INTERVAL_EVENT"));
                }
                let inner = value_type(obj);
                return self.nested(obj, &nested, seg.index.unwrap_or(0), t, &inner);
            }
        }
        Err(FlatError::UnknownPath {
            path: t.key.to_owned(),
        })
    }

    /// Builds one nested object from its keys and puts it into `obj`.
    fn nested(
        &self,
        obj: &mut Map<String, Value>,
        nested: &Nested,
        index: usize,
        t: &Trie<'_>,
        inner: &str,
    ) -> Result<(), FlatError> {
        let (rm_type, child_inner) = match (nested.segment, nested.rm_type) {
            ("_normal_range", _) => ("DV_INTERVAL".to_owned(), inner.to_owned()),
            ("_other_reference_ranges", _) => ("REFERENCE_RANGE".to_owned(), inner.to_owned()),
            (_, "*") => (inner.to_owned(), inner.to_owned()),
            (_, t) => (t.to_owned(), inner.to_owned()),
        };
        if rm_type == "String" {
            let v = t
                .entries
                .iter()
                .find(|(s, _, _)| s.is_none())
                .ok_or_else(|| FlatError::UnknownPath {
                    path: t.key.to_owned(),
                })?;
            obj.insert(nested.attribute.into(), json!(text(v.2, v.1)?));
            return Ok(());
        }
        let mut child = Map::new();
        child.insert("_type".into(), json!(shapes::concrete(&rm_type)));
        if let Some((_, v, key)) = t.entries.iter().find(|(s, _, _)| *s == Some("raw")) {
            child = raw_object(v, key)?;
        } else {
            self.set_values(&mut child, None, &t.entries);
            complete_coded(&mut child, &rm_type_of(obj), nested.attribute);
            if rm_type_of(&child) == "DV_CODED_TEXT" && !child.contains_key("value") {
                return Err(FlatError::BadValue {
                    path: t.key.to_owned(),
                    message: "|value is missing and the code has no known text".into(),
                });
            }
            for (seg, ct) in &t.children {
                self.report(match find_nested(&rm_type, &seg.id) {
                    Some(n) => {
                        self.nested(&mut child, &n, seg.index.unwrap_or(0), ct, &child_inner)
                    }
                    None => Err(FlatError::UnknownPath {
                        path: ct.key.to_owned(),
                    }),
                });
            }
        }
        let holder: &mut Map<String, Value> = match nested.via {
            None => obj,
            Some((attr, via_type)) => obj
                .entry(attr)
                .or_insert_with(|| json!({"_type": via_type}))
                .as_object_mut()
                .ok_or_else(|| FlatError::BadPath {
                    path: t.key.to_owned(),
                    message: format!("'{attr}' is not an object"),
                })?,
        };
        if nested.attribute == "relationship" {
            // Only a PARTY_RELATED has a relationship.
            holder.insert("_type".into(), json!("PARTY_RELATED"));
        }
        if nested.multiple {
            let list = holder.entry(nested.attribute).or_insert_with(|| json!([]));
            if let Value::Array(items) = list {
                while items.len() < index {
                    items.push(json!({"_type": shapes::concrete(&rm_type)}));
                }
                if index < items.len() {
                    items[index] = Value::Object(child);
                } else {
                    items.push(Value::Object(child));
                }
            }
        } else {
            holder.insert(nested.attribute.into(), Value::Object(child));
        }
        Ok(())
    }
}

/// Whether a node is an ELEMENT's value (any data value), not an RM attribute declared as a
/// coded text (`category`, `careflow_step`, …).
fn holds_any_value(w: &WebTemplateNode) -> bool {
    w.steps.last().is_some_and(|s| s.attribute == "value")
}

/// The openEHR group the attribute of a coded node is bound to, if any.
fn openehr_group_of(w: &WebTemplateNode) -> Option<&'static [(&'static str, &'static str)]> {
    let attr = w.steps.last()?.attribute.as_str();
    let owner = match attr {
        "category" => "COMPOSITION",
        "setting" => "EVENT_CONTEXT",
        "math_function" => "INTERVAL_EVENT",
        "current_state" | "transition" => "ISM_TRANSITION",
        "null_flavour" => "ELEMENT",
        _ => return None,
    };
    cdr_rm::terminology::openehr_group(owner, attr).map(|(_, group)| group)
}

/// The rubric of an openEHR code for a coded node whose attribute is bound to an openEHR group.
fn openehr_rubric(w: &WebTemplateNode, code: &str) -> Option<&'static str> {
    cdr_rm::terminology::rubric(openehr_group_of(w)?, code)
}

/// The code (and terminology) whose term text `text` is, exactly: one item of the node's code
/// list (its label in any language the template gives), else the rubric of one code of the
/// openEHR group the node's attribute is bound to. `None` when no term or several have it.
fn code_of_text(w: &WebTemplateNode, text: &str) -> Option<(String, String)> {
    if let Some(input) = w.input(Some("code")) {
        if let Some(item) = only(input.list.iter().filter(|v| has_label(v, text))) {
            let terminology = input.terminology.clone().unwrap_or_else(|| "local".into());
            return Some((item.value.clone(), terminology));
        }
    }
    let group = openehr_group_of(w)?;
    let (code, _) = only(group.iter().filter(|(_, rubric)| *rubric == text))?;
    Some(((*code).to_owned(), "openehr".to_owned()))
}

/// Whether `text` is the label of a list item (in any of its languages).
fn has_label(item: &InputValue, text: &str) -> bool {
    item.label == text || item.localized_labels.values().any(|l| l == text)
}

/// The one distinct item of `items`, or `None` (none, or several that differ).
fn only<'i, T: 'i + PartialEq>(mut items: impl Iterator<Item = &'i T>) -> Option<&'i T> {
    let first = items.next()?;
    items.all(|other| other == first).then_some(first)
}

/// A coded value of an openEHR group from a code or a rubric.
fn coded(owner: &str, attribute: &str, given: &str) -> Value {
    let group = cdr_rm::terminology::openehr_group(owner, attribute).map(|(_, g)| g);
    let hit = group.and_then(|g| g.iter().find(|(c, r)| *c == given || *r == given));
    match hit {
        Some((code, rubric)) => json!({
            "_type": "DV_CODED_TEXT",
            "value": rubric,
            "defining_code": {"_type": "CODE_PHRASE", "terminology_id": {"_type": "TERMINOLOGY_ID", "value": "openehr"}, "code_string": code},
        }),
        None => json!({"_type": "DV_TEXT", "value": given}),
    }
}

/// Rubric and terminology of a nested coded value given only its code (`_null_flavour|code`).
fn complete_coded(child: &mut Map<String, Value>, owner: &str, attribute: &str) {
    if rm_type_of(child) != "DV_CODED_TEXT" {
        return;
    }
    let owner = match (attribute, shapes::base(owner)) {
        ("relationship", _) => "PARTY_RELATED",
        ("purpose", _) => "TERM_MAPPING",
        (_, "POINT_EVENT") => "INTERVAL_EVENT",
        (_, o) => o,
    };
    let group = cdr_rm::terminology::openehr_group(owner, attribute).map(|(_, g)| g);
    let code = get_str(child, &["defining_code", "code_string"]).or_else(|| {
        // Given by its rubric alone (`_null_flavour|value: unknown`).
        let text = get_str(child, &["value"])?;
        let (code, _) = only(group?.iter().filter(|(_, rubric)| *rubric == text))?;
        set_path(
            child,
            shapes::fields("DV_CODED_TEXT")[0].path,
            0,
            json!(code),
        );
        Some((*code).to_owned())
    });
    let Some(code) = code else {
        return;
    };
    let Some(group) = group else {
        return;
    };
    if !child.contains_key("value") {
        if let Some(r) = cdr_rm::terminology::rubric(group, &code) {
            child.insert("value".into(), json!(r));
        }
    }
    if get_str(child, &["defining_code", "terminology_id", "value"]).is_none() {
        set_path(
            child,
            shapes::fields("DV_CODED_TEXT")[2].path,
            0,
            json!("openehr"),
        );
    }
}

fn find_nested(rm_type: &str, segment: &str) -> Option<Nested> {
    shapes::nested(rm_type)
        .into_iter()
        .find(|n| n.segment == segment)
}

/// The data value type ranges and bounds of `obj` are of.
fn value_type(obj: &Map<String, Value>) -> String {
    let t = rm_type_of(obj);
    if t == "DV_INTERVAL" {
        for bound in ["lower", "upper"] {
            if let Some(b) = obj
                .get(bound)
                .and_then(|b| b.get("_type"))
                .and_then(Value::as_str)
            {
                return b.to_owned();
            }
        }
    }
    t
}

/// `|raw` on a node: the node's object given as canonical JSON (a string or an object;
/// `@class` is read as `_type`).
fn raw(t: &Trie<'_>) -> Result<Option<Map<String, Value>>, FlatError> {
    match t.entries.iter().find(|(s, _, _)| *s == Some("raw")) {
        Some((_, v, key)) => raw_object(v, key).map(Some),
        None => Ok(None),
    }
}

fn raw_object(v: &Value, key: &str) -> Result<Map<String, Value>, FlatError> {
    let parsed = match v {
        Value::String(s) => serde_json::from_str::<Value>(s).map_err(|e| FlatError::BadValue {
            path: key.to_owned(),
            message: format!("|raw is not JSON: {e}"),
        })?,
        other => other.clone(),
    };
    let mut parsed = parsed;
    rename_class(&mut parsed);
    match parsed {
        Value::Object(m) => Ok(m),
        _ => Err(FlatError::BadValue {
            path: key.to_owned(),
            message: "|raw must be a JSON object".into(),
        }),
    }
}

/// `@class` (Archie's type key) → `_type`, everywhere.
fn rename_class(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(c) = m.remove("@class") {
                m.insert("_type".into(), c);
            }
            for x in m.values_mut() {
                rename_class(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(rename_class),
        _ => {}
    }
}

/// Whether an object has nothing but what identifies it (type, node id, name, archetype).
fn is_bare(obj: &Map<String, Value>) -> bool {
    obj.keys().all(|k| {
        matches!(
            k.as_str(),
            "_type" | "name" | "archetype_node_id" | "archetype_details"
        )
    })
}

/// Whether an object is a data value with nothing but its type (and implied terminology).
fn is_empty_value(obj: &Map<String, Value>) -> bool {
    let t = rm_type_of(obj);
    (t.starts_with("DV_") || t == "CODE_PHRASE") && obj.keys().all(|k| k == "_type")
}

/// Puts `child` at `step.attribute` of `obj` (appended when the attribute is a list).
fn put(
    obj: &mut Map<String, Value>,
    step: &Step,
    child: Map<String, Value>,
    key: &str,
) -> Result<(), FlatError> {
    if step.multiple {
        match obj
            .entry(step.attribute.clone())
            .or_insert_with(|| json!([]))
        {
            Value::Array(items) => items.push(Value::Object(child)),
            _ => {
                return Err(FlatError::BadPath {
                    path: key.to_owned(),
                    message: format!("'{}' is given twice", step.attribute),
                })
            }
        }
        return Ok(());
    }
    if obj.contains_key(&step.attribute) {
        return Err(FlatError::BadPath {
            path: key.to_owned(),
            message: format!(
                "'{}' is given more than once (e.g. two value types)",
                step.attribute
            ),
        });
    }
    obj.insert(step.attribute.clone(), Value::Object(child));
    Ok(())
}

/// Sets the value at a typed path, creating the objects on the way.
fn set_path(obj: &mut Map<String, Value>, path: &[(&str, &str)], index: usize, value: Value) {
    let Some(((attr, _), inner)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for (a, t) in inner {
        let next = match a.strip_suffix("[]") {
            Some(list) => {
                let items = cur.entry(list).or_insert_with(|| json!([]));
                let Value::Array(items) = items else { return };
                while items.len() <= index {
                    items.push(json!({"_type": t}));
                }
                &mut items[index]
            }
            None => cur.entry(*a).or_insert_with(|| json!({"_type": t})),
        };
        cur = match next {
            Value::Object(m) => m,
            _ => return,
        };
    }
    cur.insert((*attr).into(), value);
}

fn get_str(obj: &Map<String, Value>, path: &[&str]) -> Option<String> {
    get_value(obj, path)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// `identifiers_id:1` → (`identifiers_id`, 1).
fn split_index<'s>(suffix: &'s str, key: &str) -> Result<(&'s str, usize), FlatError> {
    match suffix.split_once(':') {
        Some((n, i)) => i.parse().map(|i| (n, i)).map_err(|_| FlatError::BadPath {
            path: key.to_owned(),
            message: "the index after ':' must be a number".into(),
        }),
        None => Ok((suffix, 0)),
    }
}

/// A FLAT value as the JSON a leaf of kind `kind` holds (numbers and booleans may be given as
/// strings).
fn leaf(kind: Leaf, v: &Value, key: &str) -> Result<Value, FlatError> {
    let bad = |what: &str| FlatError::BadValue {
        path: key.to_owned(),
        message: format!("expected {what}, found {v}"),
    };
    match kind {
        Leaf::Str => text(key, v).map(Value::String),
        Leaf::Bool => match v {
            Value::Bool(b) => Ok(json!(b)),
            // `True`/`False` as older form tools write them.
            Value::String(s) => boolean(s).map(|b| json!(b)).ok_or_else(|| bad("a boolean")),
            _ => Err(bad("a boolean")),
        },
        Leaf::Int => {
            let n = match v {
                Value::Number(n) => n.as_i64().or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                        .map(|f| f as i64)
                }),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            n.map(|n| json!(n)).ok_or_else(|| bad("an integer"))
        }
        Leaf::Real => {
            let n = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
                _ => None,
            };
            n.and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| bad("a number"))
        }
    }
}

/// An ISO 8601 duration from its parts (`|hour: 1`, `|minute: 30` → `PT1H30M`).
fn duration_from_parts(parts: &[&(Option<&str>, &Value, &str)]) -> Result<String, FlatError> {
    let mut date = String::new();
    let mut time = String::new();
    // ISO 8601 order: weeks before days.
    let mut units = shapes::DURATION_UNITS.to_vec();
    units.sort_by_key(|(_, d, in_time)| {
        let order = if *in_time { "HMS" } else { "YMWD" };
        (*in_time, order.find(*d))
    });
    for (suffix, designator, in_time) in &units {
        let Some((_, value, key)) = parts.iter().find(|(s, _, _)| *s == Some(*suffix)) else {
            continue;
        };
        let n = match leaf(Leaf::Real, value, key)? {
            Value::Number(n) if n.as_f64().is_some_and(|f| f >= 0.0) => n,
            _ => {
                return Err(FlatError::BadValue {
                    path: (*key).to_owned(),
                    message: format!("expected a number of {suffix}s that is not negative"),
                })
            }
        };
        let n = match n.as_f64() {
            Some(f) if f.fract() == 0.0 => format!("{}", f as i64),
            _ => n.to_string(),
        };
        let out = if *in_time { &mut time } else { &mut date };
        out.push_str(&n);
        out.push(*designator);
    }
    Ok(match (date.is_empty(), time.is_empty()) {
        (true, true) => "PT0S".to_owned(),
        (_, true) => format!("P{date}"),
        _ => format!("P{date}T{time}"),
    })
}

/// `true` or `false` in any case.
pub(crate) fn boolean(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A partial date or time given as its parts (`{"year": 2019, "month": 3}`) → `2019-03`.
fn partial_temporal(parts: &Map<String, Value>, key: &str) -> Result<String, FlatError> {
    let part = |k: &str| parts.get(k).and_then(Value::as_i64);
    let bad = || FlatError::BadValue {
        path: key.to_owned(),
        message: "expected a string, or the parts of a date or time (year, month, …)".into(),
    };
    if parts.keys().any(|k| {
        !matches!(
            k.as_str(),
            "year" | "month" | "day" | "hour" | "minute" | "second"
        )
    }) {
        return Err(bad());
    }
    let mut out = String::new();
    if let Some(y) = part("year") {
        out.push_str(&format!("{y:04}"));
        if let Some(m) = part("month") {
            out.push_str(&format!("-{m:02}"));
            if let Some(d) = part("day") {
                out.push_str(&format!("-{d:02}"));
            }
        }
    }
    if let Some(h) = part("hour") {
        if !out.is_empty() {
            out.push('T');
        }
        out.push_str(&format!("{h:02}"));
        if let Some(m) = part("minute") {
            out.push_str(&format!(":{m:02}"));
            if let Some(s) = part("second") {
                out.push_str(&format!(":{s:02}"));
            }
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}
