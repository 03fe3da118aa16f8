//! WHERE: whether a binding tuple satisfies the condition.

use std::borrow::Cow;

use cdr_aql::ast::{LikePattern, MatchesOperand, Operand, WhereExpr, WhereKind};
use serde_json::Value;

use crate::context::{all, any, Ctx, Tuple};
use crate::error::OracleError;
use crate::like::like;
use crate::path::identified_path;
use crate::value::{compare_typed, exists_compare, literal_json};

/// Whether the tuple satisfies the condition (two-valued logic).
pub(crate) fn holds<'c>(
    ctx: &'c Ctx<'_>,
    cond: &WhereExpr,
    tuple: &Tuple<'c>,
) -> Result<bool, OracleError> {
    match &cond.kind {
        WhereKind::Comparison { left, op, right } => {
            let (l, l_const) = operand(ctx, left, tuple)?;
            let (r, r_const) = operand(ctx, right, tuple)?;
            // Typed by the constant side; by the left value when both are paths.
            let typed_by_right = r_const || !l_const;
            let l: Vec<&Value> = l.iter().map(AsRef::as_ref).collect();
            let r: Vec<&Value> = r.iter().map(AsRef::as_ref).collect();
            Ok(exists_compare(&l, *op, &r, typed_by_right))
        }
        WhereKind::Like { left, pattern } => {
            let pattern = match pattern {
                LikePattern::String(s) => s.value.as_str(),
                LikePattern::Parameter(p) => match ctx.param(&p.name)? {
                    Value::String(s) => s.as_str(),
                    _ => return Ok(false),
                },
            };
            let (values, _) = operand(ctx, left, tuple)?;
            Ok(values
                .iter()
                .any(|v| v.as_str().is_some_and(|s| like(s, pattern))))
        }
        WhereKind::Matches { left, operand: m } => {
            let MatchesOperand::List(list) = m else {
                return Err(OracleError::Unsupported(format!("MATCHES {m}")));
            };
            let (values, _) = operand(ctx, left, tuple)?;
            for item in &list.items {
                let (wanted, _) = operand(ctx, item, tuple)?;
                // A parameter given as an array stands for its items.
                let wanted = wanted.iter().flat_map(|w| match w.as_ref() {
                    Value::Array(items) => items.iter().collect::<Vec<_>>(),
                    one => vec![one],
                });
                for w in wanted {
                    if values
                        .iter()
                        .any(|v| compare_typed(v, w, w) == Some(std::cmp::Ordering::Equal))
                    {
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        }
        WhereKind::Exists(path) => Ok(!identified_path(ctx, path, tuple)?.is_empty()),
        WhereKind::Not(inner) => Ok(!holds(ctx, inner, tuple)?),
        WhereKind::And(items) => all(items, |i| holds(ctx, i, tuple)),
        WhereKind::Or(items) => any(items, |i| holds(ctx, i, tuple)),
    }
}

/// The values of an operand, and whether it is a constant (literal or parameter).
fn operand<'c>(
    ctx: &'c Ctx<'_>,
    op: &Operand,
    tuple: &Tuple<'c>,
) -> Result<(Vec<Cow<'c, Value>>, bool), OracleError> {
    match op {
        Operand::Literal(l) => Ok((vec![Cow::Owned(literal_json(&l.value))], true)),
        Operand::Parameter(p) => Ok((vec![Cow::Borrowed(ctx.param(&p.name)?)], true)),
        Operand::Path(p) => Ok((
            identified_path(ctx, p, tuple)?
                .into_iter()
                .map(Cow::Borrowed)
                .collect(),
            false,
        )),
        Operand::Function(f) => Err(OracleError::Unsupported(format!("function {}", f.name))),
        Operand::Terminology(t) => Err(OracleError::Unsupported(t.to_string())),
    }
}
