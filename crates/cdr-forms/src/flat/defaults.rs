//! What FLAT leaves to `ctx` and to the template: RM-mandatory attributes filled after the
//! conversion, on every object that lacks them (language, territory, composer, category,
//! context start time and setting, entry language/encoding/subject, history origin, event and
//! action time, activity action archetype id).

use serde_json::{json, Map, Value};

use super::ctx::{Ctx, CtxParticipation};
use crate::webtemplate::{WebTemplate, WebTemplateNode};

pub(crate) fn apply(root: &mut Value, ctx: &Ctx, web: &WebTemplate) {
    // Without `ctx/language`, the composition's own language (`…/language|code`) is the
    // entries' default.
    let mut ctx = ctx.clone();
    if ctx.language.is_none() {
        ctx.language = root
            .pointer("/language/code_string")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    let ctx = &ctx;
    let category = web
        .tree
        .child("category")
        .and_then(|c| c.input(Some("code")))
        .filter(|i| i.list.len() == 1)
        .map(|i| (i.list[0].value.clone(), i.list[0].label.clone()))
        .unwrap_or_else(|| ("433".to_owned(), "event".to_owned()));
    let action_archetype_id = action_archetype_ids(&web.tree);
    let d = Defaults {
        ctx,
        category,
        action_archetype_id,
    };
    d.walk(root);
}

struct Defaults<'a> {
    ctx: &'a Ctx,
    category: (String, String),
    /// The template's pattern for `ACTIVITY.action_archetype_id`, if one is fixed.
    action_archetype_id: Option<String>,
}

fn action_archetype_ids(node: &WebTemplateNode) -> Option<String> {
    if node.id == "action_archetype_id" {
        let i = node.inputs.first()?;
        return i
            .validation
            .as_ref()
            .and_then(|v| v.pattern.clone())
            .or_else(|| i.list.first().map(|v| v.value.clone()));
    }
    node.children.iter().find_map(action_archetype_ids)
}

fn code_phrase(terminology: &str, code: &str) -> Value {
    json!({"_type": "CODE_PHRASE", "terminology_id": {"_type": "TERMINOLOGY_ID", "value": terminology}, "code_string": code})
}

fn coded(value: &str, terminology: &str, code: &str) -> Value {
    json!({"_type": "DV_CODED_TEXT", "value": value, "defining_code": code_phrase(terminology, code)})
}

fn date_time(v: &str) -> Value {
    json!({"_type": "DV_DATE_TIME", "value": v})
}

fn set_if_missing(obj: &mut Map<String, Value>, key: &str, v: impl FnOnce() -> Option<Value>) {
    if !obj.contains_key(key) {
        if let Some(v) = v() {
            obj.insert(key.to_owned(), v);
        }
    }
}

/// A CODE_PHRASE at `key` given without its code (`…/language|terminology` alone) takes
/// `code`, the one `ctx` gives.
fn complete_code(obj: &mut Map<String, Value>, key: &str, code: Option<&str>) {
    if let (Some(Value::Object(phrase)), Some(code)) = (obj.get_mut(key), code) {
        phrase.entry("code_string").or_insert_with(|| json!(code));
    }
}

impl Defaults<'_> {
    /// Post-order: children first (a history's origin comes from its events' times).
    fn walk(&self, v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (_, child) in m.iter_mut() {
                    self.walk(child);
                }
                self.object(m);
            }
            Value::Array(items) => items.iter_mut().for_each(|c| self.walk(c)),
            _ => {}
        }
    }

    /// A PARTY_REF to `id`, its scheme and namespace given or else from `ctx`.
    fn party_ref(&self, id: &str, scheme: Option<&String>, namespace: Option<&String>) -> Value {
        let mut r = Map::new();
        r.insert("_type".into(), json!("PARTY_REF"));
        let mut generic = json!({"_type": "GENERIC_ID", "value": id});
        if let Some(s) = scheme {
            generic["scheme"] = json!(s);
        }
        r.insert("id".into(), generic);
        if let Some(n) = namespace {
            r.insert("namespace".into(), json!(n));
        }
        self.object(&mut r);
        Value::Object(r)
    }

    fn party(&self, name: Option<&String>, id: Option<&String>) -> Option<Value> {
        self.party_with(name, id, None, None)
    }

    /// A PARTY_IDENTIFIED with a name and/or a reference (scheme and namespace default to
    /// `ctx/id_scheme` and `ctx/id_namespace`).
    fn party_with(
        &self,
        name: Option<&String>,
        id: Option<&String>,
        scheme: Option<&String>,
        namespace: Option<&String>,
    ) -> Option<Value> {
        if name.is_none() && id.is_none() {
            return None;
        }
        let mut p = json!({"_type": "PARTY_IDENTIFIED"});
        if let Some(n) = name {
            p["name"] = json!(n);
        }
        if let Some(i) = id {
            p["external_ref"] = self.party_ref(i, scheme, namespace);
        }
        Some(p)
    }

    fn participation(&self, p: &CtxParticipation) -> Value {
        let mut performer = self
            .party(p.name.as_ref(), p.id.as_ref())
            .unwrap_or_else(|| json!({"_type": "PARTY_IDENTIFIED"}));
        let ids: Vec<Value> = p
            .identifiers
            .values()
            .map(|[id, issuer, assigner, kind]| {
                let mut i = json!({"_type": "DV_IDENTIFIER", "id": id.clone().unwrap_or_default()});
                if let Some(x) = issuer {
                    i["issuer"] = json!(x);
                }
                if let Some(x) = assigner {
                    i["assigner"] = json!(x);
                }
                if let Some(x) = kind {
                    i["type"] = json!(x);
                }
                i
            })
            .collect();
        if !ids.is_empty() {
            performer["identifiers"] = json!(ids);
        }
        let mut out = json!({
            "_type": "PARTICIPATION",
            "function": {"_type": "DV_TEXT", "value": p.function.clone().unwrap_or_else(|| "unknown".to_owned())},
            "performer": performer,
        });
        let mode = p.mode.as_deref().unwrap_or("193");
        let group = cdr_rm::terminology::PARTICIPATION_MODE;
        if let Some((code, rubric)) = group.iter().find(|(c, r)| *c == mode || *r == mode) {
            out["mode"] = coded(rubric, "openehr", code);
        }
        out
    }

    fn object(&self, m: &mut Map<String, Value>) {
        let t = m
            .get("_type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let ctx = self.ctx;
        match t.as_str() {
            "COMPOSITION" => {
                complete_code(m, "language", ctx.language.as_deref());
                complete_code(m, "territory", ctx.territory.as_deref());
                set_if_missing(m, "language", || {
                    ctx.language.as_deref().map(|l| code_phrase("ISO_639-1", l))
                });
                set_if_missing(m, "territory", || {
                    ctx.territory
                        .as_deref()
                        .map(|l| code_phrase("ISO_3166-1", l))
                });
                set_if_missing(m, "category", || {
                    Some(coded(&self.category.1, "openehr", &self.category.0))
                });
                set_if_missing(m, "composer", || {
                    if ctx.composer_self {
                        Some(json!({"_type": "PARTY_SELF"}))
                    } else {
                        self.party(ctx.composer_name.as_ref(), ctx.composer_id.as_ref())
                    }
                });
                if self.category.0 != "431" && !m.contains_key("context") {
                    let mut c = Map::new();
                    c.insert("_type".into(), json!("EVENT_CONTEXT"));
                    self.object(&mut c);
                    m.insert("context".into(), Value::Object(c));
                }
            }
            "EVENT_CONTEXT" => {
                set_if_missing(m, "start_time", || ctx.time.as_deref().map(date_time));
                set_if_missing(m, "setting", || {
                    let given = ctx.setting.as_deref().unwrap_or("238");
                    let group = cdr_rm::terminology::SETTING;
                    let hit = group.iter().find(|(c, r)| *c == given || *r == given);
                    Some(match hit {
                        Some((c, r)) => coded(r, "openehr", c),
                        None => coded(given, "openehr", given),
                    })
                });
                set_if_missing(m, "end_time", || ctx.end_time.as_deref().map(date_time));
                set_if_missing(m, "location", || ctx.location.as_deref().map(|l| json!(l)));
                set_if_missing(m, "health_care_facility", || {
                    let [name, id, scheme, namespace] = &ctx.health_care_facility;
                    self.party_with(
                        name.as_ref(),
                        id.as_ref(),
                        scheme.as_ref(),
                        namespace.as_ref(),
                    )
                });
            }
            "OBSERVATION" | "EVALUATION" | "INSTRUCTION" | "ACTION" | "ADMIN_ENTRY"
            | "GENERIC_ENTRY" => {
                complete_code(m, "language", ctx.language.as_deref());
                complete_code(m, "encoding", Some("UTF-8"));
                set_if_missing(m, "language", || {
                    ctx.language.as_deref().map(|l| code_phrase("ISO_639-1", l))
                });
                set_if_missing(m, "encoding", || {
                    Some(code_phrase("IANA_character-sets", "UTF-8"))
                });
                let empty_party = m
                    .get("subject")
                    .and_then(Value::as_object)
                    .is_some_and(|s| s.keys().all(|k| k == "_type"));
                if empty_party || !m.contains_key("subject") {
                    m.insert("subject".into(), json!({"_type": "PARTY_SELF"}));
                }
                set_if_missing(m, "provider", || {
                    self.party(ctx.provider_name.as_ref(), ctx.provider_id.as_ref())
                });
                set_if_missing(m, "other_participations", || {
                    (!ctx.participations.is_empty()).then(|| {
                        Value::Array(
                            ctx.participations
                                .values()
                                .map(|p| self.participation(p))
                                .collect(),
                        )
                    })
                });
                set_if_missing(m, "workflow_id", || {
                    let [id, scheme, namespace, kind] = &ctx.work_flow_id;
                    id.as_ref().map(|id| {
                        json!({
                            "_type": "OBJECT_REF",
                            "id": {"_type": "GENERIC_ID", "value": id, "scheme": scheme.clone().unwrap_or_else(|| "id_scheme".to_owned())},
                            "namespace": namespace.clone().unwrap_or_else(|| "local".to_owned()),
                            "type": kind.clone().unwrap_or_else(|| "ANY".to_owned()),
                        })
                    })
                });
                match t.as_str() {
                    "ACTION" => {
                        set_if_missing(m, "time", || {
                            ctx.action_time
                                .as_deref()
                                .or(ctx.time.as_deref())
                                .map(date_time)
                        });
                        set_if_missing(m, "ism_transition", || {
                            ctx.action_ism_transition_current_state.as_deref().map(|s| {
                                let group = cdr_rm::terminology::INSTRUCTION_STATES;
                                let (c, r) = group
                                    .iter()
                                    .find(|(c, r)| *c == s || *r == s)
                                    .copied()
                                    .unwrap_or((s, s));
                                json!({"_type": "ISM_TRANSITION", "current_state": coded(r, "openehr", c)})
                            })
                        });
                    }
                    "INSTRUCTION" => set_if_missing(m, "narrative", || {
                        ctx.instruction_narrative
                            .as_deref()
                            .map(|n| json!({"_type": "DV_TEXT", "value": n}))
                    }),
                    _ => {}
                }
            }
            "HISTORY" => {
                let first_event = m
                    .get("events")
                    .and_then(Value::as_array)
                    .and_then(|e| e.first())
                    .and_then(|e| e.get("time"))
                    .cloned();
                set_if_missing(m, "origin", || {
                    ctx.history_origin
                        .as_deref()
                        .map(date_time)
                        .or(first_event)
                        .or_else(|| ctx.time.as_deref().map(date_time))
                });
            }
            "POINT_EVENT" | "INTERVAL_EVENT" => {
                set_if_missing(m, "time", || ctx.time.as_deref().map(date_time));
            }
            "ACTIVITY" => {
                set_if_missing(m, "action_archetype_id", || {
                    Some(json!(self
                        .action_archetype_id
                        .clone()
                        .unwrap_or_else(|| "/.*/".to_owned())))
                });
                set_if_missing(m, "timing", || {
                    ctx.activity_timing
                        .as_deref()
                        .map(|t| json!({"_type": "DV_PARSABLE", "value": t, "formalism": "timing"}))
                });
            }
            "HIER_OBJECT_ID" => {
                // `uuid::system::version` is a version id.
                let versioned = m
                    .get("value")
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.split("::").count() == 3);
                if versioned {
                    m.insert("_type".into(), json!("OBJECT_VERSION_ID"));
                }
            }
            "DV_INTERVAL" => {
                for bound in ["lower", "upper"] {
                    let unbounded = !m.contains_key(bound);
                    m.entry(format!("{bound}_unbounded"))
                        .or_insert(json!(unbounded));
                }
            }
            "PARTICIPATION" => {
                m.entry("performer")
                    .or_insert(json!({"_type": "PARTY_SELF"}));
            }
            "LOCATABLE_REF" => {
                m.entry("namespace").or_insert(json!("local"));
                m.entry("type").or_insert(json!("COMPOSITION"));
                if let Some(id) = m.get_mut("id").and_then(Value::as_object_mut) {
                    let versioned = id
                        .get("value")
                        .and_then(Value::as_str)
                        .is_some_and(|v| v.contains("::"));
                    if !versioned {
                        id.insert("_type".into(), json!("HIER_OBJECT_ID"));
                    }
                }
            }
            "PARTY_REF" | "OBJECT_REF" => {
                m.entry("type").or_insert_with(|| json!("PERSON"));
                m.entry("namespace").or_insert_with(|| {
                    json!(ctx
                        .id_namespace
                        .clone()
                        .unwrap_or_else(|| "demographic".to_owned()))
                });
                if let Some(id) = m.get_mut("id").and_then(Value::as_object_mut) {
                    // A GENERIC_ID needs a scheme; an id without one is a HIER_OBJECT_ID.
                    if !id.contains_key("scheme") {
                        match &ctx.id_scheme {
                            Some(s) => {
                                id.insert("scheme".into(), json!(s));
                            }
                            None => {
                                id.insert("_type".into(), json!("HIER_OBJECT_ID"));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
}
