//! Reads on a streaming replica: AQL (and flags) go to the replica, a caller who has just
//! written reads their own write (from the primary until the replica has replayed it), direct
//! reads by id stay on the primary, `Cdr-Read-From: primary` asks for the primary, and a
//! replica that is down leaves the answers to the primary. A real primary and a real hot
//! standby (`cdr_testkit::streaming_pair`), whose replay the test pauses.

use std::sync::Arc;

use serde_json::{json, Value};

use cdr_server::http::Identify;
use cdr_store::{Principal, Store, StoreConfig};

use crate::common::{server_identified, Server, OPT};

/// The caller is the local admin under the subject the `x-test-sub` header names.
fn by_subject(req: &actix_web::HttpRequest) -> Principal {
    let mut p = Principal::local();
    if let Some(sub) = req
        .headers()
        .get("x-test-sub")
        .and_then(|v| v.to_str().ok())
    {
        p.subject = sub.to_owned();
    }
    p
}

/// The version uids of `ehr`'s compositions as `sub` queries them (with `extra` headers).
async fn uids(srv: &Server, sub: &str, ehr: &str, extra: &[(&str, &str)]) -> Vec<Value> {
    let q = "SELECT c/uid/value FROM EHR e CONTAINS COMPOSITION c WHERE e/ehr_id/value = $ehr";
    let mut req = srv
        .post("/query/aql")
        .header("x-test-sub", sub)
        .json(&json!({"q": q, "query_parameters": {"ehr": ehr}}));
    for (k, v) in extra {
        req = req.header(k, v);
    }
    let res = req.send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    let rows = res.json()["rows"].as_array().cloned().unwrap_or_default();
    rows.into_iter().map(|r| r[0].clone()).collect()
}

/// The rows of the same query as CSV (without the header line).
async fn csv_rows(srv: &Server, sub: &str, ehr: &str) -> usize {
    let q = "SELECT c/uid/value FROM EHR e CONTAINS COMPOSITION c WHERE e/ehr_id/value = $ehr";
    let res = srv
        .post("/query/aql")
        .header("x-test-sub", sub)
        .header("Accept", "text/csv")
        .json(&json!({"q": q, "query_parameters": {"ehr": ehr}}))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    res.text().lines().count() - 1
}

#[tokio::test]
async fn reads_go_to_the_replica_and_callers_read_their_own_writes() {
    let pair = cdr_testkit::streaming_pair();
    cdr_store::create_database(&pair.primary, "cdr")
        .await
        .expect("creating the database");
    let config = StoreConfig {
        read_database_url: Some(cdr_testkit::url_of(&pair.standby, "cdr")),
        ..cdr_testkit::config()
    };
    let store = Store::connect(pair.primary.pg_config("cdr"), &config, None)
        .await
        .expect("the store opens with a replica");
    assert!(store.has_replica());
    pair.wait_for_replay().await;
    let srv = server_identified(store, Identify(Arc::new(by_subject)));
    let res = srv.upload(OPT).await;
    assert_eq!(res.status, 201, "{}", res.text());
    let ehr = srv.ehr().await;
    pair.wait_for_replay().await;
    assert_eq!(uids(&srv, "b", &ehr, &[]).await, Vec::<Value>::new());

    // Replay paused: A commits and reads its write; B reads the replica, which lacks it.
    pair.pause_replay(true).await;
    let res = srv
        .post(&format!("/ehr/{ehr}/composition"))
        .header("x-test-sub", "a")
        .body("application/json", crate::common::COMPOSITION)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let uid = res.etag();
    assert_eq!(uids(&srv, "a", &ehr, &[]).await, [json!(uid)]);
    assert_eq!(uids(&srv, "b", &ehr, &[]).await, Vec::<Value>::new());
    assert_eq!(
        csv_rows(&srv, "b", &ehr).await,
        0,
        "exports read the replica too"
    );
    // A direct read by id is the primary's; so is a query that asks for it.
    let res = srv
        .get(&format!("/ehr/{ehr}/composition/{uid}"))
        .header("x-test-sub", "b")
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let primary = [("Cdr-Read-From", "primary")];
    assert_eq!(uids(&srv, "b", &ehr, &primary).await, [json!(uid)]);
    let res = srv
        .post("/query/aql")
        .header("Cdr-Read-From", "the fastest")
        .json(&json!({"q": "SELECT e/ehr_id/value FROM EHR e"}))
        .send()
        .await;
    res.problem(400, "invalid_header");
    // A again, still before the replay: the primary again.
    assert_eq!(uids(&srv, "a", &ehr, &[]).await, [json!(uid)]);
    // The flags likewise: A's new EHR of a subject is on the primary only.
    let status = json!({
        "_type": "EHR_STATUS",
        "archetype_node_id": "openEHR-EHR-EHR_STATUS.generic.v1",
        "name": {"_type": "DV_TEXT", "value": "EHR Status"},
        "subject": {"_type": "PARTY_SELF", "external_ref": {"_type": "PARTY_REF",
            "id": {"_type": "GENERIC_ID", "value": "p-1", "scheme": "nhs"},
            "namespace": "nhs", "type": "PERSON"}},
        "is_queryable": true, "is_modifiable": true,
    });
    let res = srv
        .post("/ehr")
        .header("x-test-sub", "a")
        .json(&status)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let subject_ehr = json!(res.etag());
    let flagged = |sub: &'static str| {
        let req = srv
            .get("/flags?subject_id=p-1&subject_namespace=nhs")
            .header("x-test-sub", sub);
        async move {
            let res = req.send().await;
            assert_eq!(res.status, 200, "{}", res.text());
            res.json()["ehr_id"].clone()
        }
    };
    assert_eq!(flagged("a").await, subject_ehr);
    assert_eq!(flagged("b").await, Value::Null);

    // Replay resumed: B sees the write on the replica.
    pair.pause_replay(false).await;
    pair.wait_for_replay().await;
    assert_eq!(uids(&srv, "b", &ehr, &[]).await, [json!(uid)]);
    assert_eq!(srv.store.replica_fallbacks(), 0);

    // The replica down: the primary answers, and the fallback is counted.
    pair.standby.stop().expect("stopping the standby");
    assert_eq!(uids(&srv, "b", &ehr, &[]).await, [json!(uid)]);
    assert_eq!(csv_rows(&srv, "b", &ehr).await, 1);
    assert!(srv.store.replica_fallbacks() >= 1);
    let res = srv.raw("GET", "/metrics").send().await;
    let fallbacks = res
        .text()
        .lines()
        .find_map(|l| l.strip_prefix("cdr_replica_fallbacks_total "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(fallbacks.is_some_and(|n| n >= 1), "{}", res.text());
}

/// A read database URL that does not parse stops the start, naming it.
#[tokio::test]
async fn a_replica_url_that_does_not_parse_is_refused_naming_it() {
    let config = StoreConfig {
        read_database_url: Some("host=/tmp port=notanumber".into()),
        ..cdr_testkit::config()
    };
    let pg = cdr_testkit::fresh_database().await;
    let err = Store::connect(pg, &config, None)
        .await
        .expect_err("a bad URL is refused");
    assert!(err.to_string().contains("read database URL"), "{err}");
}
