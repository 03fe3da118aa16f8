//! The store's errors. The REST layer maps each kind to one status code.

use cdr_validation::ValidationIssue;

/// Everything a store operation can answer instead of success.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The EHR, object, version or template does not exist (`kind` names which).
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    /// The preceding version given is not the latest one. `latest` is the latest version uid.
    #[error("version conflict: {given} is not the latest version; the latest is {latest}")]
    VersionConflict { given: String, latest: String },
    /// The preceding version given names an object that does not exist (an EHR without a
    /// directory): there is no latest version to name.
    #[error("the EHR has no {kind}, so {given} is not its latest version")]
    NoLatest { kind: &'static str, given: String },
    /// A conflict with existing data (id in use, EHR for this subject exists, different template
    /// under the same id, object already deleted, EHR not modifiable, …).
    #[error("{0}")]
    Conflict(String),
    /// The object was logically deleted; `uid` is the deletion version.
    #[error("{kind} {id} is deleted")]
    Deleted {
        kind: &'static str,
        id: String,
        uid: String,
    },
    /// The caller may see the record (or the operation concerns none) but may not do this.
    /// A record the caller may not see is [`StoreError::NotFound`] instead, never this.
    #[error("{0}")]
    Forbidden(String),
    /// The resource cannot be removed or replaced while other data uses it (a template that
    /// compositions were committed with); `users` names some of them (composition ids).
    #[error("{message}")]
    InUse { message: String, users: Vec<String> },
    /// The content fails validation against its template or the RM; every issue is listed.
    #[error("validation failed with {} issue(s)", .0.len())]
    Invalid(Vec<ValidationIssue>),
    /// The content is malformed, each issue with its path: literals that do not parse as their
    /// RM type (ISO 8601 dates, times and durations, URIs) in any data, and every RM issue of
    /// an EHR_STATUS or FOLDER (ITS-REST gives their operations no 422).
    #[error("malformed content: {}", list_issues(.0))]
    Malformed(Vec<ValidationIssue>),
    /// The request cannot be processed as given (bad id, missing template id, bad OPT, …).
    #[error("{0}")]
    BadRequest(String),
    /// The AQL query is malformed, unsupported or failed on its data; `line` and `column`
    /// (1-based, 0 when unknown) point into the query text.
    #[error("{message} (line {line}, column {column})")]
    Query {
        message: String,
        line: usize,
        column: usize,
    },
    /// The terminology server that TERMINOLOGY() needs could not be reached or failed.
    #[error("{0}")]
    Terminology(String),
    /// The query ran longer than its statement timeout.
    #[error("the query was cancelled after its time limit")]
    QueryTimeout,
    /// The database schema is newer than this build of cdr.
    #[error("the database schema is at version {found}, newer than this cdr knows ({known}); upgrade cdr")]
    SchemaTooNew { found: i32, known: i32 },
    /// The managed PostgreSQL cluster could not be found, initialised or started.
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    /// The database could not be reached or failed.
    #[error("database error: {0}")]
    Db(tokio_postgres::Error),
    /// No database connection could be had.
    #[error("database unavailable: {0}")]
    Pool(String),
    /// A migration could not bring stored data up to date.
    #[error("migration failed: {0}")]
    Migration(String),
}

impl From<tokio_postgres::Error> for StoreError {
    /// A database error, except text PostgreSQL cannot hold: a NUL character in a value the
    /// client sent (an id, a subject, a name) is the client's error, whichever statement meets it.
    fn from(e: tokio_postgres::Error) -> Self {
        let nul = e.as_db_error().is_some_and(|db| {
            db.code() == &tokio_postgres::error::SqlState::CHARACTER_NOT_IN_REPERTOIRE
        });
        match nul {
            true => StoreError::BadRequest(
                "text values cannot contain the NUL character (U+0000)".into(),
            ),
            false => StoreError::Db(e),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StoreError::Pool(other.to_string()),
        }
    }
}

impl StoreError {
    /// Whether the database cannot be reached now (no connection to be had, the connection
    /// closed, a connection exception, the server shutting down or starting): a caller may try
    /// again later, nothing is wrong with the request or with cdr.
    pub fn database_unreachable(&self) -> bool {
        match self {
            StoreError::Pool(_) => true,
            StoreError::Db(e) => {
                // Connecting failed, or the socket did (refused, reset, broken pipe).
                let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
                e.is_closed()
                    || io
                    || e.code().is_some_and(|c| {
                        let c = c.code();
                        c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03")
                    })
            }
            _ => false,
        }
    }

    pub(crate) fn not_found(kind: &'static str, id: impl ToString) -> Self {
        StoreError::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    /// An upload under a template id that is taken, in EHRbase's words.
    pub fn template_exists(template_id: &str) -> Self {
        StoreError::Conflict(format!(
            "Operational template with this template ID already exists: {template_id}"
        ))
    }

    /// Content written to an EHR whose EHR_STATUS says it is not modifiable. The message says
    /// "does not allow modification", the words EHRbase's clients look for.
    pub(crate) fn not_modifiable(ehr_id: impl std::fmt::Display) -> Self {
        StoreError::Conflict(format!(
            "EHR {ehr_id} does not allow modification (its EHR_STATUS has is_modifiable=false)"
        ))
    }
}

/// The issues as one line: `path: message; …`.
fn list_issues(issues: &[ValidationIssue]) -> String {
    let parts: Vec<String> = issues
        .iter()
        .map(|i| format!("{}: {}", i.path, i.message))
        .collect();
    parts.join("; ")
}

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
