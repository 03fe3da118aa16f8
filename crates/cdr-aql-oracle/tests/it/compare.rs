//! `same_rows`: multisets or sequences of rows, numbers with a relative tolerance.

use cdr_aql_oracle::{same_rows, Column, ResultSet};
use serde_json::{json, Value};

fn rs(rows: Vec<Vec<Value>>) -> ResultSet {
    ResultSet {
        columns: vec![Column {
            name: "#0".into(),
            path: "x".into(),
        }],
        rows,
    }
}

#[test]
fn unordered_is_multiset_equality() {
    let a = rs(vec![vec![json!(1)], vec![json!("a")], vec![json!(1)]]);
    let b = rs(vec![vec![json!("a")], vec![json!(1.0)], vec![json!(1)]]);
    assert_eq!(same_rows(&a, &b, false), Ok(()));
    let c = rs(vec![vec![json!("a")], vec![json!("a")], vec![json!(1)]]);
    let err = same_rows(&a, &c, false).unwrap_err();
    assert!(err.contains("left row 2 [1]"), "{err}");
    let d = rs(vec![vec![json!(1)], vec![json!("a")]]);
    assert!(same_rows(&a, &d, false).unwrap_err().contains("no match"));
}

#[test]
fn numbers_within_relative_tolerance() {
    let a = rs(vec![vec![json!(120), json!({"m": [0.1, 2]})]]);
    let b = rs(vec![vec![json!(120.0), json!({"m": [0.1 + 1e-12, 2.0]})]]);
    assert_eq!(same_rows(&a, &b, true), Ok(()));
    let c = rs(vec![vec![json!(120.001), json!({"m": [0.1, 2]})]]);
    assert!(same_rows(&a, &c, true).is_err());
    assert!(same_rows(
        &rs(vec![vec![json!("1")]]),
        &rs(vec![vec![json!(1)]]),
        false
    )
    .is_err());
}

#[test]
fn ordered_reports_the_first_differing_row() {
    let a = rs(vec![vec![json!(1)], vec![json!(2)], vec![json!(3)]]);
    let b = rs(vec![vec![json!(1)], vec![json!(3)], vec![json!(2)]]);
    assert_eq!(same_rows(&a, &b, false), Ok(()));
    assert_eq!(
        same_rows(&a, &b, true),
        Err("row 1 differs: [2] vs [3]".to_owned())
    );
    let short = rs(vec![vec![json!(1)]]);
    assert!(same_rows(&a, &short, true)
        .unwrap_err()
        .contains("first extra left row [2]"));
}

#[test]
fn columns_must_agree() {
    let mut b = rs(vec![]);
    b.columns[0].name = "n".into();
    assert!(same_rows(&rs(vec![]), &b, false)
        .unwrap_err()
        .starts_with("columns differ"));
}
