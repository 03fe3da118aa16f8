//! Test support: one ephemeral PostgreSQL cluster per test process, and a fresh database per
//! test cloned from a migrated template database (so a test starts in milliseconds).
//!
//! The cluster lives in a temporary directory and is stopped and removed by a watchdog process
//! when the test process exits, however it exits. Nothing depends on a server started by hand.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use cdr_store::cluster::{ClusterOptions, ManagedCluster, Watchdog};
use cdr_store::{Store, StoreConfig};

const TEMPLATE_DB: &str = "cdr_template";

struct Shared {
    cluster: ManagedCluster,
    _watchdog: Watchdog,
}

static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// A new empty directory under the system temp dir, unique to this process and call.
pub fn temp_dir(prefix: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos:08x}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating a temporary directory");
    dir
}

/// Starts a private cluster in a new temporary directory; it is stopped and removed when the
/// process exits (or when the returned watchdog is dropped). `durable` keeps fsync on.
pub fn private_cluster(durable: bool) -> (ManagedCluster, Watchdog) {
    // The data directory is the temporary directory itself, so the watchdog (running as the
    // cluster's user) can remove it.
    let root = temp_dir("cdr-testkit");
    let mut opts = ClusterOptions::new(&root);
    opts.durable = durable;
    let cluster = ManagedCluster::start(&opts)
        .unwrap_or_else(|e| panic!("cdr-testkit: cannot start PostgreSQL: {e}"));
    let watchdog = cluster
        .stop_when_process_exits(Some(&root))
        .unwrap_or_else(|e| panic!("cdr-testkit: {e}"));
    (cluster, watchdog)
}

/// A private cluster and a streaming replica of it (a hot standby fed by
/// `pg_basebackup -R`), each in a temporary directory of its own, stopped and removed when the
/// process exits.
#[derive(Debug)]
pub struct StreamingPair {
    pub primary: ManagedCluster,
    pub standby: ManagedCluster,
    _watchdogs: (Watchdog, Watchdog),
}

/// Starts a [`StreamingPair`]. The base backup of a fresh cluster takes a moment; a test
/// should start one pair and keep it.
pub fn streaming_pair() -> StreamingPair {
    let (primary, primary_watchdog) = private_cluster(false);
    let root = temp_dir("cdr-testkit-standby");
    let standby = primary
        .start_standby(&root)
        .unwrap_or_else(|e| panic!("cdr-testkit: cannot start the standby: {e}"));
    let standby_watchdog = standby
        .stop_when_process_exits(Some(&root))
        .unwrap_or_else(|e| panic!("cdr-testkit: {e}"));
    StreamingPair {
        primary,
        standby,
        _watchdogs: (primary_watchdog, standby_watchdog),
    }
}

impl StreamingPair {
    /// Waits (up to 30 s) until the standby has replayed everything the primary has written
    /// so far.
    pub async fn wait_for_replay(&self) {
        let primary = superuser(&self.primary).await;
        let target: String = primary
            .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
            .await
            .expect("cdr-testkit: the primary's WAL position")
            .get(0);
        let standby = superuser(&self.standby).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let caught_up: bool = standby
                .query_one(
                    "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                    &[&target],
                )
                .await
                .expect("cdr-testkit: the standby's replay position")
                .get(0);
            if caught_up {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "cdr-testkit: the standby did not replay up to {target} within 30 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Pauses (`true`) or resumes the standby's replay.
    pub async fn pause_replay(&self, pause: bool) {
        let sql = match pause {
            true => "SELECT pg_wal_replay_pause()",
            false => "SELECT pg_wal_replay_resume()",
        };
        superuser(&self.standby)
            .await
            .simple_query(sql)
            .await
            .expect("cdr-testkit: pausing or resuming replay");
    }
}

/// A superuser connection to a cluster's `postgres` database (its task ends with the client).
async fn superuser(cluster: &ManagedCluster) -> tokio_postgres::Client {
    let (client, conn) = cluster
        .pg_config("postgres")
        .connect(tokio_postgres::NoTls)
        .await
        .expect("cdr-testkit: connecting as the superuser");
    tokio::spawn(conn);
    client
}

/// A key-value connection string for database `dbname` of `cluster` as its superuser (the
/// form `DATABASE_URL` and `CDR_READ_DATABASE_URL` take).
pub fn url_of(cluster: &ManagedCluster, dbname: &str) -> String {
    format!(
        "host={} port={} user={} dbname={dbname}",
        cluster.socket_dir().display(),
        cluster.port(),
        cdr_store::cluster::SUPERUSER,
    )
}

fn shared() -> &'static Shared {
    let shared = SHARED.get_or_init(|| {
        // Set up on a plain thread with its own runtime: callers may be inside a runtime.
        std::thread::spawn(|| {
            let (cluster, watchdog) = private_cluster(false);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                cdr_store::create_database(&cluster, TEMPLATE_DB).await?;
                let store = Store::connect(cluster.pg_config(TEMPLATE_DB), &config(), None).await?;
                // No session may stay on a template database.
                store.shutdown().await?;
                Ok::<_, cdr_store::StoreError>(())
            })
            .map_err(|e| e.to_string())?;
            Ok(Shared {
                cluster,
                _watchdog: watchdog,
            })
        })
        .join()
        .unwrap_or_else(|_| Err("cdr-testkit set-up panicked".to_owned()))
    });
    match shared {
        Ok(s) => s,
        Err(e) => panic!("cdr-testkit: cannot set up the test cluster: {e}"),
    }
}

/// The store settings tests use.
pub fn config() -> StoreConfig {
    StoreConfig {
        database_url: None,
        data_dir: PathBuf::from("unused"),
        system_id: "test.cdr".to_owned(),
        pool_size: 8,
        read_database_url: None,
    }
}

/// The process's shared test cluster.
pub fn cluster() -> &'static ManagedCluster {
    &shared().cluster
}

/// Creates a fresh database cloned from the migrated template; returns its connection settings.
pub async fn fresh_database() -> tokio_postgres::Config {
    let shared = shared();
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    let (client, conn) = shared
        .cluster
        .pg_config("postgres")
        .connect(tokio_postgres::NoTls)
        .await
        .expect("cdr-testkit: connecting to the test cluster");
    let task = tokio::spawn(conn);
    let sql = format!(
        "CREATE DATABASE {} TEMPLATE {}",
        cdr_store::quote_ident(&name),
        cdr_store::quote_ident(TEMPLATE_DB)
    );
    client
        .batch_execute(&sql)
        .await
        .expect("cdr-testkit: cloning the template database");
    drop(client);
    let _ = task.await;
    shared.cluster.pg_config(&name)
}

/// A store on a fresh database of its own.
pub async fn fresh_store() -> Store {
    fresh_store_with(config()).await
}

/// A store on a fresh database, with given settings (system id, pool size).
pub async fn fresh_store_with(config: StoreConfig) -> Store {
    let pg = fresh_database().await;
    Store::connect(pg, &config, None)
        .await
        .unwrap_or_else(|e| panic!("cdr-testkit: opening the store: {e}"))
}

/// `../shared/testdata` beside the checkout, when present.
pub fn testdata_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata");
    dir.is_dir().then_some(dir)
}

/// Reads a file of the test corpus (`../shared/testdata/<rel>`), or `None` (with a note on
/// stderr) when the corpus is absent.
pub fn testdata(rel: &str) -> Option<Vec<u8>> {
    match testdata_dir() {
        Some(dir) => Some(
            std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("reading testdata {rel}: {e}")),
        ),
        None => {
            eprintln!("note: ../shared/testdata is absent; skipping the corpus part of this test");
            None
        }
    }
}
