//! SELECT: multi-valued paths, nulls, whole objects, names, DISTINCT, aggregates, ORDER BY,
//! LIMIT/OFFSET/TOP.

use cdr_aql_oracle::{Column, OracleError};
use serde_json::{json, Map};

use crate::support::{check, check_ordered, col, error, rows, sample, try_run, DEVICE};

const SYS: &str = "o/data[at0001]/events/data/items[at0004]/value/magnitude";
const DIA: &str = "o/data[at0001]/events/data/items[at0005]/value/magnitude";
const VISIT_A: &str = "COMPOSITION c[name/value='Visit A'] CONTAINS OBSERVATION o";

#[test]
fn list_valued_paths_give_one_row_per_value() {
    check(
        &format!("SELECT {SYS} FROM {VISIT_A}"),
        col(&[json!(120.0), json!(140.0)]),
    );
    // Two columns through the same events: one row per event, never crossed.
    check(
        &format!("SELECT {SYS}, {DIA} FROM {VISIT_A}"),
        vec![
            vec![json!(120.0), json!(80.0)],
            vec![json!(140.0), json!(95.0)],
        ],
    );
    // WHERE through the same events keeps the matching event's row only.
    check(
        &format!("SELECT {SYS}, o/data[at0001]/events/name/value FROM {VISIT_A} WHERE {DIA} > 90"),
        vec![vec![json!(140.0), json!("Later")]],
    );
    // An event without the selected value is a row with null.
    check(
        &format!("SELECT o/data[at0001]/events/name/value, o/data[at0001]/events/data/items[at0099]/value FROM {VISIT_A}"),
        vec![
            vec![json!("Any event"), json!(null)],
            vec![json!("Later"), json!(null)],
        ],
    );
    // Predicates inside the path pick the event.
    check(
        &format!("SELECT o/data[at0001]/events[at0006, 'Later']/data/items[at0004]/value/magnitude FROM {VISIT_A}"),
        col(&[json!(140.0)]),
    );
}

#[test]
fn missing_paths_give_null() {
    check(
        "SELECT c/name/value, c/context/location FROM EHR e CONTAINS COMPOSITION c",
        vec![
            vec![json!("Visit A"), json!("Ward 1")],
            vec![json!("Visit B"), json!(null)],
            vec![json!("Visit C"), json!("Ward 1")],
            vec![json!("Empty report"), json!("Ward 2")],
        ],
    );
}

#[test]
fn bare_variables_select_whole_objects() {
    let data = sample();
    let rs = try_run("SELECT e FROM EHR e[ehr_id/value='e1']", &Map::new(), &data).unwrap();
    assert_eq!(
        rs.rows,
        vec![vec![json!({
            "_type": "EHR",
            "ehr_id": {"value": "e1"},
            "system_id": {"_type": "HIER_OBJECT_ID", "value": "sys"},
            "time_created": {"_type": "DV_DATE_TIME", "value": "2024-01-01T00:00:00Z"},
        })]]
    );
    let rs = try_run(
        &format!("SELECT d FROM CLUSTER d[{DEVICE}]"),
        &Map::new(),
        &data,
    )
    .unwrap();
    assert_eq!(
        rs.rows,
        vec![vec![crate::support::device()["items"][0].clone()]]
    );
    let rs = try_run(
        "SELECT v FROM VERSION v CONTAINS COMPOSITION c[name/value='Visit C']",
        &Map::new(),
        &data,
    )
    .unwrap();
    let v = &rs.rows[0][0];
    assert_eq!(v["_type"], json!("ORIGINAL_VERSION"));
    assert_eq!(v["uid"]["value"], json!("c4::sys::1"));
    assert_eq!(v["data"]["name"]["value"], json!("Visit C"));
    // EHR paths.
    check(
        "SELECT e/ehr_id/value, e/system_id/value, e/time_created/value FROM EHR e[ehr_id/value='e2']",
        vec![vec![json!("e2"), json!("sys"), json!("2024-01-01T00:00:00Z")]],
    );
}

#[test]
fn columns_are_named_by_alias_or_position() {
    let rs = try_run(
        "SELECT c/name/value AS name, 'x', c/context/location FROM COMPOSITION c[name/value='Visit A']",
        &Map::new(),
        &sample(),
    )
    .unwrap();
    let col = |name: &str, path: &str| Column {
        name: name.into(),
        path: path.into(),
    };
    assert_eq!(
        rs.columns,
        vec![
            col("name", "c/name/value"),
            col("#1", "'x'"),
            col("#2", "c/context/location"),
        ]
    );
    assert_eq!(
        rs.rows,
        vec![vec![json!("Visit A"), json!("x"), json!("Ward 1")]]
    );
}

#[test]
fn distinct_removes_duplicate_rows() {
    check(
        "SELECT DISTINCT e/ehr_id/value FROM EHR e CONTAINS COMPOSITION c",
        col(&[json!("e1"), json!("e2")]),
    );
    check(
        "SELECT DISTINCT c/context/location FROM COMPOSITION c",
        col(&[json!("Ward 1"), json!(null), json!("Ward 2")]),
    );
    // WHERE on the selected path filters its rows: Visit A's 140 is another event.
    check(
        &format!("SELECT DISTINCT {SYS} FROM OBSERVATION o WHERE {SYS} < 125"),
        col(&[json!(120.0), json!(110.0)]),
    );
}

#[test]
fn aggregates() {
    // Current systolic values: 120, 140, 130, 110.
    let from = "FROM OBSERVATION o";
    check(
        &format!("SELECT COUNT(*), MIN({SYS}) {from}"),
        vec![vec![json!(4), json!(110.0)]],
    );
    check(&format!("SELECT COUNT({SYS}) {from}"), vec![vec![json!(4)]]);
    check(
        &format!("SELECT MAX({SYS}) {from}"),
        vec![vec![json!(140.0)]],
    );
    check(
        &format!("SELECT SUM({SYS}) {from}"),
        vec![vec![json!(500.0)]],
    );
    check(
        &format!("SELECT AVG({SYS}) AS a {from}"),
        vec![vec![json!(125.0)]],
    );
    check(
        &format!("SELECT COUNT(DISTINCT {SYS}) {from}"),
        vec![vec![json!(4)]],
    );
    // Aggregates fold over the rows the columns would give: two arguments through the same
    // two events make two rows.
    check(
        &format!("SELECT COUNT({SYS}), COUNT({DIA}) FROM {VISIT_A}"),
        vec![vec![json!(2), json!(2)]],
    );
    check(
        "SELECT COUNT(*), COUNT(c/context/location), COUNT(DISTINCT c/context/location), \
         MIN(c/name/value), MAX(c/name/value) FROM COMPOSITION c",
        vec![vec![
            json!(4),
            json!(3),
            json!(2),
            json!("Empty report"),
            json!("Visit C"),
        ]],
    );
    // Over no rows: one row, COUNT 0 and null elsewhere.
    check(
        &format!("SELECT COUNT(*), MAX({SYS}), AVG({SYS}) FROM OBSERVATION o WHERE {SYS} > 1000"),
        vec![vec![json!(0), json!(null), json!(null)]],
    );
    // SUM/AVG ignore non-numbers; MIN over mixed types is refused.
    check(
        "SELECT SUM(c/name/value) FROM COMPOSITION c",
        vec![vec![json!(null)]],
    );
    assert!(matches!(
        error("SELECT MIN(c/context) FROM COMPOSITION c"),
        OracleError::Unsupported(_)
    ));
}

#[test]
fn plain_columns_beside_aggregates_group() {
    check(
        "SELECT e/ehr_id/value, COUNT(*) FROM EHR e CONTAINS COMPOSITION c",
        vec![vec![json!("e1"), json!(2)], vec![json!("e2"), json!(2)]],
    );
    check(
        &format!("SELECT c/name/value, MAX({SYS}), COUNT({DIA}) FROM COMPOSITION c CONTAINS OBSERVATION o"),
        vec![
            // Two events, each with a systolic and a diastolic value: two rows.
            vec![json!("Visit A"), json!(140.0), json!(2)],
            vec![json!("Visit B"), json!(130.0), json!(1)],
            vec![json!("Visit C"), json!(110.0), json!(1)],
        ],
    );
    // Grouping over no rows gives no rows.
    check(
        "SELECT e/ehr_id/value, COUNT(*) FROM EHR e CONTAINS COMPOSITION c WHERE c/name/value = 'none'",
        vec![],
    );
}

#[test]
fn order_by_several_keys_with_nulls() {
    let base = "SELECT c/context/location AS loc, c/name/value AS n FROM COMPOSITION c";
    check_ordered(
        &format!("{base} ORDER BY loc, n DESC"),
        vec![
            vec![json!("Ward 1"), json!("Visit C")],
            vec![json!("Ward 1"), json!("Visit A")],
            vec![json!("Ward 2"), json!("Empty report")],
            vec![json!(null), json!("Visit B")],
        ],
    );
    check_ordered(
        &format!("{base} ORDER BY loc DESC, n"),
        vec![
            vec![json!(null), json!("Visit B")],
            vec![json!("Ward 2"), json!("Empty report")],
            vec![json!("Ward 1"), json!("Visit A")],
            vec![json!("Ward 1"), json!("Visit C")],
        ],
    );
    // By the selected path's text, and by a path that is not selected.
    check_ordered(
        "SELECT c/name/value FROM COMPOSITION c ORDER BY c/name/value DESC",
        col(&[
            json!("Visit C"),
            json!("Visit B"),
            json!("Visit A"),
            json!("Empty report"),
        ]),
    );
    check_ordered(
        "SELECT c/name/value FROM COMPOSITION c ORDER BY c/context/location DESC, c/name/value",
        col(&[
            json!("Visit B"),
            json!("Empty report"),
            json!("Visit A"),
            json!("Visit C"),
        ]),
    );
    // Numbers numerically, per row of a list-valued column.
    check_ordered(
        &format!("SELECT {SYS} AS s FROM OBSERVATION o ORDER BY s"),
        col(&[json!(110.0), json!(120.0), json!(130.0), json!(140.0)]),
    );
    // An aggregate column by its alias.
    check_ordered(
        "SELECT e/ehr_id/value AS id, MAX(c/name/value) AS m FROM EHR e CONTAINS COMPOSITION c ORDER BY m DESC",
        vec![vec![json!("e2"), json!("Visit C")], vec![json!("e1"), json!("Visit B")]],
    );
    assert!(matches!(
        error(&format!(
            "SELECT c/name/value FROM COMPOSITION c CONTAINS OBSERVATION o ORDER BY {SYS}"
        )),
        OracleError::Unsupported(_)
    ));
}

#[test]
fn limit_offset_and_top_apply_after_ordering() {
    let base = "SELECT c/name/value AS n FROM COMPOSITION c ORDER BY n";
    check_ordered(
        &format!("{base} LIMIT 2"),
        col(&[json!("Empty report"), json!("Visit A")]),
    );
    check_ordered(
        &format!("{base} LIMIT 2 OFFSET 1"),
        col(&[json!("Visit A"), json!("Visit B")]),
    );
    check_ordered(
        &format!("{base} LIMIT 10 OFFSET 3"),
        col(&[json!("Visit C")]),
    );
    check_ordered(&format!("{base} LIMIT 5 OFFSET 9"), vec![]);
    check_ordered(&format!("{base} LIMIT 0"), vec![]);
    check_ordered(
        "SELECT TOP 2 c/name/value AS n FROM COMPOSITION c ORDER BY n DESC",
        col(&[json!("Visit C"), json!("Visit B")]),
    );
    check_ordered(
        "SELECT DISTINCT TOP 1 e/ehr_id/value AS id FROM EHR e CONTAINS COMPOSITION c ORDER BY id DESC",
        col(&[json!("e2")]),
    );
    assert_eq!(rows("SELECT c FROM COMPOSITION c LIMIT 3").len(), 3);
    assert!(matches!(
        error("SELECT TOP 2 BACKWARD c FROM COMPOSITION c"),
        OracleError::Bind(_)
    ));
}

#[test]
fn unsupported_columns() {
    assert!(matches!(
        error("SELECT LENGTH(c/name/value) FROM COMPOSITION c"),
        OracleError::Unsupported(_)
    ));
    assert!(matches!(
        error("SELECT TERMINOLOGY('expand', 'hl7.org/fhir/4.0', 'http://x') FROM COMPOSITION c"),
        OracleError::Unsupported(_)
    ));
}

#[test]
fn integer_sums_and_mixed_types() {
    use crate::support::{composition, ehr, element, versioned, ENCOUNTER};
    let doc = composition(
        ENCOUNTER,
        "Counts",
        "2024-01-01",
        None,
        vec![
            json!({"_type": "CLUSTER", "archetype_node_id": "openEHR-EHR-CLUSTER.x.v1",
                    "items": [element("at0001", "a", json!({"_type": "DV_COUNT", "magnitude": 2})),
                              element("at0001", "b", json!({"_type": "DV_COUNT", "magnitude": 3})),
                              element("at0001", "c", json!({"_type": "DV_TEXT", "magnitude": "x"}))]}),
        ],
    );
    let data = cdr_aql_oracle::Dataset {
        ehrs: vec![ehr(
            "e",
            vec![versioned("k", vec![Some(doc)])],
            Default::default(),
        )],
    };
    let run = |aql: &str| try_run(aql, &Map::new(), &data);
    let rows = run("SELECT SUM(x/value/magnitude), AVG(x/value/magnitude), COUNT(x/value/magnitude) FROM ELEMENT x")
        .unwrap()
        .rows;
    assert_eq!(rows, vec![vec![json!(5), json!(2.5), json!(3)]]);
    assert!(rows[0][0].is_i64());
    assert!(matches!(
        run("SELECT MIN(x/value/magnitude) FROM ELEMENT x"),
        Err(OracleError::Unsupported(_))
    ));
    assert_eq!(
        run("SELECT MAX(x/value/magnitude) FROM ELEMENT x WHERE x/name/value != 'c'")
            .unwrap()
            .rows,
        vec![vec![json!(3)]]
    );
}
