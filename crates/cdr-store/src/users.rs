//! The users of Basic authentication (`cdr_user`, migration 10; teams from migration 13): a
//! login name, an argon2id password hash, the roles and what access and audit need of them. The store keeps the hash as
//! given; hashing and verifying are the server's (`cdr-server`'s `http::auth_basic`).

use crate::error::{Result, StoreError};
use crate::store::Store;

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The login name (letters, digits, `.`, `_`, `@`, `-`; 1 to 128 characters).
    pub username: String,
    /// The argon2id hash in PHC string form (`$argon2id$v=19$…`).
    pub password_hash: String,
    /// The person's name, the committer name of what they write.
    pub full_name: Option<String>,
    pub roles: Vec<String>,
    pub organisation: Option<String>,
    /// The teams the user belongs to (grants to a team are theirs).
    pub teams: Vec<String>,
    /// For a patient: the external id of their EHR_STATUS subject.
    pub patient_id: Option<String>,
}

/// Refuses a login name the schema would refuse, with a message saying why.
pub fn check_username(name: &str) -> Result<()> {
    let ok = (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'));
    match ok {
        true => Ok(()),
        false => Err(StoreError::BadRequest(format!(
            "user name '{name}': use 1 to 128 letters, digits, '.', '_', '@' or '-'"
        ))),
    }
}

const COLUMNS: &str = "username, password_hash, full_name, roles, organisation, patient_id, teams";

fn user(row: &tokio_postgres::Row) -> User {
    User {
        username: row.get(0),
        password_hash: row.get(1),
        full_name: row.get(2),
        roles: row.get(3),
        organisation: row.get(4),
        patient_id: row.get(5),
        teams: row.get(6),
    }
}

impl Store {
    /// Adds a user; a taken name is a conflict.
    pub async fn add_user(&self, user: &User) -> Result<()> {
        check_username(&user.username)?;
        let client = self.inner.pool.get().await?;
        let added = client
            .execute(
                &format!(
                    "INSERT INTO cdr_user ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (username) DO NOTHING"
                ),
                &[
                    &user.username,
                    &user.password_hash,
                    &user.full_name,
                    &user.roles,
                    &user.organisation,
                    &user.patient_id,
                    &user.teams,
                ],
            )
            .await?;
        match added {
            1 => Ok(()),
            _ => Err(StoreError::Conflict(format!(
                "user {} already exists",
                user.username
            ))),
        }
    }

    /// Replaces a user's password hash.
    pub async fn set_user_password(&self, username: &str, password_hash: &str) -> Result<()> {
        let client = self.inner.pool.get().await?;
        let n = client
            .execute(
                "UPDATE cdr_user SET password_hash = $2, updated = now() WHERE username = $1",
                &[&username, &password_hash],
            )
            .await?;
        match n {
            1 => Ok(()),
            _ => Err(StoreError::not_found("user", username)),
        }
    }

    /// Removes a user.
    pub async fn remove_user(&self, username: &str) -> Result<()> {
        let client = self.inner.pool.get().await?;
        let n = client
            .execute("DELETE FROM cdr_user WHERE username = $1", &[&username])
            .await?;
        match n {
            1 => Ok(()),
            _ => Err(StoreError::not_found("user", username)),
        }
    }

    /// A user by login name, `None` when there is none.
    pub async fn user(&self, username: &str) -> Result<Option<User>> {
        let client = self.inner.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM cdr_user WHERE username = $1"
            ))
            .await?;
        Ok(client
            .query_opt(&stmt, &[&username])
            .await?
            .as_ref()
            .map(user))
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<User>> {
        let client = self.inner.pool.get().await?;
        let rows = client
            .query(
                &format!("SELECT {COLUMNS} FROM cdr_user ORDER BY username"),
                &[],
            )
            .await?;
        Ok(rows.iter().map(user).collect())
    }
}
