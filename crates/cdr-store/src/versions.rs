//! Reading versions back: latest, by version uid, at a time, all of them; versioned-object info,
//! revision history and contributions.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::access::{filter, Guarded, Need};
use crate::commit::{coded, format_time, object_ref};
use crate::error::{Result, StoreError};
use crate::ids::{ChangeType, LifecycleState, Principal, VersionUid, VoKind};
use crate::store::Store;

/// One stored version of a versioned object.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    pub ehr_id: Uuid,
    pub kind: VoKind,
    pub uid: VersionUid,
    pub preceding_uid: Option<String>,
    pub contribution_id: Uuid,
    pub change_type: ChangeType,
    pub lifecycle_state: LifecycleState,
    pub committed_at: DateTime<Utc>,
    /// Canonical JSON of the version's AUDIT_DETAILS.
    pub audit: String,
    /// Canonical JSON array of attestations, when any.
    pub attestations: Option<String>,
    /// Canonical JSON of the data; `None` when this version is a deletion.
    pub document: Option<String>,
}

impl VersionRecord {
    /// Whether this version deleted the object.
    pub fn is_deletion(&self) -> bool {
        self.document.is_none()
    }

    /// The ORIGINAL_VERSION as canonical JSON, `_type` on every object (the data, audit and
    /// attestations as stored, which the RM encoder wrote).
    pub fn original_version_json(&self) -> Value {
        let mut v = json!({
            "_type": "ORIGINAL_VERSION",
            "contribution": object_ref(
                json!({"_type": "HIER_OBJECT_ID", "value": self.contribution_id.to_string()}),
                "CONTRIBUTION",
            ),
            "commit_audit": parse(&self.audit),
            "uid": {"_type": "OBJECT_VERSION_ID", "value": self.uid.to_string()},
        });
        if let Some(d) = &self.document {
            v["data"] = parse(d);
        }
        if let Some(p) = &self.preceding_uid {
            v["preceding_version_uid"] = json!({"_type": "OBJECT_VERSION_ID", "value": p});
        }
        if let Some(a) = &self.attestations {
            v["attestations"] = parse(a);
        }
        v["lifecycle_state"] = coded(
            "openehr",
            self.lifecycle_state.code(),
            self.lifecycle_state.rubric(),
        );
        v
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// A VERSIONED_OBJECT without its versions.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionedObjectInfo {
    pub ehr_id: Uuid,
    pub vo_id: Uuid,
    pub kind: VoKind,
    pub time_created: DateTime<Utc>,
    pub version_count: i32,
    pub deleted: bool,
}

impl VersionedObjectInfo {
    /// VERSIONED_COMPOSITION / VERSIONED_EHR_STATUS / VERSIONED_FOLDER as canonical JSON, `_type`
    /// on every object.
    pub fn to_json(&self) -> Value {
        json!({
            "_type": format!("VERSIONED_{}", self.kind.rm_type()),
            "uid": {"_type": "HIER_OBJECT_ID", "value": self.vo_id.to_string()},
            "owner_id": object_ref(
                json!({"_type": "HIER_OBJECT_ID", "value": self.ehr_id.to_string()}),
                "EHR",
            ),
            "time_created": {"_type": "DV_DATE_TIME", "value": format_time(self.time_created)},
        })
    }
}

/// A CONTRIBUTION as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ContributionRecord {
    pub ehr_id: Uuid,
    pub uid: Uuid,
    /// Canonical JSON of the contribution's AUDIT_DETAILS.
    pub audit: String,
    pub versions: Vec<(VoKind, VersionUid)>,
}

impl ContributionRecord {
    /// The CONTRIBUTION as canonical JSON, `_type` on every object.
    pub fn to_json(&self) -> Value {
        json!({
            "_type": "CONTRIBUTION",
            "uid": {"_type": "HIER_OBJECT_ID", "value": self.uid.to_string()},
            "versions": self.versions.iter().map(|(kind, uid)| object_ref(
                json!({"_type": "OBJECT_VERSION_ID", "value": uid.to_string()}),
                kind.rm_type(),
            )).collect::<Vec<_>>(),
            "audit": parse(&self.audit),
        })
    }
}

const COLUMNS: &str = "v.ehr_id, o.kind, v.vo_id, v.system_id, v.version, v.preceding_uid, \
     v.contribution_id, v.change_type, v.lifecycle_state, v.committed_at, v.audit::text, \
     v.attestations::text, v.document::text";

fn record(row: &Row) -> VersionRecord {
    VersionRecord {
        ehr_id: row.get(0),
        kind: VoKind::from_i16(row.get(1)),
        uid: VersionUid::new(row.get(2), row.get::<_, String>(3), row.get(4)),
        preceding_uid: row.get(5),
        contribution_id: row.get(6),
        change_type: ChangeType::from_i16(row.get(7)),
        lifecycle_state: LifecycleState::from_i16(row.get(8)),
        committed_at: row.get(9),
        audit: row.get(10),
        attestations: row.get(11),
        document: row.get(12),
    }
}

impl Store {
    /// Not found: the EHR, or (when the EHR exists) the object.
    pub(crate) async fn missing(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        kind: VoKind,
        id: impl ToString,
    ) -> StoreError {
        match self.ehr_exists(caller, ehr_id).await {
            Ok(false) => StoreError::not_found("EHR", ehr_id),
            Ok(true) => StoreError::not_found(kind.label(), id),
            Err(e) => e,
        }
    }

    /// Whether the EHR exists and the caller may read it.
    pub(crate) async fn ehr_exists(&self, caller: &Principal, ehr_id: Uuid) -> Result<bool> {
        let g = Guarded::new(
            "SELECT 1 FROM ehr WHERE ehr_id = $1/*access*/",
            1,
            filter(caller, Need::Read).as_ref(),
            "$1",
        );
        let client = self.inner.pool.get().await?;
        let stmt = client.prepare_cached(&g.sql).await?;
        Ok(client
            .query_opt(&stmt, &g.params(&[&ehr_id]))
            .await?
            .is_some())
    }

    /// The id of the EHR's EHR_STATUS or directory object.
    pub(crate) async fn singleton_id(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        kind: VoKind,
    ) -> Result<Uuid> {
        self.break_glass_if_asked(caller, ehr_id).await?;
        let g = Guarded::new(
            "SELECT vo_id FROM versioned_object WHERE ehr_id = $1 AND kind = $2/*access*/",
            2,
            filter(caller, Need::Read).as_ref(),
            "$1",
        );
        let client = self.inner.pool.get().await?;
        let stmt = client.prepare_cached(&g.sql).await?;
        match client
            .query_opt(&stmt, &g.params(&[&ehr_id, &kind.code()]))
            .await?
        {
            Some(row) => Ok(row.get(0)),
            None => Err(self.missing(caller, ehr_id, kind, ehr_id).await),
        }
    }

    /// The latest version of an object (a deletion included: check `is_deletion`).
    pub async fn latest_version(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        kind: VoKind,
        vo_id: Uuid,
    ) -> Result<VersionRecord> {
        self.break_glass_if_asked(caller, ehr_id).await?;
        let g = Guarded::new(
            &format!(
                "SELECT {COLUMNS} FROM versioned_object o JOIN object_version v \
                 ON v.ehr_id = o.ehr_id AND v.vo_id = o.vo_id AND v.version = o.head \
                 WHERE o.ehr_id = $1 AND o.vo_id = $2 AND o.kind = $3/*access*/"
            ),
            3,
            filter(caller, Need::Read).as_ref(),
            "$1",
        );
        let client = self.inner.pool.get().await?;
        let stmt = client.prepare_cached(&g.sql).await?;
        match client
            .query_opt(&stmt, &g.params(&[&ehr_id, &vo_id, &kind.code()]))
            .await?
        {
            Some(row) => Ok(record(&row)),
            None => Err(self.missing(caller, ehr_id, kind, vo_id).await),
        }
    }

    /// One version by its uid.
    pub async fn version_by_uid(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        kind: VoKind,
        uid: &VersionUid,
    ) -> Result<VersionRecord> {
        self.break_glass_if_asked(caller, ehr_id).await?;
        let g = Guarded::new(
            &format!(
                "SELECT {COLUMNS} FROM object_version v JOIN versioned_object o \
                 ON o.ehr_id = v.ehr_id AND o.vo_id = v.vo_id \
                 WHERE v.ehr_id = $1 AND v.vo_id = $2 AND v.version = $3 AND o.kind = $4/*access*/"
            ),
            4,
            filter(caller, Need::Read).as_ref(),
            "$1",
        );
        let client = self.inner.pool.get().await?;
        let stmt = client.prepare_cached(&g.sql).await?;
        let row = client
            .query_opt(
                &stmt,
                &g.params(&[&ehr_id, &uid.object_id, &uid.version, &kind.code()]),
            )
            .await?;
        match row.map(|r| record(&r)) {
            Some(r) if r.uid.system_id == uid.system_id => Ok(r),
            _ => Err(self.missing(caller, ehr_id, kind, uid).await),
        }
    }

    /// The version extant at `time`: the one with the greatest commit time not after it.
    pub async fn version_at_time(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        kind: VoKind,
        vo_id: Uuid,
        time: DateTime<Utc>,
    ) -> Result<VersionRecord> {
        self.break_glass_if_asked(caller, ehr_id).await?;
        let g = Guarded::new(
            &format!(
                "SELECT {COLUMNS} FROM object_version v JOIN versioned_object o \
                 ON o.ehr_id = v.ehr_id AND o.vo_id = v.vo_id \
                 WHERE v.ehr_id = $1 AND v.vo_id = $2 AND o.kind = $3 AND v.committed_at <= $4\
                 /*access*/ ORDER BY v.version DESC LIMIT 1"
            ),
            4,
            filter(caller, Need::Read).as_ref(),
            "$1",
        );
        let client = self.inner.pool.get().await?;
        let stmt = client.prepare_cached(&g.sql).await?;
        match client
            .query_opt(&stmt, &g.params(&[&ehr_id, &vo_id, &kind.code(), &time]))
            .await?
        {
            Some(row) => Ok(record(&row)),
            None => Err(self.missing(caller, ehr_id, kind, vo_id).await),
        }
    }

    /// Every version of an object, oldest first.
    pub async fn all_versions(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        kind: VoKind,
        vo_id: Uuid,
    ) -> Result<Vec<VersionRecord>> {
        self.break_glass_if_asked(caller, ehr_id).await?;
        let g = Guarded::new(
            &format!(
                "SELECT {COLUMNS} FROM object_version v JOIN versioned_object o \
                 ON o.ehr_id = v.ehr_id AND o.vo_id = v.vo_id \
                 WHERE v.ehr_id = $1 AND v.vo_id = $2 AND o.kind = $3/*access*/ \
                 ORDER BY v.version"
            ),
            3,
            filter(caller, Need::Read).as_ref(),
            "$1",
        );
        let client = self.inner.pool.get().await?;
        let stmt = client.prepare_cached(&g.sql).await?;
        let rows = client
            .query(&stmt, &g.params(&[&ehr_id, &vo_id, &kind.code()]))
            .await?;
        if rows.is_empty() {
            return Err(self.missing(caller, ehr_id, kind, vo_id).await);
        }
        Ok(rows.iter().map(record).collect())
    }

    /// The versioned object's own attributes.
    pub async fn versioned_object(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        kind: VoKind,
        vo_id: Uuid,
    ) -> Result<VersionedObjectInfo> {
        self.break_glass_if_asked(caller, ehr_id).await?;
        let g = Guarded::new(
            "SELECT time_created, head, deleted FROM versioned_object \
             WHERE ehr_id = $1 AND vo_id = $2 AND kind = $3/*access*/",
            3,
            filter(caller, Need::Read).as_ref(),
            "$1",
        );
        let client = self.inner.pool.get().await?;
        let stmt = client.prepare_cached(&g.sql).await?;
        match client
            .query_opt(&stmt, &g.params(&[&ehr_id, &vo_id, &kind.code()]))
            .await?
        {
            Some(row) => Ok(VersionedObjectInfo {
                ehr_id,
                vo_id,
                kind,
                time_created: row.get(0),
                version_count: row.get(1),
                deleted: row.get(2),
            }),
            None => Err(self.missing(caller, ehr_id, kind, vo_id).await),
        }
    }

    /// REVISION_HISTORY as canonical JSON: one item per version with its audits.
    pub async fn revision_history(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        kind: VoKind,
        vo_id: Uuid,
    ) -> Result<Value> {
        let versions = self.all_versions(caller, ehr_id, kind, vo_id).await?;
        Ok(json!({
            "_type": "REVISION_HISTORY",
            "items": versions.iter().map(|v| json!({
                "_type": "REVISION_HISTORY_ITEM",
                "version_id": {"_type": "OBJECT_VERSION_ID", "value": v.uid.to_string()},
                "audits": [parse(&v.audit)],
            })).collect::<Vec<_>>(),
        }))
    }

    /// A contribution with the versions it committed.
    pub async fn get_contribution(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        contribution_id: Uuid,
    ) -> Result<ContributionRecord> {
        self.break_glass_if_asked(caller, ehr_id).await?;
        let access = filter(caller, Need::Read);
        let head = Guarded::new(
            "SELECT audit::text FROM contribution \
             WHERE ehr_id = $1 AND contribution_id = $2/*access*/",
            2,
            access.as_ref(),
            "$1",
        );
        let client = self.inner.pool.get().await?;
        let row = client
            .query_opt(&head.sql, &head.params(&[&ehr_id, &contribution_id]))
            .await?;
        let Some(row) = row else {
            return Err(match self.ehr_exists(caller, ehr_id).await? {
                false => StoreError::not_found("EHR", ehr_id),
                true => StoreError::not_found("contribution", contribution_id),
            });
        };
        let list = Guarded::new(
            "SELECT o.kind, v.vo_id, v.system_id, v.version FROM object_version v \
             JOIN versioned_object o ON o.ehr_id = v.ehr_id AND o.vo_id = v.vo_id \
             WHERE v.ehr_id = $1 AND v.contribution_id = $2/*access*/ \
             ORDER BY v.vo_id, v.version",
            2,
            access.as_ref(),
            "$1",
        );
        let versions = client
            .query(&list.sql, &list.params(&[&ehr_id, &contribution_id]))
            .await?;
        Ok(ContributionRecord {
            ehr_id,
            uid: contribution_id,
            audit: row.get(0),
            versions: versions
                .iter()
                .map(|r| {
                    (
                        VoKind::from_i16(r.get(0)),
                        VersionUid::new(r.get(1), r.get::<_, String>(2), r.get(3)),
                    )
                })
                .collect(),
        })
    }
}
