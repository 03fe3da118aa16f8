//! FROM: the binding tuples a bound containment expression denotes.

use cdr_aql::ast::{Predicate, PredicateKind};
use cdr_aql_bind::{Class, From, VarId, VersionOf};
use cdr_rm::meta::RmType;
use serde_json::Value;

use crate::context::{check_size, Bound, Ctx, Tuple};
use crate::error::OracleError;
use crate::model::Dataset;
use crate::path::{archetype_holds, predicate_holds, standard_holds};

/// What a class expression's candidates must lie inside.
#[derive(Debug, Clone, Copy)]
enum Scope<'c> {
    /// Not below anything: every EHR.
    Root,
    /// Inside this EHR.
    Ehr(usize),
    /// Inside this composition version.
    Version { ehr: usize, comp: usize, ver: usize },
    /// Strictly inside this object.
    Node(&'c Value),
}

/// Every binding tuple that satisfies the FROM clause.
pub(crate) fn bindings<'c>(
    ctx: &'c Ctx<'_, '_>,
    from: &From,
) -> Result<Vec<Tuple<'c>>, OracleError> {
    eval(ctx, from, Scope::Root)
}

fn eval<'c>(
    ctx: &'c Ctx<'_, '_>,
    c: &From,
    scope: Scope<'c>,
) -> Result<Vec<Tuple<'c>>, OracleError> {
    let empty = || vec![None; ctx.b.vars.len()];
    match c {
        From::Var(v) => Ok(candidates(ctx, *v, scope)?
            .into_iter()
            .map(|b| bind(*v, b, empty()))
            .collect()),
        From::Contains {
            outer,
            negated,
            inner,
        } => {
            let mut out = Vec::new();
            for b in candidates(ctx, *outer, scope)? {
                let inside = eval(ctx, inner, scope_of(b))?;
                if *negated {
                    if inside.is_empty() {
                        out.push(bind(*outer, b, empty()));
                    }
                } else {
                    for t in inside {
                        out.push(bind(*outer, b, t));
                    }
                }
                check_size(out.len())?;
            }
            Ok(out)
        }
        From::And(items) => {
            let mut parts = Vec::new();
            for item in items {
                parts.push(eval(ctx, item, scope)?);
            }
            product(parts)
        }
        From::Or(items) => {
            let mut parts = Vec::new();
            for item in items {
                let part = eval(ctx, item, scope)?;
                if !part.is_empty() {
                    parts.push(part);
                }
            }
            if parts.is_empty() {
                return Ok(Vec::new());
            }
            product(parts)
        }
    }
}

fn bind<'c>(v: VarId, b: Bound<'c>, mut t: Tuple<'c>) -> Tuple<'c> {
    t[v] = Some(b);
    t
}

/// Every combination of one tuple from each part (parts bind disjoint variables).
fn product<'c>(parts: Vec<Vec<Tuple<'c>>>) -> Result<Vec<Tuple<'c>>, OracleError> {
    let mut parts = parts.into_iter();
    let Some(mut acc) = parts.next() else {
        return Ok(Vec::new());
    };
    for part in parts {
        check_size(acc.len().saturating_mul(part.len()))?;
        let mut next = Vec::with_capacity(acc.len() * part.len());
        for a in &acc {
            for p in &part {
                next.push(a.iter().zip(p).map(|(x, y)| x.or(*y)).collect());
            }
        }
        acc = next;
    }
    Ok(acc)
}

fn scope_of(b: Bound<'_>) -> Scope<'_> {
    match b {
        Bound::Ehr(e) => Scope::Ehr(e),
        Bound::Version { ehr, comp, ver } => Scope::Version { ehr, comp, ver },
        Bound::Node(v) => Scope::Node(v),
    }
}

/// The objects a variable ranges over within `scope`, its predicates applied.
fn candidates<'c>(
    ctx: &'c Ctx<'_, '_>,
    v: VarId,
    scope: Scope<'c>,
) -> Result<Vec<Bound<'c>>, OracleError> {
    let var = &ctx.b.vars[v];
    if var.impossible {
        return Ok(Vec::new());
    }
    let found: Vec<Bound<'c>> = match &var.class {
        Class::Version { all, of, predicate } => {
            if *of == VersionOf::EhrStatus {
                return Err(OracleError::Unsupported("versions of EHR_STATUS".into()));
            }
            return versions(ctx, *all, *predicate, scope);
        }
        Class::EhrStatus => return Err(OracleError::Unsupported("class EHR_STATUS".into())),
        Class::Folder => return Err(OracleError::Unsupported("class FOLDER".into())),
        Class::Ehr => (0..ctx.data.ehrs.len()).map(Bound::Ehr).collect(),
        Class::Composition | Class::Object(_) => {
            let class = var.class.rm_type().unwrap_or(RmType::Composition);
            let mut objects = Vec::new();
            for doc in documents(ctx, scope) {
                if var.class == Class::Composition && !matches!(scope, Scope::Node(_)) {
                    objects.push(doc);
                } else {
                    descendants(doc, &mut objects);
                }
            }
            objects
                .into_iter()
                .filter(|o| conforms(o, class))
                .map(Bound::Node)
                .collect()
        }
    };
    let mut out = Vec::new();
    for b in found {
        let object = ctx.object(b);
        let keep = archetype_holds(ctx, var.archetype.as_ref(), object)
            && match var.predicate {
                Some(p) => class_predicate_holds(ctx, p, object)?,
                None => true,
            };
        if keep {
            out.push(b);
        }
    }
    Ok(out)
}

/// A class predicate on a candidate (an EHR's `[ehr_id/value = X]` compares its id).
fn class_predicate_holds(ctx: &Ctx, p: &Predicate, object: &Value) -> Result<bool, OracleError> {
    match &p.kind {
        PredicateKind::Standard(sp) => standard_holds(ctx, sp, object),
        _ => predicate_holds(ctx, p, object),
    }
}

/// Whether a JSON object's `_type` is an RM class conforming to `class`.
fn conforms(o: &Value, class: RmType) -> bool {
    o.get("_type")
        .and_then(Value::as_str)
        .and_then(RmType::parse)
        .is_some_and(|t| t.conforms_to(class))
}

/// The JSON whose descendants (or itself, for COMPOSITION) are candidates in `scope`: the
/// current compositions of every EHR or one EHR, one version's composition, or the object.
fn documents<'c>(ctx: &'c Ctx<'_, '_>, scope: Scope<'c>) -> Vec<&'c Value> {
    let ehrs = match scope {
        Scope::Root => 0..ctx.data.ehrs.len(),
        Scope::Ehr(e) => e..e + 1,
        Scope::Version { ehr, comp, ver } => {
            return ctx.data.ehrs[ehr].compositions[comp].versions[ver]
                .document
                .iter()
                .collect();
        }
        Scope::Node(v) => return vec![v],
    };
    let mut out = Vec::new();
    for ehr in &ctx.data.ehrs[ehrs] {
        for vc in &ehr.compositions {
            if let Some(v) = Dataset::current(vc) {
                out.extend(vc.versions[v].document.as_ref());
            }
        }
    }
    out
}

/// Every object strictly inside `v`, in document order.
fn descendants<'v>(v: &'v Value, out: &mut Vec<&'v Value>) {
    let children: Box<dyn Iterator<Item = &'v Value>> = match v {
        Value::Object(m) => Box::new(m.values()),
        Value::Array(a) => Box::new(a.iter()),
        _ => return,
    };
    for child in children {
        if child.is_object() {
            out.push(child);
        }
        descendants(child, out);
    }
}

/// The versions a VERSION variable ranges over within `scope`.
fn versions<'c>(
    ctx: &'c Ctx<'_, '_>,
    all: bool,
    predicate: Option<&cdr_aql::ast::StandardPredicate>,
    scope: Scope<'c>,
) -> Result<Vec<Bound<'c>>, OracleError> {
    let ehrs = match scope {
        Scope::Root => 0..ctx.data.ehrs.len(),
        Scope::Ehr(e) => e..e + 1,
        Scope::Version { .. } | Scope::Node(_) => return Ok(Vec::new()),
    };
    let mut out = Vec::new();
    for ehr in ehrs {
        for (comp, history) in ctx.data.ehrs[ehr].compositions.iter().enumerate() {
            // A standard predicate selects among all versions, like ALL_VERSIONS.
            let chosen: Vec<usize> = if all {
                (0..history.versions.len())
                    .filter(|&v| history.versions[v].document.is_some())
                    .collect()
            } else {
                Dataset::current(history).into_iter().collect()
            };
            for ver in chosen {
                let b = Bound::Version { ehr, comp, ver };
                let keep = match predicate {
                    Some(sp) => standard_holds(ctx, sp, ctx.object(b))?,
                    None => true,
                };
                if keep {
                    out.push(b);
                }
            }
        }
    }
    Ok(out)
}
