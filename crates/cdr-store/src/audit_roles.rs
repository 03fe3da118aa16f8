//! The database role cdr works as, which cannot change or remove audit rows.
//!
//! Migrations run on the connection cdr was given (the managed cluster's superuser `cdr`, or
//! `DATABASE_URL`). A superuser can do anything, so when that connection is one, the pools log
//! in as [`RUNTIME_ROLE`] instead: a plain login role (no superuser, no role or database
//! creation) that may read and write the health data tables but only SELECT and INSERT the
//! audit tables. Its privileges are granted again at every start, so the tables of later
//! migrations are covered. It takes the password of the given connection, if that has one.
//!
//! A `DATABASE_URL` that names a role other than a superuser is used as it is; if that role
//! may change audit rows (it owns them, having run the migrations), cdr says so at start-up:
//! give the audit tables to another role and grant this one SELECT and INSERT on them.

use deadpool_postgres::Transaction;

use crate::error::Result;

/// The login role of cdr's connections when it was given a superuser.
pub const RUNTIME_ROLE: &str = "cdr_app";

/// Grants of the runtime role, made under the migration lock on every start.
const GRANTS: &str = "\
    GRANT USAGE ON SCHEMA public TO cdr_app;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO cdr_app;
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO cdr_app;
    REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON cdr_schema_migration FROM cdr_app;
    REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_event, audit_seal FROM cdr_app;";

/// Creates the runtime role when missing (roles belong to the cluster; another database's start
/// may create it at the same moment).
const CREATE_ROLE: &str = "\
    DO $$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cdr_app') THEN
            CREATE ROLE cdr_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
                NOBYPASSRLS;
        END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END $$";

/// Sets up the runtime role inside the migration's transaction and answers the connection
/// settings of the pools: `pg` itself, or `pg` as [`RUNTIME_ROLE`].
pub(crate) async fn runtime_config(
    tx: &Transaction<'_>,
    pg: &tokio_postgres::Config,
) -> Result<tokio_postgres::Config> {
    let superuser: bool = tx
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await?
        .get(0);
    if !superuser {
        let may_change: bool = tx
            .query_one(
                "SELECT has_table_privilege('audit_event', 'UPDATE') \
                 OR has_table_privilege('audit_event', 'DELETE') \
                 OR pg_has_role((SELECT relowner FROM pg_class WHERE oid = 'audit_event'::regclass), 'USAGE')",
                &[],
            )
            .await?
            .get(0);
        if may_change {
            eprintln!(
                "cdr: warning: the database role of DATABASE_URL may change or remove audit rows; \
                 give the tables audit_event and audit_seal to another role and grant this one \
                 only SELECT and INSERT on them (or connect as a superuser: cdr then works as the \
                 role {RUNTIME_ROLE})"
            );
        }
        return Ok(pg.clone());
    }
    tx.batch_execute(CREATE_ROLE).await?;
    if let Some(password) = pg.get_password() {
        let password = String::from_utf8_lossy(password).into_owned();
        let sql: String = tx
            .query_one(
                "SELECT format('ALTER ROLE cdr_app PASSWORD %L', $1::text)",
                &[&password],
            )
            .await?
            .get(0);
        tx.batch_execute(&sql).await?;
    }
    tx.batch_execute(GRANTS).await?;
    let mut runtime = pg.clone();
    runtime.user(RUNTIME_ROLE);
    Ok(runtime)
}
