//! SELECT, ORDER BY, LIMIT: from the binding tuples that passed WHERE to result rows.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use cdr_aql::ast::{
    Aggregate, AggregateArg, AggregateFunction, ColumnExpr, IdentifiedPath, Query, SortDirection,
    TopDirection,
};
use serde_json::Value;

use crate::context::{check_size, Ctx, Tuple};
use crate::error::OracleError;
use crate::path::identified_path;
use crate::value::{cmp_numbers, json_key, literal_json, sort_order};
use crate::{Column, ResultSet};

/// A result row and the binding tuple it came from (none once aggregated).
struct Row {
    values: Vec<Value>,
    tuple: Option<usize>,
}

/// Projects, aggregates, de-duplicates, sorts and pages.
pub(crate) fn project<'c>(
    ctx: &'c Ctx<'_>,
    query: &Query,
    tuples: &[Tuple<'c>],
) -> Result<ResultSet, OracleError> {
    let select = &query.select;
    let columns: Vec<Column> = select
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| Column {
            name: c.alias.as_ref().map_or(format!("#{i}"), |a| a.name.clone()),
            path: c.expr.to_string(),
        })
        .collect();
    let mut rows = expand(ctx, query, tuples)?;
    let aggregated = select
        .columns
        .iter()
        .any(|c| matches!(c.expr, ColumnExpr::Aggregate(_)));
    if aggregated {
        rows = aggregate(query, rows)?;
    }
    if select.distinct {
        let mut seen = HashSet::new();
        rows.retain(|r| seen.insert(json_key(&Value::Array(r.values.clone()))));
    }
    if !query.order_by.is_empty() {
        rows = sort(ctx, query, &columns, tuples, rows)?;
    }
    let mut rows: Vec<Vec<Value>> = rows.into_iter().map(|r| r.values).collect();
    page(query, &mut rows)?;
    Ok(ResultSet { columns, rows })
}

/// One row per combination of the columns' values in each tuple (an empty list is one null).
/// An aggregate column holds its argument's values (null for `COUNT(*)`).
fn expand<'c>(
    ctx: &'c Ctx<'_>,
    query: &Query,
    tuples: &[Tuple<'c>],
) -> Result<Vec<Row>, OracleError> {
    let mut rows = Vec::new();
    for (t, tuple) in tuples.iter().enumerate() {
        let mut lists: Vec<Vec<Value>> = Vec::new();
        for column in &query.select.columns {
            let mut list = match &column.expr {
                ColumnExpr::Path(p) => path_values(ctx, p, tuple)?,
                ColumnExpr::Literal(l) => vec![literal_json(&l.value)],
                ColumnExpr::Aggregate(a) => match &a.argument {
                    AggregateArg::Star => Vec::new(),
                    AggregateArg::Path(p) => path_values(ctx, p, tuple)?,
                },
                ColumnExpr::Function(f) => {
                    return Err(OracleError::Unsupported(format!("function {}", f.name)))
                }
                ColumnExpr::Terminology(x) => return Err(OracleError::Unsupported(x.to_string())),
            };
            if list.is_empty() {
                list.push(Value::Null);
            }
            lists.push(list);
        }
        let mut combos: Vec<Vec<Value>> = vec![Vec::new()];
        for list in lists {
            check_size(rows.len() + combos.len().saturating_mul(list.len()))?;
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    list.iter().map(move |v| {
                        let mut c = c.clone();
                        c.push(v.clone());
                        c
                    })
                })
                .collect();
        }
        rows.extend(combos.into_iter().map(|values| Row {
            values,
            tuple: Some(t),
        }));
    }
    Ok(rows)
}

fn path_values<'c>(
    ctx: &'c Ctx<'_>,
    p: &IdentifiedPath,
    tuple: &Tuple<'c>,
) -> Result<Vec<Value>, OracleError> {
    Ok(identified_path(ctx, p, tuple)?
        .into_iter()
        .cloned()
        .collect())
}

/// Groups the rows by their plain columns and folds each aggregate over each group. Without
/// plain columns there is exactly one group, even over no rows.
fn aggregate(query: &Query, rows: Vec<Row>) -> Result<Vec<Row>, OracleError> {
    let cols = &query.select.columns;
    let is_agg: Vec<bool> = cols
        .iter()
        .map(|c| matches!(c.expr, ColumnExpr::Aggregate(_)))
        .collect();
    let mut groups: Vec<Vec<Row>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for row in rows {
        let key: Vec<Value> = row
            .values
            .iter()
            .zip(&is_agg)
            .filter(|(_, a)| !**a)
            .map(|(v, _)| v.clone())
            .collect();
        let key = json_key(&Value::Array(key));
        let g = *index.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(row);
    }
    if groups.is_empty() && !is_agg.contains(&false) {
        groups.push(Vec::new());
    }
    let mut out = Vec::new();
    for group in groups {
        let mut values = Vec::new();
        for (i, column) in cols.iter().enumerate() {
            values.push(match &column.expr {
                ColumnExpr::Aggregate(a) => fold(a, group.iter().map(|r| &r.values[i]).collect())?,
                _ => group.first().map_or(Value::Null, |r| r.values[i].clone()),
            });
        }
        out.push(Row {
            values,
            tuple: None,
        });
    }
    Ok(out)
}

/// One aggregate over the argument values of a group's rows.
fn fold(agg: &Aggregate, values: Vec<&Value>) -> Result<Value, OracleError> {
    if agg.argument == AggregateArg::Star {
        return Ok(Value::from(values.len()));
    }
    let present: Vec<&Value> = values.into_iter().filter(|v| !v.is_null()).collect();
    match agg.function {
        AggregateFunction::Count if agg.distinct => {
            let distinct: HashSet<String> = present.iter().map(|v| json_key(v)).collect();
            Ok(Value::from(distinct.len()))
        }
        AggregateFunction::Count => Ok(Value::from(present.len())),
        AggregateFunction::Min | AggregateFunction::Max => {
            let order = |a: &&Value, b: &&Value| -> Ordering {
                match (a, b) {
                    (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y),
                    (Value::String(x), Value::String(y)) => x.cmp(y),
                    _ => Ordering::Equal,
                }
            };
            let all_numbers = present.iter().all(|v| v.is_number());
            let all_strings = present.iter().all(|v| v.is_string());
            if !all_numbers && !all_strings {
                return Err(OracleError::Unsupported(format!(
                    "{agg} over values that are not all numbers or all strings"
                )));
            }
            let pick = if agg.function == AggregateFunction::Min {
                present.into_iter().min_by(order)
            } else {
                present.into_iter().max_by(order)
            };
            Ok(pick.cloned().unwrap_or(Value::Null))
        }
        AggregateFunction::Sum | AggregateFunction::Avg => {
            let numbers: Vec<&serde_json::Number> =
                present.iter().filter_map(|v| v.as_number()).collect();
            if numbers.is_empty() {
                return Ok(Value::Null);
            }
            let float_sum: f64 = numbers.iter().map(|n| n.as_f64().unwrap_or(0.0)).sum();
            if agg.function == AggregateFunction::Avg {
                return Ok(float(float_sum / numbers.len() as f64));
            }
            let int_sum = numbers
                .iter()
                .try_fold(0i64, |acc, n| n.as_i64().and_then(|i| acc.checked_add(i)));
            Ok(int_sum.map_or_else(|| float(float_sum), Value::from))
        }
    }
}

fn float(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Sorts by the ORDER BY keys: a column (by alias, or by the same path text), else the path
/// evaluated on the row's tuple, which must then give at most one value.
fn sort<'c>(
    ctx: &'c Ctx<'_>,
    query: &Query,
    columns: &[Column],
    tuples: &[Tuple<'c>],
    rows: Vec<Row>,
) -> Result<Vec<Row>, OracleError> {
    let mut keyed: Vec<(Vec<Value>, Row)> = Vec::new();
    for row in rows {
        let mut keys = Vec::new();
        for key in &query.order_by {
            keys.push(sort_key(ctx, query, columns, tuples, &row, &key.path)?);
        }
        keyed.push((keys, row));
    }
    keyed.sort_by(|(a, _), (b, _)| {
        for ((x, y), key) in a.iter().zip(b).zip(&query.order_by) {
            let ord = match key.direction {
                SortDirection::Ascending => sort_order(x, y),
                SortDirection::Descending => sort_order(y, x),
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    });
    Ok(keyed.into_iter().map(|(_, row)| row).collect())
}

fn sort_key<'c>(
    ctx: &'c Ctx<'_>,
    query: &Query,
    columns: &[Column],
    tuples: &[Tuple<'c>],
    row: &Row,
    key: &IdentifiedPath,
) -> Result<Value, OracleError> {
    let bare = key.predicate.is_none() && key.path.is_none();
    let text = key.to_string();
    let by_alias = columns
        .iter()
        .position(|c| bare && c.name == key.variable.name);
    let by_path = || {
        query
            .select
            .columns
            .iter()
            .position(|c| matches!(c.expr, ColumnExpr::Path(_)) && c.expr.to_string() == text)
    };
    if let Some(i) = by_alias.or_else(by_path) {
        return Ok(row.values[i].clone());
    }
    let (Some(t), false) = (row.tuple, query.select.distinct) else {
        return Err(OracleError::Unsupported(format!(
            "ORDER BY {text}: not a column of an aggregated or DISTINCT result"
        )));
    };
    let values = identified_path(ctx, key, &tuples[t])?;
    match values.as_slice() {
        [] => Ok(Value::Null),
        [v] => Ok((*v).clone()),
        _ => Err(OracleError::Unsupported(format!(
            "ORDER BY {text}: several values for one row"
        ))),
    }
}

/// LIMIT/OFFSET, or TOP.
fn page(query: &Query, rows: &mut Vec<Vec<Value>>) -> Result<(), OracleError> {
    let top = query.select.top.as_ref();
    if let Some(top) = top {
        if query.limit.is_some() {
            return Err(OracleError::Unsupported("TOP together with LIMIT".into()));
        }
        if top.direction == Some(TopDirection::Backward) {
            return Err(OracleError::Unsupported("TOP ... BACKWARD".into()));
        }
        rows.truncate(usize::try_from(top.count).unwrap_or(usize::MAX));
    }
    if let Some(limit) = &query.limit {
        let offset = usize::try_from(limit.offset.unwrap_or(0)).unwrap_or(usize::MAX);
        rows.drain(..offset.min(rows.len()));
        rows.truncate(usize::try_from(limit.row_count).unwrap_or(usize::MAX));
    }
    Ok(())
}
