//! Rows, SELECT, ORDER BY, LIMIT: from the binding tuples to result rows.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use cdr_aql::ast::{AggregateFunction, PathStep, SortDirection};
use cdr_aql_bind::{Aggregate, ColumnExpr, OrderTarget, Path};
use serde_json::Value;

use crate::context::{check_size, Ctx, Row, Tuple};
use crate::error::OracleError;
use crate::path::{path_values, predicate_holds, start_of, steps_from};
use crate::value::{cmp_numbers, compare_typed, json_key, order_key, sort_order};
use crate::{Column, ResultSet};

/// The rows of each tuple: one per combination of the elements of the row nodes (a node
/// without elements, or whose variable is unbound, is one row with no element).
pub(crate) fn rows<'c>(
    ctx: &'c Ctx<'_, '_>,
    tuples: &[Tuple<'c>],
) -> Result<Vec<Row<'c>>, OracleError> {
    let nodes = &ctx.b.rows;
    let mut out = Vec::new();
    for (t, tuple) in tuples.iter().enumerate() {
        let mut partial: Vec<Vec<Option<&'c Value>>> = vec![Vec::with_capacity(nodes.len())];
        for node in nodes {
            let steps: Vec<&PathStep> = node.steps().iter().collect();
            let mut next = Vec::new();
            for elems in partial {
                let base = match node.parent {
                    Some(p) => elems[p].map(|e| (e, &steps[..])),
                    None => match tuple[node.var] {
                        Some(b) => {
                            let root = ctx.object(b);
                            match &node.path.predicate {
                                Some(p) if !predicate_holds(ctx, p, root)? => None,
                                _ => start_of(ctx, b, &steps),
                            }
                        }
                        None => None,
                    },
                };
                let found = match base {
                    Some((base, steps)) => steps_from(ctx, steps, base)?,
                    None => Vec::new(),
                };
                if found.is_empty() {
                    let mut e = elems.clone();
                    e.push(None);
                    next.push(e);
                } else {
                    for f in found {
                        let mut e = elems.clone();
                        e.push(Some(f));
                        next.push(e);
                    }
                }
                check_size(out.len() + next.len())?;
            }
            partial = next;
        }
        out.extend(partial.into_iter().map(|elems| Row { tuple: t, elems }));
    }
    Ok(out)
}

/// A result row and the row it came from (none once aggregated).
struct Out<'c> {
    values: Vec<Value>,
    row: Option<Row<'c>>,
}

/// Projects, aggregates, de-duplicates, sorts and pages the rows that passed WHERE.
pub(crate) fn project<'c>(
    ctx: &'c Ctx<'_, '_>,
    tuples: &[Tuple<'c>],
    rows: Vec<Row<'c>>,
) -> Result<ResultSet, OracleError> {
    let b = ctx.b;
    let columns: Vec<Column> = b
        .columns
        .iter()
        .map(|c| Column {
            name: c.name.clone(),
            path: c.text.clone(),
        })
        .collect();
    let mut out = expand(ctx, tuples, rows)?;
    if b.aggregated() {
        out = aggregate(ctx, out)?;
    }
    if b.distinct {
        let mut seen = HashSet::new();
        out.retain(|r| seen.insert(json_key(&Value::Array(r.values.clone()))));
    }
    if !b.order_by.is_empty() {
        out = sort(ctx, tuples, out)?;
    }
    let mut rows: Vec<Vec<Value>> = out.into_iter().map(|r| r.values).collect();
    if let Some(page) = b.page {
        let offset = usize::try_from(page.offset.unwrap_or(0)).unwrap_or(usize::MAX);
        rows.drain(..offset.min(rows.len()));
        rows.truncate(usize::try_from(page.limit).unwrap_or(usize::MAX));
    }
    Ok(ResultSet { columns, rows })
}

/// One result row per combination of the columns' values in each row (a path without a value
/// is one null; a path reaching several values beyond its row nodes gives one row each). An
/// aggregate column holds its argument's values (null for `COUNT(*)`).
fn expand<'c>(
    ctx: &'c Ctx<'_, '_>,
    tuples: &[Tuple<'c>],
    rows: Vec<Row<'c>>,
) -> Result<Vec<Out<'c>>, OracleError> {
    let mut out = Vec::new();
    for row in rows {
        let tuple = &tuples[row.tuple];
        let mut lists: Vec<Vec<Value>> = Vec::new();
        for column in &ctx.b.columns {
            let mut list = match &column.expr {
                ColumnExpr::Path(p) => values(ctx, p, tuple, &row)?,
                ColumnExpr::Value(v) => vec![v.clone()],
                ColumnExpr::Aggregate(a) => match &a.arg {
                    None => Vec::new(),
                    Some(p) => values(ctx, p, tuple, &row)?,
                },
                ColumnExpr::Function(f) => {
                    return Err(OracleError::Unsupported(format!("function {}", f.ast.name)))
                }
            };
            if list.is_empty() {
                list.push(Value::Null);
            }
            lists.push(list);
        }
        let mut combos: Vec<Vec<Value>> = vec![Vec::new()];
        for list in lists {
            check_size(out.len() + combos.len().saturating_mul(list.len()))?;
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
        out.extend(combos.into_iter().map(|values| Out {
            values,
            row: Some(row.clone()),
        }));
    }
    Ok(out)
}

fn values<'c>(
    ctx: &'c Ctx<'_, '_>,
    p: &Path,
    tuple: &Tuple<'c>,
    row: &Row<'c>,
) -> Result<Vec<Value>, OracleError> {
    Ok(path_values(ctx, p, tuple, row)?
        .into_iter()
        .cloned()
        .collect())
}

/// Groups the rows by their plain columns and folds each aggregate over each group. Without
/// plain columns there is exactly one group, even over no rows.
fn aggregate<'c>(ctx: &Ctx<'_, '_>, rows: Vec<Out<'c>>) -> Result<Vec<Out<'c>>, OracleError> {
    let cols = &ctx.b.columns;
    let is_agg: Vec<bool> = cols
        .iter()
        .map(|c| matches!(c.expr, ColumnExpr::Aggregate(_)))
        .collect();
    let mut groups: Vec<Vec<Out>> = Vec::new();
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
                ColumnExpr::Aggregate(a) => fold(
                    a,
                    &column.text,
                    group.iter().map(|r| &r.values[i]).collect(),
                )?,
                _ => group.first().map_or(Value::Null, |r| r.values[i].clone()),
            });
        }
        out.push(Out { values, row: None });
    }
    Ok(out)
}

/// One aggregate over the argument values of a group's rows.
fn fold(agg: &Aggregate, text: &str, values: Vec<&Value>) -> Result<Value, OracleError> {
    let Some(_) = &agg.arg else {
        return Ok(Value::from(values.len()));
    };
    let present: Vec<&Value> = values.into_iter().filter(|v| !v.is_null()).collect();
    match agg.function {
        AggregateFunction::Count if agg.distinct => {
            let distinct: HashSet<String> = present.iter().map(|v| json_key(v)).collect();
            Ok(Value::from(distinct.len()))
        }
        AggregateFunction::Count => Ok(Value::from(present.len())),
        AggregateFunction::Min | AggregateFunction::Max if agg.natural() => {
            // The object whose natural value is least (greatest); values that do not compare
            // with the first kept value are passed over.
            let mut pick: Option<&Value> = None;
            for v in present {
                let better = match pick {
                    None => true,
                    Some(p) => compare_typed(&order_key(v), &order_key(p), &order_key(v))
                        .is_some_and(|o| match agg.function {
                            AggregateFunction::Min => o == Ordering::Less,
                            _ => o == Ordering::Greater,
                        }),
                };
                if better {
                    pick = Some(v);
                }
            }
            Ok(pick.cloned().unwrap_or(Value::Null))
        }
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
                    "{text} over values that are not all numbers or all strings"
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

/// Sorts by the ORDER BY keys: a column, else the path evaluated on the row, which must then
/// give at most one value. Keys that may be RM objects sort by their order key.
fn sort<'c>(
    ctx: &'c Ctx<'_, '_>,
    tuples: &[Tuple<'c>],
    rows: Vec<Out<'c>>,
) -> Result<Vec<Out<'c>>, OracleError> {
    let b = ctx.b;
    let mut keyed: Vec<(Vec<Value>, Out)> = Vec::new();
    for row in rows {
        let mut keys = Vec::new();
        for key in &b.order_by {
            let (value, natural) = match &key.target {
                OrderTarget::Column(i) => (
                    row.values[*i].clone(),
                    matches!(&b.columns[*i].expr, ColumnExpr::Path(p) if p.types.may_order_naturally()),
                ),
                OrderTarget::Path(p) => {
                    let Some(r) = &row.row else {
                        return Err(OracleError::Unsupported(format!(
                            "ORDER BY {}: not a column of an aggregated result",
                            p.text()
                        )));
                    };
                    let values = path_values(ctx, p, &tuples[r.tuple], r)?;
                    let value = match values.as_slice() {
                        [] => Value::Null,
                        [v] => (*v).clone(),
                        _ => {
                            return Err(OracleError::Unsupported(format!(
                                "ORDER BY {}: several values for one row",
                                p.text()
                            )))
                        }
                    };
                    (value, p.types.may_order_naturally())
                }
            };
            keys.push(if natural { order_key(&value) } else { value });
        }
        keyed.push((keys, row));
    }
    keyed.sort_by(|(a, _), (b_, _)| {
        for ((x, y), key) in a.iter().zip(b_).zip(&b.order_by) {
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
