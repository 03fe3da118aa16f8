use crate::common::{
    assert_not_found, caller, composition, composition_with, json, meta, new_composition,
    store_with_template,
};
use cdr_store::{
    ChangeType, CommitMeta, LifecycleState, NewContribution, NewVersion, StoreError, UidBasedId,
};
use uuid::Uuid;

#[tokio::test]
async fn several_versions_commit_together_and_read_back() {
    let store = store_with_template().await;
    let ehr = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap();
    let existing = store
        .create_composition(&caller(), ehr.ehr_id, composition(), meta())
        .await
        .unwrap();
    let uid = Uuid::new_v4();
    let committer: cdr_rm::PartyProxy = cdr_rm::json::from_json_value(serde_json::json!({
        "_type": "PARTY_IDENTIFIED", "name": "Dr X"
    }))
    .unwrap();
    let c = NewContribution {
        uid: Some(uid),
        meta: CommitMeta {
            committer: Some(committer),
            description: Some("ward \"round\" \\ 2\n".into()),
            ..CommitMeta::default()
        },
        versions: vec![
            new_composition(composition()),
            NewVersion {
                preceding: Some(existing.uid.clone()),
                meta: CommitMeta {
                    lifecycle_state: Some(LifecycleState::Incomplete),
                    ..CommitMeta::default()
                },
                ..new_composition(composition())
            },
        ],
    };
    let done = store
        .commit_contribution(&caller(), ehr.ehr_id, c)
        .await
        .unwrap();
    assert_eq!(done.contribution_id, uid);
    assert_eq!(done.versions[0].change_type, ChangeType::Creation);
    assert_eq!(done.versions[1].change_type, ChangeType::Modification);
    assert_eq!(done.versions[1].uid.version, 2);

    let got = store
        .get_contribution(&caller(), ehr.ehr_id, uid)
        .await
        .unwrap();
    assert_eq!(got.versions.len(), 2);
    let body = got.to_json();
    assert_eq!(body["uid"]["value"], uid.to_string());
    assert_eq!(body["audit"]["committer"]["name"], "Dr X");
    assert_eq!(
        body["audit"]["description"]["value"],
        "ward \"round\" \\ 2\n"
    );
    assert_eq!(body["audit"]["_type"], "AUDIT_DETAILS");
    assert_eq!(body["audit"]["change_type"]["value"], "modification");
    // A mix of creation and modification is recorded as modification.
    assert_eq!(
        body["audit"]["change_type"]["defining_code"]["code_string"],
        "251"
    );
    // Each version's commit audit carries the contribution's committer and time.
    let v2 = store
        .get_composition(
            &caller(),
            ehr.ehr_id,
            &UidBasedId::Version(done.versions[1].uid.clone()),
        )
        .await
        .unwrap();
    assert_eq!(v2.contribution_id, uid);
    assert_eq!(v2.lifecycle_state, LifecycleState::Incomplete);
    let audit = json(&v2.audit);
    assert_eq!(audit["committer"]["name"], "Dr X");
    assert_eq!(audit["time_committed"], body["audit"]["time_committed"]);

    // The same contribution uid again is a conflict.
    let again = NewContribution {
        uid: Some(uid),
        meta: meta(),
        versions: vec![new_composition(composition())],
    };
    let err = store
        .commit_contribution(&caller(), ehr.ehr_id, again)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let err = store
        .get_contribution(&caller(), ehr.ehr_id, Uuid::new_v4())
        .await
        .unwrap_err();
    assert_not_found(&err, "contribution");
}

#[tokio::test]
async fn all_or_nothing() {
    let store = store_with_template().await;
    let ehr = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap();
    let v1 = store
        .create_composition(&caller(), ehr.ehr_id, composition(), meta())
        .await
        .unwrap();
    let v2 = store
        .update_composition(&caller(), ehr.ehr_id, &v1.uid, composition(), meta())
        .await
        .unwrap();
    let count = |store: cdr_store::Store| async move {
        let client = store.pool().get().await.unwrap();
        let v: i64 = client
            .query_one("SELECT count(*) FROM object_version", &[])
            .await
            .unwrap()
            .get(0);
        let c: i64 = client
            .query_one("SELECT count(*) FROM contribution", &[])
            .await
            .unwrap()
            .get(0);
        let n: i64 = client
            .query_one("SELECT count(*) FROM node", &[])
            .await
            .unwrap()
            .get(0);
        (v, c, n)
    };
    let before = count(store.clone()).await;

    // One good creation plus one stale update: neither is written.
    let stale = NewContribution {
        uid: None,
        meta: meta(),
        versions: vec![
            new_composition(composition()),
            NewVersion {
                preceding: Some(v1.uid.clone()),
                ..new_composition(composition())
            },
        ],
    };
    let err = store
        .commit_contribution(&caller(), ehr.ehr_id, stale)
        .await
        .unwrap_err();
    match err {
        StoreError::VersionConflict { latest, .. } => assert_eq!(latest, v2.uid.to_string()),
        other => panic!("{other:?}"),
    }
    assert_eq!(count(store.clone()).await, before);

    // One good creation plus one invalid one: every issue reported, nothing written.
    let bad = composition_with(|v| {
        v["content"][0]["data"]["events"][0]["data"]["items"][0]["value"]["units"] =
            serde_json::json!("mmHg");
    });
    let invalid = NewContribution {
        uid: None,
        meta: meta(),
        versions: vec![new_composition(composition()), new_composition(bad)],
    };
    let err = store
        .commit_contribution(&caller(), ehr.ehr_id, invalid)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(count(store.clone()).await, before);

    // Change types that do not fit the operation are refused.
    let wrong = NewContribution {
        uid: None,
        meta: meta(),
        versions: vec![NewVersion {
            meta: CommitMeta {
                change_type: Some(ChangeType::Modification),
                ..CommitMeta::default()
            },
            ..new_composition(composition())
        }],
    };
    let err = store
        .commit_contribution(&caller(), ehr.ehr_id, wrong)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::BadRequest(_)), "{err:?}");
    let empty = NewContribution::default();
    let err = store
        .commit_contribution(&caller(), ehr.ehr_id, empty)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::BadRequest(_)), "{err:?}");
    assert_eq!(count(store).await, before);
}

/// A contribution of several creations is one statement over column arrays (a single creation
/// uses scalar parameters): every row of every version is written, and a taken object id among
/// them writes nothing and names that object.
#[tokio::test]
async fn several_creations_are_one_statement() {
    let store = store_with_template().await;
    let ehr = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap();
    let rows = |store: cdr_store::Store, vo_id: Uuid| async move {
        let client = store.pool().get().await.unwrap();
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM versioned_object WHERE vo_id = $1), \
                        (SELECT count(*) FROM object_version WHERE vo_id = $1), \
                        (SELECT count(*) FROM node WHERE vo_id = $1), \
                        (SELECT count(*) FROM leaf WHERE vo_id = $1)",
                &[&vo_id],
            )
            .await
            .unwrap();
        (0..4).map(|i| row.get::<_, i64>(i)).collect::<Vec<_>>()
    };
    // The first commit of the store also writes its dictionary entries.
    let three = NewContribution {
        uid: None,
        meta: meta(),
        versions: (0..3).map(|_| new_composition(composition())).collect(),
    };
    let done = store
        .commit_contribution(&caller(), ehr.ehr_id, three)
        .await
        .unwrap();
    assert_eq!(done.versions.len(), 3);
    let single = store
        .create_composition(&caller(), ehr.ehr_id, composition(), meta())
        .await
        .unwrap();
    let expected = rows(store.clone(), single.uid.object_id).await;
    assert_eq!(&expected[..2], &[1, 1]);
    assert!(expected[2] > 0 && expected[3] > 0, "{expected:?}");
    for v in &done.versions {
        assert_eq!(rows(store.clone(), v.uid.object_id).await, expected);
        let got = store
            .get_composition(&caller(), ehr.ehr_id, &UidBasedId::Version(v.uid.clone()))
            .await
            .unwrap();
        assert_eq!(got.contribution_id, done.contribution_id);
    }

    // Known dictionary entries this time; the second object id is taken.
    let taken = composition_with(|v| {
        v["uid"] = serde_json::json!({"_type": "HIER_OBJECT_ID",
                                      "value": single.uid.object_id.to_string()});
    });
    let fresh_id = Uuid::new_v4();
    let fresh = composition_with(|v| {
        v["uid"] = serde_json::json!({"_type": "HIER_OBJECT_ID", "value": fresh_id.to_string()});
    });
    let err = store
        .commit_contribution(
            &caller(),
            ehr.ehr_id,
            NewContribution {
                uid: None,
                meta: meta(),
                versions: vec![new_composition(fresh), new_composition(taken)],
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains(&single.uid.object_id.to_string())),
        "{err:?}"
    );
    assert_eq!(rows(store.clone(), fresh_id).await, vec![0, 0, 0, 0]);
}
