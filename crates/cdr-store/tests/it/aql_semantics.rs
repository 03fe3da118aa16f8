//! AQL semantics through the store, each reading checked against the oracle over the same
//! data where the oracle defines it: rows of multi-valued attributes, natural values of
//! DV_ORDERED objects, LIKE wildcards, containment, object ids.

use serde_json::{json, Value};
use uuid::Uuid;

use cdr_store::aql::{QueryLimits, QueryRequest};
use cdr_store::{Store, StoreError};

use crate::aql::{create_directory, folder};
use crate::aql_diff::agree;
use crate::common::{caller, composition_with, meta, store_with_template};

const OBS: &str = "openEHR-EHR-OBSERVATION.cdr_test_vitals.v1";
const EVENTS: &str = "o/data[at0001]/events[at0002]";

/// An EHR with one composition whose observation has two events: at 10:05 systolic 120 in
/// position "Sitting", at 10:35 systolic 140 with no position; and a second composition (one
/// event at 10:00, systolic 100).
async fn two_events() -> (Store, Uuid, String) {
    let store = store_with_template().await;
    let ehr = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap()
        .ehr_id;
    let c = composition_with(|v| {
        let events = v["content"][0]["data"]["events"].as_array_mut().unwrap();
        let mut second = events[0].clone();
        second["time"]["value"] = json!("2024-03-01T10:35:00Z");
        let items = second["data"]["items"].as_array_mut().unwrap();
        items[0]["value"]["magnitude"] = json!(140.0);
        items.remove(1);
        events.push(second);
    });
    let uid = store
        .create_composition(&caller(), ehr, c, meta())
        .await
        .unwrap()
        .uid
        .to_string();
    let c = composition_with(|v| {
        let event = &mut v["content"][0]["data"]["events"][0];
        event["time"]["value"] = json!("2024-03-01T10:00:00Z");
        event["data"]["items"][0]["value"]["magnitude"] = json!(100.0);
    });
    store
        .create_composition(&caller(), ehr, c, meta())
        .await
        .unwrap();
    (store, ehr, uid)
}

/// The SQL a query compiles to.
fn compiled(aql: &str) -> String {
    let req = QueryRequest {
        aql,
        ..QueryRequest::default()
    };
    cdr_store::aql::compile_to_sql(&req, &QueryLimits::default())
        .unwrap()
        .0
}

async fn error(store: &Store, aql: &str) -> String {
    let req = QueryRequest {
        aql,
        ..QueryRequest::default()
    };
    match store.query(&caller(), &req, &QueryLimits::default()).await {
        Ok(rs) => panic!("{aql}: expected an error, got {:?}", rs.values()),
        Err(StoreError::Query { message, .. }) => message,
        Err(e) => panic!("{aql}: {e:?}"),
    }
}

fn sorted(mut rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    rows.sort_by_key(|r| serde_json::to_string(r).unwrap());
    rows
}

#[tokio::test]
async fn each_element_of_a_multi_valued_attribute_is_a_row() {
    let (store, _, uid) = two_events().await;
    let sys = format!("{EVENTS}/data[at0003]/items[at0004]/value/magnitude");
    let pos = format!("{EVENTS}/data[at0003]/items[at0005]/value/value");
    let time = format!("{EVENTS}/time/value");
    let from = format!("FROM COMPOSITION c CONTAINS OBSERVATION o[{OBS}]");
    // One row per event, the two columns of one event side by side; the event without a
    // position has a null in its row.
    let rows = agree(
        &store,
        &format!("SELECT {time}, {sys}, {pos} {from}"),
        json!({}),
        false,
    )
    .await;
    assert_eq!(
        sorted(rows),
        vec![
            vec![
                json!("2024-03-01T10:00:00Z"),
                json!(100.0),
                json!("Sitting")
            ],
            vec![
                json!("2024-03-01T10:05:00Z"),
                json!(120.0),
                json!("Sitting")
            ],
            vec![json!("2024-03-01T10:35:00Z"), json!(140.0), json!(null)],
        ]
    );
    // WHERE through the same events keeps only the matching event's row.
    let q = format!("SELECT {sys} {from} WHERE {time} = $t");
    let rows = agree(&store, &q, json!({"t": "2024-03-01T10:35:00Z"}), false).await;
    assert_eq!(rows, vec![vec![json!(140.0)]]);
    let q = format!("SELECT {sys}, {time} {from} WHERE {pos} = 'Sitting' ORDER BY {time} DESC");
    let rows = agree(&store, &q, json!({}), true).await;
    assert_eq!(
        rows,
        vec![
            vec![json!(120.0), json!("2024-03-01T10:05:00Z")],
            vec![json!(100.0), json!("2024-03-01T10:00:00Z")],
        ]
    );
    // ORDER BY a path through the same events sorts each row by its own event.
    let q = format!("SELECT {sys} {from} ORDER BY {time} DESC");
    let rows = agree(&store, &q, json!({}), true).await;
    assert_eq!(
        rows,
        vec![vec![json!(140.0)], vec![json!(120.0)], vec![json!(100.0)]]
    );
    // A WHERE path that shares nothing with SELECT is existential over the observation.
    let q = format!("SELECT c/uid/value {from} WHERE {sys} > 130");
    let rows = agree(&store, &q, json!({}), false).await;
    assert_eq!(rows, vec![vec![json!(uid)]]);
    // A single path through the events: where no list on the path repeats its node id (one
    // event) the value is read from the leaf rows, elsewhere (two events) from the document;
    // an event without the value is a row with null either way.
    let code = format!("{EVENTS}/data[at0003]/items[at0005]/value/defining_code/code_string");
    let q = format!("SELECT {code} {from}");
    let rows = agree(&store, &q, json!({}), false).await;
    assert_eq!(
        sorted(rows),
        vec![
            vec![json!("at0020")],
            vec![json!("at0020")],
            vec![json!(null)]
        ]
    );
    let sql = compiled(&q);
    assert!(sql.contains(".repeats IS NOT NULL AND NOT"), "{sql}");
    // Several such values through the same events: one row per node from the leaf rows where
    // no list on their paths repeats, one row per event from the document elsewhere.
    let sys_magnitude = format!("{EVENTS}/data[at0003]/items[at0004]/value/magnitude");
    let q = format!("SELECT {sys_magnitude}, {code} {from}");
    let rows = agree(&store, &q, json!({}), false).await;
    assert_eq!(
        sorted(rows),
        vec![
            vec![json!(100.0), json!("at0020")],
            vec![json!(120.0), json!("at0020")],
            vec![json!(140.0), json!(null)],
        ]
    );
    let sql = compiled(&q);
    assert_eq!(
        sql.matches(".repeats IS NOT NULL AND NOT").count(),
        2,
        "{sql}"
    );
    // Both observations repeat the arm's node id; the first repeats its event too.
    let client = store.pool().get().await.unwrap();
    let repeats: Vec<Vec<String>> = client
        .query(
            "SELECT repeats FROM node WHERE rm_type = 'OBSERVATION' ORDER BY cardinality(repeats)",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let arms = "/data[at0001]/events[at0002]/data[at0003]/items[at0013]";
    assert_eq!(
        repeats,
        [
            vec![arms.to_owned()],
            vec!["/data[at0001]/events[at0002]".to_owned(), arms.to_owned()]
        ]
    );
    // Aggregates fold over the same rows.
    let q = format!("SELECT COUNT({sys}), COUNT({pos}), MAX({sys}) {from}");
    let rows = agree(&store, &q, json!({}), false).await;
    assert_eq!(rows, vec![vec![json!(3), json!(2), json!(140.0)]]);
}

#[tokio::test]
async fn dv_ordered_objects_use_their_natural_value() {
    let (store, _, _) = two_events().await;
    let from = format!("FROM COMPOSITION c CONTAINS OBSERVATION o[{OBS}]");
    let items = format!("{EVENTS}/data[at0003]/items");
    let sys = format!("{items}[at0004]/value");
    // Compared with a literal: the magnitude.
    let q = format!("SELECT {sys}/magnitude {from} WHERE {sys} > 110 AND {sys} <= 140");
    let rows = agree(&store, &q, json!({}), false).await;
    assert_eq!(sorted(rows), vec![vec![json!(120.0)], vec![json!(140.0)]]);
    // DV_ORDINAL by its value, DV_DATE_TIME as an instant, DV_DURATION by its length.
    for (cond, n) in [
        (format!("{items}[at0006]/value = 1"), 3),
        (format!("{items}[at0006]/value > 1"), 0),
        (
            format!("{items}[at0008]/value > '2024-03-01T11:00:00+01:00'"),
            3,
        ),
        (format!("{items}[at0008]/value < '2024-03-01'"), 0),
        (format!("{items}[at0012]/value > 'PT4M'"), 3),
        (format!("{items}[at0012]/value >= 'PT1H'"), 0),
    ] {
        let q = format!("SELECT {sys}/magnitude {from} WHERE {cond}");
        let rows = agree(&store, &q, json!({}), false).await;
        assert_eq!(rows.len(), n, "{cond}: {rows:?}");
    }
    // ORDER BY the whole quantity; MIN and MAX give the object with the least and greatest
    // magnitude.
    let q = format!("SELECT {sys}/magnitude {from} ORDER BY {sys} DESC");
    let rows = agree(&store, &q, json!({}), true).await;
    assert_eq!(
        rows,
        vec![vec![json!(140.0)], vec![json!(120.0)], vec![json!(100.0)]]
    );
    let q = format!("SELECT MIN({sys}), MAX({sys}) {from}");
    let rows = agree(&store, &q, json!({}), false).await;
    assert_eq!(rows[0][0]["magnitude"], json!(100.0));
    assert_eq!(rows[0][1]["magnitude"], json!(140.0));
    assert_eq!(rows[0][1]["_type"], json!("DV_QUANTITY"));
    // MIN/MAX over DV_TEXT objects use the text.
    let q = format!("SELECT MIN({items}[at0010]/value), MAX({items}[at0005]/value) {from}");
    let rows = agree(&store, &q, json!({}), false).await;
    assert_eq!(rows[0][0]["value"], json!("BP-42"));
    assert_eq!(rows[0][1]["value"], json!("Sitting"));
    // AVG and SUM over objects are refused, naming the function and the type.
    let message = error(&store, &format!("SELECT AVG({sys}) {from}")).await;
    assert!(message.contains("AVG is not supported for"), "{message}");
    let message = error(&store, &format!("SELECT SUM(c/context/start_time) {from}")).await;
    assert!(
        message.contains("SUM is not supported for DV_DATE_TIME"),
        "{message}"
    );
}

#[tokio::test]
async fn like_uses_star_and_question_mark() {
    let (store, _, _) = two_events().await;
    let code = format!("{EVENTS}/data[at0003]/items[at0010]/value/value"); // "BP-42"
    let from = format!("FROM COMPOSITION c CONTAINS OBSERVATION o[{OBS}]");
    for (pattern, n) in [
        ("BP-*", 3),
        ("BP-4?", 3),
        ("BP-?", 0),
        ("*42", 3),
        ("BP%", 0),
        ("BP_42", 0),
        ("BP\\\\-42", 3),
        ("bp-*", 0),
    ] {
        let q = format!("SELECT {code} {from} WHERE {code} LIKE '{pattern}'");
        let rows = agree(&store, &q, json!({}), false).await;
        assert_eq!(rows.len(), n, "{pattern}");
    }
    // `%` and `_` are plain characters.
    let q = format!("SELECT c/uid/value {from} WHERE c/name/value LIKE $p");
    let c = composition_with(|v| v["name"]["value"] = json!("100%_done"));
    let ehr = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap()
        .ehr_id;
    store
        .create_composition(&caller(), ehr, c, meta())
        .await
        .unwrap();
    for (p, n) in [("100%_*", 1), ("100??done", 1), ("100*", 1), ("1%", 0)] {
        let rows = agree(&store, &q, json!({ "p": p }), false).await;
        assert_eq!(rows.len(), n, "{p}");
    }
}

#[tokio::test]
async fn containment_of_versions_statuses_and_structures() {
    let (store, ehr, uid) = two_events().await;
    let from_obs = format!("COMPOSITION c CONTAINS OBSERVATION o[{OBS}]");
    // DATA_STRUCTURE: HISTORY and the item trees (one per event), in each composition.
    let q =
        format!("SELECT d/_type, d/archetype_node_id FROM {from_obs} CONTAINS DATA_STRUCTURE d");
    let rows = sorted(
        agree(
            &store,
            &q.replace("d/_type", "d/name/value"),
            json!({}),
            false,
        )
        .await,
    );
    assert_eq!(rows.len(), 5, "{rows:?}");
    let q = format!("SELECT COUNT(*) FROM {from_obs} CONTAINS DATA_STRUCTURE d[at0001]");
    assert_eq!(
        agree(&store, &q, json!({}), false).await,
        vec![vec![json!(2)]]
    );
    // An impossible containment is no rows, not an error.
    for q in [
        "SELECT s FROM EHR e CONTAINS COMPOSITION c CONTAINS EHR_STATUS s",
        "SELECT c FROM OBSERVATION o CONTAINS COMPOSITION c",
        "SELECT v FROM COMPOSITION c CONTAINS VERSION v",
    ] {
        assert!(agree(&store, q, json!({}), false).await.is_empty(), "{q}");
    }

    // EHR_STATUS versions, and what an EHR_STATUS contains.
    let first = store
        .get_ehr_status(&caller(), ehr, None)
        .await
        .unwrap()
        .uid;
    let second = store
        .update_ehr_status(&caller(), ehr, &first, family_status(), meta())
        .await
        .unwrap()
        .uid;
    let q = "SELECT v/uid/value, s/is_queryable FROM EHR e[ehr_id/value=$e] \
             CONTAINS VERSION v CONTAINS EHR_STATUS s";
    let e = json!({"e": ehr.to_string()});
    let rows = agree(&store, q, e.clone(), false).await;
    assert_eq!(rows, vec![vec![json!(second.to_string()), json!(true)]]);
    // What a bare VERSION of EHR_STATUS selects: the ORIGINAL_VERSION with the status.
    let q = "SELECT v FROM EHR e[ehr_id/value=$e] CONTAINS VERSION v CONTAINS EHR_STATUS s";
    let rows = agree(&store, q, e.clone(), false).await;
    assert_eq!(rows[0][0]["data"]["_type"], json!("EHR_STATUS"), "{rows:?}");
    let q = "SELECT v/uid/value FROM EHR e[ehr_id/value=$e] \
             CONTAINS VERSION v[ALL_VERSIONS] CONTAINS EHR_STATUS s";
    let rows = sorted(agree(&store, q, e.clone(), false).await);
    assert_eq!(
        rows,
        vec![
            vec![json!(first.to_string())],
            vec![json!(second.to_string())]
        ]
    );
    for q in [
        "SELECT l/value/value FROM EHR e CONTAINS EHR_STATUS s CONTAINS ELEMENT l",
        "SELECT t/items[openEHR-EHR-CLUSTER.family.v0]/items[at0001]/value/value FROM EHR e \
         CONTAINS EHR_STATUS s CONTAINS ITEM_TREE t",
        "SELECT x/items[at0001]/value/value FROM EHR e CONTAINS EHR_STATUS s CONTAINS CLUSTER x",
        "SELECT d/items[openEHR-EHR-CLUSTER.family.v0]/items[at0001]/value/value FROM EHR e \
         CONTAINS EHR_STATUS s CONTAINS DATA_STRUCTURE d",
    ] {
        assert_eq!(
            agree(&store, q, json!({}), false).await,
            vec![vec![json!("fam-7")]],
            "{q}"
        );
    }
    // `e/ehr_status/…` reads the current EHR_STATUS.
    let q = "SELECT e/ehr_status/other_details/items/items/value/value, e/ehr_status/is_queryable \
             FROM EHR e";
    assert_eq!(
        agree(&store, q, json!({}), false).await,
        vec![vec![json!("fam-7"), json!(true)]]
    );

    // A folder contains the versions of the compositions it files.
    let object_id = uid.split("::").next().unwrap().to_owned();
    create_directory(&store, ehr, folder("root", &[&object_id], vec![])).await;
    let q = "SELECT f/name/value, v/uid/value FROM EHR e CONTAINS FOLDER f CONTAINS VERSION v";
    assert_eq!(
        agree(&store, q, json!({}), false).await,
        vec![vec![json!("root"), json!(uid)]]
    );
    let q = "SELECT v/uid/value FROM FOLDER f CONTAINS VERSION v[ALL_VERSIONS] \
             CONTAINS COMPOSITION c CONTAINS OBSERVATION o";
    assert_eq!(
        agree(&store, q, json!({}), false).await,
        vec![vec![json!(uid)]]
    );
}

#[tokio::test]
async fn a_bare_object_id_matches_every_version() {
    let (store, ehr, uid) = two_events().await;
    let c = composition_with(|_| {});
    let v1: cdr_store::VersionUid = uid.parse().unwrap();
    let v2 = store
        .update_composition(&caller(), ehr, &v1, c, meta())
        .await
        .unwrap()
        .uid
        .to_string();
    let object_id = uid.split("::").next().unwrap().to_owned();
    let all = "SELECT c/uid/value FROM EHR e CONTAINS VERSION v[ALL_VERSIONS] \
               CONTAINS COMPOSITION c WHERE c/uid/value = $id";
    let id = |s: &str| json!({ "id": s });
    let rows = sorted(agree(&store, all, id(&object_id), false).await);
    assert_eq!(rows, vec![vec![json!(uid)], vec![json!(v2)]]);
    // A full version uid matches that version only; current versions hold the latest.
    assert_eq!(
        agree(&store, all, id(&uid), false).await,
        vec![vec![json!(uid)]]
    );
    let current = "SELECT c/uid/value FROM COMPOSITION c WHERE c/uid/value = $id";
    assert_eq!(
        agree(&store, current, id(&object_id), false).await,
        vec![vec![json!(v2)]]
    );
    let q = "SELECT v/uid/value FROM VERSION v[ALL_VERSIONS] CONTAINS COMPOSITION c \
             WHERE v/uid/value = $id OR c/uid/value MATCHES {'x'}";
    assert_eq!(agree(&store, q, id(&object_id), false).await.len(), 2);
    let q = "SELECT c/uid/value FROM COMPOSITION c WHERE c/uid/value != $id";
    assert_eq!(agree(&store, q, id(&object_id), false).await.len(), 1);
}

/// An EHR_STATUS whose `other_details` hold an archetyped cluster with one element ("family
/// group id" = "fam-7"), as EHRbase's conformance data has it.
pub(crate) fn family_status() -> cdr_rm::EhrStatus {
    cdr_rm::json::from_json_value(json!({
        "_type": "EHR_STATUS",
        "archetype_node_id": "openEHR-EHR-EHR_STATUS.generic.v1",
        "name": {"_type": "DV_TEXT", "value": "EHR Status"},
        "subject": {"_type": "PARTY_SELF"},
        "is_queryable": true,
        "is_modifiable": true,
        "other_details": {"_type": "ITEM_TREE", "archetype_node_id": "at0000",
            "name": {"_type": "DV_TEXT", "value": "Details"},
            "items": [{"_type": "CLUSTER", "archetype_node_id": "openEHR-EHR-CLUSTER.family.v0",
                "name": {"_type": "DV_TEXT", "value": "Family"},
                "items": [{"_type": "ELEMENT", "archetype_node_id": "at0001",
                    "name": {"_type": "DV_TEXT", "value": "family group id"},
                    "value": {"_type": "DV_TEXT", "value": "fam-7"}}]}]}
    }))
    .unwrap()
}

/// Below `EHR e`, a class that can lie inside an EHR_STATUS ranges over the EHR's current
/// EHR_STATUS as well as its compositions (as EHRbase's `EHR e CONTAINS ELEMENT l` does);
/// classes that cannot lie there, and unqualified classes, range over compositions only.
#[tokio::test]
async fn ehr_contains_reaches_ehr_status_content() {
    let (store, ehr, _) = two_events().await;
    let first = store
        .get_ehr_status(&caller(), ehr, None)
        .await
        .unwrap()
        .uid;
    store
        .update_ehr_status(&caller(), ehr, &first, family_status(), meta())
        .await
        .unwrap();
    // Each query's rows, compared with the oracle's.
    let rows = |q: String| {
        let store = &store;
        async move { sorted(agree(store, &q, json!({}), false).await) }
    };
    for (class, select) in [
        ("ELEMENT l", "l/name/value"),
        ("ELEMENT l[at0001]", "l/name/value"),
        ("CLUSTER l", "l/name/value"),
        ("ITEM_TREE l", "l/name/value"),
        ("ITEM_STRUCTURE l", "l/name/value"),
        ("DATA_STRUCTURE l", "l/name/value"),
        (
            "CLUSTER l[openEHR-EHR-CLUSTER.family.v0]",
            "l/items[at0001]/value/value",
        ),
    ] {
        let both = rows(format!("SELECT {select} FROM EHR e CONTAINS {class}")).await;
        let in_status = rows(format!(
            "SELECT {select} FROM EHR e CONTAINS EHR_STATUS s CONTAINS {class}"
        ))
        .await;
        let in_compositions = rows(format!(
            "SELECT {select} FROM EHR e CONTAINS COMPOSITION c CONTAINS {class}"
        ))
        .await;
        assert!(!in_status.is_empty(), "{class}");
        assert_eq!(
            both,
            sorted([in_status, in_compositions].concat()),
            "{class}"
        );
    }
    // EHRbase's conformance query: the status's element and the compositions' (the device
    // cluster's at0001 in each of the three events).
    let cuff = || vec![json!("Cuff")];
    assert_eq!(
        rows("SELECT l/name/value FROM EHR e CONTAINS ELEMENT l[at0001]".into()).await,
        vec![cuff(), cuff(), cuff(), vec![json!("family group id")]]
    );
    // Leaf rows of the status's archetyped cluster answer a comparison on it.
    let q = "SELECT e/ehr_id/value FROM EHR e CONTAINS CLUSTER x[openEHR-EHR-CLUSTER.family.v0] \
             WHERE x/items[at0001]/value/value = 'fam-7'";
    assert_eq!(rows(q.into()).await, vec![vec![json!(ehr.to_string())]]);
    // Unqualified, a class ranges over compositions only.
    assert_eq!(
        rows("SELECT l/name/value FROM ELEMENT l[at0001]".into()).await,
        vec![cuff(), cuff(), cuff()]
    );
    // Classes that cannot lie in an EHR_STATUS read compositions only: the same SQL as before.
    for class in [
        "OBSERVATION o",
        "SECTION o",
        "HISTORY o",
        "EVENT o",
        "COMPOSITION o",
    ] {
        let sql = compiled(&format!("SELECT o FROM EHR e CONTAINS {class}"));
        assert!(sql.contains(".kind = 1)"), "{class}: {sql}");
        assert!(!sql.contains("IN (1, 2)"), "{class}: {sql}");
    }
    let sql = compiled("SELECT l FROM EHR e CONTAINS ELEMENT l");
    assert!(sql.contains(".kind IN (1, 2)"), "{sql}");
}
