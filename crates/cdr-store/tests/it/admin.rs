//! Administrative deletes: a composition physically (the EHR and other objects stay), a
//! template only when no composition version uses it.

use crate::common::{
    assert_not_found, caller, composition, ehr_with_composition, meta, new_composition,
    store_with_template, OPT,
};
use cdr_store::{NewContribution, Store, StoreError, UidBasedId};
use uuid::Uuid;

/// Rows of `table` for one object (the table name comes from the test, never from input).
async fn rows(store: &Store, table: &str, ehr: Uuid, vo: Uuid) -> i64 {
    let client = store.pool().get().await.unwrap();
    let sql = format!("SELECT count(*) FROM {table} WHERE ehr_id = $1 AND vo_id = $2");
    client.query_one(&sql, &[&ehr, &vo]).await.unwrap().get(0)
}

async fn contributions(store: &Store, ehr: Uuid) -> i64 {
    let client = store.pool().get().await.unwrap();
    client
        .query_one(
            "SELECT count(*) FROM contribution WHERE ehr_id = $1",
            &[&ehr],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_composition_is_deleted_with_every_version_and_empty_contribution() {
    let store = store_with_template().await;
    let (ehr, v1) = ehr_with_composition(&store).await;
    let vo = v1.uid.object_id;
    store
        .update_composition(&caller(), ehr, &v1.uid, composition(), meta())
        .await
        .unwrap();
    // Two more compositions committed together: their contribution outlives one of them.
    let pair = store
        .commit_contribution(
            &caller(),
            ehr,
            NewContribution {
                uid: None,
                meta: meta(),
                versions: vec![
                    new_composition(composition()),
                    new_composition(composition()),
                ],
            },
        )
        .await
        .unwrap();
    let (a, b) = (
        pair.versions[0].uid.object_id,
        pair.versions[1].uid.object_id,
    );
    // EHR, v1, v2, the pair.
    assert_eq!(contributions(&store, ehr).await, 4);
    assert!(rows(&store, "leaf", ehr, vo).await > 0);

    store
        .delete_composition_physically(&caller(), ehr, vo)
        .await
        .unwrap();
    for table in ["leaf", "node", "object_version", "versioned_object"] {
        assert_eq!(rows(&store, table, ehr, vo).await, 0, "{table}");
    }
    assert_eq!(contributions(&store, ehr).await, 2);
    let err = store
        .get_composition(&caller(), ehr, &UidBasedId::Object(vo))
        .await
        .unwrap_err();
    assert_not_found(&err, "composition");

    store
        .delete_composition_physically(&caller(), ehr, a)
        .await
        .unwrap();
    assert_eq!(contributions(&store, ehr).await, 2, "b still needs it");
    assert!(rows(&store, "object_version", ehr, b).await == 1);
    let got = store
        .get_contribution(&caller(), ehr, pair.contribution_id)
        .await
        .unwrap();
    assert_eq!(got.versions.len(), 1);
    store
        .delete_composition_physically(&caller(), ehr, b)
        .await
        .unwrap();
    assert_eq!(contributions(&store, ehr).await, 1, "only the EHR's own");
    store.get_ehr(&caller(), ehr).await.unwrap();

    // Unknown: the composition, the EHR; an EHR_STATUS is not a composition.
    let err = store
        .delete_composition_physically(&caller(), ehr, vo)
        .await
        .unwrap_err();
    assert_not_found(&err, "composition");
    let err = store
        .delete_composition_physically(&caller(), Uuid::new_v4(), vo)
        .await
        .unwrap_err();
    assert_not_found(&err, "EHR");
    let status = store.ehr_status_id(&caller(), ehr).await.unwrap();
    let err = store
        .delete_composition_physically(&caller(), ehr, status)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    store.get_ehr_status(&caller(), ehr, None).await.unwrap();
}

#[tokio::test]
async fn a_template_in_use_stays_until_its_compositions_are_gone() {
    let store = store_with_template().await;
    let id = "cdr_test_vitals.v1";
    let (ehr, v1) = ehr_with_composition(&store).await;
    // A logical delete keeps the past versions, which still use the template.
    store
        .delete_composition(&caller(), ehr, &v1.uid, meta())
        .await
        .unwrap();
    let err = store.delete_template(&caller(), id).await.unwrap_err();
    assert!(matches!(err, StoreError::InUse { .. }), "{err:?}");
    store.get_template_opt(&caller(), id).await.unwrap();

    store
        .delete_composition_physically(&caller(), ehr, v1.uid.object_id)
        .await
        .unwrap();
    store.delete_template(&caller(), id).await.unwrap();
    let err = store.get_template_opt(&caller(), id).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    // Not even the cache remembers it: a commit is refused as naming an unknown template.
    let err = store
        .create_composition(&caller(), ehr, composition(), meta())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let err = store.delete_template(&caller(), id).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    // It can be uploaded again.
    assert!(store.put_template(&caller(), OPT).await.unwrap().created);
}
