use crate::common::{assert_not_found, caller, json, meta};
use cdr_store::{StoreError, VoKind};

fn folder(names: &[&str]) -> cdr_rm::Folder {
    let v = serde_json::json!({
        "_type": "FOLDER",
        "archetype_node_id": "openEHR-EHR-FOLDER.generic.v1",
        "name": {"_type": "DV_TEXT", "value": "root"},
        "folders": names.iter().map(|n| serde_json::json!({
            "_type": "FOLDER",
            "archetype_node_id": "openEHR-EHR-FOLDER.generic.v1",
            "name": {"_type": "DV_TEXT", "value": n},
        })).collect::<Vec<_>>(),
    });
    cdr_rm::json::from_json_value(v).unwrap()
}

#[tokio::test]
async fn directory_lifecycle() {
    let store = cdr_testkit::fresh_store().await;
    let ehr = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap();
    let err = store
        .get_directory(&caller(), ehr.ehr_id, None)
        .await
        .unwrap_err();
    assert_not_found(&err, "directory");

    let v1 = store
        .create_directory(&caller(), ehr.ehr_id, folder(&["episodes"]), meta())
        .await
        .unwrap();
    let err = store
        .create_directory(&caller(), ehr.ehr_id, folder(&["x"]), meta())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(_)),
        "a second directory: {err:?}"
    );

    let got = store
        .get_directory(&caller(), ehr.ehr_id, None)
        .await
        .unwrap();
    assert_eq!(got.uid, v1.uid);
    assert_eq!(
        json(got.document.as_deref().unwrap())["folders"][0]["name"]["value"],
        "episodes"
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    let v2 = store
        .update_directory(
            &caller(),
            ehr.ehr_id,
            &v1.uid,
            folder(&["episodes", "plans"]),
            meta(),
        )
        .await
        .unwrap();
    assert_eq!(v2.uid.version, 2);
    let err = store
        .update_directory(&caller(), ehr.ehr_id, &v1.uid, folder(&["z"]), meta())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::VersionConflict { .. }), "{err:?}");
    let at_v1 = store
        .get_directory(&caller(), ehr.ehr_id, Some(got.committed_at))
        .await
        .unwrap();
    assert_eq!(at_v1.uid, v1.uid);
    let by_uid = store
        .get_directory_version(&caller(), ehr.ehr_id, &v2.uid)
        .await
        .unwrap();
    assert_eq!(
        json(by_uid.document.as_deref().unwrap())["folders"][1]["name"]["value"],
        "plans"
    );

    // Sibling folders need distinct names.
    let err = store
        .update_directory(&caller(), ehr.ehr_id, &v2.uid, folder(&["a", "a"]), meta())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::BadRequest(_)), "{err:?}");

    let v3 = store
        .delete_directory(&caller(), ehr.ehr_id, &v2.uid, meta())
        .await
        .unwrap();
    let after = store
        .get_directory(&caller(), ehr.ehr_id, None)
        .await
        .unwrap();
    assert!(after.is_deletion());
    assert_eq!(after.uid, v3.uid);
    let vo = store
        .versioned_object(&caller(), ehr.ehr_id, VoKind::Folder, v1.uid.object_id)
        .await
        .unwrap();
    assert_eq!(vo.version_count, 3);
    assert_eq!(vo.to_json()["_type"], "VERSIONED_FOLDER");
}
