//! AQL through the store: one SQL statement per query, over data of two templates and two
//! EHRs, with updates and deletions. Every expected result below is written by hand from the
//! data built in `Data::build`.

use serde_json::{json, Map, Value};
use uuid::Uuid;

use cdr_store::aql::{QueryLimits, QueryRequest};
use cdr_store::{Store, StoreError, VersionUid};

use crate::common::{caller, meta, COMPOSITION, OPT};

const OBS: &str = "openEHR-EHR-OBSERVATION.cdr_test_vitals.v1";
const SYS: &str = "o/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value/magnitude";

/// Edits of the fixture composition.
#[derive(Clone)]
pub(crate) struct Doc {
    pub(crate) template_b: bool,
    pub(crate) systolic: f64,
    pub(crate) position: &'static str,
    pub(crate) comment: &'static str,
    pub(crate) start: &'static str,
    pub(crate) event_time: &'static str,
    pub(crate) with_device: bool,
}

impl Default for Doc {
    fn default() -> Self {
        Doc {
            template_b: false,
            systolic: 120.0,
            position: "Sitting",
            comment: "ok",
            start: "2024-03-01T10:00:00Z",
            event_time: "2024-03-01T10:05:00Z",
            with_device: true,
        }
    }
}

impl Doc {
    pub(crate) fn composition(&self) -> cdr_rm::Composition {
        let mut v: Value = serde_json::from_str(COMPOSITION).unwrap();
        if self.template_b {
            v["archetype_details"]["template_id"]["value"] = json!("cdr_test_vitals_b.v1");
        }
        v["context"]["start_time"]["value"] = json!(self.start);
        let event = &mut v["content"][0]["data"]["events"][0];
        event["time"]["value"] = json!(self.event_time);
        let items = event["data"]["items"].as_array_mut().unwrap();
        items[0]["value"]["magnitude"] = json!(self.systolic);
        items[1]["value"]["value"] = json!(self.position);
        items[5]["value"]["value"] = json!(self.comment);
        if !self.with_device {
            items.pop();
        }
        cdr_rm::json::from_json_value(v).expect("edited composition decodes")
    }
}

pub(crate) struct Data {
    pub(crate) store: Store,
    pub(crate) ehr_a: Uuid,
    pub(crate) ehr_b: Uuid,
    /// Version uids: a1, a2 (EHR A), b1, b2 (updated once: v1 systolic 100, v2 110),
    /// b3 (deleted).
    pub(crate) a1: VersionUid,
    pub(crate) b2: VersionUid,
}

pub(crate) async fn build() -> Data {
    let store = cdr_testkit::fresh_store().await;
    store.put_template(&caller(), OPT).await.unwrap();
    let opt_b = OPT.replacen(
        "<value>cdr_test_vitals.v1</value>",
        "<value>cdr_test_vitals_b.v1</value>",
        1,
    );
    let opt_b = opt_b.replace(
        "<template_id>\n      <value>cdr_test_vitals.v1</value>",
        "<template_id>\n      <value>cdr_test_vitals_b.v1</value>",
    );
    store.put_template(&caller(), &opt_b).await.unwrap();
    let ehr_a = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap()
        .ehr_id;
    let ehr_b = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap()
        .ehr_id;
    let commit = |ehr: Uuid, d: Doc| {
        let store = &store;
        async move {
            store
                .create_composition(&caller(), ehr, d.composition(), meta())
                .await
                .unwrap()
                .uid
        }
    };
    let a1 = commit(ehr_a, Doc::default()).await;
    commit(
        ehr_a,
        Doc {
            systolic: 150.0,
            position: "Standing",
            comment: "not ok",
            start: "2024-03-02T09:00:00Z",
            event_time: "2024-03-02T09:05:00Z",
            ..Doc::default()
        },
    )
    .await;
    let b1 = commit(
        ehr_b,
        Doc {
            template_b: true,
            systolic: 100.0,
            position: "Lying",
            start: "2024-03-03T08:00:00+02:00",
            event_time: "2024-03-03T08:30:00+02:00",
            with_device: false,
            ..Doc::default()
        },
    )
    .await;
    let b2 = store
        .update_composition(
            &caller(),
            ehr_b,
            &b1,
            Doc {
                template_b: true,
                systolic: 110.0,
                position: "Lying",
                start: "2024-03-03T08:00:00+02:00",
                event_time: "2024-03-03T08:30:00+02:00",
                with_device: false,
                ..Doc::default()
            }
            .composition(),
            meta(),
        )
        .await
        .unwrap()
        .uid;
    let b3 = commit(
        ehr_b,
        Doc {
            systolic: 999.0,
            ..Doc::default()
        },
    )
    .await;
    store
        .delete_composition(&caller(), ehr_b, &b3, meta())
        .await
        .unwrap();
    Data {
        store,
        ehr_a,
        ehr_b,
        a1,
        b2,
    }
}

impl Data {
    async fn rows_with(&self, aql: &str, f: impl FnOnce(&mut QueryRequest)) -> Vec<Vec<Value>> {
        let mut req = QueryRequest {
            aql,
            ..QueryRequest::default()
        };
        f(&mut req);
        match self
            .store
            .query(&caller(), &req, &QueryLimits::default())
            .await
        {
            Ok(rs) => rs.values(),
            Err(e) => panic!("query failed: {e}\n{aql}"),
        }
    }

    async fn rows(&self, aql: &str) -> Vec<Vec<Value>> {
        self.rows_with(aql, |_| {}).await
    }

    /// The rows of `aql` with `params`, asserted equal to the oracle's over the same data.
    async fn agreed(&self, aql: &str, params: Value) -> Vec<Vec<Value>> {
        crate::aql_diff::agree(&self.store, aql, params, false).await
    }

    async fn error(&self, aql: &str) -> StoreError {
        let req = QueryRequest {
            aql,
            ..QueryRequest::default()
        };
        match self
            .store
            .query(&caller(), &req, &QueryLimits::default())
            .await
        {
            Ok(rs) => panic!("expected an error, got {:?}\n{aql}", rs.values()),
            Err(e) => e,
        }
    }
}

/// A FOLDER (`openEHR-EHR-FOLDER.generic.v1`) that files `items` (versioned object ids or
/// version uids of compositions), with sub-folders.
pub(crate) fn folder(name: &str, items: &[&str], folders: Vec<Value>) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|id| {
            json!({"id": {"_type": "HIER_OBJECT_ID", "value": id}, "namespace": "local",
                   "type": "VERSIONED_COMPOSITION"})
        })
        .collect();
    json!({"_type": "FOLDER", "archetype_node_id": "openEHR-EHR-FOLDER.generic.v1",
           "name": {"_type": "DV_TEXT", "value": name}, "items": items, "folders": folders})
}

/// Commits `root` as the directory of `ehr`.
pub(crate) async fn create_directory(store: &Store, ehr: Uuid, root: Value) {
    store
        .create_directory(
            &caller(),
            ehr,
            cdr_rm::json::from_json_value(root).unwrap(),
            meta(),
        )
        .await
        .unwrap();
}

fn sorted(mut rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    rows.sort_by_key(|r| serde_json::to_string(r).unwrap());
    rows
}

fn nums(rows: &[Vec<Value>]) -> Vec<f64> {
    rows.iter()
        .map(|r| r[0].as_f64().expect("number"))
        .collect()
}

fn params(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[tokio::test]
async fn select_paths_and_metadata_over_two_templates() {
    let d = build().await;
    let rows = d
        .rows(&format!(
            "SELECT e/ehr_id/value, c/archetype_details/template_id/value, {SYS} AS sys \
             FROM EHR e CONTAINS COMPOSITION c CONTAINS OBSERVATION o[{OBS}] ORDER BY sys"
        ))
        .await;
    let a = d.ehr_a.to_string();
    let b = d.ehr_b.to_string();
    assert_eq!(
        rows,
        vec![
            vec![json!(b), json!("cdr_test_vitals_b.v1"), json!(110.0)],
            vec![json!(a), json!("cdr_test_vitals.v1"), json!(120.0)],
            vec![json!(a), json!("cdr_test_vitals.v1"), json!(150.0)],
        ]
    );
    // Columns: aliases, else #i; paths as canonical AQL.
    let rs = d
        .store
        .query(
            &caller(),
            &QueryRequest {
                aql: "SELECT c/uid/value, c/name/value AS n FROM COMPOSITION c",
                ..QueryRequest::default()
            },
            &QueryLimits::default(),
        )
        .await
        .unwrap();
    let cols: Vec<(&str, &str)> = rs
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.path.as_str()))
        .collect();
    assert_eq!(cols, vec![("#0", "c/uid/value"), ("n", "c/name/value")]);
    assert_eq!(rs.rows.len(), 3);
    let text = rs.to_json_string();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["meta"]["resultsize"], json!(3));
    assert_eq!(
        v["q"],
        json!("SELECT c/uid/value, c/name/value AS n FROM COMPOSITION c")
    );
}

#[tokio::test]
async fn whole_objects_are_returned_as_stored() {
    let d = build().await;
    let rows = d
        .rows_with(
            "SELECT e, c, o FROM EHR e CONTAINS COMPOSITION c CONTAINS OBSERVATION o",
            |r| r.ehr_id = Some(d.ehr_a),
        )
        .await;
    assert_eq!(rows.len(), 2);
    let ehr = d.store.get_ehr(&caller(), d.ehr_a).await.unwrap().to_json();
    let stored = d
        .store
        .version_by_uid(&caller(), d.ehr_a, cdr_store::VoKind::Composition, &d.a1)
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(stored.document.as_deref().unwrap()).unwrap();
    let row = rows
        .iter()
        .find(|r| r[1]["uid"]["value"] == json!(d.a1.to_string()))
        .expect("a1 row");
    assert_eq!(row[0], ehr);
    assert_eq!(row[1], doc);
    assert_eq!(row[2], doc["content"][0]);
}

#[tokio::test]
async fn where_numeric_coded_text_and_parameters() {
    let d = build().await;
    let q = format!(
        "SELECT {SYS} FROM EHR e CONTAINS COMPOSITION c CONTAINS OBSERVATION o[{OBS}] \
         WHERE {SYS} > 115 AND {SYS} <= 150 ORDER BY {SYS} DESC"
    );
    assert_eq!(nums(&d.rows(&q).await), vec![150.0, 120.0]);

    let q = format!(
        "SELECT {SYS} FROM EHR e CONTAINS OBSERVATION o[{OBS}] \
         WHERE o/data[at0001]/events[at0002]/data[at0003]/items[at0005]/value/value = 'Standing'"
    );
    assert_eq!(nums(&d.rows(&q).await), vec![150.0]);

    let q = format!(
        "SELECT {SYS} FROM EHR e CONTAINS OBSERVATION o[$arch] \
         WHERE {SYS} >= $min AND e/ehr_id/value = $ehr"
    );
    let rows = d
        .rows_with(&q, |r| {
            r.params = params(json!({"arch": OBS, "min": 100, "ehr": d.ehr_b.to_string()}))
        })
        .await;
    assert_eq!(nums(&rows), vec![110.0]);

    // != is existential; NOT negates.
    let q =
        format!("SELECT {SYS} FROM OBSERVATION o[{OBS}] WHERE NOT ({SYS} = 120 OR {SYS} = 150)");
    assert_eq!(nums(&d.rows(&q).await), vec![110.0]);
}

#[tokio::test]
async fn leaf_rows_and_document_paths_agree() {
    let d = build().await;
    // `o[archetype id]` is a node variable: comparisons go to leaf rows. The same archetype
    // as a standard predicate makes `o` an object found inside the document: comparisons are
    // evaluated on the JSON. Both must give the same answers.
    let node = format!("OBSERVATION o[{OBS}]");
    let object = format!("OBSERVATION o[archetype_node_id='{OBS}']");
    let conditions = [
        format!("{SYS} > 115"),
        format!("{SYS} != 150"),
        format!("{SYS} <= 110.0"),
        "o/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value/units = 'mm[Hg]'".into(),
        "o/data[at0001]/events[at0002]/data[at0003]/items[at0005]/value/value >= 'Sitting'".into(),
        "o/data[at0001]/events[at0002]/data[at0003]/items[at0005]/value/defining_code/code_string = 'at0020'".into(),
        "o/data[at0001]/events[at0002]/data[at0003]/items[at0006]/value/value = 1".into(),
        "o/data[at0001]/events[at0002]/data[at0003]/items[at0006]/value/symbol/defining_code/code_string != 'x'".into(),
        "o/data[at0001]/events[at0002]/data[at0003]/items[at0007]/value/magnitude < 4".into(),
        "o/data[at0001]/events[at0002]/data[at0003]/items[at0013]/value/magnitude > 100".into(),
        "o/data[at0001]/events[at0002]/data[at0003]/items[at0009]/value/value = 'not ok'".into(),
        "o/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value/value = 120".into(),
    ];
    for cond in conditions {
        let q = |from: &str| {
            format!("SELECT c/uid/value FROM COMPOSITION c CONTAINS {from} WHERE {cond}")
        };
        let (sql, _) = cdr_store::aql::compile_to_sql(
            &QueryRequest {
                aql: &q(&node),
                ..QueryRequest::default()
            },
            &QueryLimits::default(),
        )
        .unwrap();
        let by_leaf = sorted(d.rows(&q(&node)).await);
        let by_json = sorted(d.rows(&q(&object)).await);
        assert_eq!(by_leaf, by_json, "{cond}\n{sql}");
        if !cond.ends_with("value = 120") {
            assert!(
                sql.contains("FROM leaf l"),
                "{cond} should use leaf rows: {sql}"
            );
        }
    }
}

#[tokio::test]
async fn date_times_compare_as_instants_across_zones() {
    let d = build().await;
    // b's start 2024-03-03T08:00+02:00 is 06:00Z.
    let q = "SELECT c/context/start_time/value FROM COMPOSITION c \
             WHERE c/context/start_time/value > '2024-03-03T06:30:00Z'";
    assert!(d.rows(q).await.is_empty());
    let q = "SELECT c/context/start_time/value FROM COMPOSITION c \
             WHERE c/context/start_time/value >= '2024-03-03T05:59:00-00:01' \
             AND c/context/start_time/value < '2024-03-03'";
    // 05:59-00:01 is 06:00Z exactly; '2024-03-03' is midnight UTC, so nothing is before it
    // and at or after 06:00Z at once.
    assert!(d.rows(q).await.is_empty());
    let q = "SELECT c/context/start_time/value FROM COMPOSITION c \
             WHERE c/context/start_time/value >= '2024-03-03T05:59:00-00:01'";
    assert_eq!(
        d.rows(q).await,
        vec![vec![json!("2024-03-03T08:00:00+02:00")]]
    );
    let q = "SELECT c/context/start_time/value FROM COMPOSITION c \
             WHERE c/context/start_time/value < '2024-03-02'";
    assert_eq!(d.rows(q).await, vec![vec![json!("2024-03-01T10:00:00Z")]]);
}

#[tokio::test]
async fn node_names_multiple_values_and_nested_archetypes() {
    let d = build().await;
    let arm =
        "o/data[at0001]/events[at0002]/data[at0003]/items[at0013, 'Right arm']/value/magnitude";
    let rows = d
        .rows_with(&format!("SELECT {arm} FROM OBSERVATION o[{OBS}]"), |r| {
            r.ehr_id = Some(d.ehr_a)
        })
        .await;
    assert_eq!(nums(&rows), vec![15.5, 15.5]);
    // Without the name both arms: two rows per composition.
    let arms = "o/data[at0001]/events[at0002]/data[at0003]/items[at0013]/value/magnitude";
    let rows = d
        .rows_with(&format!("SELECT {arms} FROM OBSERVATION o[{OBS}]"), |r| {
            r.ehr_id = Some(d.ehr_a)
        })
        .await;
    assert_eq!(sorted(rows).len(), 4);
    // An archetyped CLUSTER and an ELEMENT inside it (present in EHR A only).
    let q = "SELECT e/ehr_id/value, el/value/value FROM EHR e CONTAINS COMPOSITION c \
             CONTAINS CLUSTER cl[openEHR-EHR-CLUSTER.device.v1] CONTAINS ELEMENT el[at0001]";
    let a = d.ehr_a.to_string();
    assert_eq!(
        d.rows(q).await,
        vec![
            vec![json!(a), json!("adult cuff")],
            vec![json!(a), json!("adult cuff")]
        ]
    );
    // NOT CONTAINS: compositions without the device cluster.
    let q = "SELECT e/ehr_id/value FROM EHR e CONTAINS COMPOSITION c \
             NOT CONTAINS CLUSTER cl[openEHR-EHR-CLUSTER.device.v1]";
    assert_eq!(d.rows(q).await, vec![vec![json!(d.ehr_b.to_string())]]);
    // OR: either side.
    let q = "SELECT c/uid/value FROM EHR e CONTAINS COMPOSITION c CONTAINS \
             (CLUSTER cl[openEHR-EHR-CLUSTER.device.v1] OR ELEMENT el[at0014])";
    assert_eq!(d.rows(q).await.len(), 3);
    // AND: both inside the same composition.
    let q = "SELECT c/uid/value FROM EHR e CONTAINS COMPOSITION c CONTAINS \
             (CLUSTER cl[openEHR-EHR-CLUSTER.device.v1] AND ELEMENT el[at0014])";
    assert_eq!(d.rows(q).await.len(), 2);
    // HISTORY, EVENT and ITEM_TREE as classes.
    let q = format!(
        "SELECT ev/time/value FROM OBSERVATION o[{OBS}] CONTAINS HISTORY h[at0001] \
         CONTAINS EVENT ev CONTAINS ITEM_TREE t[at0003] ORDER BY ev/time/value"
    );
    assert_eq!(d.rows(&q).await.len(), 3);
}

#[tokio::test]
async fn exists_like_matches() {
    let d = build().await;
    let cuff = "o/data[at0001]/events[at0002]/data[at0003]/items[openEHR-EHR-CLUSTER.device.v1]";
    let q = format!("SELECT {SYS} FROM OBSERVATION o[{OBS}] WHERE NOT EXISTS {cuff}");
    assert_eq!(nums(&d.rows(&q).await), vec![110.0]);
    let comment = "o/data[at0001]/events[at0002]/data[at0003]/items[at0009]/value/value";
    let q = format!("SELECT {comment} FROM OBSERVATION o[{OBS}] WHERE {comment} LIKE 'not*'");
    assert_eq!(d.rows(&q).await, vec![vec![json!("not ok")]]);
    let position = "o/data[at0001]/events[at0002]/data[at0003]/items[at0005]/value/value";
    let q = format!(
        "SELECT {SYS} FROM OBSERVATION o[{OBS}] WHERE {position} MATCHES {{'Lying', 'Standing'}} \
         ORDER BY {SYS}"
    );
    assert_eq!(nums(&d.rows(&q).await), vec![110.0, 150.0]);
}

#[tokio::test]
async fn aggregates_distinct_order_limit() {
    let d = build().await;
    let q = format!(
        "SELECT COUNT(*), COUNT(DISTINCT e/ehr_id/value), MIN({SYS}), MAX({SYS}), SUM({SYS}), \
         AVG({SYS}) FROM EHR e CONTAINS OBSERVATION o[{OBS}]"
    );
    let rows = d.rows(&q).await;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r[0], json!(3));
    assert_eq!(r[1], json!(2));
    assert_eq!(r[2].as_f64(), Some(110.0));
    assert_eq!(r[3].as_f64(), Some(150.0));
    assert_eq!(r[4].as_f64(), Some(380.0));
    assert!((r[5].as_f64().unwrap() - 380.0 / 3.0).abs() < 1e-9);
    // An average that is a whole number is written as one (110 and 120: 115, not
    // 115.0000000000000000).
    let q = format!("SELECT AVG({SYS}) FROM EHR e CONTAINS OBSERVATION o[{OBS}] WHERE {SYS} < 140");
    let rs = d
        .store
        .query(
            &caller(),
            &QueryRequest {
                aql: &q,
                ..QueryRequest::default()
            },
            &QueryLimits::default(),
        )
        .await
        .unwrap();
    assert_eq!(rs.rows[0][0].get(), "115");

    // A plain column beside an aggregate groups.
    let q = "SELECT e/ehr_id/value AS ehr, COUNT(*) AS n FROM EHR e CONTAINS COMPOSITION c \
             ORDER BY ehr";
    let mut expected = vec![
        vec![json!(d.ehr_a.to_string()), json!(2)],
        vec![json!(d.ehr_b.to_string()), json!(1)],
    ];
    expected.sort_by_key(|r| r[0].as_str().unwrap().to_owned());
    assert_eq!(d.rows(q).await, expected);

    let q = "SELECT DISTINCT e/ehr_id/value FROM EHR e CONTAINS COMPOSITION c";
    assert_eq!(d.rows(q).await.len(), 2);

    let q = format!("SELECT {SYS} FROM OBSERVATION o[{OBS}] ORDER BY {SYS} LIMIT 2 OFFSET 1");
    assert_eq!(nums(&d.rows(&q).await), vec![120.0, 150.0]);
    let q = format!("SELECT TOP 1 {SYS} FROM OBSERVATION o[{OBS}] ORDER BY {SYS} DESC");
    assert_eq!(nums(&d.rows(&q).await), vec![150.0]);
    let q = format!("SELECT {SYS} FROM OBSERVATION o[{OBS}] ORDER BY {SYS}");
    let rows = d
        .rows_with(&q, |r| {
            r.fetch = Some(1);
            r.offset = Some(2)
        })
        .await;
    assert_eq!(nums(&rows), vec![150.0]);
    // ORDER BY several keys.
    let q = "SELECT e/ehr_id/value AS ehr, c/context/start_time/value AS t FROM EHR e \
             CONTAINS COMPOSITION c ORDER BY ehr DESC, t ASC";
    let a = d.ehr_a.to_string();
    let b = d.ehr_b.to_string();
    let mut expected = vec![
        (a.clone(), "2024-03-01T10:00:00Z"),
        (a, "2024-03-02T09:00:00Z"),
        (b, "2024-03-03T08:00:00+02:00"),
    ];
    expected.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(y.1)));
    let expected: Vec<Vec<Value>> = expected
        .into_iter()
        .map(|(e, t)| vec![json!(e), json!(t)])
        .collect();
    assert_eq!(d.rows(q).await, expected);
}

#[tokio::test]
async fn versions_latest_and_all() {
    let d = build().await;
    let q = format!(
        "SELECT v/uid/value, {SYS} FROM EHR e CONTAINS VERSION v[ALL_VERSIONS] \
         CONTAINS COMPOSITION c CONTAINS OBSERVATION o[{OBS}] WHERE e/ehr_id/value = $ehr \
         ORDER BY {SYS}"
    );
    let rows = d
        .rows_with(&q, |r| {
            r.params = params(json!({"ehr": d.ehr_b.to_string()}))
        })
        .await;
    // b1 (100), b2 (110) and b3's only content version (999); the deletion has no content.
    assert_eq!(
        rows.iter()
            .map(|r| r[1].as_f64().unwrap())
            .collect::<Vec<_>>(),
        vec![100.0, 110.0, 999.0]
    );
    let q = "SELECT v/uid/value, v/lifecycle_state/defining_code/code_string, \
             v/commit_audit/change_type/value FROM EHR e CONTAINS VERSION v \
             WHERE e/ehr_id/value = $ehr";
    let rows = d
        .rows_with(q, |r| {
            r.params = params(json!({"ehr": d.ehr_b.to_string()}))
        })
        .await;
    assert_eq!(
        rows,
        vec![vec![
            json!(d.b2.to_string()),
            json!("532"),
            json!("modification")
        ]]
    );
    // The whole version is the ORIGINAL_VERSION of the version endpoint.
    let rows = d
        .rows_with("SELECT v FROM EHR e CONTAINS VERSION v", |r| {
            r.ehr_id = Some(d.ehr_b)
        })
        .await;
    let stored = d
        .store
        .version_by_uid(&caller(), d.ehr_b, cdr_store::VoKind::Composition, &d.b2)
        .await
        .unwrap();
    assert_eq!(rows, vec![vec![stored.original_version_json()]]);
}

#[tokio::test]
async fn ehr_binding_constrains_every_table() {
    let req = QueryRequest {
        aql: "SELECT o FROM EHR e CONTAINS COMPOSITION c CONTAINS OBSERVATION o \
              CONTAINS CLUSTER cl WHERE e/ehr_id/value = '7d44b88c-4199-4bad-97dc-d78268e01398'",
        ..QueryRequest::default()
    };
    let (sql, _) = cdr_store::aql::compile_to_sql(&req, &QueryLimits::default()).unwrap();
    // Every EHR-scoped table the statement reads (whichever the compiler kept) is bound.
    let words: Vec<&str> = sql.split_whitespace().collect();
    let mut tables = 0;
    for pair in words.windows(2) {
        if ["ehr", "versioned_object", "object_version", "node", "leaf"].contains(&pair[0]) {
            let alias = pair[1].trim_end_matches(')');
            tables += 1;
            assert!(
                sql.contains(&format!("{alias}.ehr_id = $1")),
                "{alias} ({}) not bound to the EHR: {sql}",
                pair[0]
            );
        }
    }
    assert!(tables >= 2, "{sql}");
    // No user string in the SQL text.
    assert!(!sql.contains("7d44b88c"));
    assert!(!sql.contains("at0"));
}

#[tokio::test]
async fn bad_queries_name_the_position() {
    let d = build().await;
    match d.error("SELECT x/name/value FROM COMPOSITION c").await {
        StoreError::Query {
            line,
            column,
            message,
        } => {
            assert_eq!((line, column), (1, 8), "{message}");
            assert!(message.contains("'x'"), "{message}");
        }
        e => panic!("unexpected {e:?}"),
    }
    match d
        .error("SELECT c\nFROM COMPOSITION c WHERE c/name/value = $missing")
        .await
    {
        StoreError::Query {
            line,
            column,
            message,
        } => {
            assert_eq!((line, column), (2, 41), "{message}");
        }
        e => panic!("unexpected {e:?}"),
    }
    match d.error("SELECT c FROM COMPOSITION c WHERE").await {
        StoreError::Query { line, .. } => assert_eq!(line, 1),
        e => panic!("unexpected {e:?}"),
    }
    match d.error("SELECT c FROM FOO c").await {
        StoreError::Query {
            message, column, ..
        } => {
            assert_eq!(column, 15, "{message}");
        }
        e => panic!("unexpected {e:?}"),
    }
}

#[tokio::test]
async fn selected_leaf_values_print_as_stored() {
    let d = build().await;
    // Magnitudes whose text forms differ between PostgreSQL and the stored JSON: whole
    // numbers, shortest round-trip digits, and the exponent ranges.
    let magnitudes = [0.1 + 0.2, 0.000015, 2.5e-7, 40.0 - 1e-14, 12.0, 0.0];
    for (i, m) in magnitudes.iter().enumerate() {
        let mut v: Value = serde_json::from_str(COMPOSITION).unwrap();
        let items = v["content"][0]["data"]["events"][0]["data"]["items"]
            .as_array_mut()
            .unwrap();
        items[0]["value"]["magnitude"] = json!(100.0 + i as f64);
        for item in items.iter_mut() {
            if item["archetype_node_id"] == "at0013" && item["value"]["units"] == "kPa" {
                item["value"]["magnitude"] = json!(m);
            }
        }
        let comp = cdr_rm::json::from_json_value(v).unwrap();
        d.store
            .create_composition(&caller(), d.ehr_a, comp, meta())
            .await
            .unwrap();
    }
    let base = "o/data[at0001]/events[at0002]/data[at0003]";
    let paths = [
        format!("{base}/items[at0004]/value/magnitude"),
        format!("{base}/items[at0013]/value/magnitude"),
        format!("{base}/items[at0013]/value/units"),
        format!("{base}/items[at0007]/value/magnitude"),
        format!("{base}/items[at0005]/value/defining_code/code_string"),
        format!("{base}/items[at0006]/value/symbol/defining_code/code_string"),
    ];
    for path in paths {
        // Filtered by the same path, the selected value is read from the leaf row that
        // satisfies the filter (every row with a value does).
        let all = if path.ends_with("magnitude") {
            "> -1.0e300"
        } else {
            ">= ''"
        };
        let q = |from: &str| {
            format!(
                "SELECT c/uid/value, {path} FROM COMPOSITION c CONTAINS {from} WHERE {path} {all}"
            )
        };
        let node = q(&format!("OBSERVATION o[{OBS}]"));
        let object = q(&format!("OBSERVATION o[archetype_node_id='{OBS}']"));
        let req = |aql| QueryRequest {
            aql,
            ..QueryRequest::default()
        };
        let (sql, _) =
            cdr_store::aql::compile_to_sql(&req(&node), &QueryLimits::default()).unwrap();
        assert!(
            sql.contains("leaf l") && !sql.contains("node n"),
            "{path} should be read from leaf rows alone: {sql}"
        );
        if path.ends_with("magnitude") {
            // DV_QUANTITY or DV_COUNT: each prints as its type's JSON.
            assert!(sql.contains("CASE l"), "{path}: {sql}");
        }
        let mut texts = Vec::new();
        for aql in [&node, &object] {
            let rs = d
                .store
                .query(&caller(), &req(aql), &QueryLimits::default())
                .await
                .unwrap();
            let mut rows: Vec<String> = rs
                .rows
                .iter()
                .map(|r| r.iter().map(|c| c.get()).collect::<Vec<_>>().join(" | "))
                .collect();
            rows.sort();
            texts.push(rows);
        }
        assert_eq!(texts[0], texts[1], "{path}\n{sql}");
        assert!(texts[0].len() >= 8, "{path}: {:?}", texts[0]);
    }
}

#[tokio::test]
async fn string_numeric_and_date_functions() {
    let d = build().await;
    let items = "o/data[at0001]/events[at0002]/data[at0003]/items";
    let comment = format!("{items}[at0009]/value/value");
    let position = format!("{items}[at0005]/value/value");
    let from = format!("FROM EHR e CONTAINS COMPOSITION c CONTAINS OBSERVATION o[{OBS}]");
    let rows = d
        .rows(&format!(
            "SELECT LENGTH({comment}) AS n, CONCAT({position}, '-', {SYS}) AS s, \
             SUBSTRING({position}, 2, 3) AS sub, POSITION('t', {comment}) AS pos, \
             CONTAINS({comment}, 'not') AS has, CONCAT_WS('/', {position}, {comment}) AS ws \
             {from}"
        ))
        .await;
    assert_eq!(
        sorted(rows),
        sorted(vec![
            vec![
                json!(2),
                json!("Sitting-120.0"),
                json!("itt"),
                json!(0),
                json!(false),
                json!("Sitting/ok")
            ],
            vec![
                json!(6),
                json!("Standing-150.0"),
                json!("tan"),
                json!(3),
                json!(true),
                json!("Standing/not ok")
            ],
            vec![
                json!(2),
                json!("Lying-110.0"),
                json!("yin"),
                json!(0),
                json!(false),
                json!("Lying/ok")
            ],
        ])
    );
    // In WHERE, on either side, over path values and nested.
    let rows = d
        .rows(&format!(
            "SELECT {position} {from} WHERE LENGTH({comment}) > 3 OR SUBSTRING({position}, 2, LENGTH('abc')) = 'yin'"
        ))
        .await;
    assert_eq!(
        sorted(rows),
        vec![vec![json!("Lying")], vec![json!("Standing")]]
    );
    let rows = d
        .rows(&format!(
            "SELECT {position} {from} WHERE CONTAINS({position}, 'ta') = true"
        ))
        .await;
    assert_eq!(rows, vec![vec![json!("Standing")]]);
    // Numeric functions; a zero divisor is a missing value, not an error.
    let rows = d
        .rows_with(
            "SELECT ABS(-3), MOD(7, 3), CEIL(1.2), FLOOR(1.8), ROUND(2.567, 2), ROUND(2.5), \
             MOD(1, 0), ABS('x') FROM EHR e[ehr_id/value=$a] CONTAINS COMPOSITION c LIMIT 1",
            |r| r.params = params(json!({"a": d.ehr_a.to_string()})),
        )
        .await;
    let nums: Vec<Value> = rows[0].clone();
    assert_eq!(nums.len(), 8);
    for (got, want) in nums.iter().zip([3.0, 1.0, 2.0, 1.0, 2.57, 3.0]) {
        assert_eq!(got.as_f64(), Some(want), "{nums:?}");
    }
    assert_eq!((&nums[6], &nums[7]), (&Value::Null, &Value::Null));
    // Date and time functions give strings of the AQL forms.
    let rows = d
        .rows("SELECT CURRENT_DATE(), CURRENT_TIME(), NOW(), CURRENT_DATE_TIME(), CURRENT_TIMEZONE() FROM COMPOSITION c LIMIT 1")
        .await;
    let texts: Vec<&str> = rows[0].iter().map(|v| v.as_str().unwrap()).collect();
    let shape = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_ascii_digit() { '9' } else { c })
            .collect()
    };
    assert_eq!(shape(texts[0]), "9999-99-99");
    assert_eq!(shape(texts[1]), "99:99:99");
    for t in [texts[2], texts[3]] {
        let s = shape(t);
        assert!(
            s == "9999-99-99T99:99:99.999+99:99" || s == "9999-99-99T99:99:99.999-99:99",
            "{t}"
        );
        assert!(t.starts_with(texts[0]) || texts[0] < t, "{t}");
    }
    assert!(
        matches!(shape(texts[4]).as_str(), "+99:99" | "-99:99"),
        "{}",
        texts[4]
    );
    // Wrong arity and unknown functions are errors at the call.
    match d.error("SELECT LENGTH('a', 'b') FROM COMPOSITION c").await {
        StoreError::Query {
            column, message, ..
        } => {
            assert_eq!(column, 8, "{message}");
            assert!(message.contains("LENGTH takes 1 argument"), "{message}");
        }
        e => panic!("unexpected {e:?}"),
    }
    match d
        .error("SELECT c FROM COMPOSITION c WHERE FOO(c/uid/value) = 1")
        .await
    {
        StoreError::Query {
            message, column, ..
        } => {
            assert_eq!(column, 35, "{message}");
            assert!(message.contains("'FOO'"), "{message}");
        }
        e => panic!("unexpected {e:?}"),
    }
}

#[tokio::test]
async fn ehr_status_in_from() {
    let d = build().await;
    let ehr_c = d
        .store
        .create_ehr(
            &caller(),
            None,
            Some(crate::ehr::status_for("patient-7", "ns")),
            meta(),
        )
        .await
        .unwrap()
        .ehr_id;
    let rows = d
        .agreed(
            "SELECT e/ehr_id/value, s/subject/external_ref/id/value FROM EHR e CONTAINS EHR_STATUS s",
            json!({}),
        )
        .await;
    assert_eq!(
        sorted(rows),
        sorted(vec![
            vec![json!(d.ehr_a.to_string()), Value::Null],
            vec![json!(d.ehr_b.to_string()), Value::Null],
            vec![json!(ehr_c.to_string()), json!("patient-7")],
        ])
    );
    let rows = d
        .agreed(
            "SELECT e/ehr_id/value FROM EHR e CONTAINS EHR_STATUS s \
             WHERE s/subject/external_ref/id/value = 'patient-7' AND s/is_queryable = true",
            json!({}),
        )
        .await;
    assert_eq!(rows, vec![vec![json!(ehr_c.to_string())]]);
    // Beside compositions of the same EHR, with an archetype predicate.
    let rows = d
        .agreed(
            "SELECT s/is_modifiable, c/uid/value FROM EHR e[ehr_id/value=$e] CONTAINS \
             (EHR_STATUS s[openEHR-EHR-EHR_STATUS.generic.v1] AND COMPOSITION c)",
            json!({"e": d.ehr_a.to_string()}),
        )
        .await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r[0] == json!(true)), "{rows:?}");
    assert!(
        rows.iter().any(|r| r[1] == json!(d.a1.to_string())),
        "{rows:?}"
    );
    let rows = d
        .agreed("SELECT COUNT(*) FROM EHR_STATUS s", json!({}))
        .await;
    assert_eq!(rows, vec![vec![json!(3)]]);
    let rows = d
        .agreed(
            "SELECT COUNT(*) FROM EHR_STATUS s[openEHR-EHR-EHR_STATUS.other.v1]",
            json!({}),
        )
        .await;
    assert_eq!(rows, vec![vec![json!(0)]]);
}

#[tokio::test]
async fn version_standard_predicates_select_among_all_versions() {
    let d = build().await;
    let q = |pred: &str| {
        format!(
            "SELECT v/uid/value FROM EHR e[ehr_id/value=$ehr] CONTAINS VERSION v[{pred}] \
             CONTAINS COMPOSITION c"
        )
    };
    let ehr_b = params(json!({"ehr": d.ehr_b.to_string()}));
    // b1 and b3's first version were creations; the deletion of b3 has no content.
    let rows = d
        .rows_with(&q("commit_audit/change_type/value = 'creation'"), |r| {
            r.params = ehr_b.clone()
        })
        .await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter().all(|r| r[0].as_str().unwrap().ends_with("::1")),
        "{rows:?}"
    );
    let rows = d
        .rows_with(&q("commit_audit/change_type/value != 'creation'"), |r| {
            r.params = ehr_b.clone()
        })
        .await;
    assert_eq!(rows, vec![vec![json!(d.b2.to_string())]]);
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Xorshift(u64);

impl Xorshift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1) as u64) as usize
    }
}

/// Every corpus query, and mutations of them that still parse, run against real data: each
/// answers or is a query error (a 400 over REST) — never a database error (a 500).
#[tokio::test]
async fn corpus_queries_and_mutations_never_fail_in_the_database() {
    let d = build().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../aql-grammar/corpus/ok");
    let mut queries: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "aql"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    queries.sort();
    assert!(queries.len() > 50);
    let tokens: &[&str] = &[
        "*",
        "'x'",
        "1",
        "1.5",
        "true",
        "NULL",
        "'2024-03-01T10:00:00Z'",
        "$p",
        "/value",
        "[at0001]",
        " NOT ",
        " AND ",
        " OR ",
        "(",
        ")",
        "LENGTH(",
        "COUNT(",
        "c",
        "e",
        "o",
    ];
    let mut rng = Xorshift(0x2545_F491_4F6C_DD1D);
    let mut inputs = queries.clone();
    for (name, text) in &queries {
        for round in 0..40 {
            let mut t = text.clone();
            let mut at = rng.below(t.len() + 1);
            while !t.is_char_boundary(at) {
                at -= 1;
            }
            t.insert_str(at, tokens[rng.below(tokens.len())]);
            if cdr_aql::parse(&t).is_ok() {
                inputs.push((format!("{name} mutation {round}"), t));
            }
        }
    }
    let mut answered = 0;
    for (name, text) in &inputs {
        let req = QueryRequest {
            aql: text,
            params: params(
                json!({"p": 1, "ehrUid": d.ehr_a.to_string(), "ehr_id": d.ehr_a.to_string()}),
            ),
            ..QueryRequest::default()
        };
        match d
            .store
            .query(&caller(), &req, &QueryLimits::default())
            .await
        {
            Ok(_) => answered += 1,
            Err(StoreError::Query { .. }) => {}
            Err(e) => panic!("{name}: {e:?}\n{text}"),
        }
    }
    assert!(
        answered > inputs.len() / 4,
        "{answered} of {}",
        inputs.len()
    );
}

#[tokio::test]
async fn folders_and_the_compositions_they_file() {
    let d = build().await;
    let a2 = d
        .rows_with(
            &format!("SELECT c/uid/value FROM EHR e[ehr_id/value=$e] CONTAINS COMPOSITION c CONTAINS OBSERVATION o[{OBS}] WHERE {SYS} = 150"),
            |r| r.params = params(json!({"e": d.ehr_a.to_string()})),
        )
        .await[0][0]
        .as_str()
        .unwrap()
        .to_owned();
    let a1 = d.a1.to_string();
    let object_id = a1.split("::").next().unwrap().to_owned();
    let root = folder(
        "root",
        &[&object_id],
        vec![folder("sub", &[&a2], vec![]), folder("empty", &[], vec![])],
    );
    create_directory(&d.store, d.ehr_a, root).await;
    let names = d
        .agreed(
            "SELECT f/name/value FROM EHR e CONTAINS FOLDER f",
            json!({}),
        )
        .await;
    assert_eq!(
        sorted(names),
        vec![
            vec![json!("empty")],
            vec![json!("root")],
            vec![json!("sub")]
        ]
    );
    // A folder contains what it and the folders below it file.
    let rows = d
        .agreed(
            "SELECT f/name/value, c/uid/value FROM EHR e CONTAINS FOLDER f CONTAINS COMPOSITION c",
            json!({}),
        )
        .await;
    assert_eq!(
        sorted(rows),
        sorted(vec![
            vec![json!("root"), json!(a1)],
            vec![json!("root"), json!(a2)],
            vec![json!("sub"), json!(a2)],
        ])
    );
    let rows = d
        .agreed(
            &format!(
                "SELECT {SYS} FROM FOLDER f[name/value='sub'] CONTAINS COMPOSITION c \
                 CONTAINS OBSERVATION o[{OBS}]"
            ),
            json!({}),
        )
        .await;
    assert_eq!(rows, vec![vec![json!(150.0)]]);
    let rows = d
        .agreed(
            "SELECT f/name/value, g/name/value FROM EHR e CONTAINS FOLDER f \
             CONTAINS FOLDER g[openEHR-EHR-FOLDER.generic.v1]",
            json!({}),
        )
        .await;
    assert_eq!(
        sorted(rows),
        vec![
            vec![json!("root"), json!("empty")],
            vec![json!("root"), json!("sub")]
        ]
    );
}

/// A top-level comparison on a node variable that nothing else reads the node row of supplies
/// the variable's rows from its leaf rows (distinct nodes, no node probe). Results must be
/// those of the node-table form; whole-object selection and a class the archetype does not
/// conform to keep the node table.
#[tokio::test]
async fn leaf_comparisons_supply_node_rows() {
    let d = build().await;
    let arms = "o/data[at0001]/events[at0002]/data[at0003]/items[at0013]/value/magnitude";
    let sql = |aql: &str| {
        cdr_store::aql::compile_to_sql(
            &QueryRequest {
                aql,
                ..QueryRequest::default()
            },
            &QueryLimits::default(),
        )
        .unwrap()
        .0
    };
    let node = format!("OBSERVATION o[{OBS}]");
    let object = format!("OBSERVATION o[archetype_node_id='{OBS}']");
    // Both arms of every live composition match: one row per composition, not per arm.
    let q = |from: &str| {
        format!("SELECT c/uid/value FROM COMPOSITION c CONTAINS {from} WHERE {arms} > 10")
    };
    let compiled = sql(&q(&node));
    assert!(
        compiled.contains("SELECT DISTINCT l.ehr_id, l.vo_id, l.num FROM leaf l"),
        "{compiled}"
    );
    assert!(!compiled.contains("node n"), "{compiled}");
    let rows = sorted(d.rows(&q(&node)).await);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows, sorted(d.rows(&q(&object)).await));
    // Selecting the compared path: the arms that match, each its own row (15.5 shares the
    // event but is another element). Filtered by the same path and nothing else, the leaf rows
    // that satisfy the filter are the rows: no node table, no document.
    let q =
        |from: &str| format!("SELECT {arms} FROM COMPOSITION c CONTAINS {from} WHERE {arms} > 100");
    let compiled = sql(&q(&node));
    assert!(!compiled.contains("node n"), "{compiled}");
    assert!(!compiled.contains("jsonb_path_query"), "{compiled}");
    let rows = sorted(d.rows(&q(&node)).await);
    assert_eq!(nums(&rows), vec![118.0, 118.0, 118.0]);
    assert_eq!(rows, sorted(d.rows(&q(&object)).await));
    // Bound to one EHR: the leaf rows are bound too.
    let rows = d.rows_with(&q(&node), |r| r.ehr_id = Some(d.ehr_b)).await;
    assert_eq!(nums(&rows), vec![118.0]);
    let rows = d.rows_with(&q(&node), |r| r.ehr_id = Some(d.ehr_a)).await;
    assert_eq!(rows.len(), 2);
    // A comparison on another path through the same event is evaluated on that event, from
    // the document.
    let q = |from: &str| {
        format!(
            "SELECT {arms} FROM COMPOSITION c CONTAINS {from} WHERE {arms} > 100 AND {SYS} >= 120"
        )
    };
    let rows = sorted(d.rows(&q(&node)).await);
    assert_eq!(nums(&rows), vec![118.0, 118.0]);
    assert_eq!(rows, sorted(d.rows(&q(&object)).await));
    // The whole object needs the node row (its pointer into the document).
    let q = format!("SELECT o FROM COMPOSITION c CONTAINS {node} WHERE {SYS} > 115");
    assert!(sql(&q).contains("node n"));
    assert_eq!(d.rows(&q).await.len(), 2);
    // An archetype of another class than the variable's: no node matches, and leaf rows must
    // not make one up.
    let q =
        format!("SELECT c/uid/value FROM COMPOSITION c CONTAINS CLUSTER o[{OBS}] WHERE {SYS} > 0");
    assert!(sql(&q).contains("node n"));
    assert!(d.rows(&q).await.is_empty());
    // Under OR the comparison is not a conjunct of the query: the node table stays.
    let q = format!(
        "SELECT c/uid/value FROM COMPOSITION c CONTAINS {node} WHERE {SYS} > 115 OR {SYS} < 0"
    );
    assert!(sql(&q).contains("node n"));
    assert_eq!(d.rows(&q).await.len(), 2);
}

/// The statement timeout of each query holds, and the next query on the same connections runs
/// under its own (session settings are re-sent only when they change).
#[tokio::test]
async fn each_query_runs_under_its_own_timeout() {
    let d = build().await;
    let q = "SELECT COUNT(*) FROM COMPOSITION c CONTAINS (ELEMENT a AND ELEMENT b AND ELEMENT x)";
    let req = QueryRequest {
        aql: q,
        ..QueryRequest::default()
    };
    let short = QueryLimits {
        timeout: std::time::Duration::from_millis(1),
        ..QueryLimits::default()
    };
    for _ in 0..3 {
        let err = d.store.query(&caller(), &req, &short).await.unwrap_err();
        assert!(matches!(err, StoreError::QueryTimeout), "{err:?}");
        let n = d.rows(q).await;
        assert!(n[0][0].as_i64().unwrap() > 1000, "{n:?}");
    }
}

/// The slow-query log's plan: EXPLAIN of the compiled statement with the request's
/// parameters and EHR, planned but not run.
#[tokio::test]
async fn explain_query_answers_planning_time_and_an_outline() {
    let d = build().await;
    let aql = "SELECT c/uid/value FROM EHR e CONTAINS COMPOSITION c CONTAINS OBSERVATION o \
               WHERE o/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value/magnitude > $min";
    let mut params = Map::new();
    params.insert("min".into(), json!(120));
    let req = QueryRequest {
        aql,
        params,
        ehr_id: Some(d.ehr_a),
        ..QueryRequest::default()
    };
    let plan = d
        .store
        .explain_query(&caller(), &req, &QueryLimits::default())
        .await
        .unwrap();
    assert!(plan.planning_ms > 0.0, "{plan:?}");
    assert!(plan.total_cost > 0.0, "{plan:?}");
    assert!(plan.outline.contains(" on "), "{plan:?}");
    // A query that does not bind is the query's error, not a plan.
    let bad = QueryRequest {
        aql,
        ..QueryRequest::default()
    };
    let err = d
        .store
        .explain_query(&caller(), &bad, &QueryLimits::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("min"), "{err}");
}

#[test]
fn a_plan_outline_names_nodes_depth_first_and_stops_at_its_bound() {
    let explain = r#"[{"Plan": {"Node Type": "Limit", "Total Cost": 12.5, "Plans": [
        {"Node Type": "Nested Loop", "Plans": [
            {"Node Type": "Index Scan", "Index Name": "leaf_object", "Relation Name": "leaf"},
            {"Node Type": "Seq Scan", "Relation Name": "ehr"}]}]},
        "Planning Time": 0.75}]"#;
    let plan = cdr_store::aql::QueryPlan::from_explain(explain).unwrap();
    assert_eq!(plan.planning_ms, 0.75);
    assert_eq!(plan.total_cost, 12.5);
    assert_eq!(
        plan.outline,
        "Limit > Nested Loop > (Index Scan on leaf_object, Seq Scan on ehr)"
    );
    let deep = (0..20).fold(
        json!({"Node Type": "Result"}),
        |child, _| json!({"Node Type": "Materialize", "Plans": [child]}),
    );
    let text = json!([{"Plan": deep, "Planning Time": 1.0}]).to_string();
    let plan = cdr_store::aql::QueryPlan::from_explain(&text).unwrap();
    assert_eq!(
        plan.outline.matches("Materialize").count(),
        cdr_store::aql::QueryPlan::NODES
    );
    assert!(plan.outline.ends_with('…'), "{}", plan.outline);
    assert!(cdr_store::aql::QueryPlan::from_explain("[]").is_none());
}
