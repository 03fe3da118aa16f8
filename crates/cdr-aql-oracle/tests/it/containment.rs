//! FROM: candidates, CONTAINS, AND/OR/NOT CONTAINS, predicates, versions, deletions.

use cdr_aql_oracle::OracleError;
use serde_json::json;

use crate::support::{check, check_with, col, error, params, BP, DEVICE, PROBLEM};

#[test]
fn current_compositions_of_every_ehr_deleted_ones_invisible() {
    check(
        "SELECT e/ehr_id/value, c/name/value FROM EHR e CONTAINS COMPOSITION c",
        vec![
            vec![json!("e1"), json!("Visit A")],
            vec![json!("e1"), json!("Visit B")],
            vec![json!("e2"), json!("Visit C")],
            vec![json!("e2"), json!("Empty report")],
        ],
    );
    check(
        "SELECT c/name/value FROM COMPOSITION c WHERE c/name/value = 'Report'",
        vec![],
    );
}

#[test]
fn ehr_predicate_keeps_one_ehr() {
    check(
        "SELECT c/name/value FROM EHR e[ehr_id/value='e2'] CONTAINS COMPOSITION c",
        col(&[json!("Visit C"), json!("Empty report")]),
    );
    check_with(
        "SELECT c/name/value FROM EHR[ehr_id/value=$id] CONTAINS COMPOSITION c",
        &params(&[("id", json!("e1"))]),
        col(&[json!("Visit A"), json!("Visit B")]),
    );
}

#[test]
fn classes_without_ehr_range_over_all_current_compositions() {
    check(
        "SELECT o/name/value FROM OBSERVATION o",
        col(&[
            json!("Blood pressure"),
            json!("Blood pressure"),
            json!("Blood pressure"),
        ]),
    );
}

#[test]
fn nested_archetypes_at_any_depth() {
    let q = format!(
        "SELECT c/name/value, d/items[at0001]/value/value FROM COMPOSITION c \
         CONTAINS OBSERVATION o[{BP}] CONTAINS CLUSTER d[{DEVICE}]"
    );
    check(&q, vec![vec![json!("Visit A"), json!("Cuff")]]);
    // Composition straight to the cluster, skipping the observation.
    let q = format!(
        "SELECT c/name/value FROM EHR e CONTAINS COMPOSITION c CONTAINS CLUSTER d[{DEVICE}]"
    );
    check(&q, col(&[json!("Visit A")]));
}

#[test]
fn contains_is_strict() {
    check(
        "SELECT o FROM OBSERVATION o CONTAINS OBSERVATION o2",
        vec![],
    );
    check(
        "SELECT c FROM COMPOSITION c CONTAINS COMPOSITION c2",
        vec![],
    );
}

#[test]
fn and_binds_both_independently() {
    let q = format!(
        "SELECT c/name/value, o/name/value, ev/name/value FROM EHR e CONTAINS COMPOSITION c \
         CONTAINS (OBSERVATION o[{BP}] AND EVALUATION ev)"
    );
    check(
        &q,
        vec![vec![
            json!("Visit A"),
            json!("Blood pressure"),
            json!("Problem"),
        ]],
    );
    // Two independent ELEMENT variables in one composition: every pair.
    check(
        "SELECT a/name/value, b/name/value FROM COMPOSITION c[name/value='Visit C'] \
         CONTAINS (ELEMENT a AND ELEMENT b)",
        vec![
            vec![json!("Systolic"), json!("Systolic")],
            vec![json!("Systolic"), json!("Diastolic")],
            vec![json!("Diastolic"), json!("Systolic")],
            vec![json!("Diastolic"), json!("Diastolic")],
        ],
    );
}

#[test]
fn or_leaves_the_side_that_does_not_hold_unbound() {
    let q = format!(
        "SELECT c/name/value, o/name/value, ev/name/value FROM EHR e CONTAINS COMPOSITION c \
         CONTAINS (OBSERVATION o[{BP}] OR EVALUATION ev[{PROBLEM}])"
    );
    check(
        &q,
        vec![
            vec![json!("Visit A"), json!("Blood pressure"), json!("Problem")],
            vec![json!("Visit B"), json!("Blood pressure"), json!(null)],
            vec![json!("Visit C"), json!("Blood pressure"), json!(null)],
        ],
    );
}

#[test]
fn not_contains_keeps_outer_objects_without_a_match() {
    check(
        "SELECT c/name/value FROM EHR e CONTAINS COMPOSITION c NOT CONTAINS EVALUATION ev",
        col(&[json!("Visit B"), json!("Visit C"), json!("Empty report")]),
    );
    let q = format!("SELECT o/name/value FROM OBSERVATION o NOT CONTAINS CLUSTER d[{DEVICE}]");
    check(&q, col(&[json!("Blood pressure"), json!("Blood pressure")]));
    // The NOT CONTAINS variable is never bound: no path may start from it.
    assert!(matches!(
        error("SELECT ev FROM COMPOSITION c[name/value='Visit B'] NOT CONTAINS EVALUATION ev"),
        OracleError::Bind(_)
    ));
}

#[test]
fn abstract_classes() {
    check(
        "SELECT x/name/value FROM ENTRY x",
        col(&[
            json!("Blood pressure"),
            json!("Problem"),
            json!("Blood pressure"),
            json!("Blood pressure"),
        ]),
    );
    check(
        "SELECT x/name/value FROM CARE_ENTRY x[name/value='Problem']",
        col(&[json!("Problem")]),
    );
    check(
        "SELECT x/name/value FROM EVENT x",
        col(&[
            json!("Any event"),
            json!("Later"),
            json!("Any event"),
            json!("Any event"),
        ]),
    );
    check(
        "SELECT x/name/value FROM INTERVAL_EVENT x",
        col(&[json!("Later")]),
    );
    check(
        "SELECT x/value/value FROM ITEM x[at0001]",
        col(&[json!("Cuff")]),
    );
    check(
        "SELECT count(*) FROM ITEM_STRUCTURE x",
        // Visit A: two event trees, the protocol, the problem's tree; Visit B and C: one each.
        vec![vec![json!(6)]],
    );
}

#[test]
fn predicates_with_names_and_standard_predicates() {
    check(
        &format!("SELECT c/name/value FROM COMPOSITION c CONTAINS OBSERVATION o[{BP}, 'Blood pressure'] WHERE c/name/value = 'Visit A'"),
        col(&[json!("Visit A")]),
    );
    check(
        &format!("SELECT o FROM OBSERVATION o[{BP}, 'Pressure']"),
        vec![],
    );
    check(
        "SELECT c/name/value FROM COMPOSITION c[name/value='Visit B']",
        col(&[json!("Visit B")]),
    );
    check(
        &format!(
            "SELECT c/name/value FROM COMPOSITION c[archetype_node_id={}] ",
            "openEHR-EHR-COMPOSITION.report.v1"
        ),
        col(&[json!("Empty report")]),
    );
    check_with(
        "SELECT c/name/value FROM COMPOSITION c CONTAINS EVALUATION x[$arch]",
        &params(&[("arch", json!(PROBLEM))]),
        col(&[json!("Visit A")]),
    );
    check(
        "SELECT c/name/value FROM COMPOSITION c[name/value='Visit A' OR name/value='Visit C']",
        col(&[json!("Visit A"), json!("Visit C")]),
    );
    check(
        "SELECT c/name/value FROM COMPOSITION c[name/value MATCHES {/^Visit [AB]$/}]",
        col(&[json!("Visit A"), json!("Visit B")]),
    );
}

#[test]
fn versions_latest_and_all() {
    let all =
        "SELECT v/uid/value FROM EHR e CONTAINS VERSION v[ALL_VERSIONS] CONTAINS COMPOSITION c";
    check(
        all,
        col(&[
            json!("c1::sys::1"),
            json!("c2::sys::1"),
            json!("c2::sys::2"),
            json!("c3::sys::1"),
            json!("c4::sys::1"),
            json!("c5::sys::1"),
        ]),
    );
    let latest = col(&[
        json!("c1::sys::1"),
        json!("c2::sys::2"),
        json!("c4::sys::1"),
        json!("c5::sys::1"),
    ]);
    check(
        "SELECT v/uid/value FROM EHR e CONTAINS VERSION v CONTAINS COMPOSITION c",
        latest.clone(),
    );
    check("SELECT v/uid/value FROM VERSION v[LATEST_VERSION]", latest);
    check(
        "SELECT v/uid/value, o/data[at0001]/events/data/items[at0004]/value/magnitude \
         FROM VERSION v[ALL_VERSIONS] CONTAINS OBSERVATION o WHERE v/uid/value LIKE 'c2*'",
        vec![
            vec![json!("c2::sys::1"), json!(150.0)],
            vec![json!("c2::sys::2"), json!(130.0)],
        ],
    );
    check(
        "SELECT v/commit_audit/time_committed/value, v/lifecycle_state/defining_code/code_string \
         FROM VERSION v[commit_audit/time_committed/value > '2024-04-01T12:00:00Z']",
        vec![vec![json!("2024-04-02T00:00:00Z"), json!("532")]],
    );
}

#[test]
fn ehr_status_and_its_versions() {
    let (e1, e2) = (json!("e1"), json!("e2"));
    let fam = "other_details/items[at0001]/value/value";
    check(
        &format!("SELECT e/ehr_id/value, s/{fam} FROM EHR e CONTAINS EHR_STATUS s"),
        vec![
            vec![e1.clone(), json!("fam-7")],
            vec![e2.clone(), json!(null)],
        ],
    );
    check(
        &format!("SELECT e/ehr_id/value FROM EHR e CONTAINS EHR_STATUS s WHERE s/{fam} = 'fam-7'"),
        vec![vec![e1.clone()]],
    );
    check("SELECT COUNT(*) FROM EHR_STATUS s", vec![vec![json!(2)]]);
    // `e/ehr_status/…` reads the current EHR_STATUS.
    check(
        &format!("SELECT e/ehr_status/{fam} FROM EHR e"),
        vec![vec![json!("fam-7")], vec![json!(null)]],
    );
    // VERSION of EHR_STATUS: current or every version, and what the version holds.
    check(
        "SELECT v/uid/value FROM VERSION v CONTAINS EHR_STATUS s",
        col(&[json!("s1::sys::2"), json!("s2::sys::1")]),
    );
    check(
        &format!(
            "SELECT v/uid/value, s/{fam} FROM EHR e[ehr_id/value='e1'] \
             CONTAINS VERSION v[ALL_VERSIONS] CONTAINS EHR_STATUS s"
        ),
        vec![
            vec![json!("s1::sys::1"), json!(null)],
            vec![json!("s1::sys::2"), json!("fam-7")],
        ],
    );
    check(
        "SELECT l/value/value FROM VERSION v[ALL_VERSIONS] CONTAINS EHR_STATUS s \
         CONTAINS ELEMENT l",
        col(&[json!("fam-7")]),
    );
    // Below EHR, a class that can lie in an EHR_STATUS reaches it too; unqualified or
    // below a composition it does not.
    check(
        "SELECT l/value/value FROM EHR e CONTAINS ELEMENT l[at0001]",
        col(&[json!("fam-7"), json!("Cuff")]),
    );
    check(
        "SELECT t/name/value FROM EHR e[ehr_id/value='e1'] CONTAINS ITEM_TREE t[at0000]",
        col(&[json!("Details")]),
    );
    check(
        "SELECT l/value/value FROM ELEMENT l[at0001]",
        col(&[json!("Cuff")]),
    );
    check(
        "SELECT l/value/value FROM EHR e CONTAINS COMPOSITION c CONTAINS ELEMENT l[at0001]",
        col(&[json!("Cuff")]),
    );
}

#[test]
fn folders_and_what_they_file() {
    check(
        "SELECT e/ehr_id/value, f/name/value FROM EHR e CONTAINS FOLDER f",
        vec![
            vec![json!("e1"), json!("root")],
            vec![json!("e1"), json!("sub")],
            vec![json!("e1"), json!("empty")],
        ],
    );
    check(
        "SELECT f/name/value, g/name/value FROM FOLDER f CONTAINS FOLDER g",
        vec![
            vec![json!("root"), json!("sub")],
            vec![json!("root"), json!("empty")],
        ],
    );
    // A folder contains the current compositions it or a folder below it files (by object
    // id or version uid); the deleted `c3` has none.
    check(
        "SELECT f/name/value, c/name/value FROM EHR e CONTAINS FOLDER f CONTAINS COMPOSITION c",
        vec![
            vec![json!("root"), json!("Visit A")],
            vec![json!("root"), json!("Visit B")],
            vec![json!("sub"), json!("Visit B")],
        ],
    );
    check(
        "SELECT f/name/value, v/uid/value FROM FOLDER f[name/value='sub'] \
         CONTAINS VERSION v[ALL_VERSIONS]",
        vec![
            vec![json!("sub"), json!("c2::sys::1")],
            vec![json!("sub"), json!("c2::sys::2")],
        ],
    );
    check(
        "SELECT v/uid/value FROM FOLDER f[name/value='root'] CONTAINS VERSION v",
        col(&[json!("c1::sys::1"), json!("c2::sys::2")]),
    );
    check(
        "SELECT o/data[at0001]/events/data/items[at0004]/value/magnitude \
         FROM FOLDER f[name/value='sub'] CONTAINS COMPOSITION c CONTAINS OBSERVATION o",
        col(&[json!(130.0)]),
    );
}

#[test]
fn errors() {
    // Semantic errors are the binder's.
    let bind = |aql: &str| match error(aql) {
        OracleError::Bind(m) => m,
        e => panic!("{aql}: {e:?}"),
    };
    assert!(bind("SELECT c FROM COMPOSITION c CONTAINS OBSERVATION c").contains("twice"));
    assert!(bind("SELECT x/name/value FROM COMPOSITION c").contains("'x'"));
    assert!(
        bind("SELECT c FROM COMPOSITION c CONTAINS OBSERVATION o[$missing]").contains("$missing")
    );
    assert!(matches!(
        error("SELECT c FROM COMPOSITION c CONTAINS OBSERVATION o[at0001, at0002]"),
        OracleError::Unsupported(_)
    ));
    assert!(matches!(
        error("SELECT c FROM COMPOSITION c[name/value MATCHES {/(/}]"),
        OracleError::InvalidRegex(_)
    ));
}
