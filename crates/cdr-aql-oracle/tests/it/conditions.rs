//! WHERE: existential typed comparisons, date-times, LIKE, MATCHES, EXISTS, logic, parameters.

use cdr_aql_oracle::OracleError;
use serde_json::json;

use crate::support::{check, check_with, col, error, params};

const SYS: &str = "o/data[at0001]/events/data/items[at0004]/value/magnitude";
const DIA: &str = "o/data[at0001]/events/data/items[at0005]/value/magnitude";

fn visits_where(cond: &str) -> String {
    format!("SELECT c/name/value FROM COMPOSITION c CONTAINS OBSERVATION o WHERE {cond}")
}

fn names_where(cond: &str) -> String {
    format!("SELECT c/name/value FROM EHR e CONTAINS COMPOSITION c WHERE {cond}")
}

#[test]
fn comparisons_are_existential() {
    // Visit A has 120 and 140; Visit B 130 (current version); Visit C 110.
    check(
        &visits_where(&format!("{SYS} > 130")),
        col(&[json!("Visit A")]),
    );
    check(
        &visits_where(&format!("{SYS} >= 130")),
        col(&[json!("Visit A"), json!("Visit B")]),
    );
    check(
        &visits_where(&format!("{SYS} < 120")),
        col(&[json!("Visit C")]),
    );
    check(
        &visits_where(&format!("{SYS} <= 120")),
        col(&[json!("Visit A"), json!("Visit C")]),
    );
    check(
        &visits_where(&format!("{SYS} = 140")),
        col(&[json!("Visit A")]),
    );
    // `!=`: some value differs — Visit A has 140 besides 120.
    check(
        &visits_where(&format!("{SYS} != 120")),
        col(&[json!("Visit A"), json!("Visit B"), json!("Visit C")]),
    );
    check(
        &visits_where(&format!("NOT {SYS} = 120")),
        col(&[json!("Visit B"), json!("Visit C")]),
    );
}

#[test]
fn comparisons_are_typed_by_the_literal() {
    // Stored 120.0 equals the integer literal 120 and the real 120.0.
    check(
        &visits_where(&format!("{SYS} = 120")),
        col(&[json!("Visit A")]),
    );
    check(
        &visits_where(&format!("{SYS} = 120.0")),
        col(&[json!("Visit A")]),
    );
    // A number never equals a string, whatever the text.
    check(&visits_where(&format!("{SYS} = '120'")), vec![]);
    check(&visits_where(&format!("{SYS} != '120'")), vec![]);
    check(&names_where("c/name/value > 5"), vec![]);
    // Booleans only with booleans; NULL compares with nothing.
    check(&names_where("c/name/value = true"), vec![]);
    check(&names_where("c/name/value != NULL"), vec![]);
    check(&names_where("c/name/value = NULL"), vec![]);
    // Strings bytewise: 'V' < 'a', upper case first.
    check(
        &names_where("c/name/value < 'Visit B'"),
        col(&[json!("Visit A"), json!("Empty report")]),
    );
    check(
        &names_where("c/name/value > 'Visit'"),
        col(&[json!("Visit A"), json!("Visit B"), json!("Visit C")]),
    );
    // Objects never compare.
    check(&names_where("c/name = 'Visit A'"), vec![]);
}

#[test]
fn date_times_compare_as_instants_across_zones() {
    // Starts: A 2024-03-01T10:00Z, B 2024-03-02T09:00+02:00 (07:00Z), C 2024-03-01T11:30+01:00
    // (10:30Z), Empty report 2024-02-28 (midnight UTC).
    let start = "c/context/start_time/value";
    check(
        &names_where(&format!("{start} = '2024-03-01T11:00:00+01:00'")),
        col(&[json!("Visit A")]),
    );
    check(
        &names_where(&format!("{start} = '2024-03-01T10:00:00'")),
        col(&[json!("Visit A")]),
    );
    check(
        &names_where(&format!("{start} > '2024-03-01T10:15:00Z'")),
        col(&[json!("Visit B"), json!("Visit C")]),
    );
    check(
        &names_where(&format!("{start} < '2024-03-01T11:00:00+01:00'")),
        col(&[json!("Empty report")]),
    );
    check(
        &names_where(&format!("{start} >= '2024-03-01'")),
        col(&[json!("Visit A"), json!("Visit B"), json!("Visit C")]),
    );
    check(
        &names_where(&format!("{start} = '2024-02-28T00:00:00Z'")),
        col(&[json!("Empty report")]),
    );
    // Bytewise, '2024-03-02T09:00:00+02:00' > '2024-03-02T08:00:00Z'; as instants it is earlier.
    check(
        &names_where(&format!("{start} > '2024-03-02T08:00:00Z'")),
        vec![],
    );
    // A non-temporal string literal compares bytewise.
    check(
        &names_where(&format!("{start} > '2024-03-01T11'")),
        col(&[json!("Visit B"), json!("Visit C")]),
    );
}

#[test]
fn like_patterns() {
    // `?` one character, `*` any run; `%` and `_` are ordinary characters.
    check(
        &names_where("c/name/value LIKE 'Visit ?'"),
        col(&[json!("Visit A"), json!("Visit B"), json!("Visit C")]),
    );
    check(
        &names_where("c/name/value LIKE '*report'"),
        col(&[json!("Empty report")]),
    );
    check(&names_where("c/name/value LIKE 'visit*'"), vec![]);
    check(&names_where("c/name/value LIKE 'Visit _'"), vec![]);
    check(&names_where("c/name/value LIKE '%report'"), vec![]);
    check(
        &names_where("c/context/start_time/value LIKE '2024-03-01*'"),
        col(&[json!("Visit A"), json!("Visit C")]),
    );
    check_with(
        &names_where("c/name/value LIKE $p"),
        &params(&[("p", json!("*B"))]),
        col(&[json!("Visit B")]),
    );
    // LIKE on a number never matches.
    check(&visits_where(&format!("{SYS} LIKE '1*'")), vec![]);
}

#[test]
fn matches_lists() {
    check(
        &names_where("c/name/value MATCHES {'Visit A', 'Visit C', 'Nope'}"),
        col(&[json!("Visit A"), json!("Visit C")]),
    );
    check(
        &visits_where(&format!("{SYS} MATCHES {{110, 130.0}}")),
        col(&[json!("Visit B"), json!("Visit C")]),
    );
    check_with(
        &names_where("c/name/value MATCHES {$a, 'Visit B'}"),
        &params(&[("a", json!("Empty report"))]),
        col(&[json!("Visit B"), json!("Empty report")]),
    );
    // A parameter given as an array is a list, alone or among other items.
    let codes = params(&[("names", json!(["Visit A", "Empty report"]))]);
    check_with(
        &names_where("c/name/value MATCHES $names"),
        &codes,
        col(&[json!("Visit A"), json!("Empty report")]),
    );
    check_with(
        &names_where("c/name/value MATCHES {'Visit C', $names}"),
        &codes,
        col(&[json!("Visit A"), json!("Visit C"), json!("Empty report")]),
    );
}

#[test]
fn exists_and_logic() {
    check(
        &names_where("EXISTS c/content"),
        col(&[json!("Visit A"), json!("Visit B"), json!("Visit C")]),
    );
    check(
        &names_where("NOT EXISTS c/content"),
        col(&[json!("Empty report")]),
    );
    check(
        &names_where("EXISTS c/context/location AND NOT EXISTS c/content"),
        col(&[json!("Empty report")]),
    );
    check(
        &names_where("c/name/value = 'Visit A' OR c/context/location = 'Ward 2'"),
        col(&[json!("Visit A"), json!("Empty report")]),
    );
    check(
        &names_where(
            "(c/name/value = 'Visit A' OR c/name/value = 'Visit C') AND e/ehr_id/value = 'e2'",
        ),
        col(&[json!("Visit C")]),
    );
    check(
        &visits_where(&format!("{SYS} > 135 AND {DIA} < 85")),
        col(&[json!("Visit A")]),
    );
}

#[test]
fn path_against_path_typed_by_the_left_value() {
    // Some systolic above some diastolic: every visit.
    check(
        &visits_where(&format!("{SYS} > {DIA}")),
        col(&[json!("Visit A"), json!("Visit B"), json!("Visit C")]),
    );
    // Visit A: systolic 120 < diastolic 95? no; but is some systolic below some diastolic? no.
    check(&visits_where(&format!("{SYS} < {DIA}")), vec![]);
    // A number on the left never compares with a string on the right.
    check(&visits_where(&format!("{SYS} != c/name/value")), vec![]);
}

#[test]
fn parameters_take_their_value_and_type() {
    check_with(
        &names_where("c/name/value = $n"),
        &params(&[("n", json!("Visit B"))]),
        col(&[json!("Visit B")]),
    );
    check_with(
        &visits_where(&format!("{SYS} >= $min")),
        &params(&[("min", json!(135))]),
        col(&[json!("Visit A")]),
    );
    // A string parameter does not compare with numbers.
    check_with(
        &visits_where(&format!("{SYS} >= $min")),
        &params(&[("min", json!("135"))]),
        vec![],
    );
    assert_eq!(
        error(&names_where("c/name/value = $n")),
        OracleError::Bind("parameter $n has no value".into())
    );
}

#[test]
fn unsupported_conditions() {
    assert!(matches!(
        error(&names_where("LENGTH(c/name/value) > 3")),
        OracleError::Unsupported(_)
    ));
    assert!(matches!(
        error(&names_where(
            "c/name/value MATCHES TERMINOLOGY('expand', 'hl7.org/fhir/4.0', 'http://x')"
        )),
        OracleError::Unsupported(_)
    ));
}
