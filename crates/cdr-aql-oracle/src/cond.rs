//! WHERE: whether a row satisfies the condition.

use std::borrow::Cow;

use cdr_aql::ast::ComparisonOp;
use cdr_aql_bind::{compares_object_id, Condition, Operand, Path};
use serde_json::Value;

use crate::context::{all, any, Ctx, Row, Tuple};
use crate::error::OracleError;
use crate::path::path_values;
use crate::value::{compare_natural, compare_typed, exists_compare, natural, op_holds};

/// Whether the row satisfies the condition (two-valued logic).
pub(crate) fn holds<'c>(
    ctx: &'c Ctx<'_, '_>,
    cond: &Condition,
    tuple: &Tuple<'c>,
    row: &Row<'c>,
) -> Result<bool, OracleError> {
    match cond {
        Condition::Compare { left, op, right } => match (left, right) {
            (Operand::Path(p), Operand::Value(v)) => compare_path(ctx, p, *op, v, tuple, row),
            (Operand::Value(v), Operand::Path(p)) => {
                compare_path(ctx, p, op.mirrored(), v, tuple, row)
            }
            _ => {
                let (l, l_const) = operand(ctx, left, tuple, row)?;
                let (r, r_const) = operand(ctx, right, tuple, row)?;
                // Typed by the constant side; by the left value when both are paths.
                let typed_by_right = r_const || !l_const;
                let l: Vec<&Value> = l.iter().map(AsRef::as_ref).collect();
                let r: Vec<&Value> = r.iter().map(AsRef::as_ref).collect();
                Ok(exists_compare(&l, *op, &r, typed_by_right))
            }
        },
        Condition::Like { path, pattern } => {
            let Some(pattern) = pattern else {
                return Ok(false);
            };
            Ok(path_values(ctx, path, tuple, row)?
                .iter()
                .any(|v| v.as_str().is_some_and(|s| pattern.matches(s))))
        }
        Condition::Matches { path, values } => {
            for w in values {
                if compare_path(ctx, path, ComparisonOp::Eq, w, tuple, row)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Condition::Exists(path) => Ok(!path_values(ctx, path, tuple, row)?.is_empty()),
        Condition::Not(inner) => Ok(!holds(ctx, inner, tuple, row)?),
        Condition::And(items) => all(items, |i| holds(ctx, i, tuple, row)),
        Condition::Or(items) => any(items, |i| holds(ctx, i, tuple, row)),
    }
}

/// Whether some value of the path compares `op` with the value, typed by the value.
fn compare_path<'c>(
    ctx: &'c Ctx<'_, '_>,
    p: &Path,
    op: ComparisonOp,
    value: &Value,
    tuple: &Tuple<'c>,
    row: &Row<'c>,
) -> Result<bool, OracleError> {
    let values = path_values(ctx, p, tuple, row)?;
    if compares_object_id(ctx.b, p, value) {
        // The object id part of the version uid.
        return Ok(values.iter().any(|v| {
            let id = v.as_str().map(|s| s.split("::").next().unwrap_or(s));
            id.is_some_and(|id| op_holds(op, id.cmp(value.as_str().unwrap_or_default())))
        }));
    }
    let ordered = p.types.may_be_ordered();
    Ok(values.iter().any(|v| {
        if ordered {
            compare_natural(v, op, value)
        } else {
            compare_typed(v, value, value).is_some_and(|ord| op_holds(op, ord))
        }
    }))
}

/// The values of an operand (paths by their natural value), and whether it is a constant.
fn operand<'c>(
    ctx: &'c Ctx<'_, '_>,
    op: &Operand,
    tuple: &Tuple<'c>,
    row: &Row<'c>,
) -> Result<(Vec<Cow<'c, Value>>, bool), OracleError> {
    match op {
        Operand::Value(v) => Ok((vec![Cow::Owned(v.clone())], true)),
        Operand::Path(p) => {
            let ordered = p.types.may_be_ordered();
            Ok((
                path_values(ctx, p, tuple, row)?
                    .into_iter()
                    .map(|v| {
                        if ordered {
                            Cow::Owned(natural(v))
                        } else {
                            Cow::Borrowed(v)
                        }
                    })
                    .collect(),
                false,
            ))
        }
        Operand::Function(f) => Err(OracleError::Unsupported(format!("function {}", f.ast.name))),
    }
}
