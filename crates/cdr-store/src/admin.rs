//! Administrative operations: physical deletion of an EHR.

use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::ids::Principal;
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
}
