//! FROM: the binding tuples a containment expression denotes.

use cdr_aql::ast::{ClassExpr, Containment, ContainmentKind, VersionPredicateKind};
use serde_json::Value;

use crate::context::{check_size, Bound, Ctx, Tuple};
use crate::error::OracleError;
use crate::model::Dataset;
use crate::path::{predicate_holds, standard_holds};

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

/// The variables the FROM clause declares, in order.
pub(crate) fn variables(from: &Containment) -> Result<Vec<String>, OracleError> {
    fn walk(c: &Containment, out: &mut Vec<String>) -> Result<(), OracleError> {
        let declare = |class: &ClassExpr, out: &mut Vec<String>| {
            if let Some(v) = class.variable() {
                if out.contains(&v.name) {
                    return Err(OracleError::DuplicateVariable(v.name.clone()));
                }
                out.push(v.name.clone());
            }
            Ok(())
        };
        match &c.kind {
            ContainmentKind::Class(class) => declare(class, out),
            ContainmentKind::Contains { outer, inner, .. } => {
                declare(outer, out)?;
                walk(inner, out)
            }
            ContainmentKind::And(items) | ContainmentKind::Or(items) => {
                items.iter().try_for_each(|i| walk(i, out))
            }
        }
    }
    let mut out = Vec::new();
    walk(from, &mut out)?;
    Ok(out)
}

/// Every binding tuple that satisfies the FROM clause.
pub(crate) fn bindings<'c>(
    ctx: &'c Ctx<'_>,
    from: &Containment,
) -> Result<Vec<Tuple<'c>>, OracleError> {
    eval(ctx, from, Scope::Root)
}

fn eval<'c>(
    ctx: &'c Ctx<'_>,
    c: &Containment,
    scope: Scope<'c>,
) -> Result<Vec<Tuple<'c>>, OracleError> {
    match &c.kind {
        ContainmentKind::Class(class) => candidates(ctx, class, scope)?
            .into_iter()
            .map(|b| bind(ctx, class, b, vec![None; ctx.vars.len()]))
            .collect(),
        ContainmentKind::Contains {
            outer,
            negated,
            inner,
        } => {
            let mut out = Vec::new();
            for b in candidates(ctx, outer, scope)? {
                let inside = eval(ctx, inner, scope_of(b))?;
                if *negated {
                    if inside.is_empty() {
                        out.push(bind(ctx, outer, b, vec![None; ctx.vars.len()])?);
                    }
                } else {
                    for t in inside {
                        out.push(bind(ctx, outer, b, t)?);
                    }
                }
                check_size(out.len())?;
            }
            Ok(out)
        }
        ContainmentKind::And(items) => {
            let mut parts = Vec::new();
            for item in items {
                parts.push(eval(ctx, item, scope)?);
            }
            product(parts)
        }
        ContainmentKind::Or(items) => {
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

/// Sets the class's variable (if it has one) to `b` in `t`.
fn bind<'c>(
    ctx: &Ctx<'_>,
    class: &ClassExpr,
    b: Bound<'c>,
    mut t: Tuple<'c>,
) -> Result<Tuple<'c>, OracleError> {
    if let Some(v) = class.variable() {
        t[ctx.slot(&v.name)?] = Some(b);
    }
    Ok(t)
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

/// Classes the oracle does not define.
const UNSUPPORTED_CLASSES: [&str; 8] = [
    "EHR_STATUS",
    "EHR_ACCESS",
    "FOLDER",
    "CONTRIBUTION",
    "VERSIONED_OBJECT",
    "VERSIONED_COMPOSITION",
    "VERSIONED_EHR_STATUS",
    "VERSIONED_FOLDER",
];

/// The objects a class expression ranges over within `scope`, its predicate applied.
fn candidates<'c>(
    ctx: &'c Ctx<'_>,
    class: &ClassExpr,
    scope: Scope<'c>,
) -> Result<Vec<Bound<'c>>, OracleError> {
    let rm = match class {
        ClassExpr::Version(vc) => return versions(ctx, vc, scope),
        ClassExpr::Rm(rm) => rm,
    };
    let rm_type = rm.rm_type.name.as_str();
    if UNSUPPORTED_CLASSES.contains(&rm_type) {
        return Err(OracleError::Unsupported(format!("class {rm_type}")));
    }
    let found: Vec<Bound<'c>> = if rm_type == "EHR" {
        if !matches!(scope, Scope::Root) {
            return Err(OracleError::Unsupported("EHR below another class".into()));
        }
        (0..ctx.data.ehrs.len()).map(Bound::Ehr).collect()
    } else {
        let mut objects = Vec::new();
        for doc in documents(ctx, scope) {
            if rm_type == "COMPOSITION" && !matches!(scope, Scope::Node(_)) {
                objects.push(doc);
            } else {
                descendants(doc, &mut objects);
            }
        }
        objects
            .into_iter()
            .filter(|o| conforms(o.get("_type").and_then(Value::as_str), rm_type))
            .map(Bound::Node)
            .collect()
    };
    let mut out = Vec::new();
    for b in found {
        let keep = match &rm.predicate {
            Some(p) => predicate_holds(ctx, p, ctx.object(b))?,
            None => true,
        };
        if keep {
            out.push(b);
        }
    }
    Ok(out)
}

/// The JSON whose descendants (or itself, for COMPOSITION) are candidates in `scope`: the
/// current compositions of every EHR or one EHR, one version's composition, or the object.
fn documents<'c>(ctx: &'c Ctx<'_>, scope: Scope<'c>) -> Vec<&'c Value> {
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

/// Whether an object of RM type `actual` is an instance of `class`.
fn conforms(actual: Option<&str>, class: &str) -> bool {
    let Some(actual) = actual else {
        return false;
    };
    let members: &[&str] = match class {
        "ENTRY" => &[
            "OBSERVATION",
            "EVALUATION",
            "INSTRUCTION",
            "ACTION",
            "ADMIN_ENTRY",
            "GENERIC_ENTRY",
        ],
        "CARE_ENTRY" => &["OBSERVATION", "EVALUATION", "INSTRUCTION", "ACTION"],
        "EVENT" => &["EVENT", "POINT_EVENT", "INTERVAL_EVENT"],
        "ITEM_STRUCTURE" => &["ITEM_TREE", "ITEM_LIST", "ITEM_SINGLE", "ITEM_TABLE"],
        "ITEM" => &["CLUSTER", "ELEMENT"],
        _ => return actual == class,
    };
    members.contains(&actual)
}

/// The versions a VERSION class expression ranges over within `scope`.
fn versions<'c>(
    ctx: &'c Ctx<'_>,
    vc: &cdr_aql::ast::VersionClassExpr,
    scope: Scope<'c>,
) -> Result<Vec<Bound<'c>>, OracleError> {
    let ehrs = match scope {
        Scope::Root => 0..ctx.data.ehrs.len(),
        Scope::Ehr(e) => e..e + 1,
        Scope::Version { .. } | Scope::Node(_) => {
            return Err(OracleError::Unsupported(
                "VERSION below a version or an object".into(),
            ))
        }
    };
    let kind = vc.predicate.as_ref().map(|p| &p.kind);
    // A standard predicate selects among all versions, like ALL_VERSIONS (SEMANTICS.md).
    let all = matches!(
        kind,
        Some(VersionPredicateKind::AllVersions | VersionPredicateKind::Standard(_))
    );
    let mut out = Vec::new();
    for ehr in ehrs {
        for (comp, history) in ctx.data.ehrs[ehr].compositions.iter().enumerate() {
            let chosen: Vec<usize> = if all {
                (0..history.versions.len())
                    .filter(|&v| history.versions[v].document.is_some())
                    .collect()
            } else {
                Dataset::current(history).into_iter().collect()
            };
            for ver in chosen {
                let b = Bound::Version { ehr, comp, ver };
                let keep = match kind {
                    Some(VersionPredicateKind::Standard(sp)) => {
                        standard_holds(ctx, sp, ctx.object(b))?
                    }
                    _ => true,
                };
                if keep {
                    out.push(b);
                }
            }
        }
    }
    Ok(out)
}
