//! `ctx/*` fields: defaults a FLAT composition gives once for the whole composition.

use std::collections::BTreeMap;

use serde_json::Value;

use super::FlatError;

/// A participation given with `ctx/participation_*:n`.
#[derive(Debug, Clone, Default)]
pub(crate) struct CtxParticipation {
    pub name: Option<String>,
    pub id: Option<String>,
    pub function: Option<String>,
    pub mode: Option<String>,
    /// `(id, issuer, assigner, type)` of each identifier.
    pub identifiers: BTreeMap<usize, [Option<String>; 4]>,
}

/// The `ctx` of a FLAT composition.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ctx {
    pub language: Option<String>,
    pub territory: Option<String>,
    pub composer_name: Option<String>,
    pub composer_id: Option<String>,
    pub composer_self: bool,
    pub id_scheme: Option<String>,
    pub id_namespace: Option<String>,
    pub time: Option<String>,
    pub end_time: Option<String>,
    pub history_origin: Option<String>,
    pub action_time: Option<String>,
    pub activity_timing: Option<String>,
    pub provider_name: Option<String>,
    pub provider_id: Option<String>,
    pub setting: Option<String>,
    pub location: Option<String>,
    /// `health_care_facility|name`, `|id`, `|id_scheme`, `|id_namespace`.
    pub health_care_facility: [Option<String>; 4],
    pub participations: BTreeMap<usize, CtxParticipation>,
    /// `work_flow_id|id`, `|id_scheme`, `|namespace`, `|type`.
    pub work_flow_id: [Option<String>; 4],
    pub action_ism_transition_current_state: Option<String>,
    pub instruction_narrative: Option<String>,
}

/// A FLAT scalar as text.
pub(crate) fn text(key: &str, v: &Value) -> Result<String, FlatError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(FlatError::BadValue {
            path: key.to_owned(),
            message: "expected a string, number or boolean".into(),
        }),
    }
}

/// `name:3` → (`name`, 3); `name` → (`name`, 0).
fn indexed(s: &str) -> Option<(&str, usize)> {
    match s.split_once(':') {
        Some((n, i)) => i.parse().ok().map(|i| (n, i)),
        None => Some((s, 0)),
    }
}

/// The position of suffix `s` among the `|parts` of a ctx field.
fn part(s: &str, parts: [&str; 4]) -> Option<usize> {
    parts.iter().position(|p| *p == s)
}

impl Ctx {
    /// Reads one `ctx/…` key (`rest` is the part after `ctx/`).
    pub(crate) fn set(&mut self, key: &str, rest: &str, v: &Value) -> Result<(), FlatError> {
        let unknown = || FlatError::UnknownPath {
            path: key.to_owned(),
        };
        let (field, suffix) = match rest.split_once('|') {
            Some((f, s)) => (f, Some(s)),
            None => (rest, None),
        };
        let (name, index) = indexed(field).ok_or_else(unknown)?;
        let value = text(key, v)?;
        let slot = match (name, suffix) {
            ("language", None) => &mut self.language,
            ("territory", None) => &mut self.territory,
            ("composer_name", None) => &mut self.composer_name,
            ("composer_id", None) => &mut self.composer_id,
            ("composer_self", None) => {
                self.composer_self = match v {
                    Value::Bool(b) => *b,
                    _ => super::to_rm::boolean(&value).ok_or_else(|| FlatError::BadValue {
                        path: key.to_owned(),
                        message: format!("expected a boolean, found {v}"),
                    })?,
                };
                return Ok(());
            }
            ("id_scheme", None) => &mut self.id_scheme,
            ("id_namespace", None) => &mut self.id_namespace,
            ("time", None) => &mut self.time,
            ("end_time", None) => &mut self.end_time,
            ("history_origin", None) => &mut self.history_origin,
            ("action_time", None) => &mut self.action_time,
            ("activity_timing", None) => &mut self.activity_timing,
            ("provider_name", None) => &mut self.provider_name,
            ("provider_id", None) => &mut self.provider_id,
            ("setting", None) => &mut self.setting,
            ("location", None) => &mut self.location,
            ("health_care_facility", Some(s)) => {
                let i = part(s, ["name", "id", "id_scheme", "id_namespace"]).ok_or_else(unknown)?;
                &mut self.health_care_facility[i]
            }
            ("work_flow_id", Some(s)) => {
                let i = part(s, ["id", "id_scheme", "namespace", "type"]).ok_or_else(unknown)?;
                &mut self.work_flow_id[i]
            }
            ("action_ism_transition_current_state", None) => {
                &mut self.action_ism_transition_current_state
            }
            ("instruction_narrative", None) => &mut self.instruction_narrative,
            ("participation_name", None) => &mut self.participation(index).name,
            ("participation_id", None) => &mut self.participation(index).id,
            ("participation_function", None) => &mut self.participation(index).function,
            ("participation_mode", None) => &mut self.participation(index).mode,
            ("participation_identifiers", s) => {
                return self.identifiers(key, index, s, value);
            }
            _ => return Err(unknown()),
        };
        *slot = Some(value);
        Ok(())
    }

    fn participation(&mut self, index: usize) -> &mut CtxParticipation {
        self.participations.entry(index).or_default()
    }

    /// `participation_identifiers:i` as `issuer::assigner::id::type;…`, or one part with
    /// `|id:j`, `|issuer:j`, `|assigner:j`, `|type:j`.
    fn identifiers(
        &mut self,
        key: &str,
        index: usize,
        suffix: Option<&str>,
        value: String,
    ) -> Result<(), FlatError> {
        let p = self.participation(index);
        match suffix {
            None => {
                for (j, part) in value.split(';').filter(|s| !s.is_empty()).enumerate() {
                    let mut f = part
                        .split("::")
                        .map(|s| Some(s.to_owned()).filter(|s| !s.is_empty()));
                    let issuer = f.next().flatten();
                    let assigner = f.next().flatten();
                    let id = f.next().flatten();
                    let kind = f.next().flatten();
                    p.identifiers.insert(j, [id, issuer, assigner, kind]);
                }
                Ok(())
            }
            Some(s) => {
                let (name, j) = indexed(s).ok_or_else(|| FlatError::UnknownPath {
                    path: key.to_owned(),
                })?;
                let k = part(name, ["id", "issuer", "assigner", "type"]).ok_or_else(|| {
                    FlatError::UnknownPath {
                        path: key.to_owned(),
                    }
                })?;
                p.identifiers.entry(j).or_default()[k] = Some(value);
                Ok(())
            }
        }
    }
}
