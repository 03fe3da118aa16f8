//! What the server records about itself (`cdr_setting`, `migrations/0014_settings.sql`): one
//! text value per name.

use crate::error::Result;
use crate::Store;

impl Store {
    /// The value of a setting, `None` when it was never set.
    pub async fn setting(&self, name: &str) -> Result<Option<String>> {
        let client = self.inner.pool.get().await?;
        let row = client
            .query_opt("SELECT value FROM cdr_setting WHERE name = $1", &[&name])
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Sets a setting, replacing its value.
    pub async fn set_setting(&self, name: &str, value: &str) -> Result<()> {
        let client = self.inner.pool.get().await?;
        client
            .execute(
                "INSERT INTO cdr_setting (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, set_at = now()",
                &[&name, &value],
            )
            .await?;
        Ok(())
    }
}
