//! The one way anything is written: a contribution of versions, prepared (validated, serialised,
//! indexed) before the transaction and written inside one transaction that touches one EHR.

use chrono::{DateTime, SecondsFormat, Utc};
use deadpool_postgres::Transaction;
use serde_json::json;
use uuid::Uuid;

use cdr_rm::meta::RmObject;
use cdr_rm::{JsonConfig, ObjectVersionId, PartyProxy, UidBasedId as RmUid, VersionData};

use crate::error::{Result, StoreError};
use crate::ids::{dict_id, path_id, ChangeType, LifecycleState, Principal, VersionUid, VoKind};
use crate::index::{self, IndexRows};
use crate::store::Store;

/// Audit values given by the caller (REST `openEHR-AUDIT_DETAILS` / `openEHR-VERSION` headers, or
/// a contribution's `audit`). The server always sets `time_committed` and `system_id`.
#[derive(Debug, Clone, Default)]
pub struct CommitMeta {
    /// The committer; default: a PARTY_IDENTIFIED named after the caller.
    pub committer: Option<PartyProxy>,
    /// Why.
    pub description: Option<String>,
    /// Overrides the operation's change type (e.g. amendment instead of modification).
    pub change_type: Option<ChangeType>,
    /// Overrides the lifecycle state (default complete).
    pub lifecycle_state: Option<LifecycleState>,
}

/// One version to commit.
#[derive(Debug, Clone)]
pub struct NewVersion {
    /// The new data; `None` deletes the object (logical deletion).
    pub data: Option<VersionData>,
    /// The latest version the change is based on; `None` creates a new object.
    pub preceding: Option<VersionUid>,
    /// What kind of object (needed for deletions, which carry no data).
    pub kind: VoKind,
    /// Per-version audit values (description, change type, lifecycle state); the committer of
    /// the contribution is used when this one has none.
    pub meta: CommitMeta,
    /// Attestations as canonical JSON (an array), kept with the version.
    pub attestations: Option<serde_json::Value>,
}

/// A contribution to commit atomically.
#[derive(Debug, Clone, Default)]
pub struct NewContribution {
    /// A client-chosen contribution uid (must be unused in this EHR).
    pub uid: Option<Uuid>,
    /// The contribution's audit values.
    pub meta: CommitMeta,
    pub versions: Vec<NewVersion>,
}

/// What was committed.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    pub contribution_id: Uuid,
    pub time_committed: DateTime<Utc>,
    /// The new version uids, in the order given.
    pub versions: Vec<CommittedVersion>,
}

/// One committed version.
#[derive(Debug, Clone, PartialEq)]
pub struct CommittedVersion {
    pub kind: VoKind,
    pub uid: VersionUid,
    pub change_type: ChangeType,
    /// The canonical JSON of the stored data (with its new `uid`); `None` for a deletion.
    pub document: Option<String>,
}

pub(crate) struct Prepared {
    kind: VoKind,
    vo_id: Uuid,
    version: i32,
    create: bool,
    change_type: ChangeType,
    lifecycle: LifecycleState,
    template_id: Option<String>,
    archetype_id: Option<String>,
    start_time: Option<DateTime<Utc>>,
    document: Option<String>,
    preceding_uid: Option<String>,
    audit: String,
    attestations: Option<String>,
    rows: IndexRows,
    status: Option<StatusFlags>,
}

struct StatusFlags {
    modifiable: bool,
    queryable: bool,
    subject: Option<(String, String)>,
}

pub(crate) struct PreparedContribution {
    id: Uuid,
    time: DateTime<Utc>,
    change_type: ChangeType,
    audit: String,
    versions: Vec<Prepared>,
}

/// The current time, truncated to the microseconds PostgreSQL keeps.
pub(crate) fn now() -> DateTime<Utc> {
    let t = Utc::now();
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// ISO 8601 text of a commit time (UTC, microseconds).
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn coded(terminology: &str, code: impl ToString, value: &str) -> serde_json::Value {
    json!({
        "_type": "DV_CODED_TEXT",
        "value": value,
        "defining_code": {
            "_type": "CODE_PHRASE",
            "terminology_id": {"_type": "TERMINOLOGY_ID", "value": terminology},
            "code_string": code.to_string(),
        }
    })
}

impl Store {
    fn audit_json(
        &self,
        caller: &Principal,
        meta: &CommitMeta,
        fallback_committer: Option<&PartyProxy>,
        time: DateTime<Utc>,
        change_type: ChangeType,
    ) -> String {
        let committer = match meta.committer.as_ref().or(fallback_committer) {
            Some(p) => cdr_rm::json::to_json_value(p, &JsonConfig::CANONICAL),
            None => json!({
                "_type": "PARTY_IDENTIFIED",
                "name": caller.name.clone().unwrap_or_else(|| caller.subject.clone()),
            }),
        };
        let mut audit = json!({
            "_type": "AUDIT_DETAILS",
            "system_id": self.inner.system_id,
            "time_committed": {"_type": "DV_DATE_TIME", "value": format_time(time)},
            "change_type": coded("openehr", change_type.code(), change_type.rubric()),
            "committer": committer,
        });
        if let Some(d) = &meta.description {
            audit["description"] = json!({"_type": "DV_TEXT", "value": d});
        }
        audit.to_string()
    }

    /// Validates, serialises and indexes every version; nothing touches the database except
    /// template loading.
    pub(crate) async fn prepare(
        &self,
        caller: &Principal,
        contribution: NewContribution,
    ) -> Result<PreparedContribution> {
        if contribution.versions.is_empty() {
            return Err(StoreError::BadRequest(
                "a contribution needs at least one version".into(),
            ));
        }
        let time = now();
        let mut versions = Vec::with_capacity(contribution.versions.len());
        let mut all_issues = Vec::new();
        for v in contribution.versions {
            match self
                .prepare_version(caller, &contribution.meta, v, time)
                .await
            {
                Ok(p) => versions.push(p),
                Err(StoreError::Invalid(issues)) => all_issues.extend(issues),
                Err(e) => return Err(e),
            }
        }
        if !all_issues.is_empty() {
            return Err(StoreError::Invalid(all_issues));
        }
        let change_type = contribution.meta.change_type.unwrap_or_else(|| {
            let first = versions[0].change_type;
            if versions.iter().all(|v| v.change_type == first) {
                first
            } else if versions
                .iter()
                .all(|v| matches!(v.change_type, ChangeType::Amendment | ChangeType::Deleted))
            {
                ChangeType::Amendment
            } else {
                ChangeType::Modification
            }
        });
        let audit = self.audit_json(caller, &contribution.meta, None, time, change_type);
        Ok(PreparedContribution {
            id: contribution.uid.unwrap_or_else(Uuid::new_v4),
            time,
            change_type,
            audit,
            versions,
        })
    }

    async fn prepare_version(
        &self,
        caller: &Principal,
        contribution_meta: &CommitMeta,
        v: NewVersion,
        time: DateTime<Utc>,
    ) -> Result<Prepared> {
        let (vo_id, version, create) = match &v.preceding {
            Some(p) => (p.object_id, p.version + 1, false),
            None => (
                v.data
                    .as_ref()
                    .and_then(data_object_id)
                    .unwrap_or_else(Uuid::new_v4),
                1,
                true,
            ),
        };
        if let (Some(p), Some(id)) = (&v.preceding, v.data.as_ref().and_then(data_object_id)) {
            if id != p.object_id {
                return Err(StoreError::BadRequest(format!(
                    "the data's uid names object {id}, but the version updates object {}",
                    p.object_id
                )));
            }
        }
        let deleting = v.data.is_none();
        if deleting && create {
            return Err(StoreError::BadRequest(
                "a deletion needs the preceding version uid".into(),
            ));
        }
        let default_change = if create {
            ChangeType::Creation
        } else if deleting {
            ChangeType::Deleted
        } else {
            ChangeType::Modification
        };
        let change_type = v.meta.change_type.unwrap_or(default_change);
        if create && change_type != ChangeType::Creation {
            return Err(StoreError::BadRequest(format!(
                "change type '{}' needs a preceding version; a new object is a creation",
                change_type.rubric()
            )));
        }
        if !create && change_type == ChangeType::Creation {
            return Err(StoreError::BadRequest(
                "change type 'creation' is only for the first version of an object".into(),
            ));
        }
        if deleting != (change_type == ChangeType::Deleted) {
            return Err(StoreError::BadRequest(if deleting {
                "a version without data must have change type 'deleted'".into()
            } else {
                "a version with change type 'deleted' must not carry data".into()
            }));
        }
        let lifecycle = if deleting {
            LifecycleState::Deleted
        } else {
            match v.meta.lifecycle_state.unwrap_or(LifecycleState::Complete) {
                LifecycleState::Deleted => {
                    return Err(StoreError::BadRequest(
                        "lifecycle state 'deleted' is only for deletions".into(),
                    ))
                }
                s => s,
            }
        };
        let uid = VersionUid::new(vo_id, self.inner.system_id.clone(), version);
        let preceding_uid = v.preceding.as_ref().map(VersionUid::to_string);
        let mut meta = v.meta.clone();
        if meta.committer.is_none() {
            meta.committer = contribution_meta.committer.clone();
        }
        if meta.description.is_none() {
            meta.description = contribution_meta.description.clone();
        }
        let audit = self.audit_json(caller, &meta, None, time, change_type);
        let attestations = v.attestations.as_ref().map(|a| a.to_string());
        let mut p = Prepared {
            kind: v.kind,
            vo_id,
            version,
            create,
            change_type,
            lifecycle,
            template_id: None,
            archetype_id: None,
            start_time: None,
            document: None,
            preceding_uid,
            audit,
            attestations,
            rows: IndexRows::default(),
            status: None,
        };
        let Some(mut data) = v.data else {
            return Ok(p);
        };
        let kind = match &data {
            VersionData::Composition(_) => VoKind::Composition,
            VersionData::EhrStatus(_) => VoKind::EhrStatus,
            VersionData::Folder(_) => VoKind::Folder,
        };
        if kind != v.kind {
            return Err(StoreError::BadRequest(format!(
                "expected a {} but the data is a {}",
                v.kind.rm_type(),
                kind.rm_type()
            )));
        }
        let new_uid = Some(RmUid::ObjectVersionId(Box::new(ObjectVersionId {
            value: uid.to_string(),
        })));
        match &mut data {
            VersionData::Composition(c) => {
                let template_id = c
                    .archetype_details
                    .as_ref()
                    .and_then(|d| d.template_id.as_ref())
                    .map(|t| t.value.clone())
                    .ok_or_else(|| StoreError::Invalid(vec![missing_template_issue()]))?;
                let template = self.template_for_validation(&template_id).await?;
                let issues = cdr_validation::validate(&template, c.as_ref());
                if !issues.is_empty() {
                    return Err(StoreError::Invalid(issues));
                }
                p.start_time = c
                    .context
                    .as_ref()
                    .and_then(|ctx| ctx.start_time.as_ref())
                    .and_then(|t| index::parse_instant(&t.value));
                p.archetype_id = Some(c.archetype_node_id.clone());
                p.template_id = Some(template_id);
                c.uid = new_uid;
            }
            VersionData::EhrStatus(s) => {
                let issues = cdr_validation::validate_rm(s.as_ref());
                if !issues.is_empty() {
                    return Err(StoreError::Invalid(issues));
                }
                let subject = s
                    .subject
                    .as_ref()
                    .and_then(|p| p.external_ref.as_ref())
                    .and_then(|r| {
                        let id = r.id.as_ref()?.attr("value").one()?.as_str()?.to_owned();
                        Some((id, r.namespace.clone()))
                    });
                p.status = Some(StatusFlags {
                    modifiable: s.is_modifiable.unwrap_or(true),
                    queryable: s.is_queryable.unwrap_or(true),
                    subject,
                });
                p.archetype_id = Some(s.archetype_node_id.clone());
                s.uid = new_uid;
            }
            VersionData::Folder(f) => {
                let issues = cdr_validation::validate_rm(f.as_ref());
                if !issues.is_empty() {
                    return Err(StoreError::Invalid(issues));
                }
                check_folder_names(f, "")?;
                p.archetype_id = Some(f.archetype_node_id.clone());
                f.uid = new_uid;
            }
        }
        let root: &dyn RmObject = &data;
        p.document = Some(
            String::from_utf8_lossy(&cdr_rm::to_json(root, &JsonConfig::CANONICAL)).into_owned(),
        );
        p.rows = index::derive(root);
        Ok(p)
    }

    /// Writes a prepared contribution inside `tx`. `ehr_known` skips the EHR check (the EHR was
    /// created in this transaction).
    pub(crate) async fn write(
        &self,
        tx: &Transaction<'_>,
        ehr_id: Uuid,
        c: &PreparedContribution,
        ehr_known: bool,
    ) -> Result<(Committed, Vec<i64>)> {
        if !ehr_known {
            let row = tx
                .query_opt(
                    &tx.prepare_cached("SELECT is_modifiable FROM ehr WHERE ehr_id = $1")
                        .await?,
                    &[&ehr_id],
                )
                .await?
                .ok_or_else(|| StoreError::not_found("EHR", ehr_id))?;
            let modifiable: bool = row.get(0);
            if !modifiable && c.versions.iter().any(|v| v.kind != VoKind::EhrStatus) {
                return Err(StoreError::Conflict(format!(
                    "EHR {ehr_id} is not modifiable (its EHR_STATUS has is_modifiable=false)"
                )));
            }
        }
        let insert_contribution = tx
            .prepare_cached(
                "INSERT INTO contribution (ehr_id, contribution_id, time_committed, change_type, audit) \
                 VALUES ($1, $2, $3, $4, $5::text::json) ON CONFLICT DO NOTHING",
            )
            .await?;
        let n = tx
            .execute(
                &insert_contribution,
                &[&ehr_id, &c.id, &c.time, &c.change_type.code(), &c.audit],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::Conflict(format!(
                "contribution uid {} is already in use",
                c.id
            )));
        }
        for v in &c.versions {
            self.advance(tx, ehr_id, v, c.time).await?;
        }
        let insert_version = tx
            .prepare_cached(
                "INSERT INTO object_version (ehr_id, vo_id, version, system_id, contribution_id, \
                 change_type, lifecycle_state, committed_at, sys_period, template_id, archetype_id, \
                 start_time, preceding_uid, audit, attestations, document) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, tstzrange($8, NULL), $9, $10, $11, $12, \
                 $13::text::json, $14::text::json, $15::text::json)",
            )
            .await?;
        for v in &c.versions {
            tx.execute(
                &insert_version,
                &[
                    &ehr_id,
                    &v.vo_id,
                    &v.version,
                    &self.inner.system_id,
                    &c.id,
                    &v.change_type.code(),
                    &v.lifecycle.code(),
                    &c.time,
                    &v.template_id,
                    &v.archetype_id,
                    &v.start_time,
                    &v.preceding_uid,
                    &v.audit,
                    &v.attestations,
                    &v.document,
                ],
            )
            .await?;
            if let Some(status) = &v.status {
                self.write_status_flags(tx, ehr_id, status).await?;
            }
        }
        let new_dict = self.write_rows(tx, ehr_id, &c.versions).await?;
        let committed = Committed {
            contribution_id: c.id,
            time_committed: c.time,
            versions: c
                .versions
                .iter()
                .map(|v| CommittedVersion {
                    kind: v.kind,
                    uid: VersionUid::new(v.vo_id, self.inner.system_id.clone(), v.version),
                    change_type: v.change_type,
                    document: v.document.clone(),
                })
                .collect(),
        };
        Ok((committed, new_dict))
    }

    /// Creates the versioned object, or moves its head from the preceding version to the new one
    /// (compare-and-swap under the row lock); closes the preceding version's period and drops its
    /// index rows.
    async fn advance(
        &self,
        tx: &Transaction<'_>,
        ehr_id: Uuid,
        v: &Prepared,
        time: DateTime<Utc>,
    ) -> Result<()> {
        let kind = v.kind.code();
        if v.create {
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO versioned_object (ehr_id, vo_id, kind, head, deleted, time_created) \
                     VALUES ($1, $2, $3, 1, false, $4) ON CONFLICT DO NOTHING",
                )
                .await?;
            if tx
                .execute(&stmt, &[&ehr_id, &v.vo_id, &kind, &time])
                .await?
                == 0
            {
                return Err(StoreError::Conflict(match v.kind {
                    VoKind::Composition => format!("versioned object {} already exists", v.vo_id),
                    VoKind::Folder => format!("EHR {ehr_id} already has a directory"),
                    VoKind::EhrStatus => format!("EHR {ehr_id} already has an EHR_STATUS"),
                }));
            }
            return Ok(());
        }
        let deleted = v.document.is_none();
        let stmt = tx
            .prepare_cached(
                "UPDATE versioned_object SET head = $4, deleted = $5 \
                 WHERE ehr_id = $1 AND vo_id = $2 AND kind = $3 AND head = $4 - 1 AND NOT deleted",
            )
            .await?;
        let n = tx
            .execute(&stmt, &[&ehr_id, &v.vo_id, &kind, &v.version, &deleted])
            .await?;
        if n == 0 {
            return Err(self.diagnose_stale(tx, ehr_id, v).await);
        }
        if v.kind == VoKind::Composition && !deleted {
            let prev = tx
                .prepare_cached(
                    "SELECT archetype_id FROM object_version \
                     WHERE ehr_id = $1 AND vo_id = $2 AND version < $3 AND archetype_id IS NOT NULL \
                     ORDER BY version DESC LIMIT 1",
                )
                .await?;
            if let Some(row) = tx
                .query_opt(&prev, &[&ehr_id, &v.vo_id, &v.version])
                .await?
            {
                let before: String = row.get(0);
                if Some(&before) != v.archetype_id.as_ref() {
                    return Err(StoreError::BadRequest(format!(
                        "the root archetype of a composition cannot change (was {before}, now {})",
                        v.archetype_id.as_deref().unwrap_or("")
                    )));
                }
            }
        }
        let close = tx
            .prepare_cached(
                "UPDATE object_version SET sys_period = tstzrange(lower(sys_period), \
                 greatest(lower(sys_period), $4)) \
                 WHERE ehr_id = $1 AND vo_id = $2 AND version = $3",
            )
            .await?;
        tx.execute(&close, &[&ehr_id, &v.vo_id, &(v.version - 1), &time])
            .await?;
        let del_nodes = tx
            .prepare_cached("DELETE FROM node WHERE ehr_id = $1 AND vo_id = $2")
            .await?;
        let del_leaves = tx
            .prepare_cached("DELETE FROM leaf WHERE ehr_id = $1 AND vo_id = $2")
            .await?;
        tx.execute(&del_nodes, &[&ehr_id, &v.vo_id]).await?;
        tx.execute(&del_leaves, &[&ehr_id, &v.vo_id]).await?;
        Ok(())
    }

    /// Why a compare-and-swap failed: unknown object, deleted, or a newer head.
    async fn diagnose_stale(&self, tx: &Transaction<'_>, ehr_id: Uuid, v: &Prepared) -> StoreError {
        let row = tx
            .query_opt(
                "SELECT o.head, o.deleted, o.kind, ov.system_id FROM versioned_object o \
                 JOIN object_version ov ON ov.ehr_id = o.ehr_id AND ov.vo_id = o.vo_id \
                 AND ov.version = o.head WHERE o.ehr_id = $1 AND o.vo_id = $2",
                &[&ehr_id, &v.vo_id],
            )
            .await;
        let given = v.preceding_uid.clone().unwrap_or_default();
        match row {
            Err(e) => e.into(),
            Ok(None) => StoreError::not_found(v.kind.label(), v.vo_id),
            Ok(Some(row)) => {
                let head: i32 = row.get(0);
                let deleted: bool = row.get(1);
                let kind: i16 = row.get(2);
                let system: String = row.get(3);
                let latest = VersionUid::new(v.vo_id, system, head).to_string();
                if kind != v.kind.code() {
                    StoreError::not_found(v.kind.label(), v.vo_id)
                } else if deleted {
                    StoreError::Deleted {
                        kind: v.kind.label(),
                        id: v.vo_id.to_string(),
                        uid: latest,
                    }
                } else {
                    StoreError::VersionConflict { given, latest }
                }
            }
        }
    }

    async fn write_status_flags(
        &self,
        tx: &Transaction<'_>,
        ehr_id: Uuid,
        s: &StatusFlags,
    ) -> Result<()> {
        let flags = tx
            .prepare_cached(
                "UPDATE ehr SET is_modifiable = $2, is_queryable = $3 WHERE ehr_id = $1",
            )
            .await?;
        tx.execute(&flags, &[&ehr_id, &s.modifiable, &s.queryable])
            .await?;
        let clear = tx
            .prepare_cached("DELETE FROM ehr_subject WHERE ehr_id = $1")
            .await?;
        tx.execute(&clear, &[&ehr_id]).await?;
        if let Some((id, namespace)) = &s.subject {
            let insert = tx
                .prepare_cached(
                    "INSERT INTO ehr_subject (subject_id, namespace, ehr_id) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                )
                .await?;
            if tx.execute(&insert, &[id, namespace, &ehr_id]).await? == 0 {
                return Err(StoreError::Conflict(format!(
                    "an EHR for subject '{id}' in namespace '{namespace}' already exists"
                )));
            }
        }
        Ok(())
    }

    /// Inserts node and leaf rows with one statement each (arrays through `unnest`), and the
    /// dictionary entries not yet known. Returns the dictionary ids written.
    async fn write_rows(
        &self,
        tx: &Transaction<'_>,
        ehr_id: Uuid,
        versions: &[Prepared],
    ) -> Result<Vec<i64>> {
        let mut n_vo = Vec::new();
        let mut n_num = Vec::new();
        let mut n_cap = Vec::new();
        let mut n_parent = Vec::new();
        let mut n_rm = Vec::new();
        let mut n_arch = Vec::new();
        let mut n_name = Vec::new();
        let mut n_path = Vec::new();
        let mut n_frag = Vec::new();
        let mut l_vo = Vec::new();
        let mut l_num = Vec::new();
        let mut l_path = Vec::new();
        let mut l_vnum = Vec::new();
        let mut l_vts = Vec::new();
        let mut l_vcode = Vec::new();
        let mut l_vtext = Vec::new();
        let mut arch_dict: Vec<(i64, &str)> = Vec::new();
        let mut path_dict: Vec<(i64, &str, &str, &str)> = Vec::new();
        {
            let known = self
                .inner
                .known_dict
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for v in versions {
                for n in &v.rows.nodes {
                    let id = dict_id(&n.archetype_id);
                    if !known.contains(&id) {
                        arch_dict.push((id, &n.archetype_id));
                    }
                    n_vo.push(v.vo_id);
                    n_num.push(n.num);
                    n_cap.push(n.num_cap);
                    n_parent.push(n.parent);
                    n_rm.push(n.rm_type);
                    n_arch.push(id);
                    n_name.push(n.name.as_deref());
                    n_path.push(n.path.as_str());
                    n_frag.push(
                        n.fragment
                            .as_deref()
                            .map(|f| String::from_utf8_lossy(f).into_owned()),
                    );
                }
                for l in &v.rows.leaves {
                    let id = path_id(&l.archetype_id, &l.path);
                    if !known.contains(&id) {
                        path_dict.push((id, &l.archetype_id, &l.path, l.rm_type));
                    }
                    l_vo.push(v.vo_id);
                    l_num.push(l.num);
                    l_path.push(id);
                    l_vnum.push(l.v_num);
                    l_vts.push(l.v_ts);
                    l_vcode.push(l.v_code.as_deref());
                    l_vtext.push(l.v_text.as_deref());
                }
            }
        }
        if !n_vo.is_empty() {
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO node (ehr_id, vo_id, num, num_cap, parent, rm_type, archetype, name, \
                     path, fragment) \
                     SELECT $1, t.vo, t.num, t.cap, t.parent, t.rm, t.arch, t.name, t.path, t.frag::json \
                     FROM unnest($2::uuid[], $3::int4[], $4::int4[], $5::int4[], $6::text[], \
                     $7::int8[], $8::text[], $9::text[], $10::text[]) \
                     AS t(vo, num, cap, parent, rm, arch, name, path, frag)",
                )
                .await?;
            tx.execute(
                &stmt,
                &[
                    &ehr_id, &n_vo, &n_num, &n_cap, &n_parent, &n_rm, &n_arch, &n_name, &n_path,
                    &n_frag,
                ],
            )
            .await?;
        }
        if !l_vo.is_empty() {
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO leaf (ehr_id, vo_id, num, path_id, v_num, v_ts, v_code, v_text) \
                     SELECT $1, t.* FROM unnest($2::uuid[], $3::int4[], $4::int8[], $5::float8[], \
                     $6::timestamptz[], $7::text[], $8::text[]) AS t",
                )
                .await?;
            tx.execute(
                &stmt,
                &[
                    &ehr_id, &l_vo, &l_num, &l_path, &l_vnum, &l_vts, &l_vcode, &l_vtext,
                ],
            )
            .await?;
        }
        // Dictionary rows in key order, so concurrent writers never wait on each other in a cycle.
        arch_dict.sort_unstable();
        arch_dict.dedup_by_key(|e| e.0);
        path_dict.sort_unstable();
        path_dict.dedup_by_key(|e| e.0);
        let mut written = Vec::new();
        if !arch_dict.is_empty() {
            let ids: Vec<i64> = arch_dict.iter().map(|e| e.0).collect();
            let texts: Vec<&str> = arch_dict.iter().map(|e| e.1).collect();
            tx.execute(
                "INSERT INTO archetype_dict (archetype, archetype_id) \
                 SELECT * FROM unnest($1::int8[], $2::text[]) ON CONFLICT DO NOTHING",
                &[&ids, &texts],
            )
            .await?;
            written.extend(ids);
        }
        if !path_dict.is_empty() {
            let ids: Vec<i64> = path_dict.iter().map(|e| e.0).collect();
            let archs: Vec<&str> = path_dict.iter().map(|e| e.1).collect();
            let paths: Vec<&str> = path_dict.iter().map(|e| e.2).collect();
            let types: Vec<&str> = path_dict.iter().map(|e| e.3).collect();
            tx.execute(
                "INSERT INTO path_dict (path_id, archetype_id, path, rm_type) \
                 SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[]) \
                 ON CONFLICT DO NOTHING",
                &[&ids, &archs, &paths, &types],
            )
            .await?;
            written.extend(ids);
        }
        Ok(written)
    }

    /// Remembers dictionary ids once their transaction committed.
    pub(crate) fn remember_dict(&self, committed: &[i64]) {
        let mut known = self
            .inner
            .known_dict
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        known.extend(committed.iter().copied());
    }

    /// Runs one prepared contribution in its own transaction.
    pub(crate) async fn commit_prepared(
        &self,
        ehr_id: Uuid,
        c: PreparedContribution,
    ) -> Result<Committed> {
        let mut client = self.inner.pool.get().await?;
        let tx = client.transaction().await?;
        let (committed, dict) = self.write(&tx, ehr_id, &c, false).await?;
        tx.commit().await?;
        self.remember_dict(&dict);
        Ok(committed)
    }
}

/// The object id in the data's own `uid` (a HIER_OBJECT_ID or OBJECT_VERSION_ID), if any.
fn data_object_id(data: &VersionData) -> Option<Uuid> {
    let uid = match data {
        VersionData::Composition(c) => c.uid.as_ref(),
        VersionData::EhrStatus(s) => s.uid.as_ref(),
        VersionData::Folder(f) => f.uid.as_ref(),
    }?;
    let value = match uid {
        RmUid::HierObjectId(h) => h.value.as_str(),
        RmUid::ObjectVersionId(v) => v.value.split("::").next().unwrap_or(""),
    };
    crate::ids::parse_uuid(value)
}

fn missing_template_issue() -> cdr_validation::ValidationIssue {
    cdr_validation::ValidationIssue {
        path: "/archetype_details/template_id".into(),
        archetype_path: "/".into(),
        constraint: cdr_validation::Constraint::TemplateMismatch,
        expected: Some("the id of an uploaded template".into()),
        actual: None,
        message: "the composition names no template (archetype_details/template_id is missing)"
            .into(),
    }
}

/// Sibling folders must have distinct names: the directory `path` parameter resolves by name.
fn check_folder_names(f: &cdr_rm::Folder, at: &str) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for (i, child) in f.folders.iter().enumerate() {
        let name = child.name.as_ref().map(|n| n.value()).unwrap_or("");
        if !seen.insert(name) {
            return Err(StoreError::BadRequest(format!(
                "folder {at}/folders[{i}] has the name '{name}', already used by a sibling folder"
            )));
        }
        check_folder_names(child, &format!("{at}/folders[{i}]"))?;
    }
    Ok(())
}
