use crate::common::{assert_not_found, caller, json, meta};
use cdr_store::{StoreError, VersionUid, VoKind};

pub(crate) fn status_for(subject: &str, namespace: &str) -> cdr_rm::EhrStatus {
    let v = serde_json::json!({
        "_type": "EHR_STATUS",
        "archetype_node_id": "openEHR-EHR-EHR_STATUS.generic.v1",
        "name": {"_type": "DV_TEXT", "value": "EHR Status"},
        "subject": {"_type": "PARTY_SELF", "external_ref": {
            "id": {"_type": "GENERIC_ID", "value": subject, "scheme": "id_scheme"},
            "namespace": namespace, "type": "PERSON"}},
        "is_queryable": true,
        "is_modifiable": true,
    });
    cdr_rm::json::from_json_value(v).unwrap()
}

#[tokio::test]
async fn create_get_and_find_by_subject() {
    let store = cdr_testkit::fresh_store().await;
    let ehr = store
        .create_ehr(
            &caller(),
            None,
            Some(status_for("ins01", "examples")),
            meta(),
        )
        .await
        .unwrap();
    assert_eq!(ehr.ehr_status.version, 1);
    assert_eq!(ehr.system_id, "test.cdr");
    let got = store.get_ehr(&caller(), ehr.ehr_id).await.unwrap();
    assert_eq!(got, ehr);
    let found = store
        .find_ehr_by_subject(&caller(), "ins01", "examples")
        .await
        .unwrap();
    assert_eq!(found.ehr_id, ehr.ehr_id);
    let err = store
        .find_ehr_by_subject(&caller(), "ins01", "elsewhere")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    let body = ehr.to_json();
    assert_eq!(body["ehr_id"]["value"], ehr.ehr_id.to_string());
    assert_eq!(
        body["ehr_status"]["id"]["value"],
        ehr.ehr_status.to_string()
    );

    // The EHR_STATUS is stored with its version uid.
    let status = store
        .get_ehr_status(&caller(), ehr.ehr_id, None)
        .await
        .unwrap();
    let doc = json(status.document.as_deref().unwrap());
    assert_eq!(doc["uid"]["value"], ehr.ehr_status.to_string());
    assert_eq!(doc["subject"]["external_ref"]["id"]["value"], "ins01");
}

#[tokio::test]
async fn one_ehr_per_subject_and_ids_are_unique() {
    let store = cdr_testkit::fresh_store().await;
    let id = uuid::Uuid::new_v4();
    store
        .create_ehr(&caller(), Some(id), Some(status_for("s1", "ns")), meta())
        .await
        .unwrap();
    let err = store
        .create_ehr(&caller(), None, Some(status_for("s1", "ns")), meta())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let err = store
        .create_ehr(&caller(), Some(id), None, meta())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    // Nothing half-written: only one EHR exists, and the same subject in another namespace works.
    let client = store.pool().get().await.unwrap();
    let n: i64 = client
        .query_one("SELECT count(*) FROM ehr", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    let n: i64 = client
        .query_one("SELECT count(*) FROM contribution", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    store
        .create_ehr(&caller(), None, Some(status_for("s1", "other")), meta())
        .await
        .unwrap();
}

#[tokio::test]
async fn default_status_and_unknown_ehr() {
    let store = cdr_testkit::fresh_store().await;
    let ehr = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap();
    let status = store
        .get_ehr_status(&caller(), ehr.ehr_id, None)
        .await
        .unwrap();
    let doc = json(status.document.as_deref().unwrap());
    assert_eq!(doc["is_queryable"], true);
    assert_eq!(doc["is_modifiable"], true);
    assert_eq!(doc["subject"]["_type"], "PARTY_SELF");
    let missing = uuid::Uuid::new_v4();
    let err = store.get_ehr(&caller(), missing).await.unwrap_err();
    assert_not_found(&err, "EHR");
    let err = store
        .get_ehr_status(&caller(), missing, None)
        .await
        .unwrap_err();
    assert_not_found(&err, "EHR");
}

#[tokio::test]
async fn ehr_status_update_versions_and_time_travel() {
    let store = cdr_testkit::fresh_store().await;
    let ehr = store
        .create_ehr(&caller(), None, Some(status_for("p1", "ns")), meta())
        .await
        .unwrap();
    let v1 = store
        .get_ehr_status(&caller(), ehr.ehr_id, None)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut changed = status_for("p2", "ns");
    changed.is_modifiable = Some(false);
    let v2 = store
        .update_ehr_status(&caller(), ehr.ehr_id, &ehr.ehr_status, changed, meta())
        .await
        .unwrap();
    assert_eq!(v2.uid.version, 2);
    // The subject lookup follows the status; the old subject is free again.
    assert_eq!(
        store
            .find_ehr_by_subject(&caller(), "p2", "ns")
            .await
            .unwrap()
            .ehr_id,
        ehr.ehr_id
    );
    assert!(store
        .find_ehr_by_subject(&caller(), "p1", "ns")
        .await
        .is_err());
    // get at time, get version, EHR shows the latest status version.
    let at_v1 = store
        .get_ehr_status(&caller(), ehr.ehr_id, Some(v1.committed_at))
        .await
        .unwrap();
    assert_eq!(at_v1.uid.version, 1);
    let before = v1.committed_at - chrono::Duration::seconds(1);
    assert!(store
        .get_ehr_status(&caller(), ehr.ehr_id, Some(before))
        .await
        .is_err());
    let got = store
        .get_ehr_status_version(&caller(), ehr.ehr_id, &v2.uid)
        .await
        .unwrap();
    assert_eq!(
        json(got.document.as_deref().unwrap())["is_modifiable"],
        false
    );
    assert_eq!(
        store
            .get_ehr(&caller(), ehr.ehr_id)
            .await
            .unwrap()
            .ehr_status,
        v2.uid
    );
    // A stale preceding version is a conflict naming the latest.
    let err = store
        .update_ehr_status(
            &caller(),
            ehr.ehr_id,
            &ehr.ehr_status,
            status_for("p3", "ns"),
            meta(),
        )
        .await
        .unwrap_err();
    match err {
        StoreError::VersionConflict { latest, .. } => assert_eq!(latest, v2.uid.to_string()),
        other => panic!("{other:?}"),
    }
    // is_modifiable=false: content commits are refused, status updates are not.
    store
        .put_template(&caller(), crate::common::OPT)
        .await
        .unwrap();
    let err = store
        .create_composition(&caller(), ehr.ehr_id, crate::common::composition(), meta())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let vo = store.ehr_status_id(&caller(), ehr.ehr_id).await.unwrap();
    let history = store
        .revision_history(&caller(), ehr.ehr_id, VoKind::EhrStatus, vo)
        .await
        .unwrap();
    assert_eq!(history["items"].as_array().unwrap().len(), 2);
    let wrong = VersionUid::new(uuid::Uuid::new_v4(), "test.cdr", 2);
    let err = store
        .get_ehr_status_version(&caller(), ehr.ehr_id, &wrong)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}
