//! Paths and predicates: the list of JSON values a path reaches, and whether an object
//! satisfies a predicate.

use cdr_aql::ast::{
    ArchetypeRef, IdentifiedPath, NodeName, ObjectPath, Predicate, PredicateKind, PredicateOperand,
    StandardPredicate,
};
use serde_json::Value;

use crate::context::{all, any, Ctx, Tuple};
use crate::error::OracleError;
use crate::value::{exists_compare, literal_json};

/// The values `var[pred]/a/b[pred]/...` reaches in a binding tuple; empty when the variable is
/// unbound.
pub(crate) fn identified_path<'c>(
    ctx: &'c Ctx<'_>,
    path: &IdentifiedPath,
    tuple: &Tuple<'c>,
) -> Result<Vec<&'c Value>, OracleError> {
    let slot = ctx.slot(&path.variable.name)?;
    let Some(bound) = tuple[slot] else {
        return Ok(Vec::new());
    };
    let root = ctx.object(bound);
    if let Some(p) = &path.predicate {
        if !predicate_holds(ctx, p, root)? {
            return Ok(Vec::new());
        }
    }
    match &path.path {
        Some(steps) => object_path(ctx, steps, root),
        None => Ok(vec![root]),
    }
}

/// The values `a/b[pred]/...` reaches from `start`: each step takes the attribute (every element
/// of an array), then keeps what matches the step's predicate. JSON nulls count as absent.
pub(crate) fn object_path<'v>(
    ctx: &Ctx<'_>,
    path: &ObjectPath,
    start: &'v Value,
) -> Result<Vec<&'v Value>, OracleError> {
    let mut current = vec![start];
    for step in &path.steps {
        let mut next = Vec::new();
        for v in current {
            match v.get(&step.attribute.name) {
                Some(Value::Array(items)) => next.extend(items.iter().filter(|i| !i.is_null())),
                Some(Value::Null) | None => {}
                Some(child) => next.push(child),
            }
        }
        if let Some(p) = &step.predicate {
            let mut kept = Vec::new();
            for v in next {
                if predicate_holds(ctx, p, v)? {
                    kept.push(v);
                }
            }
            next = kept;
        }
        current = next;
    }
    Ok(current)
}

/// Whether `node` satisfies the predicate.
pub(crate) fn predicate_holds(
    ctx: &Ctx<'_>,
    pred: &Predicate,
    node: &Value,
) -> Result<bool, OracleError> {
    match &pred.kind {
        PredicateKind::Node(np) => {
            // The name first, so that an unsupported name fails on every candidate.
            let named = name_holds(ctx, np.name.as_ref(), node)?;
            Ok(named && node_id_is(node, &np.code.value))
        }
        PredicateKind::Archetype(ap) => {
            let id = match &ap.archetype {
                ArchetypeRef::Id(id) => id.value.as_str(),
                ArchetypeRef::Parameter(p) => match ctx.param(&p.name)? {
                    Value::String(s) => s.as_str(),
                    _ => return Ok(false),
                },
            };
            let named = name_holds(ctx, ap.name.as_ref(), node)?;
            Ok(named && node_id_is(node, id))
        }
        PredicateKind::Standard(sp) => standard_holds(ctx, sp, node),
        PredicateKind::Regex(rp) => {
            let pattern = rp.regex.pattern.replace("\\/", "/");
            let re = regex::Regex::new(&pattern)
                .map_err(|_| OracleError::InvalidRegex(rp.regex.pattern.clone()))?;
            Ok(object_path(ctx, &rp.path, node)?
                .iter()
                .any(|v| v.as_str().is_some_and(|s| re.is_match(s))))
        }
        PredicateKind::And(terms) => all(terms, |t| predicate_holds(ctx, t, node)),
        PredicateKind::Or(terms) => any(terms, |t| predicate_holds(ctx, t, node)),
    }
}

/// `[path op operand]` on `node`, existential like a WHERE comparison.
pub(crate) fn standard_holds(
    ctx: &Ctx<'_>,
    sp: &StandardPredicate,
    node: &Value,
) -> Result<bool, OracleError> {
    let left = object_path(ctx, &sp.path, node)?;
    let (right, typed_by_right): (Vec<Value>, bool) = match &sp.operand {
        PredicateOperand::Literal(l) => (vec![literal_json(&l.value)], true),
        PredicateOperand::Parameter(p) => (vec![ctx.param(&p.name)?.clone()], true),
        PredicateOperand::Archetype(a) => (vec![Value::String(a.value.clone())], true),
        PredicateOperand::Code(c) => (vec![Value::String(c.value.clone())], true),
        PredicateOperand::Path(p) => (
            object_path(ctx, p, node)?.into_iter().cloned().collect(),
            false,
        ),
    };
    let right: Vec<&Value> = right.iter().collect();
    Ok(exists_compare(&left, sp.op, &right, typed_by_right))
}

fn node_id_is(node: &Value, id: &str) -> bool {
    node.get("archetype_node_id").and_then(Value::as_str) == Some(id)
}

/// The name part of a node or archetype predicate: `name/value` equals the text.
fn name_holds(ctx: &Ctx<'_>, name: Option<&NodeName>, node: &Value) -> Result<bool, OracleError> {
    let wanted = match name {
        None => return Ok(true),
        Some(NodeName::String(s)) => s.value.as_str(),
        Some(NodeName::Parameter(p)) => match ctx.param(&p.name)? {
            Value::String(s) => s.as_str(),
            _ => return Ok(false),
        },
        Some(NodeName::TermCode(t)) => {
            return Err(OracleError::Unsupported(format!("coded name {t}")))
        }
        Some(NodeName::Code(c)) => return Err(OracleError::Unsupported(format!("coded name {c}"))),
    };
    let actual = node
        .get("name")
        .and_then(|n| n.get("value"))
        .and_then(Value::as_str);
    Ok(actual == Some(wanted))
}
