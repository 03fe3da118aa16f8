//! The one way anything is written: a contribution of versions, prepared (validated, serialised,
//! indexed) before the transaction and written inside one transaction that touches one EHR.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use uuid::Uuid;

use cdr_rm::meta::RmObject;
use cdr_rm::{JsonConfig, ObjectVersionId, PartyProxy, UidBasedId as RmUid, VersionData};

use crate::audit::{AuditAction, WriteEvent};
use crate::error::{Result, StoreError};
use crate::ids::{ChangeType, LifecycleState, Principal, VersionUid, VoKind};
use crate::index::{self, IndexRows};
use crate::store::Store;
use crate::write::End;

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

impl NewContribution {
    /// A contribution of one version, the contribution's audit values those of the version (the
    /// single-object endpoints commit these).
    pub fn one(
        kind: VoKind,
        preceding: Option<VersionUid>,
        data: Option<VersionData>,
        meta: CommitMeta,
    ) -> Self {
        NewContribution {
            uid: None,
            meta: meta.clone(),
            versions: vec![NewVersion {
                data,
                preceding,
                kind,
                meta,
                attestations: None,
            }],
        }
    }
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
    /// The commit time (the contribution's `time_committed`).
    pub time_committed: DateTime<Utc>,
    /// The canonical JSON of the stored data (with its new `uid`); `None` for a deletion.
    pub document: Option<String>,
}

pub(crate) struct Prepared {
    pub(crate) kind: VoKind,
    pub(crate) vo_id: Uuid,
    pub(crate) version: i32,
    pub(crate) create: bool,
    pub(crate) change_type: ChangeType,
    pub(crate) lifecycle: LifecycleState,
    pub(crate) template_id: Option<String>,
    pub(crate) archetype_id: Option<String>,
    pub(crate) start_time: Option<DateTime<Utc>>,
    pub(crate) document: Option<String>,
    pub(crate) preceding_uid: Option<String>,
    pub(crate) audit: String,
    pub(crate) attestations: Option<String>,
    pub(crate) rows: IndexRows,
    pub(crate) status: Option<StatusFlags>,
}

pub(crate) struct StatusFlags {
    pub(crate) modifiable: bool,
    pub(crate) queryable: bool,
    pub(crate) subject: Option<(String, String)>,
}

pub(crate) struct PreparedContribution {
    pub(crate) id: Uuid,
    pub(crate) time: DateTime<Utc>,
    pub(crate) change_type: ChangeType,
    pub(crate) audit: String,
    pub(crate) versions: Vec<Prepared>,
    /// The audit trail's event, inserted by the same transaction.
    pub(crate) event: WriteEvent,
}

impl PreparedContribution {
    /// Whether it writes anything besides the EHR_STATUS (refused in a non-modifiable EHR).
    pub(crate) fn has_content(&self) -> bool {
        self.versions.iter().any(|v| v.kind != VoKind::EhrStatus)
    }
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

/// An OBJECT_REF in the local namespace to an object of `rm_type` whose id is `id` (an
/// OBJECT_ID as canonical JSON), with `_type` on every object as `JsonConfig::CANONICAL` writes.
pub(crate) fn object_ref(id: serde_json::Value, rm_type: &str) -> serde_json::Value {
    json!({"_type": "OBJECT_REF", "id": id, "namespace": "local", "type": rm_type})
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
    /// The AUDIT_DETAILS of a commit as canonical JSON, written directly (it is made for every
    /// contribution and every version).
    fn audit_json(
        &self,
        caller: &Principal,
        meta: &CommitMeta,
        time: DateTime<Utc>,
        change_type: ChangeType,
    ) -> String {
        fn string(out: &mut String, s: &str) {
            // Serialising a str into a String cannot fail.
            out.push_str(&serde_json::to_string(s).unwrap_or_default());
        }
        let mut out = String::with_capacity(400);
        out.push_str(r#"{"_type":"AUDIT_DETAILS","system_id":"#);
        string(&mut out, &self.inner.system_id);
        out.push_str(r#","time_committed":{"_type":"DV_DATE_TIME","value":""#);
        out.push_str(&format_time(time));
        out.push_str(r#""},"change_type":{"_type":"DV_CODED_TEXT","value":"#);
        string(&mut out, change_type.rubric());
        out.push_str(r#","defining_code":{"_type":"CODE_PHRASE","terminology_id":{"_type":"TERMINOLOGY_ID","value":"openehr"},"code_string":""#);
        out.push_str(&change_type.code().to_string());
        out.push_str(r#""}}"#);
        if let Some(d) = &meta.description {
            out.push_str(r#","description":{"_type":"DV_TEXT","value":"#);
            string(&mut out, d);
            out.push('}');
        }
        out.push_str(r#","committer":"#);
        match &meta.committer {
            Some(p) => out.push_str(&String::from_utf8_lossy(&cdr_rm::json::to_json(
                p,
                &JsonConfig::CANONICAL,
            ))),
            None => {
                out.push_str(r#"{"_type":"PARTY_IDENTIFIED","name":"#);
                string(&mut out, caller.name.as_deref().unwrap_or(&caller.subject));
                out.push('}');
            }
        }
        out.push('}');
        out
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
        check_committer(contribution.meta.committer.as_ref())?;
        let mut versions = Vec::with_capacity(contribution.versions.len());
        let (mut invalid, mut malformed) = (Vec::new(), Vec::new());
        for v in contribution.versions {
            check_committer(v.meta.committer.as_ref())?;
            match self
                .prepare_version(caller, &contribution.meta, v, time)
                .await
            {
                Ok(p) => versions.push(p),
                Err(StoreError::Invalid(issues)) => invalid.extend(issues),
                Err(StoreError::Malformed(issues)) => malformed.extend(issues),
                Err(e) => return Err(e),
            }
        }
        // Malformed content is answered first: it cannot be judged further.
        if !malformed.is_empty() {
            return Err(StoreError::Malformed(malformed));
        }
        if !invalid.is_empty() {
            return Err(StoreError::Invalid(invalid));
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
        let audit = self.audit_json(caller, &contribution.meta, time, change_type);
        let action = match change_type {
            ChangeType::Creation => AuditAction::Create,
            ChangeType::Deleted => AuditAction::Delete,
            _ => AuditAction::Update,
        };
        let uids = versions
            .iter()
            .map(|v| VersionUid::new(v.vo_id, self.inner.system_id.clone(), v.version).to_string())
            .collect();
        Ok(PreparedContribution {
            id: contribution.uid.unwrap_or_else(Uuid::new_v4),
            time,
            change_type,
            audit,
            versions,
            event: WriteEvent::new(caller, action, uids),
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
        let audit = self.audit_json(caller, &meta, time, change_type);
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
            value: Some(uid.to_string()),
        })));
        match &mut data {
            VersionData::Composition(c) => {
                let template_id = self.validate_composition(c).await?;
                p.start_time = c
                    .context
                    .as_ref()
                    .and_then(|ctx| ctx.start_time.as_ref())
                    .and_then(|t| index::parse_instant(t.value.as_deref()?));
                p.archetype_id = c.archetype_node_id.clone();
                p.template_id = Some(template_id);
                c.uid = new_uid;
            }
            VersionData::EhrStatus(s) => {
                name_ehr_status(s)?;
                let issues = cdr_validation::validate_rm(s.as_ref());
                if !issues.is_empty() {
                    return Err(StoreError::Malformed(issues));
                }
                check_ehr_status(s)?;
                let subject = s
                    .subject
                    .as_ref()
                    .and_then(|p| p.external_ref.as_ref())
                    .and_then(|r| {
                        let id = r.id.as_ref()?.attr("value").one()?.as_str()?.to_owned();
                        Some((id, r.namespace.clone()?))
                    });
                p.status = Some(StatusFlags {
                    modifiable: s.is_modifiable.unwrap_or(true),
                    queryable: s.is_queryable.unwrap_or(true),
                    subject,
                });
                p.archetype_id = s.archetype_node_id.clone();
                s.uid = new_uid;
            }
            VersionData::Folder(f) => {
                let issues = cdr_validation::validate_rm(f.as_ref());
                if !issues.is_empty() {
                    return Err(StoreError::Malformed(issues));
                }
                check_folder_names(f, "")?;
                p.archetype_id = f.archetype_node_id.clone();
                f.uid = new_uid;
                name_sub_folders(&mut f.folders);
            }
        }
        let root: &dyn RmObject = &data;
        p.document = Some(
            // The encoder writes UTF-8; taking the buffer avoids a copy per commit.
            String::from_utf8(cdr_rm::to_json(root, &JsonConfig::CANONICAL))
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        );
        p.rows = index::derive(root);
        Ok(p)
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

    /// Runs one prepared contribution in its own transaction. With `dry_run` every check a
    /// commit makes is made (the writes too, so the database answers as it would) and the
    /// transaction is rolled back.
    pub(crate) async fn commit_prepared(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        c: PreparedContribution,
        dry_run: bool,
    ) -> Result<Committed> {
        let client = self.inner.pool.get().await?;
        let end = if dry_run { End::Rollback } else { End::Commit };
        let (committed, dict) = match self.write(&client, caller, ehr_id, &c, None, end).await {
            Ok(w) => w,
            Err(failure) => {
                drop(client);
                return Err(self.explain(caller, ehr_id, failure).await);
            }
        };
        if !dry_run {
            self.remember_dict(&dict);
        }
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
        RmUid::HierObjectId(_) => uid.value(),
        RmUid::ObjectVersionId(_) => uid.value().split("::").next().unwrap_or(""),
    };
    crate::ids::parse_uuid(value)
}

impl Store {
    /// Validates a composition against the template it names (every issue at once); its
    /// template id when it is valid.
    pub(crate) async fn validate_composition(&self, c: &cdr_rm::Composition) -> Result<String> {
        let template_id = c
            .archetype_details
            .as_ref()
            .and_then(|d| d.template_id.as_ref())
            .and_then(|t| t.value.clone())
            .ok_or_else(|| StoreError::Invalid(vec![missing_template_issue()]))?;
        let template = self.template_for_validation(&template_id).await?;
        let issues = cdr_validation::validate(&template, c);
        if issues.iter().any(|i| i.constraint.is_malformed_literal()) {
            let malformed = issues
                .into_iter()
                .filter(|i| i.constraint.is_malformed_literal())
                .collect();
            return Err(StoreError::Malformed(malformed));
        }
        if !issues.is_empty() {
            return Err(StoreError::Invalid(issues));
        }
        Ok(template_id)
    }
}

/// A committer given with the call must have what the RM requires (a bad request otherwise,
/// as when it could not be decoded).
fn check_committer(committer: Option<&PartyProxy>) -> Result<()> {
    let Some(committer) = committer else {
        return Ok(());
    };
    let missing: Vec<String> = cdr_validation::validate_rm(committer)
        .into_iter()
        .filter(|i| i.constraint == cdr_validation::Constraint::RmMandatoryMissing)
        .map(|i| format!("{}: {}", i.path, i.message))
        .collect();
    match missing.is_empty() {
        true => Ok(()),
        false => Err(StoreError::BadRequest(format!(
            "the committer is incomplete: {}",
            missing.join("; ")
        ))),
    }
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

/// An EHR_STATUS sent without `archetype_node_id` or `name` (EHRbase's clients send such
/// bodies and EHRbase accepts them) gets those of the default EHR_STATUS, which the RM makes
/// mandatory and which every EHR created without a body has.
fn name_ehr_status(s: &mut cdr_rm::EhrStatus) -> Result<()> {
    if s.archetype_node_id.is_none() {
        s.archetype_node_id = Some(crate::ops::DEFAULT_EHR_STATUS_ARCHETYPE.to_owned());
    }
    if s.name.is_none() {
        let name = json!({"_type": "DV_TEXT", "value": crate::ops::DEFAULT_EHR_STATUS_NAME});
        s.name = Some(
            cdr_rm::json::from_json_value(name)
                .map_err(|e| StoreError::BadRequest(format!("default EHR_STATUS name: {e}")))?,
        );
    }
    Ok(())
}

/// What the RM check of an EHR_STATUS cannot see: a subject reference's namespace, which finds
/// the EHR, must not be empty. Its absence, like that of the two flags, is an RM issue (400
/// `malformed_content` for an EHR_STATUS).
fn check_ehr_status(s: &cdr_rm::EhrStatus) -> Result<()> {
    let reference = s.subject.as_ref().and_then(|p| p.external_ref.as_ref());
    if reference.is_some_and(|r| r.namespace.as_deref().is_some_and(|n| n.trim().is_empty())) {
        return Err(StoreError::BadRequest(
            "the EHR_STATUS subject's external_ref has an empty namespace".into(),
        ));
    }
    Ok(())
}

/// Gives every sub-folder without a `uid` one (a HIER_OBJECT_ID with a new UUID); a sub-folder
/// keeps the uid it has, so it keeps its identity from version to version of the directory.
fn name_sub_folders(folders: &mut [cdr_rm::Folder]) {
    for f in folders {
        if f.uid.is_none() {
            f.uid = Some(RmUid::HierObjectId(Box::new(cdr_rm::HierObjectId {
                value: Some(Uuid::new_v4().to_string()),
            })));
        }
        name_sub_folders(&mut f.folders);
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
