use crate::common::{assert_not_found, caller, OPT};
use cdr_store::StoreError;

#[tokio::test]
async fn upload_list_get_and_reupload() {
    let store = cdr_testkit::fresh_store().await;
    let up = store.put_template(&caller(), OPT).await.unwrap();
    assert!(up.created);
    assert_eq!(up.meta.template_id, "cdr_test_vitals.v1");
    assert_eq!(up.meta.archetype_id, "openEHR-EHR-COMPOSITION.encounter.v1");

    // The identical OPT again is accepted and reports the original upload.
    let again = store.put_template(&caller(), OPT).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.meta.created_at, up.meta.created_at);

    // A different OPT under the same id is a conflict.
    let changed = OPT.replacen("<concept>", "<concept>x", 1);
    assert_ne!(changed, OPT);
    let err = store.put_template(&caller(), &changed).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    let list = store.list_templates(&caller()).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].template_id, "cdr_test_vitals.v1");
    assert_eq!(
        store
            .get_template_opt(&caller(), "cdr_test_vitals.v1")
            .await
            .unwrap(),
        OPT
    );
    let parsed = store
        .get_template(&caller(), "cdr_test_vitals.v1")
        .await
        .unwrap();
    assert_eq!(parsed.template_id, "cdr_test_vitals.v1");
}

#[tokio::test]
async fn bad_and_unknown_templates() {
    let store = cdr_testkit::fresh_store().await;
    let err = store
        .put_template(&caller(), "<template><oops")
        .await
        .unwrap_err();
    match err {
        StoreError::BadRequest(m) => assert!(m.contains("line"), "{m}"),
        other => panic!("{other:?}"),
    }
    let err = store.get_template_opt(&caller(), "nope").await.unwrap_err();
    assert_not_found(&err, "template");
    assert!(store.list_templates(&caller()).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_fresh_store_parses_stored_templates_once_on_demand() {
    // Upload through one store, read through another on the same database (cold cache).
    let pg = cdr_testkit::fresh_database().await;
    let config = cdr_testkit::config();
    let a = cdr_store::Store::connect(pg.clone(), &config, None)
        .await
        .unwrap();
    a.put_template(&caller(), OPT).await.unwrap();
    let b = cdr_store::Store::connect(pg, &config, None).await.unwrap();
    let t1 = b
        .get_template(&caller(), "cdr_test_vitals.v1")
        .await
        .unwrap();
    let t2 = b
        .get_template(&caller(), "cdr_test_vitals.v1")
        .await
        .unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&t1, &t2),
        "second get is served from the cache"
    );
}
