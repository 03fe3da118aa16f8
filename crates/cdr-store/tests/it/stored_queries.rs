//! Stored queries: versions assigned and explicit, partial versions, prefixes, errors.

use crate::common::caller;
use cdr_store::{Store, StoreError};

const Q: &str = "SELECT c/uid/value FROM EHR e CONTAINS COMPOSITION c";

async fn put(store: &Store, name: &str, version: Option<&str>) -> Result<String, StoreError> {
    store
        .put_stored_query(&caller(), name, version, "AQL", Q)
        .await
        .map(|s| s.version)
}

fn versions(list: &[cdr_store::StoredQuery]) -> Vec<(&str, &str)> {
    list.iter()
        .map(|s| (s.name.as_str(), s.version.as_str()))
        .collect()
}

#[tokio::test]
async fn versions_are_assigned_by_bumping_the_patch() {
    let store = cdr_testkit::fresh_store().await;
    let n = "org.example::vitals";
    assert_eq!(put(&store, n, None).await.unwrap(), "1.0.0");
    assert_eq!(put(&store, n, None).await.unwrap(), "1.0.1");
    assert_eq!(put(&store, n, Some("2.3.9")).await.unwrap(), "2.3.9");
    // Without a version: after the highest; with a partial one: after the highest it matches.
    assert_eq!(put(&store, n, None).await.unwrap(), "2.3.10");
    assert_eq!(put(&store, n, Some("1")).await.unwrap(), "1.0.2");
    assert_eq!(put(&store, n, Some("1.5")).await.unwrap(), "1.5.0");
    assert_eq!(put(&store, n, Some("3")).await.unwrap(), "3.0.0");
    // An exact version that exists is a conflict.
    let err = put(&store, n, Some("1.0.0")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    let got = |v: Option<&'static str>| {
        let store = store.clone();
        async move {
            store
                .get_stored_query(&caller(), n, v)
                .await
                .map(|s| s.version)
        }
    };
    assert_eq!(got(None).await.unwrap(), "3.0.0");
    assert_eq!(got(Some("1")).await.unwrap(), "1.5.0");
    assert_eq!(got(Some("1.0")).await.unwrap(), "1.0.2");
    assert_eq!(got(Some("2.3.9")).await.unwrap(), "2.3.9");
    // Numerically highest, not textually (2.3.10 > 2.3.9).
    assert_eq!(got(Some("2")).await.unwrap(), "2.3.10");
    for missing in ["4", "1.1", "1.0.7"] {
        let err = got(Some(missing)).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    }
    let sq = store
        .get_stored_query(&caller(), n, Some("1.0.0"))
        .await
        .unwrap();
    assert_eq!((sq.query_type.as_str(), sq.q.as_str()), ("AQL", Q));
    assert!(sq.saved <= chrono::Utc::now());
}

#[tokio::test]
async fn listing_by_prefix_newest_version_first() {
    let store = cdr_testkit::fresh_store().await;
    for (name, v) in [
        ("org.openehr::compositions", "1.0.0"),
        ("org.openehr::compositions", "1.10.0"),
        ("org.openehr::compositions", "1.9.0"),
        ("org.openehr::ehrs", "1.0.0"),
        ("org.openehr.ext::x", "0.1.0"),
        ("com.example::compositions", "1.0.0"),
        ("bare", "1.0.0"),
    ] {
        put(&store, name, Some(v)).await.unwrap();
    }
    let list = |prefix: &'static str| {
        let store = store.clone();
        async move { store.list_stored_queries(&caller(), prefix).await.unwrap() }
    };
    assert_eq!(list("").await.len(), 7);
    assert_eq!(
        versions(&list("org.openehr::").await),
        vec![
            ("org.openehr::compositions", "1.10.0"),
            ("org.openehr::compositions", "1.9.0"),
            ("org.openehr::compositions", "1.0.0"),
            ("org.openehr::ehrs", "1.0.0"),
        ]
    );
    assert_eq!(list("org.openehr").await.len(), 5);
    assert_eq!(list("org.openehr::compositions").await.len(), 3);
    assert_eq!(versions(&list("ba").await), vec![("bare", "1.0.0")]);
    assert!(list("nothing").await.is_empty());
    // Text no name can hold matches nothing (and never reaches the database as an error).
    assert!(list("a%").await.is_empty());
    assert!(list("x\0y").await.is_empty());
}

#[tokio::test]
async fn bad_names_versions_types_and_queries() {
    let store = cdr_testkit::fresh_store().await;
    for (name, version, query_type, q) in [
        ("aql", None, "AQL", Q),
        ("org.x::AqL", None, "AQL", Q),
        ("no space", None, "AQL", Q),
        ("x::", None, "AQL", Q),
        ("org.x::q", Some("1.0.0-rc1"), "AQL", Q),
        ("org.x::q", Some("01.0"), "AQL", Q),
        ("org.x::q", None, "SQL", Q),
        ("org.x::q", None, "AQL", "   "),
        ("org.x::q", None, "AQL", "SELECT 'a\0b' FROM EHR e"),
    ] {
        let err = store
            .put_stored_query(&caller(), name, version, query_type, q)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::BadRequest(_)), "{name} {err:?}");
    }
    // AQL that does not parse: the position comes back.
    let err = store
        .put_stored_query(
            &caller(),
            "org.x::q",
            None,
            "aql",
            "SELECT c FROM\n  COMPOSITION c WHERE",
        )
        .await
        .unwrap_err();
    match err {
        StoreError::Query { line, column, .. } => assert_eq!((line, column), (2, 22)),
        other => panic!("{other:?}"),
    }
    assert!(store
        .list_stored_queries(&caller(), "")
        .await
        .unwrap()
        .is_empty());
    let err = store
        .get_stored_query(&caller(), "AQL", None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::BadRequest(_)), "{err:?}");
}

#[tokio::test]
async fn delete_needs_the_exact_version() {
    let store = cdr_testkit::fresh_store().await;
    let n = "org.x::q";
    put(&store, n, None).await.unwrap();
    put(&store, n, None).await.unwrap();
    let err = store
        .delete_stored_query(&caller(), n, "1")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::BadRequest(_)), "{err:?}");
    store
        .delete_stored_query(&caller(), n, "1.0.1")
        .await
        .unwrap();
    let err = store
        .delete_stored_query(&caller(), n, "1.0.1")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    let latest = store.get_stored_query(&caller(), n, None).await.unwrap();
    assert_eq!(latest.version, "1.0.0");
}

#[tokio::test]
async fn concurrent_puts_get_distinct_versions() {
    let store = cdr_testkit::fresh_store().await;
    let puts = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { put(&store, "org.x::busy", None).await })
    });
    let mut got: Vec<String> = Vec::new();
    for p in puts {
        got.push(p.await.unwrap().unwrap());
    }
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 8, "{got:?}");
}
