//! The operations the REST layer calls: EHR, EHR_STATUS, COMPOSITION, DIRECTORY, CONTRIBUTION.
//! Every one takes the caller.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use cdr_rm::{Composition, EhrStatus, Folder, VersionData};

use crate::access::{filter, Guarded, Need};
use crate::commit::{
    format_time, object_ref, CommitMeta, Committed, CommittedVersion, NewContribution, NewVersion,
};
use crate::error::{Result, StoreError};
use crate::ids::{Principal, UidBasedId, VersionUid, VoKind};
use crate::store::Store;
use crate::versions::VersionRecord;
use crate::write::{End, NewEhr};

/// An EHR.
#[derive(Debug, Clone, PartialEq)]
pub struct EhrRecord {
    pub ehr_id: Uuid,
    pub system_id: String,
    pub time_created: DateTime<Utc>,
    /// The latest EHR_STATUS version.
    pub ehr_status: VersionUid,
    /// The EHR_ACCESS object id (version 1; EHR_ACCESS is not otherwise modelled yet).
    pub ehr_access: Uuid,
}

impl EhrRecord {
    /// The EHR as canonical JSON (the REST response body), `_type` on every object.
    pub fn to_json(&self) -> Value {
        json!({
            "_type": "EHR",
            "system_id": {"_type": "HIER_OBJECT_ID", "value": self.system_id},
            "ehr_id": {"_type": "HIER_OBJECT_ID", "value": self.ehr_id.to_string()},
            "ehr_status": object_ref(
                json!({"_type": "OBJECT_VERSION_ID", "value": self.ehr_status.to_string()}),
                "EHR_STATUS",
            ),
            "ehr_access": object_ref(
                json!({"_type": "OBJECT_VERSION_ID",
                       "value": VersionUid::new(self.ehr_access, self.system_id.clone(), 1).to_string()}),
                "EHR_ACCESS",
            ),
            "time_created": {"_type": "DV_DATE_TIME", "value": format_time(self.time_created)},
        })
    }
}

/// The archetype node id of the default EHR_STATUS.
pub(crate) const DEFAULT_EHR_STATUS_ARCHETYPE: &str = "openEHR-EHR-EHR_STATUS.generic.v1";
/// The name of the default EHR_STATUS.
pub(crate) const DEFAULT_EHR_STATUS_NAME: &str = "EHR Status";

/// The EHR_STATUS a new EHR gets when none is given.
pub fn default_ehr_status() -> Result<EhrStatus> {
    let v = json!({
        "_type": "EHR_STATUS",
        "archetype_node_id": DEFAULT_EHR_STATUS_ARCHETYPE,
        "name": {"_type": "DV_TEXT", "value": DEFAULT_EHR_STATUS_NAME},
        "subject": {"_type": "PARTY_SELF"},
        "is_queryable": true,
        "is_modifiable": true,
    });
    cdr_rm::json::from_json_value(v)
        .map_err(|e| StoreError::BadRequest(format!("default EHR_STATUS: {e}")))
}

fn single(c: Committed) -> Result<CommittedVersion> {
    c.versions
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::BadRequest("nothing was committed".into()))
}

impl Store {
    // ---- EHR ----------------------------------------------------------------------------------

    /// Creates an EHR with a given or generated id and an EHR_STATUS (the default one when none
    /// is given). One EHR per subject id and namespace.
    pub async fn create_ehr(
        &self,
        caller: &Principal,
        ehr_id: Option<Uuid>,
        status: Option<EhrStatus>,
        meta: CommitMeta,
    ) -> Result<EhrRecord> {
        if !(caller.has_role("admin") || caller.has_role("clinician") || caller.has_role("service"))
        {
            return Err(StoreError::Forbidden(
                "only an admin, a clinician or a service may create an EHR".into(),
            ));
        }
        let ehr_id = ehr_id.unwrap_or_else(Uuid::new_v4);
        let status = match status {
            Some(s) => s,
            None => default_ehr_status()?,
        };
        let prepared = self
            .prepare(
                caller,
                NewContribution {
                    uid: None,
                    meta: meta.clone(),
                    versions: vec![NewVersion {
                        data: Some(VersionData::EhrStatus(Box::new(status))),
                        preceding: None,
                        kind: VoKind::EhrStatus,
                        meta,
                        attestations: None,
                    }],
                },
            )
            .await?;
        let access_id = Uuid::new_v4();
        let status_id = prepared.versions[0].vo_id;
        let client = self.inner.pool.get().await?;
        let committed_time = crate::commit::now();
        let new_ehr = NewEhr {
            time: committed_time,
            status_id,
            access_id,
            creator_grant: Store::creator_grant(caller)
                .map(|(kind, grantee)| (Uuid::new_v4(), kind, grantee, caller.subject.clone())),
        };
        let written = self
            .write(
                &client,
                caller,
                ehr_id,
                &prepared,
                Some(&new_ehr),
                End::Commit,
            )
            .await;
        let (committed, dict) = match written {
            Ok(w) => w,
            Err(failure) => {
                drop(client);
                return Err(self.explain(caller, ehr_id, failure).await);
            }
        };
        let status_uid = single(committed)?.uid;
        self.remember_dict(&dict);
        Ok(EhrRecord {
            ehr_id,
            system_id: self.inner.system_id.clone(),
            time_created: committed_time,
            ehr_status: status_uid,
            ehr_access: access_id,
        })
    }

    /// An EHR by id.
    pub async fn get_ehr(&self, caller: &Principal, ehr_id: Uuid) -> Result<EhrRecord> {
        self.break_glass_if_asked(caller, ehr_id).await?;
        let g = Guarded::new(
            "SELECT e.system_id, e.time_created, e.ehr_status_id, e.ehr_access_id, \
             v.system_id, o.head FROM ehr e \
             JOIN versioned_object o ON o.ehr_id = e.ehr_id AND o.vo_id = e.ehr_status_id \
             JOIN object_version v ON v.ehr_id = o.ehr_id AND v.vo_id = o.vo_id AND v.version = o.head \
             WHERE e.ehr_id = $1/*access*/",
            1,
            filter(caller, Need::Read).as_ref(),
            "$1",
        );
        let client = self.inner.pool.get().await?;
        let stmt = client.prepare_cached(&g.sql).await?;
        let row = client
            .query_opt(&stmt, &g.params(&[&ehr_id]))
            .await?
            .ok_or_else(|| StoreError::not_found("EHR", ehr_id))?;
        Ok(EhrRecord {
            ehr_id,
            system_id: row.get(0),
            time_created: row.get(1),
            ehr_status: VersionUid::new(row.get(2), row.get::<_, String>(4), row.get(5)),
            ehr_access: row.get(3),
        })
    }

    /// The EHR whose EHR_STATUS names this subject (`subject.external_ref.id.value` and
    /// `.namespace`).
    pub async fn find_ehr_by_subject(
        &self,
        caller: &Principal,
        subject_id: &str,
        namespace: &str,
    ) -> Result<EhrRecord> {
        let ehr_id: Uuid = {
            let g = Guarded::new(
                "SELECT ehr_id FROM ehr_subject WHERE subject_id = $1 AND namespace = $2/*access*/",
                2,
                filter(caller, Need::Read).as_ref(),
                "ehr_subject.ehr_id",
            );
            let client = self.inner.pool.get().await?;
            let row = client
                .query_opt(&g.sql, &g.params(&[&subject_id, &namespace]))
                .await?
                .ok_or_else(|| {
                    StoreError::not_found(
                        "EHR for subject",
                        format!("'{subject_id}' in namespace '{namespace}'"),
                    )
                })?;
            row.get(0)
        };
        self.get_ehr(caller, ehr_id).await
    }

    // ---- EHR_STATUS -----------------------------------------------------------------------------

    /// The EHR_STATUS: the latest version, or the one extant at `at`.
    pub async fn get_ehr_status(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        at: Option<DateTime<Utc>>,
    ) -> Result<VersionRecord> {
        self.singleton_version(caller, ehr_id, VoKind::EhrStatus, at)
            .await
    }

    /// One EHR_STATUS version by uid.
    pub async fn get_ehr_status_version(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        uid: &VersionUid,
    ) -> Result<VersionRecord> {
        self.version_by_uid(caller, ehr_id, VoKind::EhrStatus, uid)
            .await
    }

    /// The id of the EHR's VERSIONED_EHR_STATUS.
    pub async fn ehr_status_id(&self, caller: &Principal, ehr_id: Uuid) -> Result<Uuid> {
        self.singleton_id(caller, ehr_id, VoKind::EhrStatus).await
    }

    /// Updates the EHR_STATUS given the latest version uid. A `uid` in the new EHR_STATUS is
    /// ignored (the EHR has one EHR_STATUS; the server names the new version).
    pub async fn update_ehr_status(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        preceding: &VersionUid,
        mut status: EhrStatus,
        meta: CommitMeta,
    ) -> Result<CommittedVersion> {
        status.uid = None;
        let data = VersionData::EhrStatus(Box::new(status));
        self.change_singleton(
            caller,
            ehr_id,
            VoKind::EhrStatus,
            preceding,
            Some(data),
            meta,
        )
        .await
    }

    // ---- COMPOSITION ----------------------------------------------------------------------------

    /// Commits a new composition (validated against its template).
    pub async fn create_composition(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        composition: Composition,
        meta: CommitMeta,
    ) -> Result<CommittedVersion> {
        self.commit_one(
            caller,
            ehr_id,
            VoKind::Composition,
            None,
            Some(VersionData::Composition(Box::new(composition))),
            meta,
        )
        .await
    }

    /// Checks a composition as creating it in `ehr_id` would (it validates against its
    /// template, then the EHR exists and accepts content) without writing anything: a dry run.
    pub async fn check_composition(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        composition: &Composition,
    ) -> Result<()> {
        self.validate_composition(composition).await?;
        let write = filter(caller, Need::Write);
        if write.is_some() {
            self.authorise(caller, ehr_id, Need::Write).await?;
        }
        let g = Guarded::new(
            "SELECT is_modifiable FROM ehr WHERE ehr_id = $1/*access*/",
            1,
            write.as_ref(),
            "$1",
        );
        let client = self.inner.pool.get().await?;
        let stmt = client.prepare_cached(&g.sql).await?;
        let row = client
            .query_opt(&stmt, &g.params(&[&ehr_id]))
            .await?
            .ok_or_else(|| StoreError::not_found("EHR", ehr_id))?;
        let modifiable: bool = row.get(0);
        if !modifiable {
            return Err(StoreError::not_modifiable(ehr_id));
        }
        Ok(())
    }

    /// A composition version: the latest for an object id, that version for a version uid. A
    /// deletion comes back as a record without document.
    pub async fn get_composition(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        id: &UidBasedId,
    ) -> Result<VersionRecord> {
        match id {
            UidBasedId::Object(vo) => {
                self.latest_version(caller, ehr_id, VoKind::Composition, *vo)
                    .await
            }
            UidBasedId::Version(uid) => {
                self.version_by_uid(caller, ehr_id, VoKind::Composition, uid)
                    .await
            }
        }
    }

    /// The composition version extant at `time`.
    pub async fn get_composition_at(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        vo_id: Uuid,
        time: DateTime<Utc>,
    ) -> Result<VersionRecord> {
        self.version_at_time(caller, ehr_id, VoKind::Composition, vo_id, time)
            .await
    }

    /// Updates a composition given the latest version uid; a stale one is a
    /// [`StoreError::VersionConflict`] naming the latest version.
    pub async fn update_composition(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        preceding: &VersionUid,
        composition: Composition,
        meta: CommitMeta,
    ) -> Result<CommittedVersion> {
        self.commit_one(
            caller,
            ehr_id,
            VoKind::Composition,
            Some(preceding.clone()),
            Some(VersionData::Composition(Box::new(composition))),
            meta,
        )
        .await
    }

    /// Logically deletes a composition: a new version with change type deleted and no data.
    pub async fn delete_composition(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        preceding: &VersionUid,
        meta: CommitMeta,
    ) -> Result<CommittedVersion> {
        self.commit_one(
            caller,
            ehr_id,
            VoKind::Composition,
            Some(preceding.clone()),
            None,
            meta,
        )
        .await
    }

    // ---- DIRECTORY ------------------------------------------------------------------------------

    /// Creates the EHR's directory (at most one per EHR).
    pub async fn create_directory(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        folder: Folder,
        meta: CommitMeta,
    ) -> Result<CommittedVersion> {
        self.commit_one(
            caller,
            ehr_id,
            VoKind::Folder,
            None,
            Some(VersionData::Folder(Box::new(folder))),
            meta,
        )
        .await
    }

    /// Replaces the directory given its latest version uid.
    pub async fn update_directory(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        preceding: &VersionUid,
        folder: Folder,
        meta: CommitMeta,
    ) -> Result<CommittedVersion> {
        let data = VersionData::Folder(Box::new(folder));
        self.change_singleton(caller, ehr_id, VoKind::Folder, preceding, Some(data), meta)
            .await
    }

    /// Logically deletes the directory given its latest version uid.
    pub async fn delete_directory(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        preceding: &VersionUid,
        meta: CommitMeta,
    ) -> Result<CommittedVersion> {
        self.change_singleton(caller, ehr_id, VoKind::Folder, preceding, None, meta)
            .await
    }

    /// The directory: latest, or the version extant at `at`.
    pub async fn get_directory(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        at: Option<DateTime<Utc>>,
    ) -> Result<VersionRecord> {
        self.singleton_version(caller, ehr_id, VoKind::Folder, at)
            .await
    }

    /// One directory version by uid.
    pub async fn get_directory_version(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        uid: &VersionUid,
    ) -> Result<VersionRecord> {
        self.version_by_uid(caller, ehr_id, VoKind::Folder, uid)
            .await
    }

    // ---- CONTRIBUTION ---------------------------------------------------------------------------

    /// Commits several versions atomically: all or none.
    pub async fn commit_contribution(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        contribution: NewContribution,
    ) -> Result<Committed> {
        self.run_contribution(caller, ehr_id, contribution, false)
            .await
    }

    /// Checks a contribution as [`Store::commit_contribution`] would (templates, the EHR,
    /// preceding versions: a stale one is a [`StoreError::VersionConflict`]) and keeps nothing:
    /// the commit runs and is rolled back. A dry run; the answer is what would have been
    /// committed.
    pub async fn check_contribution(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        contribution: NewContribution,
    ) -> Result<Committed> {
        self.run_contribution(caller, ehr_id, contribution, true)
            .await
    }

    async fn run_contribution(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        contribution: NewContribution,
        dry_run: bool,
    ) -> Result<Committed> {
        let prepared = self.prepare(caller, contribution).await?;
        self.commit_prepared(caller, ehr_id, prepared, dry_run)
            .await
    }

    async fn commit_one(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        kind: VoKind,
        preceding: Option<VersionUid>,
        data: Option<VersionData>,
        meta: CommitMeta,
    ) -> Result<CommittedVersion> {
        let one = NewContribution::one(kind, preceding, data, meta);
        let committed = self.commit_contribution(caller, ehr_id, one).await?;
        single(committed)
    }

    /// The EHR's EHR_STATUS or directory: the latest version, or the one extant at `at`.
    async fn singleton_version(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        kind: VoKind,
        at: Option<DateTime<Utc>>,
    ) -> Result<VersionRecord> {
        let vo = self.singleton_id(caller, ehr_id, kind).await?;
        match at {
            None => self.latest_version(caller, ehr_id, kind, vo).await,
            Some(t) => self.version_at_time(caller, ehr_id, kind, vo, t).await,
        }
    }

    /// Updates or deletes the EHR's EHR_STATUS or directory. A preceding version uid naming
    /// another object is stale: the conflict names the latest version; in an EHR without the
    /// object it is [`StoreError::NoLatest`].
    async fn change_singleton(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        kind: VoKind,
        preceding: &VersionUid,
        data: Option<VersionData>,
        meta: CommitMeta,
    ) -> Result<CommittedVersion> {
        let vo = match self.singleton_id(caller, ehr_id, kind).await {
            Err(StoreError::NotFound { kind: missing, .. }) if missing == kind.label() => {
                return Err(StoreError::NoLatest {
                    kind: kind.label(),
                    given: preceding.to_string(),
                })
            }
            other => other?,
        };
        if preceding.object_id != vo {
            return Err(match self.latest_version(caller, ehr_id, kind, vo).await {
                Ok(latest) => StoreError::VersionConflict {
                    given: preceding.to_string(),
                    latest: latest.uid.to_string(),
                },
                Err(e) => e,
            });
        }
        self.commit_one(caller, ehr_id, kind, Some(preceding.clone()), data, meta)
            .await
    }
}
