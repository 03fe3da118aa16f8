use cdr_store::{Store, StoreError};

#[tokio::test]
async fn migrations_are_recorded_and_idempotent() {
    let pg = cdr_testkit::fresh_database().await;
    let config = cdr_testkit::config();
    // The template database is already migrated; opening again applies nothing and succeeds.
    let store = Store::connect(pg.clone(), &config, None).await.unwrap();
    let client = store.pool().get().await.unwrap();
    let rows = client
        .query(
            "SELECT version, name FROM cdr_schema_migration ORDER BY version",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), cdr_store::MIGRATIONS.len());
    assert_eq!(
        rows.last().unwrap().get::<_, i32>(0),
        cdr_store::schema_version()
    );
    drop(client);
    Store::connect(pg, &config, None).await.unwrap();
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let pg = cdr_testkit::fresh_database().await;
    let config = cdr_testkit::config();
    let store = Store::connect(pg.clone(), &config, None).await.unwrap();
    // As the role that migrates: cdr's own role may only read the migration record.
    let client = store.owner_pool().get().await.unwrap();
    client
        .execute(
            "INSERT INTO cdr_schema_migration (version, name) VALUES ($1, 'from the future')",
            &[&(cdr_store::schema_version() + 1)],
        )
        .await
        .unwrap();
    drop(client);
    let err = Store::connect(pg, &config, None).await.unwrap_err();
    match err {
        StoreError::SchemaTooNew { found, known } => {
            assert_eq!(found, known + 1);
        }
        other => panic!("{other:?}"),
    }
}

/// Every node row's (EHR, object, number, pointer), in key order.
async fn node_pointers(
    client: &tokio_postgres::Client,
) -> Vec<(uuid::Uuid, uuid::Uuid, i32, Option<Vec<String>>)> {
    client
        .query(
            "SELECT ehr_id, vo_id, num, pointer FROM node ORDER BY 1, 2, 3",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

/// Migration 6 replaced node fragments by pointers into the document; the pointers of rows
/// written before it are derived again from the stored documents. Migration 7 stores documents
/// and audits as text. The test turns a store back into its version-5 shape (fragment column,
/// no pointers, json columns), opens it again and checks that every pointer is back, the
/// columns are text and AQL reads node subtrees and whole objects as before.
#[tokio::test]
async fn migrations_6_and_7_fill_in_node_pointers_and_store_text() {
    let pg = cdr_testkit::fresh_database().await;
    let config = cdr_testkit::config();
    let store = Store::connect(pg.clone(), &config, None).await.unwrap();
    store
        .put_template(&crate::common::caller(), crate::common::OPT)
        .await
        .unwrap();
    crate::common::ehr_with_composition(&store).await;
    crate::common::ehr_with_composition(&store).await;
    let query = |store: Store| async move {
        let req = cdr_store::aql::QueryRequest {
            aql: "SELECT o FROM EHR e CONTAINS COMPOSITION c CONTAINS OBSERVATION o",
            ..cdr_store::aql::QueryRequest::default()
        };
        let mut rows = store
            .query(
                &crate::common::caller(),
                &req,
                &cdr_store::aql::QueryLimits::default(),
            )
            .await
            .unwrap()
            .values();
        rows.sort_by_key(|r| r[0].to_string());
        rows
    };
    // As the role that owns the schema (it changes tables back).
    let client = store.owner_pool().get().await.unwrap();
    let before = node_pointers(&client).await;
    assert!(before.iter().filter(|r| r.2 > 0).count() >= 2, "{before:?}");
    assert!(before.iter().all(|r| r.3.is_some()), "{before:?}");
    let objects = query(store.clone()).await;
    assert_eq!(objects.len(), 2);
    assert_eq!(objects[0][0]["_type"], "OBSERVATION");

    // Back to version 5: fragments instead of pointers (the migration ignores fragments).
    client
        .batch_execute(
            "ALTER TABLE node DROP COLUMN pointer; ALTER TABLE node DROP COLUMN repeats; \
             ALTER TABLE node ADD COLUMN fragment json; \
             ALTER TABLE object_version ALTER COLUMN document TYPE json USING document::json, \
             ALTER COLUMN audit TYPE json USING audit::json, \
             ALTER COLUMN attestations TYPE json USING attestations::json; \
             ALTER TABLE contribution ALTER COLUMN audit TYPE json USING audit::json; \
             DROP TABLE cdr_user; \
             DROP TABLE audit_event, audit_seal; DROP SEQUENCE audit_event_seq; \
             DROP FUNCTION cdr_audit_append_only(); \
             DELETE FROM cdr_schema_migration WHERE version > 5",
        )
        .await
        .unwrap();
    drop(client);
    store.shutdown().await.unwrap();

    let store = Store::connect(pg, &config, None).await.unwrap();
    let client = store.pool().get().await.unwrap();
    assert_eq!(node_pointers(&client).await, before);
    let has_fragment: bool = client
        .query_one(
            "SELECT count(*) > 0 FROM information_schema.columns \
             WHERE table_name = 'node' AND column_name = 'fragment'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!has_fragment);
    // Migration 9: every node row knows the lists of its part of the document that repeat a node id.
    let unknown: i64 = client
        .query_one("SELECT count(*) FROM node WHERE repeats IS NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(unknown, 0);
    // Migration 7: documents and audits are text again, and read back the same.
    let types: Vec<String> = client
        .query(
            "SELECT data_type::text FROM information_schema.columns \
             WHERE (table_name = 'object_version' AND column_name IN ('document', 'audit')) \
             OR (table_name = 'contribution' AND column_name = 'audit')",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(types, ["text", "text", "text"]);
    drop(client);
    assert_eq!(query(store.clone()).await, objects);
}
