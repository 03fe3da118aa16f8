//! Care-plan flags for clinical systems: for each subject (an NHS number, say), whether the
//! person has an EHR the caller may see and which care plans it holds: the current version of
//! each composition whose root archetype or template marks it as a care plan, with its template,
//! name, when and by whom it was last changed, and its lifecycle state.
//!
//! One statement answers a whole batch from the indexes: the subjects' EHRs by `ehr_subject`'s
//! key, their current composition versions by `object_version_current`; of each document only
//! the first bytes are read, for the composition's name.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::access::{filter, Guarded, Need};
use crate::error::{Result, StoreError};
use crate::ids::Principal;
use crate::store::Store;

/// Subjects one request may ask about.
pub const MAX_FLAG_SUBJECTS: usize = 1000;

/// Which compositions are care plans: those with one of these root archetypes or templates.
#[derive(Debug, Clone)]
pub struct CarePlanKinds {
    pub archetypes: Vec<String>,
    pub templates: Vec<String>,
}

impl Default for CarePlanKinds {
    /// The composition archetype the care-plan templates cdr ships share.
    fn default() -> Self {
        CarePlanKinds {
            archetypes: vec!["openEHR-EHR-COMPOSITION.cdr_care_plan.v0".into()],
            templates: Vec::new(),
        }
    }
}

/// One care plan of a subject.
#[derive(Debug, Clone, PartialEq)]
pub struct CarePlanFlag {
    /// The current version's uid (`uuid::system::version`).
    pub uid: String,
    pub template_id: String,
    pub name: String,
    pub last_changed: DateTime<Utc>,
    pub changed_by: Option<String>,
    /// The version's lifecycle state (`complete`, `incomplete`, …).
    pub status: String,
}

/// What is flagged for one subject.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectFlags {
    pub subject_id: String,
    pub namespace: String,
    /// `None` when the subject has no EHR, or none the caller may see.
    pub ehr_id: Option<Uuid>,
    /// Newest change first.
    pub care_plans: Vec<CarePlanFlag>,
}

impl SubjectFlags {
    pub fn to_json(&self) -> Value {
        json!({
            "subject_id": self.subject_id,
            "subject_namespace": self.namespace,
            "ehr_id": self.ehr_id.map(|e| e.to_string()),
            "has_care_plan": !self.care_plans.is_empty(),
            "care_plans": self.care_plans.iter().map(|p| json!({
                "uid": p.uid,
                "template_id": p.template_id,
                "name": p.name,
                "last_changed": crate::format_time(p.last_changed),
                "changed_by": p.changed_by,
                "status": p.status,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The composition's name from the first bytes of its stored canonical JSON, which cdr writes
/// `{"_type":"COMPOSITION","name":{"_type":"DV_TEXT","value":"…"` (or DV_CODED_TEXT, whose
/// `value` also comes first); `None` when the text starts otherwise.
fn composition_name(head: &str) -> Option<String> {
    let rest = head.strip_prefix(r#"{"_type":"COMPOSITION","name":{"_type":"DV_"#)?;
    let rest = rest
        .strip_prefix(r#"TEXT","value":"#)
        .or_else(|| rest.strip_prefix(r#"CODED_TEXT","value":"#))?;
    serde_json::Deserializer::from_str(rest)
        .into_iter::<String>()
        .next()?
        .ok()
}

/// The openEHR name of a version lifecycle state code.
fn lifecycle(code: i16) -> String {
    match code {
        532 => "complete".into(),
        553 => "incomplete".into(),
        523 => "deleted".into(),
        other => other.to_string(),
    }
}

const FLAGS: &str = "\
SELECT q.i, s.ehr_id, ov.vo_id, ov.system_id, ov.version, ov.template_id, \
       coalesce(left(ov.document, 512), t.concept), \
       ov.committed_at, ov.audit::json->'committer'->>'name', ov.lifecycle_state \
FROM unnest($1::text[]) WITH ORDINALITY AS q(subject_id, i) \
JOIN ehr_subject s ON s.subject_id = q.subject_id AND s.namespace = $2/*access*/ \
LEFT JOIN (object_version ov \
           JOIN versioned_object vo ON vo.ehr_id = ov.ehr_id AND vo.vo_id = ov.vo_id \
                AND vo.kind = 1 AND NOT vo.deleted \
           LEFT JOIN template t ON t.template_id = ov.template_id) \
  ON ov.ehr_id = s.ehr_id AND upper_inf(ov.sys_period) \
     AND (ov.archetype_id = ANY($3) OR ov.template_id = ANY($4)) \
ORDER BY q.i, ov.committed_at DESC";

impl Store {
    /// The care-plan flags of each subject of `namespace`, in the order asked (at most
    /// [`MAX_FLAG_SUBJECTS`]).
    pub async fn care_plan_flags(
        &self,
        caller: &Principal,
        namespace: &str,
        subject_ids: &[String],
        kinds: &CarePlanKinds,
    ) -> Result<Vec<SubjectFlags>> {
        if subject_ids.len() > MAX_FLAG_SUBJECTS {
            return Err(StoreError::BadRequest(format!(
                "at most {MAX_FLAG_SUBJECTS} subjects at once, not {}",
                subject_ids.len()
            )));
        }
        let mut out: Vec<SubjectFlags> = subject_ids
            .iter()
            .map(|s| SubjectFlags {
                subject_id: s.clone(),
                namespace: namespace.to_owned(),
                ehr_id: None,
                care_plans: Vec::new(),
            })
            .collect();
        if subject_ids.is_empty() {
            return Ok(out);
        }
        // A flag is a lookup over many records: break-glass does not widen it.
        let access = filter(caller, Need::Read).map(|f| f.without_break_glass());
        let g = Guarded::new(FLAGS, 4, access.as_ref(), "s.ehr_id");
        let client = self.inner.pool.get().await?;
        let stmt = client.prepare_cached(&g.sql).await?;
        let rows = client
            .query(
                &stmt,
                &g.params(&[
                    &subject_ids,
                    &namespace,
                    &kinds.archetypes,
                    &kinds.templates,
                ]),
            )
            .await?;
        for row in rows {
            let i: i64 = row.get(0);
            let Some(flags) = usize::try_from(i - 1).ok().and_then(|i| out.get_mut(i)) else {
                continue;
            };
            flags.ehr_id = Some(row.get(1));
            let Some(vo) = row.get::<_, Option<Uuid>>(2) else {
                continue;
            };
            let system: String = row.get(3);
            let version: i32 = row.get(4);
            let template_id: Option<String> = row.get(5);
            let head: Option<String> = row.get(6);
            flags.care_plans.push(CarePlanFlag {
                uid: format!("{vo}::{system}::{version}"),
                name: head
                    .map(|h| composition_name(&h).unwrap_or(h))
                    .or_else(|| template_id.clone())
                    .unwrap_or_default(),
                template_id: template_id.unwrap_or_default(),
                last_changed: row.get(7),
                changed_by: row.get(8),
                status: lifecycle(row.get(9)),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::composition_name;

    #[test]
    fn the_name_is_read_from_the_head_of_the_document() {
        let doc = r#"{"_type":"COMPOSITION","name":{"_type":"DV_TEXT","value":"Urgent \"care\" plan"},"archetype_node_id":"x"}"#;
        assert_eq!(
            composition_name(doc).as_deref(),
            Some("Urgent \"care\" plan")
        );
        let coded = r#"{"_type":"COMPOSITION","name":{"_type":"DV_CODED_TEXT","value":"Plan","defining_code":{}}}"#;
        assert_eq!(composition_name(coded).as_deref(), Some("Plan"));
        // Cut inside the name, or another layout: no name.
        assert_eq!(composition_name(&doc[..60]), None);
        assert_eq!(composition_name(r#"{"name":{"value":"x"}}"#), None);
    }
}
