//! Care-plan flags for clinical systems: for each subject (an NHS number, say), whether the
//! person has an EHR the caller may see and which care plans it holds: the current version of
//! each composition whose root archetype or template marks it as a care plan, with its template,
//! name, when and by whom it was last changed, and its lifecycle state.
//!
//! One statement answers a whole batch from the indexes: the subjects' EHRs by `ehr_subject`'s
//! key, their care-plan versions by `object_version_care_plan`; no document is read (the name is
//! the one compositions of the template carry, from the parsed template).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::access::{filter, Guarded, Need};
use crate::error::{Result, StoreError};
use crate::ids::Principal;
use crate::store::Store;

/// Subjects one request may ask about.
pub const MAX_FLAG_SUBJECTS: usize = 1000;

/// The composition archetype the care-plan templates cdr ships share: its compositions are
/// care plans, found by their own index (`migrations/0015_care_plan_index.sql`).
pub const CARE_PLAN_ARCHETYPE: &str = "openEHR-EHR-COMPOSITION.cdr_care_plan.v0";

/// Which compositions are care plans: those of [`CARE_PLAN_ARCHETYPE`], and those of these
/// templates.
#[derive(Debug, Clone, Default)]
pub struct CarePlanKinds {
    pub templates: Vec<String>,
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

/// The openEHR name of a version lifecycle state code.
fn lifecycle(code: i16) -> String {
    match code {
        532 => "complete".into(),
        553 => "incomplete".into(),
        523 => "deleted".into(),
        other => other.to_string(),
    }
}

/// The flags of a batch: `$1` the subject ids, `$2` their namespace, `$3` the other care-plan
/// templates. The care-plan archetype is written into the text (a constant of cdr's, not input)
/// so that the planner matches the partial index's predicate; the second branch runs only when
/// other templates are named.
const FLAGS: &str = "\
SELECT q.i, s.ehr_id, p.vo_id, p.system_id, p.version, p.template_id, p.committed_at, \
       p.audit::json->'committer'->>'name', p.lifecycle_state \
FROM unnest($1::text[]) WITH ORDINALITY AS q(subject_id, i) \
JOIN ehr_subject s ON s.subject_id = q.subject_id AND s.namespace = $2/*access*/ \
LEFT JOIN LATERAL ( \
    SELECT ov.* FROM object_version ov \
    WHERE ov.ehr_id = s.ehr_id \
      AND ov.archetype_id = 'openEHR-EHR-COMPOSITION.cdr_care_plan.v0' \
      AND upper_inf(ov.sys_period) \
    UNION ALL \
    SELECT ov.* FROM object_version ov \
    WHERE cardinality($3::text[]) > 0 AND ov.ehr_id = s.ehr_id \
      AND ov.template_id = ANY($3::text[]) \
      AND ov.archetype_id IS DISTINCT FROM 'openEHR-EHR-COMPOSITION.cdr_care_plan.v0' \
      AND upper_inf(ov.sys_period) \
) p ON EXISTS (SELECT 1 FROM versioned_object vo WHERE vo.ehr_id = p.ehr_id \
               AND vo.vo_id = p.vo_id AND vo.kind = 1 AND NOT vo.deleted) \
ORDER BY q.i, p.committed_at DESC";

/// The name compositions of a template carry: the root's fixed name, else its archetype term.
fn root_name(t: &cdr_template::Template) -> Option<String> {
    use cdr_template::{CObjectKind, CPrimitive};
    let fixed = t
        .definition
        .attribute("name")
        .and_then(|a| a.children.first())
        .and_then(|text| text.attribute("value"))
        .and_then(|a| a.children.first())
        .and_then(|v| match &v.kind {
            CObjectKind::Primitive(CPrimitive::String { list, .. }) => list.first().cloned(),
            _ => None,
        });
    fixed.or_else(|| {
        let root = t.definition.as_archetype_root()?;
        root.terms
            .get(&t.definition.node_id)
            .map(|term| term.text.clone())
    })
}

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
        let g = Guarded::new(FLAGS, 3, access.as_ref(), "s.ehr_id");
        let params = g.params(&[&subject_ids, &namespace, &kinds.templates]);
        let (sql, params) = (&g.sql, &params);
        let run = |client: deadpool_postgres::Object| async move {
            let stmt = client.prepare_cached(sql).await?;
            Ok::<_, StoreError>(client.query(&stmt, params).await?)
        };
        // On the read replica when `replica.rs` says it may (again on the primary when the
        // replica fails it).
        let read = self.read_client(caller, &self.inner.pool).await?;
        let rows = match run(read.client).await {
            Err(e) if self.retry_on_primary(read.on_replica, &e) => {
                run(self.inner.pool.get().await?).await?
            }
            out => out?,
        };
        let mut names: std::collections::HashMap<String, String> = Default::default();
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
            let template_id: String = row.get::<_, Option<String>>(5).unwrap_or_default();
            if !names.contains_key(&template_id) {
                let name = match self.template_for_validation(&template_id).await {
                    Ok(t) => root_name(&t),
                    Err(_) => None,
                };
                names.insert(
                    template_id.clone(),
                    name.unwrap_or_else(|| template_id.clone()),
                );
            }
            flags.care_plans.push(CarePlanFlag {
                uid: format!("{vo}::{system}::{version}"),
                name: names[&template_id].clone(),
                template_id,
                last_changed: row.get(6),
                changed_by: row.get(7),
                status: lifecycle(row.get(8)),
            });
        }
        Ok(out)
    }
}
