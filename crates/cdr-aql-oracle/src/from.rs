//! FROM: the binding tuples a bound containment expression denotes.

use cdr_aql::ast::{Predicate, PredicateKind};
use cdr_aql_bind::{Class, From, VarId, VersionOf};
use cdr_rm::meta::RmType;
use serde_json::Value;

use crate::context::{check_size, Bound, Ctx, Obj, Tuple};
use crate::error::OracleError;
use crate::path::{archetype_holds, predicate_holds, standard_holds};

/// What a class expression's candidates must lie inside.
#[derive(Debug, Clone, Copy)]
enum Scope<'c> {
    /// Not below anything: every EHR.
    Root,
    /// Inside this EHR.
    Ehr(usize),
    /// Inside this version.
    Version { ehr: usize, obj: Obj, ver: usize },
    /// Inside this FOLDER (and what it files) of EHR `ehr`'s directory.
    Folder { ehr: usize, node: &'c Value },
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
        Bound::Version { ehr, obj, ver } => Scope::Version { ehr, obj, ver },
        Bound::Folder { ehr, node } => Scope::Folder { ehr, node },
        Bound::Node(v) => Scope::Node(v),
    }
}

/// The EHRs a scope lies in (none inside a version or an object).
fn ehrs(ctx: &Ctx, scope: Scope) -> std::ops::Range<usize> {
    match scope {
        Scope::Root => 0..ctx.data.ehrs.len(),
        Scope::Ehr(e) => e..e + 1,
        Scope::Version { .. } | Scope::Folder { .. } | Scope::Node(_) => 0..0,
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
            return versions(ctx, *all, *of, *predicate, scope);
        }
        Class::Ehr => (0..ctx.data.ehrs.len()).map(Bound::Ehr).collect(),
        Class::EhrStatus => match scope {
            Scope::Version { ehr, obj, ver } => ctx.versioned(ehr, obj).versions[ver]
                .document
                .iter()
                .map(Bound::Node)
                .collect(),
            _ => ehrs(ctx, scope)
                .filter_map(|e| ctx.data.ehrs[e].ehr_status.current_document())
                .map(Bound::Node)
                .collect(),
        },
        Class::Folder => {
            let mut out = Vec::new();
            match scope {
                Scope::Folder { ehr, node } => {
                    let mut inside = Vec::new();
                    descendants(node, &mut inside);
                    out.extend(folders(inside).map(|node| Bound::Folder { ehr, node }));
                }
                _ => {
                    for ehr in ehrs(ctx, scope) {
                        let directory = ctx.data.ehrs[ehr].directory.as_ref();
                        let Some(root) = directory.and_then(|d| d.current_document()) else {
                            continue;
                        };
                        let mut all = vec![root];
                        descendants(root, &mut all);
                        out.extend(folders(all).map(|node| Bound::Folder { ehr, node }));
                    }
                }
            }
            out
        }
        Class::Composition | Class::Object(_) => {
            let class = var.class.rm_type().unwrap_or(RmType::Composition);
            let mut objects = Vec::new();
            for doc in documents(ctx, scope, var.with_status) {
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
/// current compositions of every EHR or one EHR (and its current EHR_STATUS, `with_status`),
/// those a folder files, one version's document, or the object.
fn documents<'c>(ctx: &'c Ctx<'_, '_>, scope: Scope<'c>, with_status: bool) -> Vec<&'c Value> {
    let mut out = Vec::new();
    match scope {
        Scope::Version { ehr, obj, ver } => {
            out.extend(ctx.versioned(ehr, obj).versions[ver].document.as_ref());
        }
        Scope::Folder { ehr, node } => {
            let filed = filed(node);
            for vo in &ctx.data.ehrs[ehr].compositions {
                if filed.contains(&vo.id.as_str()) {
                    out.extend(vo.current_document());
                }
            }
        }
        Scope::Node(v) => out.push(v),
        Scope::Root | Scope::Ehr(_) => {
            for e in ehrs(ctx, scope) {
                let ehr = &ctx.data.ehrs[e];
                out.extend(
                    ehr.compositions
                        .iter()
                        .filter_map(|vo| vo.current_document()),
                );
                if with_status {
                    out.extend(ehr.ehr_status.current_document());
                }
            }
        }
    }
    out
}

/// The FOLDER objects among `objects`.
fn folders(objects: Vec<&Value>) -> impl Iterator<Item = &Value> {
    objects
        .into_iter()
        .filter(|o| o.get("_type").and_then(Value::as_str) == Some("FOLDER"))
}

/// The versioned object ids a folder or a folder below it lists in `items` (the object id
/// part of a version uid).
fn filed(folder: &Value) -> Vec<&str> {
    let mut all = vec![folder];
    descendants(folder, &mut all);
    folders(all)
        .filter_map(|f| f.get("items").and_then(Value::as_array))
        .flatten()
        .filter_map(|item| item.get("id")?.get("value")?.as_str())
        .map(|id| id.split("::").next().unwrap_or(id))
        .collect()
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

/// The versions a VERSION variable ranges over within `scope`: of compositions (those a
/// folder files, below a FOLDER) or of EHR_STATUS.
fn versions<'c>(
    ctx: &'c Ctx<'_, '_>,
    all: bool,
    of: VersionOf,
    predicate: Option<&cdr_aql::ast::StandardPredicate>,
    scope: Scope<'c>,
) -> Result<Vec<Bound<'c>>, OracleError> {
    let mut objects: Vec<(usize, Obj)> = Vec::new();
    match (scope, of) {
        (Scope::Folder { ehr, node }, VersionOf::Composition) => {
            let filed = filed(node);
            let comps = &ctx.data.ehrs[ehr].compositions;
            objects.extend(
                (0..comps.len())
                    .filter(|&c| filed.contains(&comps[c].id.as_str()))
                    .map(|c| (ehr, Obj::Composition(c))),
            );
        }
        (_, VersionOf::Composition) => {
            for ehr in ehrs(ctx, scope) {
                let n = ctx.data.ehrs[ehr].compositions.len();
                objects.extend((0..n).map(|c| (ehr, Obj::Composition(c))));
            }
        }
        (_, VersionOf::EhrStatus) => {
            objects.extend(ehrs(ctx, scope).map(|ehr| (ehr, Obj::EhrStatus)));
        }
    }
    let mut out = Vec::new();
    for (ehr, obj) in objects {
        let history = ctx.versioned(ehr, obj);
        // A standard predicate selects among all versions, like ALL_VERSIONS.
        let chosen: Vec<usize> = if all {
            (0..history.versions.len())
                .filter(|&v| history.versions[v].document.is_some())
                .collect()
        } else {
            history.current().into_iter().collect()
        };
        for ver in chosen {
            let b = Bound::Version { ehr, obj, ver };
            let keep = match predicate {
                Some(sp) => standard_holds(ctx, sp, ctx.object(b))?,
                None => true,
            };
            if keep {
                out.push(b);
            }
        }
    }
    Ok(out)
}
