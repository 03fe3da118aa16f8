//! Administrative operations: physical deletion of an EHR, of a composition, and of a template
//! that no composition uses.

use uuid::Uuid;

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
    "DELETE FROM ehr WHERE ehr_id = $1",
];

impl Store {
    /// Physically deletes an EHR with all its versions, contributions and index rows, in one
    /// transaction that first locks the EHR row. Writers do not lock that row (see
    /// ARCHITECTURE.md), so a commit racing the deletion can still leave rows behind: delete
    /// EHRs that are not being written to.
    pub async fn delete_ehr(&self, _caller: &Principal, ehr_id: Uuid) -> Result<()> {
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
        tx.commit().await?;
        Ok(())
    }

    /// Physically deletes a composition: every version, its node and leaf rows, and the
    /// contributions left without any version. The EHR stays. The object's row is locked
    /// first, so a concurrent update waits and then finds nothing to update.
    pub async fn delete_composition_physically(
        &self,
        _caller: &Principal,
        ehr_id: Uuid,
        vo_id: Uuid,
    ) -> Result<()> {
        let mut client = self.inner.pool.get().await?;
        let tx = client.transaction().await?;
        let kind = tx
            .query_opt(
                "SELECT kind FROM versioned_object WHERE ehr_id = $1 AND vo_id = $2 FOR UPDATE",
                &[&ehr_id, &vo_id],
            )
            .await?
            .map(|row| row.get::<_, i16>(0));
        if kind != Some(VoKind::Composition.code()) {
            drop(tx);
            drop(client);
            return Err(self.missing(ehr_id, VoKind::Composition, vo_id).await);
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
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a template that no composition version (current or past) was committed with;
    /// otherwise [`StoreError::InUse`]. Like the EHR delete, it does not stop a commit that
    /// races it: delete templates nobody is committing with. Other processes on the same
    /// database keep their parsed copy until they restart.
    pub async fn delete_template(&self, _caller: &Principal, template_id: &str) -> Result<()> {
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
        // Across all EHRs on purpose: this is the one population-wide statement of the admin
        // API (it reads only the template id column of object versions).
        let used: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM object_version WHERE template_id = $1)",
                &[&template_id],
            )
            .await?
            .get(0);
        if used {
            return Err(StoreError::InUse(format!(
                "template '{template_id}' is used by compositions (current or past versions); \
                 delete them first"
            )));
        }
        tx.execute(
            "DELETE FROM template WHERE template_id = $1",
            &[&template_id],
        )
        .await?;
        tx.commit().await?;
        self.uncache_template(template_id);
        Ok(())
    }
}
