use crate::common::{
    assert_not_found, caller, composition, composition_with, json, meta, store_with_template,
};
use cdr_store::{ChangeType, CommitMeta, LifecycleState, Store, StoreError, UidBasedId, VoKind};
use uuid::Uuid;

async fn count(store: &Store, sql: &str, ehr_id: Uuid) -> i64 {
    let client = store.pool().get().await.unwrap();
    client.query_one(sql, &[&ehr_id]).await.unwrap().get(0)
}

#[tokio::test]
async fn create_then_read_back_every_way() {
    let store = store_with_template().await;
    let ehr = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap();
    let v1 = store
        .create_composition(&caller(), ehr.ehr_id, composition(), meta())
        .await
        .unwrap();
    assert_eq!(v1.uid.version, 1);
    assert_eq!(v1.uid.system_id, "test.cdr");
    assert_eq!(v1.change_type, ChangeType::Creation);

    let latest = store
        .get_composition(&caller(), ehr.ehr_id, &UidBasedId::Object(v1.uid.object_id))
        .await
        .unwrap();
    let by_uid = store
        .get_composition(&caller(), ehr.ehr_id, &UidBasedId::Version(v1.uid.clone()))
        .await
        .unwrap();
    assert_eq!(latest, by_uid);
    assert_eq!(latest.lifecycle_state, LifecycleState::Complete);
    assert!(latest.preceding_uid.is_none());
    let doc = json(latest.document.as_deref().unwrap());
    assert_eq!(doc["uid"]["_type"], "OBJECT_VERSION_ID");
    assert_eq!(doc["uid"]["value"], v1.uid.to_string());
    // The stored document is the composition as given, plus its uid.
    let mut expected = json(crate::common::COMPOSITION);
    let mut stored = doc.clone();
    stored.as_object_mut().unwrap().remove("uid");
    normalise(&mut expected);
    normalise(&mut stored);
    assert_eq!(stored, expected);

    // The audit: committer from the caller, server time and system id, change type creation.
    let audit = json(&latest.audit);
    assert_eq!(audit["system_id"], "test.cdr");
    assert_eq!(audit["change_type"]["defining_code"]["code_string"], "249");
    assert_eq!(audit["committer"]["name"], "cdr local user");

    // Index rows were written in the same transaction.
    let q = "SELECT count(*) FROM node WHERE ehr_id = $1";
    assert_eq!(
        count(&store, q, ehr.ehr_id).await,
        2,
        "observation, cluster (the roots, EHR_STATUS and COMPOSITION, have no row)"
    );
    let q = "SELECT count(*) FROM leaf WHERE ehr_id = $1";
    // The fixture holds 13 ELEMENTs with a value; RM attributes (category, times) have none.
    assert_eq!(
        count(&store, q, ehr.ehr_id).await,
        13,
        "one leaf row per ELEMENT value"
    );
    let client = store.pool().get().await.unwrap();
    let systolic = cdr_store::path_id(
        "openEHR-EHR-OBSERVATION.cdr_test_vitals.v1",
        "/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value",
        "DV_QUANTITY",
    );
    let row = client
        .query_one(
            "SELECT v_num, v_text FROM leaf WHERE ehr_id = $1 AND path_id = $2",
            &[&ehr.ehr_id, &systolic],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<f64>>(0), Some(120.0));
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("mm[Hg]"));
    let start: Option<chrono::DateTime<chrono::Utc>> = client
        .query_one(
            "SELECT start_time FROM object_version WHERE ehr_id = $1 AND vo_id = $2",
            &[&ehr.ehr_id, &v1.uid.object_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(start.unwrap().to_rfc3339(), "2024-03-01T10:00:00+00:00");
}

/// Drops `_type` where canonical JSON may omit it, so given and stored documents compare.
fn normalise(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.remove("_type");
            m.values_mut().for_each(normalise);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(normalise),
        _ => {}
    }
}

#[tokio::test]
async fn update_delete_history_and_time_travel() {
    let store = store_with_template().await;
    let ehr = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap();
    let v1 = store
        .create_composition(&caller(), ehr.ehr_id, composition(), meta())
        .await
        .unwrap();
    let t1 = store
        .get_composition(&caller(), ehr.ehr_id, &UidBasedId::Version(v1.uid.clone()))
        .await
        .unwrap()
        .committed_at;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    let changed = composition_with(|v| {
        v["content"][0]["data"]["events"][0]["data"]["items"][0]["value"]["magnitude"] =
            serde_json::json!(135.0);
    });
    let amend = CommitMeta {
        description: Some("corrected".into()),
        change_type: Some(ChangeType::Amendment),
        ..meta()
    };
    let v2 = store
        .update_composition(&caller(), ehr.ehr_id, &v1.uid, changed, amend)
        .await
        .unwrap();
    assert_eq!(v2.uid.version, 2);
    assert_eq!(v2.uid.object_id, v1.uid.object_id);
    assert_eq!(v2.change_type, ChangeType::Amendment);

    // Latest is v2; v1 still readable; at t1 we get v1.
    let id = UidBasedId::Object(v1.uid.object_id);
    let latest = store
        .get_composition(&caller(), ehr.ehr_id, &id)
        .await
        .unwrap();
    assert_eq!(latest.uid, v2.uid);
    assert_eq!(
        latest.preceding_uid.as_deref(),
        Some(v1.uid.to_string().as_str())
    );
    let doc = json(latest.document.as_deref().unwrap());
    assert_eq!(
        doc["content"][0]["data"]["events"][0]["data"]["items"][0]["value"]["magnitude"],
        135.0
    );
    assert_eq!(json(&latest.audit)["description"]["value"], "corrected");
    let at1 = store
        .get_composition_at(&caller(), ehr.ehr_id, v1.uid.object_id, t1)
        .await
        .unwrap();
    assert_eq!(at1.uid, v1.uid);
    let old = store
        .get_composition(&caller(), ehr.ehr_id, &UidBasedId::Version(v1.uid.clone()))
        .await
        .unwrap();
    assert_eq!(
        json(old.document.as_deref().unwrap())["content"][0]["data"]["events"][0]["data"]["items"]
            [0]["value"]["magnitude"],
        120.0
    );
    // Leaf rows follow the current version only.
    let client = store.pool().get().await.unwrap();
    let vals: Vec<f64> = client
        .query(
            "SELECT l.v_num FROM leaf l WHERE l.ehr_id = $1 AND l.path_id = $2",
            &[
                &ehr.ehr_id,
                &cdr_store::path_id(
                    "openEHR-EHR-OBSERVATION.cdr_test_vitals.v1",
                    "/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value",
                    "DV_QUANTITY",
                ),
            ],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(vals, vec![135.0]);

    // A stale update is a conflict naming the latest version; nothing is written.
    let err = store
        .update_composition(&caller(), ehr.ehr_id, &v1.uid, composition(), meta())
        .await
        .unwrap_err();
    match err {
        StoreError::VersionConflict { given, latest } => {
            assert_eq!(given, v1.uid.to_string());
            assert_eq!(latest, v2.uid.to_string());
        }
        other => panic!("{other:?}"),
    }

    // Delete: a new version without data; later reads say deleted; history stays.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let v3 = store
        .delete_composition(&caller(), ehr.ehr_id, &v2.uid, meta())
        .await
        .unwrap();
    assert_eq!(v3.uid.version, 3);
    assert_eq!(v3.change_type, ChangeType::Deleted);
    let after = store
        .get_composition(&caller(), ehr.ehr_id, &id)
        .await
        .unwrap();
    assert!(after.is_deletion());
    assert_eq!(after.lifecycle_state, LifecycleState::Deleted);
    assert_eq!(after.change_type, ChangeType::Deleted);
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM node WHERE ehr_id = $1 AND vo_id = $2",
            &[&ehr.ehr_id, &v1.uid.object_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "a deleted composition has no index rows");
    let again = store
        .delete_composition(&caller(), ehr.ehr_id, &v3.uid, meta())
        .await
        .unwrap_err();
    assert!(matches!(again, StoreError::Deleted { .. }), "{again:?}");
    let upd = store
        .update_composition(&caller(), ehr.ehr_id, &v3.uid, composition(), meta())
        .await
        .unwrap_err();
    assert!(matches!(upd, StoreError::Deleted { .. }), "{upd:?}");

    let info = store
        .versioned_object(&caller(), ehr.ehr_id, VoKind::Composition, v1.uid.object_id)
        .await
        .unwrap();
    assert_eq!(info.version_count, 3);
    assert!(info.deleted);
    assert_eq!(info.to_json()["_type"], "VERSIONED_COMPOSITION");
    let all = store
        .all_versions(&caller(), ehr.ehr_id, VoKind::Composition, v1.uid.object_id)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|v| v.uid.version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let history = store
        .revision_history(&caller(), ehr.ehr_id, VoKind::Composition, v1.uid.object_id)
        .await
        .unwrap();
    let codes: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["audits"][0]["change_type"]["defining_code"]["code_string"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(codes, vec!["249", "250", "523"]);
    let ov = all[2].original_version_json();
    assert_eq!(ov["_type"], "ORIGINAL_VERSION");
    assert!(ov.get("data").is_none());
    assert_eq!(ov["preceding_version_uid"]["value"], v2.uid.to_string());
    assert_eq!(ov["lifecycle_state"]["defining_code"]["code_string"], "523");
}

#[tokio::test]
async fn invalid_content_is_refused_with_every_issue_and_nothing_written() {
    let store = store_with_template().await;
    let ehr = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap();
    let bad = composition_with(|v| {
        let items = &mut v["content"][0]["data"]["events"][0]["data"]["items"];
        items[0]["value"]["units"] = serde_json::json!("mmHg");
        items[3]["value"]["magnitude"] = serde_json::json!(-5);
    });
    let err = store
        .create_composition(&caller(), ehr.ehr_id, bad, meta())
        .await
        .unwrap_err();
    match err {
        StoreError::Invalid(issues) => assert!(issues.len() >= 2, "{issues:?}"),
        other => panic!("{other:?}"),
    }
    let unknown = composition_with(|v| {
        v["archetype_details"]["template_id"]["value"] = serde_json::json!("no_such_template");
    });
    let err = store
        .create_composition(&caller(), ehr.ehr_id, unknown, meta())
        .await
        .unwrap_err();
    match err {
        StoreError::Invalid(issues) => assert!(issues[0].message.contains("no_such_template")),
        other => panic!("{other:?}"),
    }
    let err = store
        .create_composition(&caller(), Uuid::new_v4(), composition(), meta())
        .await
        .unwrap_err();
    assert_not_found(&err, "EHR");
    let client = store.pool().get().await.unwrap();
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM object_version WHERE ehr_id = $1",
            &[&ehr.ehr_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "only the EHR_STATUS version");
    let n: i64 = client
        .query_one("SELECT count(*) FROM contribution", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "no contribution for refused content");
}

#[tokio::test]
async fn unknown_ids_and_client_chosen_uids() {
    let store = store_with_template().await;
    let ehr = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap();
    let other = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap();
    let chosen = Uuid::new_v4();
    let with_uid = composition_with(|v| {
        v["uid"] = serde_json::json!({"_type": "HIER_OBJECT_ID", "value": chosen.to_string()});
    });
    let v1 = store
        .create_composition(&caller(), ehr.ehr_id, with_uid.clone(), meta())
        .await
        .unwrap();
    assert_eq!(v1.uid.object_id, chosen);
    let err = store
        .create_composition(&caller(), ehr.ehr_id, with_uid, meta())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    // A composition is only found through its own EHR.
    let err = store
        .get_composition(&caller(), other.ehr_id, &UidBasedId::Object(chosen))
        .await
        .unwrap_err();
    assert_not_found(&err, "composition");
    // A version uid with another system id or version does not resolve.
    let mut wrong = v1.uid.clone();
    wrong.system_id = "elsewhere".into();
    assert!(store
        .get_composition(&caller(), ehr.ehr_id, &UidBasedId::Version(wrong))
        .await
        .is_err());
    let mut wrong = v1.uid.clone();
    wrong.version = 7;
    assert!(store
        .get_composition(&caller(), ehr.ehr_id, &UidBasedId::Version(wrong))
        .await
        .is_err());
    // Updating with a body naming another object is refused.
    let mismatched = composition_with(|v| {
        v["uid"] =
            serde_json::json!({"_type": "HIER_OBJECT_ID", "value": Uuid::new_v4().to_string()});
    });
    let err = store
        .update_composition(&caller(), ehr.ehr_id, &v1.uid, mismatched, meta())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::BadRequest(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_concurrent_updates_exactly_one_wins() {
    let store = store_with_template().await;
    let ehr = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap();
    for round in 0..5 {
        let v1 = store
            .create_composition(&caller(), ehr.ehr_id, composition(), meta())
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..2 {
            let store = store.clone();
            let uid = v1.uid.clone();
            let ehr_id = ehr.ehr_id;
            tasks.push(tokio::spawn(async move {
                let c = composition_with(|v| {
                    v["content"][0]["data"]["events"][0]["data"]["items"][0]["value"]
                        ["magnitude"] = serde_json::json!(100.0 + i as f64);
                });
                store
                    .update_composition(&caller(), ehr_id, &uid, c, meta())
                    .await
            }));
        }
        let mut won = 0;
        let mut lost = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(v) => {
                    assert_eq!(v.uid.version, 2);
                    won += 1;
                }
                Err(StoreError::VersionConflict { latest, .. }) => {
                    assert!(latest.ends_with("::2"), "{latest}");
                    lost += 1;
                }
                Err(other) => panic!("round {round}: {other:?}"),
            }
        }
        assert_eq!((won, lost), (1, 1), "round {round}");
        let all = store
            .all_versions(&caller(), ehr.ehr_id, VoKind::Composition, v1.uid.object_id)
            .await
            .unwrap();
        assert_eq!(all.len(), 2);
    }
}

/// Every refusal a commit makes inside the database, on both write paths (one statement for
/// creations, a pipelined transaction otherwise), and nothing of a refused commit stays.
#[tokio::test]
async fn refused_commits_leave_nothing_behind() {
    let store = store_with_template().await;
    // A second template with another root archetype, for the archetype-change refusal.
    let rename = |s: &str| {
        s.replace(
            "openEHR-EHR-COMPOSITION.encounter.v1",
            "openEHR-EHR-COMPOSITION.report.v1",
        )
        .replace("cdr_test_vitals.v1", "cdr_test_vitals_report.v1")
    };
    store
        .put_template(&caller(), &rename(crate::common::OPT))
        .await
        .unwrap();
    let report: cdr_rm::Composition =
        cdr_rm::from_json(rename(crate::common::COMPOSITION).as_bytes()).unwrap();
    let (ehr_id, v1) = crate::common::ehr_with_composition(&store).await;
    let rows = "SELECT (SELECT count(*) FROM contribution WHERE ehr_id = $1) \
                + (SELECT count(*) FROM versioned_object WHERE ehr_id = $1) \
                + (SELECT count(*) FROM object_version WHERE ehr_id = $1) \
                + (SELECT count(*) FROM node WHERE ehr_id = $1) \
                + (SELECT count(*) FROM leaf WHERE ehr_id = $1)";
    let before = count(&store, rows, ehr_id).await;

    // Creations (one statement): unknown EHR, taken object id, taken contribution uid.
    let err = store
        .create_composition(&caller(), Uuid::new_v4(), composition(), meta())
        .await
        .unwrap_err();
    assert_not_found(&err, "EHR");
    let taken = composition_with(|v| {
        v["uid"] = serde_json::json!({"_type": "HIER_OBJECT_ID",
                                      "value": v1.uid.object_id.to_string()});
    });
    let err = store
        .create_composition(&caller(), ehr_id, taken, meta())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains(&v1.uid.object_id.to_string())),
        "{err:?}"
    );
    let first = store
        .commit_contribution(
            &caller(),
            ehr_id,
            cdr_store::NewContribution {
                uid: None,
                meta: meta(),
                versions: vec![crate::common::new_composition(composition())],
            },
        )
        .await
        .unwrap();
    let after_first = count(&store, rows, ehr_id).await;
    let err = store
        .commit_contribution(
            &caller(),
            ehr_id,
            cdr_store::NewContribution {
                uid: Some(first.contribution_id),
                meta: meta(),
                versions: vec![crate::common::new_composition(composition())],
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("contribution uid")),
        "{err:?}"
    );
    assert_eq!(count(&store, rows, ehr_id).await, after_first);

    // Updates (pipelined): another root archetype, a stale preceding version.
    let err = store
        .update_composition(&caller(), ehr_id, &v1.uid, report, meta())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::BadRequest(m)
            if m.contains("encounter.v1") && m.contains("report.v1")),
        "{err:?}"
    );
    let v2 = store
        .update_composition(&caller(), ehr_id, &v1.uid, composition(), meta())
        .await
        .unwrap();
    let after_update = count(&store, rows, ehr_id).await;
    let err = store
        .update_composition(&caller(), ehr_id, &v1.uid, composition(), meta())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::VersionConflict { latest, .. } if *latest == v2.uid.to_string()),
        "{err:?}"
    );
    assert_eq!(count(&store, rows, ehr_id).await, after_update);
    assert!(after_first > before);
}
