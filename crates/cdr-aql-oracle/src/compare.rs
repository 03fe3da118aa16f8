//! Comparing two result sets in tests: rows as a multiset or in order, numbers with a small
//! relative tolerance.

use serde_json::Value;

use crate::ResultSet;

/// Relative tolerance for numbers.
const TOLERANCE: f64 = 1e-9;

/// Whether two JSON values are equal, numbers within [`TOLERANCE`] (so `120` equals `120.0`)
/// and object keys in any order.
pub fn values_match(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(i), Some(j)) = (x.as_i64(), y.as_i64()) {
                return i == j;
            }
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x == y || (x - y).abs() <= TOLERANCE * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_match(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_match(v, w)))
        }
        _ => a == b,
    }
}

fn rows_match(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| values_match(x, y))
}

fn show(row: &[Value]) -> String {
    Value::Array(row.to_vec()).to_string()
}

/// `Ok` when `a` and `b` have the same columns and the same rows: in the same order when
/// `ordered`, else as multisets. The error names the first row that differs.
pub fn same_rows(a: &ResultSet, b: &ResultSet, ordered: bool) -> Result<(), String> {
    if a.columns != b.columns {
        return Err(format!(
            "columns differ: {:?} vs {:?}",
            a.columns, b.columns
        ));
    }
    if ordered {
        for (i, (x, y)) in a.rows.iter().zip(&b.rows).enumerate() {
            if !rows_match(x, y) {
                return Err(format!("row {i} differs: {} vs {}", show(x), show(y)));
            }
        }
        return match a.rows.len().cmp(&b.rows.len()) {
            std::cmp::Ordering::Equal => Ok(()),
            std::cmp::Ordering::Greater => Err(format!(
                "left has {} rows, right {}; first extra left row {}",
                a.rows.len(),
                b.rows.len(),
                show(&a.rows[b.rows.len()])
            )),
            std::cmp::Ordering::Less => Err(format!(
                "left has {} rows, right {}; first extra right row {}",
                a.rows.len(),
                b.rows.len(),
                show(&b.rows[a.rows.len()])
            )),
        };
    }
    let mut used = vec![false; b.rows.len()];
    for (i, x) in a.rows.iter().enumerate() {
        let found = (0..b.rows.len()).find(|&j| !used[j] && rows_match(x, &b.rows[j]));
        match found {
            Some(j) => used[j] = true,
            None => {
                return Err(format!(
                    "left row {i} {} has no match on the right ({} vs {} rows)",
                    show(x),
                    a.rows.len(),
                    b.rows.len()
                ))
            }
        }
    }
    match used.iter().position(|u| !u) {
        Some(j) => Err(format!(
            "right row {j} {} has no match on the left ({} vs {} rows)",
            show(&b.rows[j]),
            a.rows.len(),
            b.rows.len()
        )),
        None => Ok(()),
    }
}
