//! The store's own PostgreSQL: started in the data directory, reused, stopped on shutdown.

use crate::common::{caller, meta};
use cdr_store::{Store, StoreConfig};

#[tokio::test]
async fn the_managed_cluster_is_started_reused_and_stopped() {
    let dir = cdr_testkit::temp_dir("cdr-managed");
    let config = StoreConfig {
        database_url: None,
        data_dir: dir.clone(),
        system_id: "managed.test".into(),
        pool_size: 2,
        read_database_url: None,
    };
    let store = Store::open(&config)
        .await
        .expect("first start initialises the cluster");
    let cluster = store.cluster().expect("a managed cluster");
    assert!(cluster.data_dir().join("PG_VERSION").exists());
    assert!(cluster.is_running());
    let socket = cluster
        .socket_dir()
        .join(format!(".s.PGSQL.{}", cluster.port()));
    assert!(socket.exists(), "listens on a Unix socket in its data dir");
    let ehr = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap();
    store.shutdown().await.unwrap();
    assert!(
        !store.cluster().unwrap().is_running(),
        "stopped on shutdown"
    );
    drop(store);

    // The next start reuses the data directory: the EHR is still there.
    let store = Store::open(&config)
        .await
        .expect("second start reuses the cluster");
    let got = store.get_ehr(&caller(), ehr.ehr_id).await.unwrap();
    assert_eq!(got.ehr_id, ehr.ehr_id);
    // A second store on a running cluster reuses it rather than starting another.
    let again = Store::open(&config).await.expect("reuse while running");
    again.ping().await.unwrap();
    store.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_postgres_is_explained() {
    let msg = cdr_store::cluster::ClusterError::NotInstalled.to_string();
    assert!(msg.contains("PostgreSQL is not installed"), "{msg}");
    assert!(msg.contains("apt install postgresql"), "{msg}");
    assert!(msg.contains("DATABASE_URL"), "{msg}");
}

#[tokio::test]
async fn a_database_url_is_used_as_given() {
    let pg = cdr_testkit::fresh_database().await;
    let host = match &pg.get_hosts()[0] {
        tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        other => panic!("{other:?}"),
    };
    let url = format!(
        "postgresql://cdr@/{}?host={}&port={}",
        pg.get_dbname().unwrap(),
        host.replace('/', "%2F"),
        pg.get_ports()[0]
    );
    let config = StoreConfig {
        database_url: Some(url),
        data_dir: std::path::PathBuf::from("/nonexistent"),
        system_id: "url.test".into(),
        pool_size: 2,
        read_database_url: None,
    };
    let store = Store::open(&config)
        .await
        .expect("opens through DATABASE_URL");
    assert!(store.cluster().is_none(), "manages no cluster");
    let ehr = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap();
    assert_eq!(ehr.system_id, "url.test");
    let bad = StoreConfig {
        database_url: Some("not a url at all ::".into()),
        ..config
    };
    assert!(Store::open(&bad).await.is_err());
}
