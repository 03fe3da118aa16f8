//! Small hand-written compositions and the dataset most tests query.
//!
//! EHR `e1`:
//! - `c1` "Visit A" (encounter), start 2024-03-01T10:00:00Z, location "Ward 1": a blood pressure
//!   OBSERVATION with two events (120/80 at0006 "Any event", 140/95 INTERVAL_EVENT at0006
//!   "Later") and a device CLUSTER archetype in its protocol; an EVALUATION "Problem" (Asthma).
//! - `c2` "Visit B" (encounter), start 2024-03-02T09:00:00+02:00, no location: version 1 has
//!   BP 150/100, version 2 (current) BP 130/85.
//! - `c3` "Report": version 1, then deleted.
//!
//! - EHR_STATUS `s1`: version 1 without `other_details`, version 2 (current) with an element
//!   at0001 "family group id" = "fam-7".
//! - A directory: the root FOLDER "root" files `c1` (by object id) and `c3`; below it "sub"
//!   files `c2` (by version uid `c2::sys::2`), and "empty" files nothing.
//!
//! EHR `e2`:
//! - `c4` "Visit C" (encounter), start 2024-03-01T11:30:00+01:00, location "Ward 1": BP 110/70.
//! - `c5` "Empty report" (report), start 2024-02-28, location "Ward 2", no content.
//! - EHR_STATUS `s2` without `other_details`; no directory.

use cdr_aql_oracle::{evaluate, Dataset, Ehr, OracleError, ResultSet, Version, VersionedObject};
use serde_json::{json, Map, Value};

pub const BP: &str = "openEHR-EHR-OBSERVATION.blood_pressure.v1";
pub const PROBLEM: &str = "openEHR-EHR-EVALUATION.problem.v1";
pub const DEVICE: &str = "openEHR-EHR-CLUSTER.device.v1";
pub const ENCOUNTER: &str = "openEHR-EHR-COMPOSITION.encounter.v1";
pub const REPORT: &str = "openEHR-EHR-COMPOSITION.report.v1";

pub fn text(v: &str) -> Value {
    json!({"_type": "DV_TEXT", "value": v})
}

pub fn element(node: &str, name: &str, value: Value) -> Value {
    json!({"_type": "ELEMENT", "archetype_node_id": node, "name": text(name), "value": value})
}

pub fn quantity(m: f64) -> Value {
    json!({"_type": "DV_QUANTITY", "magnitude": m, "units": "mm[Hg]"})
}

/// A blood pressure observation; events are (type, name, systolic, diastolic).
pub fn bp(events: &[(&str, &str, f64, f64)], protocol: Option<Value>) -> Value {
    let events: Vec<Value> = events
        .iter()
        .map(|(t, name, sys, dia)| {
            json!({
                "_type": t, "archetype_node_id": "at0006", "name": text(name),
                "time": {"_type": "DV_DATE_TIME", "value": "2024-03-01T10:00:00Z"},
                "data": {"_type": "ITEM_TREE", "archetype_node_id": "at0003", "name": text("Tree"),
                         "items": [element("at0004", "Systolic", quantity(*sys)),
                                   element("at0005", "Diastolic", quantity(*dia))]}
            })
        })
        .collect();
    let mut obs = json!({
        "_type": "OBSERVATION", "archetype_node_id": BP, "name": text("Blood pressure"),
        "data": {"_type": "HISTORY", "archetype_node_id": "at0001", "name": text("History"),
                 "events": events}
    });
    if let Some(p) = protocol {
        obs["protocol"] = p;
    }
    obs
}

pub fn device() -> Value {
    json!({"_type": "ITEM_TREE", "archetype_node_id": "at0011", "name": text("Protocol"),
           "items": [{"_type": "CLUSTER", "archetype_node_id": DEVICE, "name": text("Device"),
                      "items": [element("at0001", "Type", text("Cuff"))]}]})
}

pub fn problem() -> Value {
    json!({"_type": "EVALUATION", "archetype_node_id": PROBLEM, "name": text("Problem"),
           "data": {"_type": "ITEM_TREE", "archetype_node_id": "at0001", "name": text("Tree"),
                    "items": [element("at0002", "Diagnosis", text("Asthma"))]}})
}

pub fn composition(
    arch: &str,
    name: &str,
    start: &str,
    location: Option<&str>,
    content: Vec<Value>,
) -> Value {
    let mut c = json!({
        "_type": "COMPOSITION", "archetype_node_id": arch, "name": text(name),
        "context": {"_type": "EVENT_CONTEXT",
                    "start_time": {"_type": "DV_DATE_TIME", "value": start}},
    });
    if let Some(l) = location {
        c["context"]["location"] = json!(l);
    }
    if !content.is_empty() {
        c["content"] = Value::Array(content);
    }
    c
}

/// A versioned object `id` with the given versions (None = deletion).
pub fn versioned(id: &str, docs: Vec<Option<Value>>) -> VersionedObject {
    let versions = docs
        .into_iter()
        .enumerate()
        .map(|(i, document)| {
            let uid = format!("{id}::sys::{}", i + 1);
            Version {
                json: json!({"_type": "ORIGINAL_VERSION", "uid": {"value": uid}}),
                uid,
                committed: format!("2024-04-0{}T00:00:00Z", i + 1),
                lifecycle_state: if document.is_some() { "532" } else { "523" }.into(),
                document,
            }
        })
        .collect();
    VersionedObject {
        id: id.into(),
        versions,
    }
}

/// An EHR with the given compositions, an EHR_STATUS `status` (its versions) and no
/// directory.
pub fn ehr(id: &str, compositions: Vec<VersionedObject>, status: VersionedObject) -> Ehr {
    Ehr {
        ehr_id: id.into(),
        system_id: "sys".into(),
        time_created: "2024-01-01T00:00:00Z".into(),
        json: json!({"_type": "EHR", "ehr_id": {"value": id}}),
        compositions,
        ehr_status: status,
        directory: None,
    }
}

/// An EHR_STATUS, with `other_details` holding `items` when there are any.
pub fn ehr_status(items: Vec<Value>) -> Value {
    let mut s = json!({
        "_type": "EHR_STATUS", "archetype_node_id": "openEHR-EHR-EHR_STATUS.generic.v1",
        "name": text("EHR Status"), "subject": {"_type": "PARTY_SELF"},
        "is_queryable": true, "is_modifiable": true,
    });
    if !items.is_empty() {
        s["other_details"] = json!({"_type": "ITEM_TREE", "archetype_node_id": "at0000",
                                    "name": text("Details"), "items": items});
    }
    s
}

/// A FOLDER filing the given object ids or version uids, with sub-folders.
pub fn folder(name: &str, items: &[&str], folders: Vec<Value>) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|id| {
            json!({"_type": "OBJECT_REF", "namespace": "local", "type": "VERSIONED_COMPOSITION",
                   "id": {"_type": "HIER_OBJECT_ID", "value": id}})
        })
        .collect();
    json!({"_type": "FOLDER", "archetype_node_id": "openEHR-EHR-FOLDER.generic.v1",
           "name": text(name), "items": items, "folders": folders})
}

pub fn sample() -> Dataset {
    let c1 = composition(
        ENCOUNTER,
        "Visit A",
        "2024-03-01T10:00:00Z",
        Some("Ward 1"),
        vec![
            bp(
                &[
                    ("POINT_EVENT", "Any event", 120.0, 80.0),
                    ("INTERVAL_EVENT", "Later", 140.0, 95.0),
                ],
                Some(device()),
            ),
            problem(),
        ],
    );
    let c2 = |sys, dia| {
        composition(
            ENCOUNTER,
            "Visit B",
            "2024-03-02T09:00:00+02:00",
            None,
            vec![bp(&[("POINT_EVENT", "Any event", sys, dia)], None)],
        )
    };
    let c3 = composition(REPORT, "Report", "2024-03-03", None, vec![]);
    let c4 = composition(
        ENCOUNTER,
        "Visit C",
        "2024-03-01T11:30:00+01:00",
        Some("Ward 1"),
        vec![bp(&[("POINT_EVENT", "Any event", 110.0, 70.0)], None)],
    );
    let c5 = composition(REPORT, "Empty report", "2024-02-28", Some("Ward 2"), vec![]);
    let family = element("at0001", "family group id", text("fam-7"));
    let mut e1 = ehr(
        "e1",
        vec![
            versioned("c1", vec![Some(c1)]),
            versioned("c2", vec![Some(c2(150.0, 100.0)), Some(c2(130.0, 85.0))]),
            versioned("c3", vec![Some(c3), None]),
        ],
        versioned(
            "s1",
            vec![Some(ehr_status(vec![])), Some(ehr_status(vec![family]))],
        ),
    );
    let directory = folder(
        "root",
        &["c1", "c3"],
        vec![
            folder("sub", &["c2::sys::2"], vec![]),
            folder("empty", &[], vec![]),
        ],
    );
    e1.directory = Some(versioned("d1", vec![Some(directory)]));
    Dataset {
        ehrs: vec![
            e1,
            ehr(
                "e2",
                vec![
                    versioned("c4", vec![Some(c4)]),
                    versioned("c5", vec![Some(c5)]),
                ],
                versioned("s2", vec![Some(ehr_status(vec![]))]),
            ),
        ],
    }
}

pub fn try_run(
    aql: &str,
    params: &Map<String, Value>,
    data: &Dataset,
) -> Result<ResultSet, OracleError> {
    let query = cdr_aql::parse(aql).unwrap_or_else(|e| panic!("{aql}: {e}"));
    evaluate(&query, params, data)
}

/// The rows of `aql` over the sample data.
pub fn rows(aql: &str) -> Vec<Vec<Value>> {
    rows_with(aql, &Map::new())
}

pub fn rows_with(aql: &str, params: &Map<String, Value>) -> Vec<Vec<Value>> {
    match try_run(aql, params, &sample()) {
        Ok(rs) => rs.rows,
        Err(e) => panic!("{aql}: {e}"),
    }
}

/// The error `aql` gives over the sample data.
pub fn error(aql: &str) -> OracleError {
    match try_run(aql, &Map::new(), &sample()) {
        Ok(rs) => panic!("{aql}: expected an error, got {:?}", rs.rows),
        Err(e) => e,
    }
}

/// Asserts the rows of `aql` as a multiset.
pub fn check(aql: &str, expected: Vec<Vec<Value>>) {
    check_with(aql, &Map::new(), expected);
}

pub fn check_with(aql: &str, params: &Map<String, Value>, expected: Vec<Vec<Value>>) {
    let actual = rows_with(aql, params);
    let wrap = |rows: Vec<Vec<Value>>| ResultSet {
        columns: Vec::new(),
        rows,
    };
    if let Err(e) = cdr_aql_oracle::same_rows(&wrap(actual.clone()), &wrap(expected), false) {
        panic!("{aql}: {e}\nactual: {actual:?}");
    }
}

/// Asserts the rows of `aql` in order.
pub fn check_ordered(aql: &str, expected: Vec<Vec<Value>>) {
    let actual = rows(aql);
    assert_eq!(actual, expected, "{aql}");
}

/// One-column rows.
pub fn col(values: &[Value]) -> Vec<Vec<Value>> {
    values.iter().map(|v| vec![v.clone()]).collect()
}

pub fn params(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}
