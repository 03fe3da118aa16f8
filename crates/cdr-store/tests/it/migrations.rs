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
    let client = store.pool().get().await.unwrap();
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
