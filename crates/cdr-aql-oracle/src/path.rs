//! Paths and predicates: the list of JSON values a path reaches, and whether an object
//! satisfies a predicate.

use cdr_aql::ast::{
    ArchetypeRef, NodeName, ObjectPath, PathStep, Predicate, PredicateKind, PredicateOperand,
    StandardPredicate,
};
use cdr_aql_bind::{Archetype, Path};
use serde_json::Value;

use crate::context::{all, any, Bound, Ctx, Row, Tuple};
use crate::error::OracleError;
use crate::value::{exists_compare, literal_json};

/// The values a bound path reaches in a row: from the element of the row node it is bound to,
/// or from its variable's object; empty when either is missing.
pub(crate) fn path_values<'c>(
    ctx: &'c Ctx<'_, '_>,
    path: &Path,
    tuple: &Tuple<'c>,
    row: &Row<'c>,
) -> Result<Vec<&'c Value>, OracleError> {
    let steps: Vec<&PathStep> = path.rest().iter().map(|s| s.ast).collect();
    let (start, steps) = match path.anchor {
        Some(a) => match row.elems[a.row] {
            Some(e) => (e, &steps[..]),
            None => return Ok(Vec::new()),
        },
        None => {
            let Some(bound) = tuple[path.var] else {
                return Ok(Vec::new());
            };
            let root = ctx.object(bound);
            if let Some(p) = &path.ast.predicate {
                if !predicate_holds(ctx, p, root)? {
                    return Ok(Vec::new());
                }
            }
            match start_of(ctx, bound, &steps) {
                Some(start) => start,
                None => return Ok(Vec::new()),
            }
        }
    };
    steps_from(ctx, steps, start)
}

/// Where steps that begin at a variable's object start: at the object, except that an EHR's
/// `ehr_status/…` starts at the EHR's current EHR_STATUS (`None` without one), not at the
/// reference the EHR's JSON holds.
pub(crate) fn start_of<'c, 's>(
    ctx: &'c Ctx<'_, '_>,
    bound: Bound<'c>,
    steps: &'s [&'s PathStep],
) -> Option<(&'c Value, &'s [&'s PathStep])> {
    match (bound, steps.first()) {
        (Bound::Ehr(e), Some(first))
            if first.attribute.name == "ehr_status" && first.predicate.is_none() =>
        {
            Some((ctx.data.ehrs[e].ehr_status.current_document()?, &steps[1..]))
        }
        _ => Some((ctx.object(bound), steps)),
    }
}

/// The values `steps` reach from `start`.
pub(crate) fn steps_from<'v>(
    ctx: &Ctx<'_, '_>,
    steps: &[&PathStep],
    start: &'v Value,
) -> Result<Vec<&'v Value>, OracleError> {
    let mut current = vec![start];
    for step in steps {
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

/// Whether an object has the archetype (and name) of a class's archetype predicate.
pub(crate) fn archetype_holds(ctx: &Ctx, a: Option<&Archetype>, node: &Value) -> bool {
    let _ = ctx;
    let Some(a) = a else { return true };
    let named = match &a.name {
        None => true,
        Some(wanted) => node.get("name").and_then(|n| n.get("value")) == Some(wanted),
    };
    named && node_id_is(node, &a.id)
}

/// The values `a/b[pred]/...` reaches from `start`: each step takes the attribute (every element
/// of an array), then keeps what matches the step's predicate. JSON nulls count as absent.
pub(crate) fn object_path<'v>(
    ctx: &Ctx<'_, '_>,
    path: &ObjectPath,
    start: &'v Value,
) -> Result<Vec<&'v Value>, OracleError> {
    let steps: Vec<&PathStep> = path.steps.iter().collect();
    steps_from(ctx, &steps, start)
}

/// Whether `node` satisfies the predicate.
pub(crate) fn predicate_holds(
    ctx: &Ctx<'_, '_>,
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
    ctx: &Ctx<'_, '_>,
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
fn name_holds(
    ctx: &Ctx<'_, '_>,
    name: Option<&NodeName>,
    node: &Value,
) -> Result<bool, OracleError> {
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
