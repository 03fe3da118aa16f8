//! Opening the store: the connection pool (managed cluster or `DATABASE_URL`) and migrations.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::cluster::{ClusterOptions, ManagedCluster};
use crate::error::{Result, StoreError};

/// The numbered migrations, applied in order at start-up.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "schema", include_str!("../migrations/0001_schema.sql")),
    (3, "aql", include_str!("../migrations/0003_aql.sql")),
    (
        4,
        "stored_query",
        include_str!("../migrations/0004_stored_query.sql"),
    ),
    (
        5,
        "write_path",
        include_str!("../migrations/0005_write_path.sql"),
    ),
    (
        6,
        "node_pointer",
        include_str!("../migrations/0006_node_pointer.sql"),
    ),
    (
        7,
        "text_documents",
        include_str!("../migrations/0007_text_documents.sql"),
    ),
    (
        8,
        "aql_natural",
        include_str!("../migrations/0008_aql_natural.sql"),
    ),
    (
        9,
        "node_repeats",
        include_str!("../migrations/0009_node_repeats.sql"),
    ),
    (10, "users", include_str!("../migrations/0010_users.sql")),
    (11, "audit", include_str!("../migrations/0011_audit.sql")),
    (12, "access", include_str!("../migrations/0012_access.sql")),
    (13, "teams", include_str!("../migrations/0013_teams.sql")),
    (
        14,
        "settings",
        include_str!("../migrations/0014_settings.sql"),
    ),
    (
        15,
        "care_plan_index",
        include_str!("../migrations/0015_care_plan_index.sql"),
    ),
    (16, "events", include_str!("../migrations/0016_events.sql")),
];

/// The newest schema version this build knows.
pub fn schema_version() -> i32 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

/// Key for the advisory lock serialising migrations of concurrent starts.
const MIGRATION_LOCK: i64 = 0x0cd7_5702_e000_0001;

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// A PostgreSQL URL; when `None` the store runs its own cluster under `data_dir`.
    pub database_url: Option<String>,
    /// cdr's data directory; the managed cluster lives in `data_dir/pg`.
    pub data_dir: PathBuf,
    /// The system id written into version uids and audits.
    pub system_id: String,
    /// Largest number of pooled connections.
    pub pool_size: usize,
    /// A PostgreSQL URL of a streaming replica of the primary, for AQL and the flags
    /// (`replica.rs`); never migrated.
    pub read_database_url: Option<String>,
}

impl StoreConfig {
    /// Defaults: `./data`, system id `local.cdr`, `DATABASE_URL` from the environment.
    pub fn from_env() -> StoreConfig {
        StoreConfig {
            database_url: std::env::var("DATABASE_URL").ok().filter(|s| !s.is_empty()),
            data_dir: PathBuf::from("./data"),
            system_id: "local.cdr".to_owned(),
            pool_size: 16,
            read_database_url: None,
        }
    }
}

/// The versioned store. Cheap to clone; all clones share the pool and caches.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) pool: Pool,
    /// Connections for AQL: read-only sessions with a per-connection statement cache.
    pub(crate) query_pool: Pool,
    /// The read replica, when one is configured (`replica.rs`).
    pub(crate) replica: Option<crate::replica::Replica>,
    /// The WAL positions of recent writers' commits (`replica.rs`).
    pub(crate) written: Mutex<crate::replica::Written>,
    pub(crate) system_id: String,
    pub(crate) templates: RwLock<HashMap<String, Arc<cdr_template::Template>>>,
    /// Dictionary ids known to be in the database.
    pub(crate) known_dict: Mutex<HashSet<i64>>,
    /// Signalled after each commit (see `events.rs`).
    pub(crate) committed: Arc<tokio::sync::Notify>,
    /// The FHIR terminology server AQL's TERMINOLOGY() asks, when one is configured.
    pub(crate) terminology: std::sync::OnceLock<crate::terminology::TerminologyService>,
    /// The session settings last sent on each query connection (see `aql::Store::query`),
    /// keyed by the address of its statement cache; the weak reference keeps that address
    /// from being reused by another connection while the entry lives.
    pub(crate) query_settings: Mutex<HashMap<usize, QuerySession>>,
    /// Parsed queries by their text (applications repeat the same AQL with other parameters).
    pub(crate) parsed: Mutex<HashMap<String, Arc<cdr_aql::Query>>>,
    /// The audit writer's queue (`audit.rs`).
    pub(crate) audit: tokio::sync::mpsc::Sender<crate::audit::Message>,
    /// Connections as the role cdr was given, which ran the migrations (tools only).
    owner_pool: Pool,
    cluster: Option<ManagedCluster>,
}

/// What a query connection's session was last set to.
pub(crate) struct QuerySession {
    pub(crate) connection: std::sync::Weak<deadpool_postgres::StatementCache>,
    pub(crate) settings: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("system_id", &self.inner.system_id)
            .field("managed", &self.inner.cluster.is_some())
            .finish()
    }
}

impl Store {
    /// Answers AQL's TERMINOLOGY() with `service` from now on (set once, at start-up); false
    /// when one was set already.
    pub fn use_terminology(&self, service: crate::terminology::TerminologyService) -> bool {
        self.inner.terminology.set(service).is_ok()
    }

    /// Opens the store: starts (or reuses) the managed cluster when there is no database URL,
    /// creates the `cdr` database if needed, and applies migrations.
    pub async fn open(config: &StoreConfig) -> Result<Store> {
        match &config.database_url {
            Some(url) => {
                let pg: tokio_postgres::Config = url
                    .parse()
                    .map_err(|e| StoreError::BadRequest(format!("DATABASE_URL: {e}")))?;
                Store::connect(pg, config, None).await
            }
            None => {
                let opts = ClusterOptions::new(config.data_dir.join("pg"));
                let cluster = tokio::task::spawn_blocking(move || ManagedCluster::start(&opts))
                    .await
                    .map_err(|e| StoreError::Pool(e.to_string()))??;
                create_database(&cluster, "cdr").await?;
                let pg = cluster.pg_config("cdr");
                Store::connect(pg, config, Some(cluster)).await
            }
        }
    }

    /// Opens the store on a given server (tests, tools): migrations are applied on `pg`, and
    /// the pools connect as the role `audit_roles.rs` chooses.
    pub async fn connect(
        pg: tokio_postgres::Config,
        config: &StoreConfig,
        cluster: Option<ManagedCluster>,
    ) -> Result<Store> {
        let owner_pool = build_pool(pg.clone(), config.pool_size)?;
        let runtime = migrate_as(&owner_pool, Some(&pg))
            .await?
            .unwrap_or_else(|| pg.clone());
        let replica = match &config.read_database_url {
            Some(url) => {
                let given: tokio_postgres::Config = url
                    .parse()
                    .map_err(|e| StoreError::BadRequest(format!("the read database URL: {e}")))?;
                let replica = replica_config(given, &pg, &runtime);
                Some(crate::replica::Replica::new(build_pool(
                    read_only(&replica),
                    config.pool_size,
                )?))
            }
            None => None,
        };
        let query_pool = build_pool(read_only(&runtime), config.pool_size)?;
        let pool = build_pool(runtime, config.pool_size)?;
        let audit = crate::audit::start_writer(pool.clone());
        Ok(Store {
            inner: Arc::new(Inner {
                pool,
                query_pool,
                replica,
                written: Mutex::new(crate::replica::Written::default()),
                system_id: config.system_id.clone(),
                templates: RwLock::new(HashMap::new()),
                known_dict: Mutex::new(HashSet::new()),
                committed: Arc::new(tokio::sync::Notify::new()),
                terminology: std::sync::OnceLock::new(),
                query_settings: Mutex::new(HashMap::new()),
                parsed: Mutex::new(HashMap::new()),
                audit,
                owner_pool,
                cluster,
            }),
        })
    }

    /// The system id of this store.
    pub fn system_id(&self) -> &str {
        &self.inner.system_id
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        let client = self.inner.pool.get().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// Writes the audit events still queued, closes the pools and stops the managed cluster, if
    /// this store owns one.
    pub async fn shutdown(&self) -> Result<()> {
        // A database that does not answer must not hold the shutdown for ever.
        let flushed = match tokio::time::timeout(
            std::time::Duration::from_secs(10),
            self.flush_audit(),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(StoreError::Pool(
                "audit events still queued could not be written within 10 s".into(),
            )),
        };
        self.inner.query_pool.close();
        if let Some(replica) = &self.inner.replica {
            replica.pool().close();
        }
        self.inner.pool.close();
        self.inner.owner_pool.close();
        flushed?;
        if let Some(cluster) = &self.inner.cluster {
            cluster.stop()?;
        }
        Ok(())
    }

    /// The managed cluster, when this store runs one.
    pub fn cluster(&self) -> Option<&ManagedCluster> {
        self.inner.cluster.as_ref()
    }

    /// The connection pool (for tools and tests): cdr's own role.
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// Connections as the role that ran the migrations (for tools that create tables or
    /// analyse them, such as the benchmarks); the role given to cdr, a superuser on the
    /// managed cluster.
    pub fn owner_pool(&self) -> &Pool {
        &self.inner.owner_pool
    }
}

/// `pg` with read-only sessions.
fn read_only(pg: &tokio_postgres::Config) -> tokio_postgres::Config {
    let mut read_only = pg.clone();
    let options = match pg.get_options() {
        Some(o) if !o.is_empty() => format!("{o} -c default_transaction_read_only=on"),
        _ => "-c default_transaction_read_only=on".to_owned(),
    };
    read_only.options(&options);
    read_only
}

/// The replica's connection settings: as given, except that when cdr works as the runtime
/// role on the primary (it was given a superuser) and the replica's URL names that same
/// user (or none), it logs in as the runtime role there too (the role and its password are
/// replicated). A replica that cannot be reached must not hold reads for long: 2 s to
/// connect unless the URL says otherwise.
fn replica_config(
    mut given: tokio_postgres::Config,
    primary: &tokio_postgres::Config,
    runtime: &tokio_postgres::Config,
) -> tokio_postgres::Config {
    let switched = runtime.get_user() != primary.get_user();
    let same_user = given.get_user().is_none() || given.get_user() == primary.get_user();
    if switched && same_user {
        if let Some(user) = runtime.get_user() {
            given.user(user);
        }
        if given.get_password().is_none() {
            if let Some(password) = primary.get_password() {
                given.password(password);
            }
        }
    }
    if given.get_connect_timeout().is_none() {
        given.connect_timeout(std::time::Duration::from_secs(2));
    }
    given
}

fn build_pool(pg: tokio_postgres::Config, size: usize) -> Result<Pool> {
    let mgr = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(mgr)
        .max_size(size.max(1))
        .build()
        .map_err(|e| StoreError::Pool(e.to_string()))
}

/// Creates database `name` on a managed cluster unless it exists.
pub async fn create_database(cluster: &ManagedCluster, name: &str) -> Result<()> {
    let (client, conn) = cluster.pg_config("postgres").connect(NoTls).await?;
    let task = tokio::spawn(conn);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        let sql = format!("CREATE DATABASE {}", quote_ident(name));
        if let Err(e) = client.batch_execute(&sql).await {
            // Another process may have created it meanwhile.
            if e.code() != Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) {
                return Err(e.into());
            }
        }
    }
    drop(client);
    let _ = task.await;
    Ok(())
}

/// Quotes an SQL identifier made by cdr itself (database names); never used for user input.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Applies the missing migrations in one transaction, under an advisory lock; refuses a schema
/// newer than this build.
pub async fn migrate(pool: &Pool) -> Result<()> {
    migrate_as(pool, None).await.map(|_| ())
}

/// [`migrate`], then, when `pg` (the pool's settings) is given, sets up the role cdr works as
/// in the same transaction and answers its connection settings.
async fn migrate_as(
    pool: &Pool,
    pg: Option<&tokio_postgres::Config>,
) -> Result<Option<tokio_postgres::Config>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS cdr_schema_migration (
             version integer PRIMARY KEY,
             name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let current: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM cdr_schema_migration",
            &[],
        )
        .await?
        .get(0);
    if current > schema_version() {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known: schema_version(),
        });
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.batch_execute(sql).await?;
        if *version == 6 {
            backfill_node_pointers(&tx).await?;
        }
        if *version == 9 {
            backfill_node_repeats(&tx).await?;
        }
        tx.execute(
            "INSERT INTO cdr_schema_migration (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await?;
    }
    let runtime = match pg {
        Some(pg) => Some(crate::audit_roles::runtime_config(&tx, pg).await?),
        None => None,
    };
    tx.commit().await?;
    Ok(runtime)
}

/// Fills in the pointers of the node rows that migration 6 left without one: the rows of every
/// current version are derived again from its document (the same walk numbers them the same
/// way) and each row gets its pointer; then the column becomes NOT NULL. Runs inside the
/// migration's transaction.
async fn backfill_node_pointers(tx: &deadpool_postgres::Transaction<'_>) -> Result<()> {
    backfill_nodes(
        tx,
        6,
        "pointer",
        "pointer = string_to_array(u.val, ',')",
        |n| n.pointer.join(","),
    )
    .await?;
    // Every row has its pointer now (this fails on a node row without a current document).
    tx.batch_execute("ALTER TABLE node ALTER COLUMN pointer SET NOT NULL")
        .await?;
    Ok(())
}

/// Fills in `node.repeats` (migration 9) for the node rows written before it, the same way.
async fn backfill_node_repeats(tx: &deadpool_postgres::Transaction<'_>) -> Result<()> {
    backfill_nodes(
        tx,
        9,
        "repeats",
        "repeats = string_to_array(u.val, E'\\x1f')",
        |n| crate::write::repeats_text(&n.repeats),
    )
    .await
}

/// Derives the node rows of every current version with a node row whose `column` is NULL
/// again from its document, and sets `assignment` (reading `u.val`, the text `value` gives a
/// derived row) on each, in batches. `column` and `assignment` are constants of the migrations.
async fn backfill_nodes(
    tx: &deadpool_postgres::Transaction<'_>,
    migration: i32,
    column: &str,
    assignment: &str,
    value: fn(&crate::index::NodeRow) -> String,
) -> Result<()> {
    const BATCH: i32 = 500;
    let select = tx
        .prepare(&format!(
            "SELECT ov.ehr_id, ov.vo_id, vo.kind, ov.document::text \
             FROM versioned_object vo JOIN object_version ov \
               ON ov.ehr_id = vo.ehr_id AND ov.vo_id = vo.vo_id AND ov.version = vo.head \
             WHERE ov.document IS NOT NULL AND EXISTS (SELECT FROM node n \
               WHERE n.ehr_id = vo.ehr_id AND n.vo_id = vo.vo_id AND n.{column} IS NULL)"
        ))
        .await?;
    let update = tx
        .prepare(&format!(
            "UPDATE node SET {assignment} \
             FROM unnest($1::uuid[], $2::uuid[], $3::int4[], $4::int8[], $5::text[]) \
               AS u(ehr, vo, num, arch, val) \
             WHERE node.ehr_id = u.ehr AND node.vo_id = u.vo AND node.num = u.num \
               AND node.archetype = u.arch"
        ))
        .await?;
    let portal = tx.bind(&select, &[]).await?;
    loop {
        let rows = tx.query_portal(&portal, BATCH).await?;
        if rows.is_empty() {
            break;
        }
        let (mut ehrs, mut vos, mut nums, mut archs, mut vals) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for row in &rows {
            let (ehr, vo, kind, doc): (uuid::Uuid, uuid::Uuid, i16, &str) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            let derived = derive_stored(kind, doc).map_err(|e| {
                StoreError::Migration(format!(
                    "{migration}: stored document {vo} of EHR {ehr}: {e}"
                ))
            })?;
            for n in &derived.nodes {
                ehrs.push(ehr);
                vos.push(vo);
                nums.push(n.num);
                archs.push(crate::ids::dict_id(&n.archetype_id));
                vals.push(value(n));
            }
        }
        tx.execute(&update, &[&ehrs, &vos, &nums, &archs, &vals])
            .await?;
        if rows.len() < BATCH as usize {
            break;
        }
    }
    drop(portal);
    Ok(())
}

/// The index rows of a stored document of an object of `kind`.
fn derive_stored(
    kind: i16,
    doc: &str,
) -> std::result::Result<crate::index::IndexRows, cdr_rm::DecodeError> {
    Ok(match crate::ids::VoKind::from_i16(kind) {
        crate::ids::VoKind::Composition => {
            crate::index::derive(&cdr_rm::from_json::<cdr_rm::Composition>(doc.as_bytes())?)
        }
        crate::ids::VoKind::EhrStatus => {
            crate::index::derive(&cdr_rm::from_json::<cdr_rm::EhrStatus>(doc.as_bytes())?)
        }
        crate::ids::VoKind::Folder => {
            crate::index::derive(&cdr_rm::from_json::<cdr_rm::Folder>(doc.as_bytes())?)
        }
    })
}
