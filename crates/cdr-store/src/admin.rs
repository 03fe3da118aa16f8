//! Administrative operations: physical deletion of an EHR, of a composition, of an EHR's
//! directory, and of templates that no composition uses.

use uuid::Uuid;

use crate::audit::{insert_write_event, mark_recorded, AuditAction, WriteEvent};
use crate::error::{Result, StoreError};
use crate::ids::{Principal, VoKind};
use crate::store::Store;

/// The EHR-scoped tables, children first (object versions reference their object and
/// contribution).
const DELETES: &[&str] = &[
    "DELETE FROM leaf WHERE ehr_id = $1",
    "DELETE FROM node WHERE ehr_id = $1",
    "DELETE FROM object_version WHERE ehr_id = $1",
    "DELETE FROM versioned_object WHERE ehr_id = $1",
    "DELETE FROM contribution WHERE ehr_id = $1",
    "DELETE FROM ehr_subject WHERE ehr_id = $1",
    "DELETE FROM ehr_consent WHERE ehr_id = $1",
    "DELETE FROM ehr_grant WHERE ehr_id = $1",
    "DELETE FROM ehr WHERE ehr_id = $1",
];

/// Physical deletes are for admins only (break-glass records stay for review).
fn admin_only(caller: &Principal) -> Result<()> {
    match caller.has_role("admin") {
        true => Ok(()),
        false => Err(StoreError::Forbidden(
            "only an admin may delete records physically".into(),
        )),
    }
}

impl Store {
    /// Physically deletes an EHR with all its versions, contributions and index rows, in one
    /// transaction that first locks the EHR row. Writers do not lock that row (see
    /// ARCHITECTURE.md), so a commit racing the deletion can still leave rows behind: delete
    /// EHRs that are not being written to.
    pub async fn delete_ehr(&self, caller: &Principal, ehr_id: Uuid) -> Result<()> {
        admin_only(caller)?;
        let mut client = self.inner.pool.get().await?;
        let tx = client.transaction().await?;
        let found = tx
            .query_opt("SELECT 1 FROM ehr WHERE ehr_id = $1 FOR UPDATE", &[&ehr_id])
            .await?;
        if found.is_none() {
            return Err(StoreError::not_found("EHR", ehr_id));
        }
        for sql in DELETES {
            tx.execute(*sql, &[&ehr_id]).await?;
        }
        let event = WriteEvent::new(caller, AuditAction::Delete, Vec::new());
        insert_write_event(&tx, Some(ehr_id), &event).await?;
        tx.commit().await?;
        mark_recorded();
        Ok(())
    }

    /// Physically deletes a composition: every version, its node and leaf rows, and the
    /// contributions left without any version. The EHR stays. The object's row is locked
    /// first, so a concurrent update waits and then finds nothing to update.
    pub async fn delete_composition_physically(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        vo_id: Uuid,
    ) -> Result<()> {
        admin_only(caller)?;
        self.delete_object_physically(caller, ehr_id, VoKind::Composition, vo_id)
            .await
    }

    /// Physically deletes the EHR's directory `vo_id` (the versioned FOLDER, logically deleted
    /// or not) as [`delete_composition_physically`](Self::delete_composition_physically) deletes
    /// a composition; not found unless `vo_id` is the EHR's directory. The EHR may then be given
    /// a new one.
    pub async fn delete_directory_physically(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        vo_id: Uuid,
    ) -> Result<()> {
        admin_only(caller)?;
        self.delete_object_physically(caller, ehr_id, VoKind::Folder, vo_id)
            .await
    }

    async fn delete_object_physically(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        kind: VoKind,
        vo_id: Uuid,
    ) -> Result<()> {
        let mut client = self.inner.pool.get().await?;
        let tx = client.transaction().await?;
        let found = tx
            .query_opt(
                "SELECT kind FROM versioned_object WHERE ehr_id = $1 AND vo_id = $2 FOR UPDATE",
                &[&ehr_id, &vo_id],
            )
            .await?
            .map(|row| row.get::<_, i16>(0));
        if found != Some(kind.code()) {
            drop(tx);
            drop(client);
            return Err(self.missing(caller, ehr_id, kind, vo_id).await);
        }
        let keys: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&ehr_id, &vo_id];
        tx.execute("DELETE FROM leaf WHERE ehr_id = $1 AND vo_id = $2", &keys)
            .await?;
        tx.execute("DELETE FROM node WHERE ehr_id = $1 AND vo_id = $2", &keys)
            .await?;
        let mut contributions: Vec<Uuid> = tx
            .query(
                "DELETE FROM object_version WHERE ehr_id = $1 AND vo_id = $2 \
                 RETURNING contribution_id",
                &keys,
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        contributions.sort_unstable();
        contributions.dedup();
        tx.execute(
            "DELETE FROM versioned_object WHERE ehr_id = $1 AND vo_id = $2",
            &keys,
        )
        .await?;
        tx.execute(
            "DELETE FROM contribution c WHERE c.ehr_id = $1 AND c.contribution_id = ANY($2) \
             AND NOT EXISTS (SELECT 1 FROM object_version v \
                             WHERE v.ehr_id = $1 AND v.contribution_id = c.contribution_id)",
            &[&ehr_id, &contributions],
        )
        .await?;
        let event = WriteEvent::new(caller, AuditAction::Delete, vec![vo_id.to_string()]);
        insert_write_event(&tx, Some(ehr_id), &event).await?;
        tx.commit().await?;
        mark_recorded();
        Ok(())
    }

    /// Deletes a template that no composition version (current or past) was committed with;
    /// otherwise [`StoreError::InUse`]. Like the EHR delete, it does not stop a commit that
    /// races it: delete templates nobody is committing with. Other processes on the same
    /// database keep their parsed copy until they restart. The audit event (the template id)
    /// commits with the delete.
    pub async fn delete_template(&self, caller: &Principal, template_id: &str) -> Result<()> {
        let mut client = self.inner.pool.get().await?;
        let tx = client.transaction().await?;
        let found = tx
            .query_opt(
                "SELECT 1 FROM template WHERE template_id = $1 FOR UPDATE",
                &[&template_id],
            )
            .await?;
        if found.is_none() {
            return Err(StoreError::not_found("template", template_id));
        }
        refuse_if_used(&tx, "delete", &[template_id.to_owned()]).await?;
        tx.execute(
            "DELETE FROM template WHERE template_id = $1",
            &[&template_id],
        )
        .await?;
        let event = WriteEvent::new(caller, AuditAction::Delete, vec![template_id.to_owned()]);
        insert_write_event(&tx, None, &event).await?;
        tx.commit().await?;
        mark_recorded();
        self.uncache_template(template_id);
        Ok(())
    }

    /// Deletes every template, or none when any is used by a composition version
    /// ([`StoreError::InUse`] naming those templates); the number deleted. The audit event (the
    /// ids deleted) commits with the delete.
    pub async fn delete_all_templates(&self, caller: &Principal) -> Result<u64> {
        let mut client = self.inner.pool.get().await?;
        let tx = client.transaction().await?;
        let ids: Vec<String> = tx
            .query(
                "SELECT template_id FROM template ORDER BY template_id FOR UPDATE",
                &[],
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        refuse_if_used(&tx, "delete", &ids).await?;
        let deleted = tx.execute("DELETE FROM template", &[]).await?;
        let event = WriteEvent::new(caller, AuditAction::Delete, ids.clone());
        insert_write_event(&tx, None, &event).await?;
        tx.commit().await?;
        mark_recorded();
        for id in &ids {
            self.uncache_template(id);
        }
        Ok(deleted)
    }
}

/// How many composition ids an [`StoreError::InUse`] names at most.
const USERS_NAMED: i64 = 100;

/// [`StoreError::InUse`] when composition versions (current or past) were committed with any of
/// `templates`, in EHRbase's words (`Cannot delete template x since it is used by at least one
/// composition`), naming the compositions. Across all EHRs on purpose: with the template
/// writes, the only population-wide statements outside AQL (they read only the template id
/// column of object versions).
pub(crate) async fn refuse_if_used(
    tx: &tokio_postgres::Transaction<'_>,
    operation: &str,
    templates: &[String],
) -> Result<()> {
    let used: Vec<String> = tx
        .query(
            "SELECT t FROM unnest($1::text[]) AS t WHERE EXISTS \
             (SELECT 1 FROM object_version WHERE template_id = t) ORDER BY t",
            &[&templates],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if used.is_empty() {
        return Ok(());
    }
    let users: Vec<String> = tx
        .query(
            "SELECT DISTINCT vo_id FROM object_version WHERE template_id = ANY($1) \
             ORDER BY vo_id LIMIT $2",
            &[&used, &USERS_NAMED],
        )
        .await?
        .iter()
        .map(|row| row.get::<_, Uuid>(0).to_string())
        .collect();
    let message = match used.as_slice() {
        [one] => format!(
            "Cannot {operation} template {one} since it is used by at least one composition"
        ),
        many => format!(
            "Cannot {operation} templates {} since they are used by at least one composition",
            many.join(", ")
        ),
    };
    Err(StoreError::InUse { message, users })
}
