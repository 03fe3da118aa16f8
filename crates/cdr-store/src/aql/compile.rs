//! Binding and compilation of an AQL query to ONE parameterised SQL statement.
//!
//! Each FROM variable becomes rows of the store's tables or values inside a document:
//! - `EHR` → `ehr`;
//! - `VERSION` / `COMPOSITION` → `versioned_object` + `object_version` (current version unless
//!   `ALL_VERSIONS`);
//! - entries and other archetype roots → `node` rows (nested set: `CONTAINS` is a range test);
//! - everything else (ELEMENT, non-archetyped CLUSTER, HISTORY, EVENT, …) → objects found by a
//!   SQL/JSON path (`.**`) inside the enclosing variable's document or node subtree (a node
//!   row points into its version's document: `document #> pointer`).
//!
//! Paths become SQL/JSON path expressions evaluated with `jsonb_path_query`; WHERE comparisons
//! are existential (`EXISTS`), typed by the literal (see SEMANTICS.md). Every literal, parameter
//! and path is a bind parameter: the SQL text is made of fixed fragments and `$n` only.

use std::collections::HashMap;

use serde_json::Value;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use cdr_aql::ast::{
    AggregateArg, AggregateFunction, ClassExpr, ColumnExpr, ComparisonOp, Containment,
    ContainmentKind, FunctionCall, FunctionName, IdentifiedPath, LikePattern, MatchesOperand,
    Operand, Predicate, PredicateKind, PredicateOperand, Query, RmClassExpr, SortDirection,
    TemporalKind, TerminologyCall, VersionPredicate, VersionPredicateKind, WhereExpr, WhereKind,
};
use cdr_aql::Spanned;

use super::error::{QueryError, Result};
use super::jsonpath::JsonPath;
use super::{literal_json, Inputs};
use crate::ids::dict_id;

/// A bind parameter value.
pub(crate) type Param = Box<dyn ToSql + Sync + Send>;

/// The compiled statement.
pub(crate) struct Compiled {
    pub sql: String,
    pub params: Vec<Param>,
    /// Output columns (name, path); the statement returns them first, as JSON text.
    pub columns: Vec<(String, String)>,
    /// Every EHR-scoped table is constrained to given EHR ids.
    pub ehr_bound: bool,
}

#[derive(Default)]
struct Params(Vec<Param>);

impl Params {
    fn push<T: ToSql + Sync + Send + 'static>(&mut self, v: T) -> String {
        self.0.push(Box::new(v));
        format!("${}", self.0.len())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ehr,
    /// A FOLDER of an EHR's directory (current version).
    Folder,
    Version,
    Composition,
    Node,
    Object,
}

/// A bound FROM variable: SQL expressions for its facets, valid in the scope it was bound in.
#[derive(Debug, Clone)]
struct Var {
    kind: Kind,
    /// For node variables bound by archetype id: that id (not SQL; for leaf path ids).
    archetype: Option<String>,
    /// Facet name → SQL expression (`ehr`, `vo`, `num`, `cap`, `value` (jsonb), `text`
    /// (output JSON text), `status`).
    facets: Vec<(&'static str, String)>,
}

impl Var {
    fn get(&self, facet: &str) -> Option<&str> {
        self.facets
            .iter()
            .find(|(k, _)| *k == facet)
            .map(|(_, v)| v.as_str())
    }

    fn facet(&self, facet: &str) -> &str {
        self.get(facet).unwrap_or("NULL")
    }
}

/// Where an operand is compiled: a WHERE comparison (paths become value sets it ranges
/// over) or the SELECT list (paths become selected columns of `scope`).
enum ExprContext<'s> {
    Where(&'s mut Vec<String>),
    Select(&'s mut Scope),
}

/// One FROM list and its conditions.
#[derive(Default)]
struct Scope {
    /// FROM items: (SQL, joined laterally).
    items: Vec<(String, bool)>,
    wheres: Vec<String>,
    /// Tables the query may not need, dropped at the end when nothing mentions them.
    optional: Vec<Optional>,
}

/// A table joined only for what it might provide: its FROM item, the conditions that only
/// join it, and an expression that stands in for one of its columns when it is dropped.
struct Optional {
    alias: String,
    item: usize,
    own: Vec<usize>,
    substitute: Option<(String, String)>,
}

impl Scope {
    fn cross(&mut self, item: String) {
        self.items.push((item, false));
    }

    fn left_lateral(&mut self, item: String) {
        self.items.push((item, true));
    }

    /// Marks the item just added, and the conditions from `first_where` on, as optional.
    fn optional(&mut self, alias: &str, first_where: usize) {
        self.optional.push(Optional {
            alias: alias.to_owned(),
            item: self.items.len() - 1,
            own: (first_where..self.wheres.len()).collect(),
            substitute: None,
        });
    }

    fn render(&self) -> String {
        let mut s = String::new();
        for (i, (item, lateral)) in self.items.iter().enumerate() {
            match (i, lateral) {
                // Nothing to be lateral to: an unconditional one-row source first.
                (0, true) => s.push_str(&format!(
                    " FROM (SELECT 1) AS one LEFT JOIN LATERAL {item} ON true"
                )),
                (0, false) => s.push_str(&format!(" FROM {item}")),
                (_, true) => s.push_str(&format!(" LEFT JOIN LATERAL {item} ON true")),
                (_, false) => s.push_str(&format!(" CROSS JOIN {item}")),
            }
        }
        let parts: Vec<String> = self
            .wheres
            .iter()
            .filter(|w| *w != "true")
            .map(|w| format!("({w})"))
            .collect();
        if !parts.is_empty() {
            s.push_str(" WHERE ");
            s.push_str(&parts.join(" AND "));
        }
        s
    }

    /// Drops the optional tables nothing else mentions (after substitution), rewriting
    /// `outside` (the statement's other SQL pieces) with the substitutes.
    fn drop_unneeded(&mut self, outside: &mut [&mut String]) {
        let optional = std::mem::take(&mut self.optional);
        let mut dropped_items = Vec::new();
        let mut dropped_wheres = Vec::new();
        for o in optional.iter().rev() {
            // Texts change only where they name the substituted column.
            let subst = |t: &str| match &o.substitute {
                Some((from, to)) if t.contains(from.as_str()) => replace_token(t, from, to),
                _ => t.to_owned(),
            };
            let still_mentions = |t: &str| match &o.substitute {
                Some((from, to)) if t.contains(from.as_str()) => {
                    mentions(&replace_token(t, from, to), &o.alias)
                }
                _ => mentions(t, &o.alias),
            };
            let needed = self
                .items
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != o.item && !dropped_items.contains(i))
                .map(|(_, (t, _))| t.as_str())
                .chain(
                    self.wheres
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| !o.own.contains(i) && !dropped_wheres.contains(i))
                        .map(|(_, t)| t.as_str()),
                )
                .chain(outside.iter().map(|t| t.as_str()))
                .any(still_mentions);
            if needed {
                continue;
            }
            for (i, (t, _)) in self.items.iter_mut().enumerate() {
                if i != o.item && !dropped_items.contains(&i) {
                    *t = subst(t);
                }
            }
            for (i, t) in self.wheres.iter_mut().enumerate() {
                if !o.own.contains(&i) && !dropped_wheres.contains(&i) {
                    *t = subst(t);
                }
            }
            for t in outside.iter_mut() {
                **t = subst(t);
            }
            dropped_items.push(o.item);
            dropped_wheres.extend(o.own.iter().copied());
        }
        let mut i = 0;
        self.items.retain(|_| {
            i += 1;
            !dropped_items.contains(&(i - 1))
        });
        let mut i = 0;
        self.wheres.retain(|_| {
            i += 1;
            !dropped_wheres.contains(&(i - 1))
        });
    }
}

/// Whether SQL text mentions table alias `alias` (as `alias.`).
fn mentions(text: &str, alias: &str) -> bool {
    let needle = format!("{alias}.");
    text.match_indices(&needle).any(|(at, _)| {
        !text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// `text` with every whole-token occurrence of `from` (an alias-qualified column) replaced.
fn replace_token(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + from.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        out.push_str(&rest[..at]);
        if word(before) || word(after) {
            out.push_str(from);
        } else {
            out.push_str(to);
        }
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

struct Compiler<'a> {
    inputs: &'a Inputs<'a>,
    params: Params,
    vars: HashMap<String, Var>,
    seq: usize,
    /// Placeholders of EHR ids every EHR-scoped table must equal.
    ehr_params: Vec<String>,
    /// Some VERSION variable ranges over all versions: node rows (current versions only) can't
    /// be used.
    all_versions: bool,
    /// Node variables whose rows a leaf comparison could supply (see `leaf_sourced`).
    node_candidates: Vec<NodeCandidate>,
    /// Leaf comparisons compiled so far, with the row source each is equivalent to.
    leaf_filters: Vec<LeafFilter>,
}

/// A node variable bound by an archetype id whose RM class conforms to the variable's class,
/// without a name predicate: its archetype and type conditions (`own`) hold for every node
/// that leaf rows of the archetype's paths belong to.
struct NodeCandidate {
    alias: String,
    own: Vec<String>,
}

/// A leaf comparison on a node variable: its `EXISTS` text, and the same condition as the
/// distinct (ehr_id, vo_id, num) of the leaf rows that satisfy it.
struct LeafFilter {
    alias: String,
    exists: String,
    source: String,
}

/// Node variables whose rows can come from a top-level leaf comparison on them instead of the
/// node table: the distinct nodes with a satisfying leaf are exactly the nodes the comparison
/// keeps (leaf path ids name the archetype, whose class the variable accepts), so the node
/// probe, the archetype and type filters and the semi-join go. Only when nothing else reads
/// the node row: every other mention of the alias is one of its key columns.
fn leaf_sourced(
    scope: &mut Scope,
    nodes: &[NodeCandidate],
    filters: &[LeafFilter],
    outside: &[&mut String],
) {
    for n in nodes {
        let table = format!("node {}", n.alias);
        let Some(item) = scope
            .items
            .iter()
            .position(|(t, lateral)| !lateral && *t == table)
        else {
            continue;
        };
        let Some((filter, exists)) = filters.iter().filter(|f| f.alias == n.alias).find_map(|f| {
            scope
                .wheres
                .iter()
                .position(|w| *w == f.exists)
                .map(|i| (f, i))
        }) else {
            continue;
        };
        let own: Vec<usize> = n
            .own
            .iter()
            .filter_map(|o| scope.wheres.iter().position(|w| w == o))
            .collect();
        if own.len() != n.own.len() {
            continue;
        }
        let keys_only = scope
            .items
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != item)
            .map(|(_, (t, _))| t)
            .chain(
                scope
                    .wheres
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != exists && !own.contains(i))
                    .map(|(_, t)| t),
            )
            .chain(outside.iter().map(|t| &**t))
            .all(|t| only_key_columns(t, &n.alias));
        if !keys_only {
            continue;
        }
        scope.items[item].0 = format!("({}) {}", filter.source, n.alias);
        for i in own.into_iter().chain([exists]) {
            scope.wheres[i] = "true".into();
        }
    }
}

/// Whether every mention of table alias `alias` in `text` is its ehr_id, vo_id or num.
fn only_key_columns(text: &str, alias: &str) -> bool {
    let needle = format!("{alias}.");
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(&needle).all(|(at, _)| {
        if text[..at].chars().next_back().is_some_and(word) {
            return true;
        }
        let rest = &text[at + needle.len()..];
        let column = &rest[..rest.find(|c: char| !word(c)).unwrap_or(rest.len())];
        matches!(column, "ehr_id" | "vo_id" | "num")
    })
}

/// RM classes and the concrete types that conform to them.
fn conforming(class: &str) -> Option<Vec<&'static str>> {
    const ENTRIES: [&str; 6] = [
        "OBSERVATION",
        "EVALUATION",
        "INSTRUCTION",
        "ACTION",
        "ADMIN_ENTRY",
        "GENERIC_ENTRY",
    ];
    const CONCRETE: [&str; 21] = [
        "SECTION",
        "CLUSTER",
        "ELEMENT",
        "HISTORY",
        "POINT_EVENT",
        "INTERVAL_EVENT",
        "ITEM_TREE",
        "ITEM_LIST",
        "ITEM_SINGLE",
        "ITEM_TABLE",
        "ACTIVITY",
        "ISM_TRANSITION",
        "INSTRUCTION_DETAILS",
        "EVENT_CONTEXT",
        "FEEDER_AUDIT",
        "PARTY_IDENTIFIED",
        "PARTY_SELF",
        "PARTICIPATION",
        "DV_TEXT",
        "DV_CODED_TEXT",
        "DV_QUANTITY",
    ];
    Some(match class {
        "ENTRY" => ENTRIES.to_vec(),
        "CARE_ENTRY" => ENTRIES[..4].to_vec(),
        "EVENT" => vec!["EVENT", "POINT_EVENT", "INTERVAL_EVENT"],
        "ITEM_STRUCTURE" => vec!["ITEM_TREE", "ITEM_LIST", "ITEM_SINGLE", "ITEM_TABLE"],
        "ITEM" => vec!["CLUSTER", "ELEMENT"],
        c => {
            let t = ENTRIES.iter().chain(CONCRETE.iter()).find(|t| **t == c)?;
            vec![*t]
        }
    })
}

fn is_entry(types: &[&str]) -> bool {
    types.iter().all(|t| {
        matches!(
            *t,
            "OBSERVATION"
                | "EVALUATION"
                | "INSTRUCTION"
                | "ACTION"
                | "ADMIN_ENTRY"
                | "GENERIC_ENTRY"
        )
    })
}

fn sql_op(op: ComparisonOp) -> &'static str {
    match op {
        ComparisonOp::Eq => "=",
        ComparisonOp::Ne => "<>",
        ComparisonOp::Gt => ">",
        ComparisonOp::Ge => ">=",
        ComparisonOp::Lt => "<",
        ComparisonOp::Le => "<=",
    }
}

fn flip(op: ComparisonOp) -> ComparisonOp {
    match op {
        ComparisonOp::Gt => ComparisonOp::Lt,
        ComparisonOp::Ge => ComparisonOp::Le,
        ComparisonOp::Lt => ComparisonOp::Gt,
        ComparisonOp::Le => ComparisonOp::Ge,
        o => o,
    }
}

/// The archetype id of an archetype predicate, when the predicate is exactly that (optionally
/// with a name).
fn archetype_of(p: &Predicate, inputs: &Inputs) -> Result<Option<(String, Option<Value>)>> {
    use cdr_aql::ast::{ArchetypeRef, NodeName};
    let PredicateKind::Archetype(a) = &p.kind else {
        return Ok(None);
    };
    let id = match &a.archetype {
        ArchetypeRef::Id(id) => id.value.clone(),
        ArchetypeRef::Parameter(param) => match inputs.param(param)? {
            Value::String(s) => s.clone(),
            _ => {
                return Err(QueryError::at(
                    param.span(),
                    format!("parameter ${} must be an archetype id string", param.name),
                ))
            }
        },
    };
    let name = match &a.name {
        None => None,
        Some(NodeName::String(s)) => Some(Value::String(s.value.clone())),
        Some(NodeName::Parameter(param)) => Some(inputs.param(param)?.clone()),
        Some(_) => return Ok(None),
    };
    Ok(Some((id, name)))
}

impl<'a> Compiler<'a> {
    /// An RM type name as SQL: a literal when it is a plain RM class name (upper-case letters,
    /// digits and `_`, from the compiler's own tables), otherwise a bind parameter.
    fn rm_type_sql(&mut self, t: &str) -> String {
        if !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            format!("'{t}'")
        } else {
            self.params.push(t.to_owned())
        }
    }

    fn alias(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}{}", self.seq)
    }

    fn ehr_scope(&self, scope: &mut Scope, column: &str) {
        for p in &self.ehr_params {
            scope.wheres.push(format!("{column} = {p}"));
        }
    }

    fn var(&self, ident: &cdr_aql::ast::Ident) -> Result<&Var> {
        self.vars.get(&ident.name).ok_or_else(|| {
            QueryError::at(
                ident.span(),
                format!("'{}' is not a variable of the FROM clause", ident.name),
            )
        })
    }

    // ---- FROM ------------------------------------------------------------------------------

    fn containment(
        &mut self,
        scope: &mut Scope,
        c: &Containment,
        parent: Option<&Var>,
    ) -> Result<()> {
        match &c.kind {
            ContainmentKind::Class(ce) => {
                self.class(scope, ce, parent)?;
            }
            ContainmentKind::Contains {
                outer,
                negated,
                inner,
            } => {
                let v = self.class(scope, outer, parent)?;
                if *negated {
                    let mut sub = Scope::default();
                    let before: Vec<String> = self.vars.keys().cloned().collect();
                    self.containment(&mut sub, inner, Some(&v))?;
                    // Variables under NOT CONTAINS are never bound.
                    self.vars.retain(|k, _| before.contains(k));
                    scope
                        .wheres
                        .push(format!("NOT EXISTS (SELECT 1{})", sub.render()));
                } else {
                    self.containment(scope, inner, Some(&v))?;
                }
            }
            ContainmentKind::And(items) => {
                for item in items {
                    self.containment(scope, item, parent)?;
                }
            }
            ContainmentKind::Or(items) => {
                let mut oks = Vec::with_capacity(items.len());
                for item in items {
                    let before: Vec<String> = self.vars.keys().cloned().collect();
                    let mut sub = Scope::default();
                    self.containment(&mut sub, item, parent)?;
                    let b = self.alias("b");
                    let mut cols = vec!["true AS ok".to_owned()];
                    let mut n = 0;
                    let new: Vec<String> = self
                        .vars
                        .keys()
                        .filter(|k| !before.contains(k))
                        .cloned()
                        .collect();
                    for name in new {
                        let var = self.vars.get_mut(&name).expect("just bound");
                        for (_, expr) in var.facets.iter_mut() {
                            n += 1;
                            cols.push(format!("{expr} AS c{n}"));
                            *expr = format!("{b}.c{n}");
                        }
                    }
                    scope.left_lateral(format!(
                        "(SELECT {}{}) AS {b}",
                        cols.join(", "),
                        sub.render()
                    ));
                    oks.push(format!("{b}.ok IS NOT NULL"));
                }
                scope.wheres.push(format!("({})", oks.join(" OR ")));
            }
        }
        Ok(())
    }

    fn bind(&mut self, ce: &ClassExpr, var: Var) -> Result<Var> {
        if let Some(name) = ce.variable() {
            if self.vars.contains_key(&name.name) {
                return Err(QueryError::at(
                    name.span(),
                    format!("variable '{}' is bound twice", name.name),
                ));
            }
            self.vars.insert(name.name.clone(), var.clone());
        }
        Ok(var)
    }

    fn class(&mut self, scope: &mut Scope, ce: &ClassExpr, parent: Option<&Var>) -> Result<Var> {
        let var = match ce {
            ClassExpr::Version(vc) => {
                if parent.is_some_and(|p| p.kind != Kind::Ehr) {
                    return Err(QueryError::at(
                        vc.span.get(),
                        "VERSION can only be contained in EHR",
                    ));
                }
                // A standard predicate selects among all versions (those it holds for).
                let all = !matches!(
                    vc.predicate.as_ref().map(|p| &p.kind),
                    None | Some(VersionPredicateKind::LatestVersion)
                );
                let mut v = self.version_rows(scope, parent, all);
                v.kind = Kind::Version;
                if let Some(VersionPredicate {
                    kind: VersionPredicateKind::Standard(sp),
                    span,
                }) = vc.predicate.as_ref()
                {
                    let p = Predicate {
                        kind: PredicateKind::Standard(sp.clone()),
                        span: *span,
                    };
                    let cond = self.class_predicate(&v, &p)?;
                    scope.wheres.push(cond);
                }
                v
            }
            ClassExpr::Rm(rc) => self.rm_class(scope, rc, parent)?,
        };
        self.bind(ce, var)
    }

    /// `versioned_object` + `object_version` rows of compositions (current versions, or all).
    fn version_rows(&mut self, scope: &mut Scope, ehr: Option<&Var>, all: bool) -> Var {
        let vo = self.alias("vo");
        let ov = self.alias("ov");
        self.versioned_objects(scope, &vo, 1, ehr);
        if !all {
            scope.wheres.push(format!("NOT {vo}.deleted"));
        }
        // The current version of a composition that is not deleted has a document, so its
        // `object_version` row is needed only for what it holds.
        scope.cross(format!("object_version {ov}"));
        let first = scope.wheres.len();
        self.ehr_scope(scope, &format!("{ov}.ehr_id"));
        scope.wheres.push(format!(
            "{ov}.ehr_id = {vo}.ehr_id AND {ov}.vo_id = {vo}.vo_id AND {ov}.document IS NOT NULL"
        ));
        if !all {
            scope.wheres.push(format!("{ov}.version = {vo}.head"));
            scope.optional(&ov, first);
        }
        let version_json = format!(
            "(jsonb_build_object('_type', 'ORIGINAL_VERSION', \
             'uid', jsonb_build_object('_type', 'OBJECT_VERSION_ID', 'value', \
                {ov}.vo_id::text || '::' || {ov}.system_id || '::' || {ov}.version::text), \
             'contribution', jsonb_build_object('_type', 'OBJECT_REF', \
                'id', jsonb_build_object('_type', 'HIER_OBJECT_ID', \
                'value', {ov}.contribution_id::text), 'namespace', 'local', 'type', 'CONTRIBUTION'), \
             'commit_audit', {ov}.audit::jsonb, \
             'lifecycle_state', jsonb_build_object('_type', 'DV_CODED_TEXT', 'value', \
                CASE {ov}.lifecycle_state WHEN 532 THEN 'complete' WHEN 553 THEN 'incomplete' \
                ELSE 'deleted' END, \
                'defining_code', jsonb_build_object('_type', 'CODE_PHRASE', 'terminology_id', \
                jsonb_build_object('_type', 'TERMINOLOGY_ID', 'value', 'openehr'), \
                'code_string', {ov}.lifecycle_state::text)), \
             'data', {ov}.document::jsonb) \
             || CASE WHEN {ov}.preceding_uid IS NULL THEN '{{}}'::jsonb ELSE \
                jsonb_build_object('preceding_version_uid', jsonb_build_object('_type', \
                'OBJECT_VERSION_ID', 'value', {ov}.preceding_uid)) END \
             || CASE WHEN {ov}.attestations IS NULL THEN '{{}}'::jsonb ELSE \
                jsonb_build_object('attestations', {ov}.attestations::jsonb) END)"
        );
        Var {
            kind: Kind::Version,
            archetype: None,
            facets: vec![
                ("ehr", format!("{vo}.ehr_id")),
                ("vo", format!("{vo}.vo_id")),
                ("text", format!("{version_json}::text")),
                ("value", version_json),
                ("doc", format!("{ov}.document::jsonb")),
                ("doctext", format!("{ov}.document::text")),
                ("json", format!("{ov}.document::json")),
                ("archetype", format!("{ov}.archetype_id")),
                (
                    "uid",
                    format!(
                        "to_jsonb({ov}.vo_id::text || '::' || {ov}.system_id || '::' || {ov}.version::text)"
                    ),
                ),
                ("template", format!("to_jsonb({ov}.template_id)")),
            ],
        }
    }

    /// `versioned_object {vo}` rows of one kind, in the EHR of `ehr` when given.
    fn versioned_objects(&mut self, scope: &mut Scope, vo: &str, kind: i16, ehr: Option<&Var>) {
        scope.cross(format!("versioned_object {vo}"));
        scope.wheres.push(format!("{vo}.kind = {kind}"));
        if let Some(e) = ehr {
            let parent = e.facet("ehr").to_owned();
            scope.wheres.push(format!("{vo}.ehr_id = {parent}"));
            // An EHR table needed only for its id can give way to this one's column.
            let at = scope.wheres.len() - 1;
            if let Some(o) = scope
                .optional
                .iter_mut()
                .find(|o| o.substitute.is_none() && format!("{}.ehr_id", o.alias) == parent)
            {
                o.substitute = Some((parent, format!("{vo}.ehr_id")));
                o.own.push(at);
            }
        }
        self.ehr_scope(scope, &format!("{vo}.ehr_id"));
    }

    /// The current EHR_STATUS of each EHR (of `ehr` when given), as an object variable.
    fn ehr_status(&mut self, scope: &mut Scope, ehr: Option<&Var>) -> Var {
        let vo = self.alias("vo");
        let ov = self.alias("ov");
        self.versioned_objects(scope, &vo, 2, ehr);
        scope.cross(format!("object_version {ov}"));
        self.ehr_scope(scope, &format!("{ov}.ehr_id"));
        scope.wheres.push(format!(
            "{ov}.ehr_id = {vo}.ehr_id AND {ov}.vo_id = {vo}.vo_id AND {ov}.version = {vo}.head"
        ));
        Var {
            kind: Kind::Object,
            archetype: None,
            facets: vec![
                ("ehr", format!("{vo}.ehr_id")),
                ("vo", format!("{vo}.vo_id")),
                ("value", format!("{ov}.document::jsonb")),
                ("text", format!("{ov}.document::text")),
            ],
        }
    }

    /// Every FOLDER (the root and those below it) of the current directory of each EHR (of
    /// `ehr` when given).
    fn folders(&mut self, scope: &mut Scope, ehr: Option<&Var>) -> Var {
        let vo = self.alias("vo");
        let ov = self.alias("ov");
        self.versioned_objects(scope, &vo, 3, ehr);
        scope.wheres.push(format!("NOT {vo}.deleted"));
        scope.cross(format!("object_version {ov}"));
        self.ehr_scope(scope, &format!("{ov}.ehr_id"));
        scope.wheres.push(format!(
            "{ov}.ehr_id = {vo}.ehr_id AND {ov}.vo_id = {vo}.vo_id AND {ov}.version = {vo}.head \
             AND {ov}.document IS NOT NULL"
        ));
        let root = format!("{ov}.document::jsonb");
        let (ehr, vo) = (format!("{vo}.ehr_id"), format!("{vo}.vo_id"));
        self.folder_var(scope, ehr, vo, &root, "strict $.**{0 to last}")
    }

    /// The FOLDERs below folder variable `parent`, at any depth.
    fn sub_folders(&mut self, scope: &mut Scope, parent: &Var) -> Var {
        let (ehr, vo) = (
            parent.facet("ehr").to_owned(),
            parent.facet("vo").to_owned(),
        );
        self.folder_var(
            scope,
            ehr,
            vo,
            parent.facet("value"),
            "strict $.**{1 to last}",
        )
    }

    fn folder_var(
        &mut self,
        scope: &mut Scope,
        ehr: String,
        vo: String,
        base: &str,
        walk: &str,
    ) -> Var {
        let f = self.alias("f");
        let path = self
            .params
            .push(format!("{walk} ? (@._type == \"FOLDER\")"));
        scope.cross(format!(
            "LATERAL jsonb_path_query({base}, {path}::text::jsonpath) AS {f}(val)"
        ));
        Var {
            kind: Kind::Folder,
            archetype: None,
            facets: vec![
                ("ehr", ehr),
                ("vo", vo),
                ("value", format!("{f}.val")),
                ("text", format!("{f}.val::text")),
            ],
        }
    }

    /// Keeps the compositions of version rows `v` that folder `folder` (or a folder below it)
    /// lists in its `items` (object references by versioned object id or version uid).
    fn filed_in(&mut self, scope: &mut Scope, v: &Var, folder: &Var) {
        // Lax: folders without `items` simply contribute nothing.
        let path = self
            .params
            .push("lax $.** ? (@._type == \"FOLDER\").items[*].id.value".to_owned());
        scope.wheres.push(format!(
            "{}::text IN (SELECT split_part(i.v #>> '{{}}', '::', 1) FROM \
             jsonb_path_query({}, {path}::text::jsonpath) AS i(v))",
            v.facet("vo"),
            folder.facet("value"),
        ));
    }

    fn composition_from(&self, v: &Var) -> Var {
        Var {
            kind: Kind::Composition,
            archetype: None,
            facets: vec![
                ("ehr", v.facet("ehr").to_owned()),
                ("vo", v.facet("vo").to_owned()),
                ("num", "0".to_owned()),
                ("value", v.facet("doc").to_owned()),
                ("text", v.facet("doctext").to_owned()),
                ("json", v.facet("json").to_owned()),
                ("archetype", v.facet("archetype").to_owned()),
                ("uid", v.facet("uid").to_owned()),
                ("template", v.facet("template").to_owned()),
            ],
        }
    }

    fn rm_class(
        &mut self,
        scope: &mut Scope,
        rc: &RmClassExpr,
        parent: Option<&Var>,
    ) -> Result<Var> {
        let class = rc.rm_type.name.as_str();
        match class {
            "EHR" => {
                if parent.is_some() {
                    return Err(QueryError::at(
                        rc.span.get(),
                        "EHR must be the outermost class",
                    ));
                }
                let e = self.alias("e");
                scope.cross(format!("ehr {e}"));
                let first = scope.wheres.len();
                self.ehr_scope(scope, &format!("{e}.ehr_id"));
                scope.optional(&e, first);
                let status_head = format!(
                    "(SELECT s.head FROM versioned_object s WHERE s.ehr_id = {e}.ehr_id \
                     AND s.vo_id = {e}.ehr_status_id)"
                );
                let json = format!(
                    "jsonb_build_object('_type', 'EHR', \
                     'system_id', jsonb_build_object('_type', 'HIER_OBJECT_ID', 'value', {e}.system_id), \
                     'ehr_id', jsonb_build_object('_type', 'HIER_OBJECT_ID', 'value', {e}.ehr_id::text), \
                     'ehr_status', jsonb_build_object('_type', 'OBJECT_REF', \
                        'id', jsonb_build_object('_type', 'OBJECT_VERSION_ID', \
                        'value', {e}.ehr_status_id::text || '::' || {e}.system_id || '::' || {status_head}::text), \
                        'namespace', 'local', 'type', 'EHR_STATUS'), \
                     'ehr_access', jsonb_build_object('_type', 'OBJECT_REF', \
                        'id', jsonb_build_object('_type', 'OBJECT_VERSION_ID', \
                        'value', {e}.ehr_access_id::text || '::' || {e}.system_id || '::1'), \
                        'namespace', 'local', 'type', 'EHR_ACCESS'), \
                     'time_created', jsonb_build_object('_type', 'DV_DATE_TIME', 'value', \
                        cdr_time_text({e}.time_created)))"
                );
                let status_doc = format!(
                    "(SELECT so.document::jsonb FROM versioned_object s JOIN object_version so \
                     ON so.ehr_id = s.ehr_id AND so.vo_id = s.vo_id AND so.version = s.head \
                     WHERE s.ehr_id = {e}.ehr_id AND s.vo_id = {e}.ehr_status_id)"
                );
                let var = Var {
                    kind: Kind::Ehr,
                    archetype: None,
                    facets: vec![
                        ("ehr", format!("{e}.ehr_id")),
                        ("text", format!("{json}::text")),
                        ("value", json),
                        ("status", status_doc),
                    ],
                };
                if let Some(p) = &rc.predicate {
                    let cond = self.class_predicate(&var, p)?;
                    scope.wheres.push(cond);
                }
                Ok(var)
            }
            "COMPOSITION" => {
                let var = match parent.map(|p| p.kind) {
                    None | Some(Kind::Ehr) => {
                        let v = self.version_rows(scope, parent, false);
                        self.composition_from(&v)
                    }
                    Some(Kind::Folder) => {
                        let folder = parent.expect("matched");
                        let v = self.version_rows(scope, Some(folder), false);
                        self.filed_in(scope, &v, folder);
                        self.composition_from(&v)
                    }
                    Some(Kind::Version) => self.composition_from(parent.expect("matched")),
                    Some(_) => {
                        return Err(QueryError::at(
                            rc.span.get(),
                            "COMPOSITION can only be contained in EHR, FOLDER or VERSION",
                        ))
                    }
                };
                if let Some(p) = &rc.predicate {
                    if let Some((id, None)) = archetype_of(p, self.inputs)? {
                        let ph = self.params.push(id);
                        scope
                            .wheres
                            .push(format!("{} = {ph}", var.facet("archetype")));
                    } else {
                        let cond = self.class_predicate(&var, p)?;
                        scope.wheres.push(cond);
                    }
                }
                Ok(var)
            }
            "EHR_STATUS" => {
                if parent.is_some_and(|p| p.kind != Kind::Ehr) {
                    return Err(QueryError::at(
                        rc.span.get(),
                        "EHR_STATUS can only be contained in EHR",
                    ));
                }
                let var = self.ehr_status(scope, parent);
                if let Some(p) = &rc.predicate {
                    let cond = self.class_predicate(&var, p)?;
                    scope.wheres.push(cond);
                }
                Ok(var)
            }
            "FOLDER" => {
                let var = match parent.map(|p| p.kind) {
                    None | Some(Kind::Ehr) => self.folders(scope, parent),
                    Some(Kind::Folder) => self.sub_folders(scope, parent.expect("matched")),
                    Some(_) => {
                        return Err(QueryError::at(
                            rc.span.get(),
                            "FOLDER can only be contained in EHR or FOLDER",
                        ))
                    }
                };
                if let Some(p) = &rc.predicate {
                    let cond = self.class_predicate(&var, p)?;
                    scope.wheres.push(cond);
                }
                Ok(var)
            }
            "VERSIONED_OBJECT" | "CONTRIBUTION" => Err(QueryError::at(
                rc.rm_type.span(),
                format!("FROM {class} is not supported yet"),
            )),
            _ => {
                let types = conforming(class).ok_or_else(|| {
                    QueryError::at(
                        rc.rm_type.span(),
                        format!("'{class}' is not an RM class that AQL can query"),
                    )
                })?;
                let base = match parent.map(|p| p.kind) {
                    None | Some(Kind::Ehr) => {
                        let v = self.version_rows(scope, parent, false);
                        self.composition_from(&v)
                    }
                    Some(Kind::Version) => self.composition_from(parent.expect("matched")),
                    Some(_) => parent.expect("matched").clone(),
                };
                let archetype = match &rc.predicate {
                    Some(p) => archetype_of(p, self.inputs)?,
                    None => None,
                };
                let node_parent = matches!(base.kind, Kind::Composition | Kind::Node);
                let node_ok = !self.all_versions
                    && node_parent
                    && match &archetype {
                        Some((id, _)) => id.starts_with("openEHR-") || is_entry(&types),
                        None => rc.predicate.is_none() && is_entry(&types),
                    };
                if node_ok {
                    Ok(self.node_var(scope, &base, &types, archetype))
                } else {
                    self.object_var(scope, &base, &types, rc.predicate.as_deref())
                }
            }
        }
    }

    fn node_var(
        &mut self,
        scope: &mut Scope,
        base: &Var,
        types: &[&str],
        archetype: Option<(String, Option<Value>)>,
    ) -> Var {
        let n = self.alias("n");
        scope.cross(format!("node {n}"));
        self.ehr_scope(scope, &format!("{n}.ehr_id"));
        scope.wheres.push(format!(
            "{n}.ehr_id = {} AND {n}.vo_id = {} AND {n}.num > {}",
            base.facet("ehr"),
            base.facet("vo"),
            base.facet("num")
        ));
        if let Some(cap) = base.get("cap") {
            scope.wheres.push(format!("{n}.num <= {cap}"));
        }
        if let [t] = types {
            let t = self.rm_type_sql(t);
            scope.wheres.push(format!("{n}.rm_type = {t}"));
        } else {
            let list: Vec<String> = types.iter().map(|t| self.rm_type_sql(t)).collect();
            scope
                .wheres
                .push(format!("{n}.rm_type IN ({})", list.join(", ")));
        }
        let archetype_id = archetype.as_ref().map(|(id, _)| id.clone());
        let class_ok = archetype.as_ref().is_some_and(|(id, name)| {
            name.is_none()
                && id
                    .split('-')
                    .nth(2)
                    .and_then(|c| c.split('.').next())
                    .is_some_and(|c| types.contains(&c))
        });
        let type_condition = scope.wheres.last().expect("just pushed").clone();
        if let Some((id, name)) = archetype {
            // Dictionary ids are written into the text so that cached (generic) plans see
            // the archetype's selectivity.
            let id = int8_literal(dict_id(&id));
            scope.wheres.push(format!("{n}.archetype = {id}"));
            if class_ok {
                let archetype_condition = scope.wheres.last().expect("just pushed").clone();
                self.node_candidates.push(NodeCandidate {
                    alias: n.clone(),
                    own: vec![type_condition, archetype_condition],
                });
            }
            if let Some(name) = name {
                match name {
                    Value::String(s) => {
                        let p = self.params.push(s);
                        scope.wheres.push(format!("{n}.name = {p}"));
                    }
                    _ => scope.wheres.push("false".into()),
                }
            }
        }
        Var {
            kind: Kind::Node,
            archetype: archetype_id,
            facets: vec![
                ("ehr", format!("{n}.ehr_id")),
                ("vo", format!("{n}.vo_id")),
                ("num", format!("{n}.num")),
                ("cap", format!("{n}.num_cap")),
                // The node's subtree, read from the document of the version.
                (
                    "value",
                    format!("({} #> {n}.pointer)::jsonb", base.facet("json")),
                ),
                (
                    "text",
                    format!("({} #> {n}.pointer)::text", base.facet("json")),
                ),
                ("json", base.facet("json").to_owned()),
            ],
        }
    }

    fn object_var(
        &mut self,
        scope: &mut Scope,
        base: &Var,
        types: &[&str],
        predicate: Option<&Predicate>,
    ) -> Result<Var> {
        let mut jp = JsonPath {
            text: "strict $.**{1 to last}".into(),
            ..JsonPath::default()
        };
        jp.type_filter(types);
        if let Some(p) = predicate {
            jp.filter(p, self.inputs)?;
        }
        let x = self.alias("x");
        let path = self.params.push(jp.text.clone());
        let vars = self.params.push(jp.vars_text());
        scope.cross(format!(
            "LATERAL jsonb_path_query({}, {path}::text::jsonpath, {vars}::text::jsonb) AS {x}(val)",
            base.facet("value")
        ));
        Ok(Var {
            kind: Kind::Object,
            archetype: None,
            facets: vec![
                ("ehr", base.facet("ehr").to_owned()),
                ("vo", base.facet("vo").to_owned()),
                ("value", format!("{x}.val")),
                ("text", format!("{x}.val::text")),
            ],
        })
    }

    /// A class-expression predicate as an SQL condition on the variable's object.
    fn class_predicate(&mut self, var: &Var, p: &Predicate) -> Result<String> {
        if var.kind == Kind::Ehr {
            if let PredicateKind::Standard(s) = &p.kind {
                let steps: Vec<&str> = s
                    .path
                    .steps
                    .iter()
                    .map(|st| st.attribute.name.as_str())
                    .collect();
                if steps == ["ehr_id", "value"]
                    && s.path.steps.iter().all(|st| st.predicate.is_none())
                {
                    let value = match &s.operand {
                        PredicateOperand::Literal(l) => literal_json(&l.value),
                        PredicateOperand::Parameter(param) => self.inputs.param(param)?.clone(),
                        _ => Value::Null,
                    };
                    return Ok(self.ehr_id_cmp(var, s.op, &value));
                }
            }
        }
        let mut jp = JsonPath::root();
        jp.filter(p, self.inputs)?;
        let path = self.params.push(jp.text.clone());
        let vars = self.params.push(jp.vars_text());
        Ok(format!(
            "jsonb_path_exists({}, {path}::text::jsonpath, {vars}::text::jsonb)",
            var.facet("value")
        ))
    }

    fn ehr_id_cmp(&mut self, var: &Var, op: ComparisonOp, value: &Value) -> String {
        let id = value.as_str().and_then(|s| Uuid::parse_str(s).ok());
        match (op, id) {
            (ComparisonOp::Eq, Some(id)) => {
                let p = self.params.push(id);
                format!("{} = {p}", var.facet("ehr"))
            }
            (ComparisonOp::Ne, Some(id)) => {
                let p = self.params.push(id);
                format!("{} <> {p}", var.facet("ehr"))
            }
            (ComparisonOp::Ne, None) => "true".into(),
            (ComparisonOp::Eq, None) => "false".into(),
            _ => {
                let s = value.to_string();
                let p = self.params.push(s);
                format!(
                    "{}::text {} ({p}::text::jsonb #>> '{{}}') COLLATE \"C\"",
                    var.facet("ehr"),
                    sql_op(op)
                )
            }
        }
    }

    // ---- paths -----------------------------------------------------------------------------

    /// The SQL set-returning expression yielding the values of a path (one jsonb per row).
    fn path_set(&mut self, ip: &IdentifiedPath) -> Result<String> {
        if let Some(scalar) = self.path_scalar(ip)? {
            return Ok(format!("(VALUES ({scalar}))"));
        }
        let var = self.var(&ip.variable)?.clone();
        let steps = ip.path.as_ref().map(|p| &p.steps[..]).unwrap_or(&[]);
        let (base, steps) = match (var.kind, steps.first()) {
            (Kind::Ehr, Some(first))
                if first.attribute.name == "ehr_status" && first.predicate.is_none() =>
            {
                (var.facet("status").to_owned(), &steps[1..])
            }
            _ => (var.facet("value").to_owned(), steps),
        };
        if steps.is_empty() && ip.predicate.is_none() {
            return Ok(format!("(VALUES ({base})) "));
        }
        let mut jp = JsonPath::root();
        if let Some(p) = &ip.predicate {
            jp.filter(p, self.inputs)?;
        }
        for step in steps {
            jp.attribute(&step.attribute.name)
                .map_err(|e| e.or_at(step.span()))?;
            if let Some(p) = &step.predicate {
                jp.filter(p, self.inputs)?;
            }
        }
        let path = self.params.push(jp.text.clone());
        let vars = self.params.push(jp.vars_text());
        Ok(format!(
            "jsonb_path_query({base}, {path}::text::jsonpath, {vars}::text::jsonb)"
        ))
    }

    /// A single jsonb expression for a path when one is cheap (`e/ehr_id/value`), else `None`.
    fn path_scalar(&mut self, ip: &IdentifiedPath) -> Result<Option<String>> {
        let var = self.var(&ip.variable)?;
        let names: Vec<&str> = ip
            .path
            .iter()
            .flat_map(|p| p.steps.iter())
            .map(|s| s.attribute.name.as_str())
            .collect();
        let plain = ip.predicate.is_none()
            && ip
                .path
                .iter()
                .flat_map(|p| p.steps.iter())
                .all(|s| s.predicate.is_none());
        Ok(match (var.kind, plain, names.as_slice()) {
            (Kind::Ehr, true, ["ehr_id", "value"]) => {
                Some(format!("to_jsonb({}::text)", var.facet("ehr")))
            }
            // The stored document's uid is its version uid; its template id is promoted.
            (Kind::Composition | Kind::Version, true, ["uid", "value"]) => {
                Some(var.facet("uid").to_owned())
            }
            (Kind::Composition, true, ["archetype_details", "template_id", "value"]) => {
                Some(var.facet("template").to_owned())
            }
            _ => None,
        })
    }

    // ---- WHERE -----------------------------------------------------------------------------

    fn operand_value(&self, o: &Operand) -> Result<Option<Value>> {
        Ok(match o {
            Operand::Literal(l) => Some(literal_json(&l.value)),
            Operand::Parameter(p) => Some(self.inputs.param(p)?.clone()),
            Operand::Terminology(t) => Some(self.terminology(t)?.clone()),
            _ => None,
        })
    }

    /// The value of a TERMINOLOGY() call, resolved before compilation (`Store::query`).
    fn terminology(&self, t: &TerminologyCall) -> Result<&Value> {
        self.inputs
            .terminology
            .get(&t.to_string())
            .ok_or_else(|| QueryError::at(t.span(), super::NO_TERMINOLOGY))
    }

    /// An operand as one `jsonb` expression. In WHERE (`sets` given) a path adds its value
    /// set to `sets` (the comparison then ranges over them, existentially); in SELECT it is
    /// the selected column's value (rows multiply as for any selected path).
    fn operand_expr(&mut self, o: &Operand, ctx: &mut ExprContext) -> Result<String> {
        match o {
            Operand::Literal(_) | Operand::Parameter(_) => {
                let v = self.operand_value(o)?.unwrap_or(Value::Null);
                let p = self.params.push(v.to_string());
                Ok(format!("{p}::text::jsonb"))
            }
            Operand::Path(ip) => match ctx {
                ExprContext::Where(sets) => {
                    let set = self.path_set(ip)?;
                    let a = self.alias("a");
                    sets.push(format!("{set} AS {a}(v)"));
                    Ok(format!("{a}.v"))
                }
                ExprContext::Select(scope) => Ok(self.select_path(scope, ip)?.1),
            },
            Operand::Function(f) => self.function_expr(f, ctx),
            Operand::Terminology(t) => {
                let value = self.terminology(t)?.to_string();
                let p = self.params.push(value);
                Ok(format!("{p}::text::jsonb"))
            }
        }
    }

    fn function_expr(&mut self, f: &FunctionCall, ctx: &mut ExprContext) -> Result<String> {
        let FunctionName::Builtin(b) = &f.name else {
            return Err(QueryError::at(
                f.span(),
                format!("'{}' is not an AQL function", f.name),
            ));
        };
        let mut args = Vec::with_capacity(f.args.len());
        for a in &f.args {
            args.push(self.operand_expr(a, ctx)?);
        }
        super::functions::builtin_sql(*b, &args, f.span())
    }

    fn condition(&mut self, w: &WhereExpr) -> Result<String> {
        match &w.kind {
            WhereKind::And(items) | WhereKind::Or(items) => {
                let sep = if matches!(w.kind, WhereKind::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                let mut parts = Vec::with_capacity(items.len());
                for i in items {
                    parts.push(format!("({})", self.condition(i)?));
                }
                Ok(parts.join(sep))
            }
            WhereKind::Not(inner) => Ok(format!("NOT ({})", self.condition(inner)?)),
            WhereKind::Exists(ip) => {
                let set = self.path_set(ip)?;
                Ok(format!(
                    "EXISTS (SELECT 1 FROM {set} AS w(v) WHERE w.v IS NOT NULL)"
                ))
            }
            WhereKind::Comparison { left, op, right }
                if matches!(left, Operand::Function(_))
                    || matches!(right, Operand::Function(_)) =>
            {
                let mut sets = Vec::new();
                let mut ctx = ExprContext::Where(&mut sets);
                let l = self.operand_expr(left, &mut ctx)?;
                let r = self.operand_expr(right, &mut ctx)?;
                let cmp = format!("cdr_cmp({l}, {r}) {} 0", sql_op(*op));
                Ok(if sets.is_empty() {
                    format!("coalesce({cmp}, false)")
                } else {
                    format!("EXISTS (SELECT 1 FROM {} WHERE {cmp})", sets.join(", "))
                })
            }
            WhereKind::Comparison { left, op, right } => match (left, right) {
                (Operand::Path(p), other) | (other, Operand::Path(p))
                    if !matches!(other, Operand::Path(_)) =>
                {
                    let op = if matches!(left, Operand::Path(_)) {
                        *op
                    } else {
                        flip(*op)
                    };
                    let value = self.operand_value(other)?.ok_or_else(|| {
                        QueryError::at(
                            other.span(),
                            "only literals, parameters and paths can be compared",
                        )
                    })?;
                    self.compare_path(p, op, &value)
                }
                (Operand::Path(a), Operand::Path(b)) => {
                    let sa = self.path_set(a)?;
                    let sb = self.path_set(b)?;
                    Ok(format!(
                        "EXISTS (SELECT 1 FROM {sa} AS w(v), {sb} AS u(v) \
                             WHERE cdr_cmp(w.v, u.v) {} 0)",
                        sql_op(*op)
                    ))
                }
                _ => {
                    let a = self.operand_value(left)?;
                    let b = self.operand_value(right)?;
                    match (a, b) {
                        (Some(a), Some(b)) => {
                            let pa = self.params.push(a.to_string());
                            let pb = self.params.push(b.to_string());
                            Ok(format!(
                                    "coalesce(cdr_cmp({pa}::text::jsonb, {pb}::text::jsonb) {} 0, false)",
                                    sql_op(*op)
                                ))
                        }
                        _ => Err(QueryError::at(
                            w.span(),
                            "functions in WHERE are not supported yet",
                        )),
                    }
                }
            },
            WhereKind::Like { left, pattern } => {
                let Operand::Path(p) = left else {
                    return Err(QueryError::at(left.span(), "LIKE needs a path on its left"));
                };
                let pat = match pattern {
                    LikePattern::String(s) => Value::String(s.value.clone()),
                    LikePattern::Parameter(param) => self.inputs.param(param)?.clone(),
                };
                let Value::String(pat) = pat else {
                    return Ok("false".into());
                };
                let set = self.path_set(p)?;
                let ph = self.params.push(pat);
                Ok(format!(
                    "EXISTS (SELECT 1 FROM {set} AS w(v) WHERE cdr_str(w.v) LIKE {ph}::text)"
                ))
            }
            WhereKind::Matches { left, operand } => {
                let Operand::Path(p) = left else {
                    return Err(QueryError::at(
                        left.span(),
                        "MATCHES needs a path on its left",
                    ));
                };
                match operand {
                    MatchesOperand::List(list) => {
                        let mut values = Vec::with_capacity(list.items.len());
                        for item in &list.items {
                            let value = self.operand_value(item)?.ok_or_else(|| {
                                QueryError::at(
                                    item.span(),
                                    "MATCHES lists hold literals, parameters and TERMINOLOGY()",
                                )
                            })?;
                            // An expansion stands for its codes, an array parameter for its items.
                            match (item, value) {
                                (
                                    Operand::Terminology(_) | Operand::Parameter(_),
                                    Value::Array(codes),
                                ) => values.extend(codes),
                                (_, value) => values.push(value),
                            }
                        }
                        self.matches_values(p, &values)
                    }
                    MatchesOperand::Terminology(t) => {
                        let values = match self.terminology(t)? {
                            Value::Array(codes) => codes.clone(),
                            other => vec![other.clone()],
                        };
                        self.matches_values(p, &values)
                    }
                    MatchesOperand::Uri(u) => Err(QueryError::at(
                        u.span.get(),
                        "MATCHES with a terminology URI is not supported",
                    )),
                }
            }
        }
    }

    /// `path MATCHES {values}`: equal to any of them.
    fn matches_values(&mut self, p: &IdentifiedPath, values: &[Value]) -> Result<String> {
        let mut parts = Vec::with_capacity(values.len());
        for value in values {
            parts.push(self.compare_path(p, ComparisonOp::Eq, value)?);
        }
        if parts.is_empty() {
            return Ok("false".into());
        }
        Ok(parts.join(" OR "))
    }

    /// `some value of path op value`, typed by the value.
    fn compare_path(
        &mut self,
        ip: &IdentifiedPath,
        op: ComparisonOp,
        value: &Value,
    ) -> Result<String> {
        let var = self.var(&ip.variable)?.clone();
        let ehr_id = var.kind == Kind::Ehr
            && ip.predicate.is_none()
            && ip.path.as_ref().is_some_and(|p| is_ehr_id_path(&p.steps));
        if ehr_id {
            return Ok(self.ehr_id_cmp(&var, op, value));
        }
        if let Some(cond) = self.leaf_cmp(&var, ip, op, value) {
            return Ok(cond);
        }
        let Some(cmp) = self.typed_cmp("w.v", op, value) else {
            return Ok("false".into());
        };
        let set = self.path_set(ip)?;
        Ok(format!("EXISTS (SELECT 1 FROM {set} AS w(v) WHERE {cmp})"))
    }

    /// A query over leaf rows giving the JSON text of a selected data value attribute, when
    /// the leaf rows hold it exactly (see `leaf_path_ids`): one row per occurrence, in place
    /// of the SQL/JSON path over the node's subtree.
    fn leaf_select(&mut self, var: &Var, ip: &IdentifiedPath) -> Option<String> {
        if var.kind != Kind::Node || ip.predicate.is_some() {
            return None;
        }
        let archetype = var.archetype.as_deref()?;
        let steps = &ip.path.as_ref()?.steps;
        let names: Vec<&str> = steps.iter().map(|s| s.attribute.name.as_str()).collect();
        use LeafJson::{Integer, Real, Text};
        let (chain, column, types): (usize, &str, &[(&str, LeafJson)]) = match names.as_slice() {
            [.., "magnitude"] => (1, "v_num", &[("DV_QUANTITY", Real), ("DV_COUNT", Integer)]),
            [.., "units"] => (1, "v_text", &[("DV_QUANTITY", Text)]),
            [.., "symbol", "defining_code", "code_string"] => {
                (3, "v_code", &[("DV_ORDINAL", Text), ("DV_SCALE", Text)])
            }
            [.., "defining_code", "code_string"] => (2, "v_code", &[("DV_CODED_TEXT", Text)]),
            _ => return None,
        };
        let names: Vec<&str> = types.iter().map(|(t, _)| *t).collect();
        let ids = leaf_path_ids(archetype, steps, chain, &names)?;
        // One branch per path id, each printing its type's JSON: a per-node probe with
        // `path_id = <literal>` is an index condition on (ehr_id, vo_id, path_id), while
        // `path_id = ANY(…)` there is applied as a filter after fetching every leaf row of the
        // object (PostgreSQL 15). With several, a branch whose path id was never written (no
        // dictionary row, which commits with the leaves) is skipped once per query, not probed
        // per row.
        let several = ids.len() > 1;
        let branches: Vec<String> = ids
            .iter()
            .zip(types)
            .map(|(id, (_, json))| {
                let written = match several {
                    true => format!(
                        " AND EXISTS (SELECT FROM path_dict d WHERE d.path_id = {})",
                        int8_literal(*id)
                    ),
                    false => String::new(),
                };
                format!(
                    "SELECT {} FROM {} AND l.{column} IS NOT NULL{written}",
                    json.render(column),
                    self.leaf_rows(var, std::slice::from_ref(id))
                )
            })
            .collect();
        Some(branches.join(" UNION ALL "))
    }

    /// The same comparison on leaf rows, when they hold exactly the compared attribute: a node
    /// variable with a known archetype, a path whose every step before the data value has a
    /// plain node predicate (so it is the leaf's path), and an attribute/literal pair some leaf
    /// column represents exactly. Leaf rows exist for every occurrence, so `EXISTS` over them is
    /// the existential comparison of SEMANTICS.md.
    fn leaf_cmp(
        &mut self,
        var: &Var,
        ip: &IdentifiedPath,
        op: ComparisonOp,
        value: &Value,
    ) -> Option<String> {
        if var.kind != Kind::Node || ip.predicate.is_some() {
            return None;
        }
        let archetype = var.archetype.as_deref()?;
        let steps = &ip.path.as_ref()?.steps;
        let names: Vec<&str> = steps.iter().map(|s| s.attribute.name.as_str()).collect();
        let text_ok = matches!(value, Value::String(s) if !matches!(
            cdr_aql::ast::temporal_kind(s),
            Some(TemporalKind::Date | TemporalKind::DateTime)
        ));
        let num_ok = value.is_number();
        // (attribute chain after the data value, column, data value types).
        let (chain, column, types): (usize, &str, &[&str]) = match names.as_slice() {
            [.., "magnitude"] if num_ok => (1, "v_num", &["DV_QUANTITY", "DV_COUNT"]),
            [.., "units"] if text_ok => (1, "v_text", &["DV_QUANTITY"]),
            [.., "symbol", "defining_code", "code_string"] if text_ok => {
                (3, "v_code", &["DV_ORDINAL", "DV_SCALE"])
            }
            [.., "defining_code", "code_string"] if text_ok => (2, "v_code", &["DV_CODED_TEXT"]),
            [.., "value"] if num_ok => (1, "v_num", &["DV_ORDINAL", "DV_SCALE"]),
            [.., "value"] if text_ok => (
                1,
                "v_text",
                &[
                    "DV_TEXT",
                    "DV_CODED_TEXT",
                    "DV_TIME",
                    "DV_URI",
                    "DV_EHR_URI",
                    "DV_PARSABLE",
                ],
            ),
            _ => return None,
        };
        let ids = leaf_path_ids(archetype, steps, chain, types)?;
        let rhs = match value {
            Value::Number(n) => {
                let p = self.params.push(n.as_f64()?);
                format!("{p}::float8")
            }
            Value::String(s) => {
                let p = self.params.push(s.clone());
                format!("{p}::text")
            }
            _ => return None,
        };
        // Strings order bytewise; equality needs no collation, so the leaf indexes (built
        // with the database's collation) serve it.
        let ordering = !matches!(op, ComparisonOp::Eq | ComparisonOp::Ne);
        let collate = if column == "v_num" || !ordering {
            ""
        } else {
            " COLLATE \"C\""
        };
        let rhs = format!("{rhs}{collate}");
        let cmp = format!("l.{column}{collate} {} {rhs}", sql_op(op));
        let exists = format!(
            "EXISTS (SELECT 1 FROM {} AND {cmp})",
            self.leaf_rows(var, &ids)
        );
        if let Some(alias) = var.facet("num").strip_suffix(".num") {
            let bound = self.leaf_ehr_bound();
            self.leaf_filters.push(LeafFilter {
                alias: alias.to_owned(),
                exists: exists.clone(),
                source: format!(
                    "SELECT DISTINCT l.ehr_id, l.vo_id, l.num FROM leaf l \
                     WHERE l.num > 0{bound} AND l.path_id {} AND {cmp}",
                    path_condition(&ids)
                ),
            });
        }
        Some(exists)
    }

    /// ` AND l.ehr_id = $n` for each EHR binding of the query.
    fn leaf_ehr_bound(&self) -> String {
        self.ehr_params
            .iter()
            .map(|p| format!(" AND l.ehr_id = {p}"))
            .collect()
    }

    /// `leaf l WHERE …`: the leaf rows of node variable `var` with one of the path ids.
    fn leaf_rows(&self, var: &Var, ids: &[i64]) -> String {
        let bound = self.leaf_ehr_bound();
        let path = path_condition(ids);
        format!(
            "leaf l WHERE l.ehr_id = {ehr}{bound} AND l.vo_id = {vo} AND l.num = {num} \
             AND l.path_id {path}",
            ehr = var.facet("ehr"),
            vo = var.facet("vo"),
            num = var.facet("num"),
        )
    }

    /// A comparison of jsonb expression `x` with a value, typed by the value; `None` when it
    /// can never hold (null).
    fn typed_cmp(&mut self, x: &str, op: ComparisonOp, value: &Value) -> Option<String> {
        let op = sql_op(op);
        Some(match value {
            Value::Number(n) => {
                let p = self.params.push(n.to_string());
                format!("cdr_num({x}) {op} {p}::text::numeric")
            }
            Value::Bool(b) => {
                let p = self.params.push(*b);
                format!("(CASE WHEN jsonb_typeof({x}) = 'boolean' THEN {x}::boolean END) {op} {p}")
            }
            Value::String(s) => match cdr_aql::ast::temporal_kind(s) {
                Some(TemporalKind::Date | TemporalKind::DateTime) => {
                    let p = self.params.push(Value::String(s.clone()).to_string());
                    format!("cdr_instant({x}) {op} cdr_instant({p}::text::jsonb)")
                }
                _ => {
                    let p = self.params.push(s.clone());
                    format!("cdr_str({x}) COLLATE \"C\" {op} {p}::text COLLATE \"C\"")
                }
            },
            _ => return None,
        })
    }
}

/// The path ids of the leaf rows holding the data value that `steps` reach before the
/// last `chain` attribute steps, one per data value type in `types`: `None` unless the data
/// value is an ELEMENT's `…/items[atN]/value` below the variable's archetype root, every
/// step before it has a plain node predicate, and the attribute steps have none.
fn leaf_path_ids(
    archetype: &str,
    steps: &[cdr_aql::ast::PathStep],
    chain: usize,
    types: &[&str],
) -> Option<Vec<i64>> {
    let dv = steps.len().checked_sub(chain)?;
    if dv < 2 || steps[dv - 1].attribute.name != "value" {
        return None;
    }
    let mut path = String::new();
    for (i, step) in steps[..dv].iter().enumerate() {
        path.push('/');
        path.push_str(&step.attribute.name);
        let last = i + 1 == dv;
        match step.predicate.as_deref().map(|p| &p.kind) {
            None if last => {}
            Some(PredicateKind::Node(n)) if !last && n.name.is_none() => {
                path.push('[');
                path.push_str(&n.code.value);
                path.push(']');
            }
            _ => return None,
        }
    }
    if steps[dv..].iter().any(|s| s.predicate.is_some()) {
        return None;
    }
    Some(
        types
            .iter()
            .map(|t| crate::ids::path_id(archetype, &path, t))
            .collect(),
    )
}

/// How a leaf column prints as the JSON the document holds.
#[derive(Clone, Copy)]
enum LeafJson {
    /// A `double` attribute (serde's shortest form, `.0` on whole numbers).
    Real,
    /// An integer attribute.
    Integer,
    /// A string attribute.
    Text,
}

impl LeafJson {
    fn render(self, column: &str) -> String {
        match self {
            // Inside [1e-4, 1e15) PostgreSQL's shortest form equals serde's but for the `.0`
            // of whole numbers; outside it the value goes through numeric (same value).
            LeafJson::Real => format!(
                "CASE WHEN l.{column} = 0 OR abs(l.{column}) >= 1e-4 AND abs(l.{column}) < 1e15 \
                 THEN CASE WHEN l.{column} = trunc(l.{column}) THEN l.{column}::text || '.0' \
                 ELSE l.{column}::text END ELSE l.{column}::text::jsonb::text END"
            ),
            LeafJson::Integer => format!("(l.{column}::int8)::text"),
            LeafJson::Text => format!("to_jsonb(l.{column})::text"),
        }
    }
}

/// `= <id>` or `= ANY(<ids>)`, for a `path_id` column.
fn path_condition(ids: &[i64]) -> String {
    match ids {
        [id] => format!("= {}", int8_literal(*id)),
        _ => format!("= ANY({})", int8_array_literal(ids)),
    }
}

/// An `int8` SQL literal for a number the compiler computed (a dictionary or path id).
fn int8_literal(id: i64) -> String {
    format!("'{id}'::int8")
}

/// An `int8[]` SQL literal for ids the compiler computed.
fn int8_array_literal(ids: &[i64]) -> String {
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("'{{{}}}'::int8[]", list.join(","))
}

/// Compiles a parsed query.
pub(crate) fn compile(q: &Query, inputs: &Inputs) -> Result<Compiled> {
    let mut c = Compiler {
        inputs,
        params: Params::default(),
        vars: HashMap::new(),
        seq: 0,
        ehr_params: Vec::new(),
        all_versions: has_all_versions(&q.from),
        node_candidates: Vec::new(),
        leaf_filters: Vec::new(),
    };
    if let Some(id) = inputs.ehr_id {
        let p = c.params.push(id);
        c.ehr_params.push(p);
    }
    bind_ehr_from_where(&mut c, q)?;

    let mut scope = Scope::default();
    c.containment(&mut scope, &q.from, None)?;

    if let Some(w) = &q.where_clause {
        // Top-level conjuncts separately, so that `leaf_sourced` can find leaf comparisons.
        match &w.kind {
            WhereKind::And(items) => {
                for item in items {
                    let cond = c.condition(item)?;
                    scope.wheres.push(cond);
                }
            }
            _ => {
                let cond = c.condition(w)?;
                scope.wheres.push(cond);
            }
        }
    }

    // SELECT
    let mut outputs: Vec<String> = Vec::new();
    let mut columns = Vec::new();
    let mut group: Vec<String> = Vec::new();
    let mut has_aggregate = false;
    // Path text → (jsonb expression) of selected path columns, for ORDER BY.
    let mut selected: Vec<(String, Option<String>, String)> = Vec::new();
    for (i, col) in q.select.columns.iter().enumerate() {
        let name = col
            .alias
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_else(|| format!("#{i}"));
        let path_text = col.expr.to_string();
        let (text, json) = match &col.expr {
            ColumnExpr::Path(ip) => {
                let (text, json) = c.select_path(&mut scope, ip)?;
                group.push(text.clone());
                (text, Some(json))
            }
            ColumnExpr::Literal(l) => {
                let p = c.params.push(literal_json(&l.value).to_string());
                (format!("{p}::text"), None)
            }
            ColumnExpr::Aggregate(a) => {
                has_aggregate = true;
                let arg = match &a.argument {
                    AggregateArg::Star => None,
                    AggregateArg::Path(ip) => Some(c.select_path(&mut scope, ip)?.1),
                };
                let distinct = if a.distinct { "DISTINCT " } else { "" };
                let text = match (a.function, arg) {
                    (AggregateFunction::Count, None) => "to_jsonb(count(*))::text".to_owned(),
                    (AggregateFunction::Count, Some(v)) => {
                        format!("to_jsonb(count({distinct}{v}))::text")
                    }
                    (AggregateFunction::Min, Some(v)) => format!("cdr_min({distinct}{v})::text"),
                    (AggregateFunction::Max, Some(v)) => format!("cdr_max({distinct}{v})::text"),
                    (AggregateFunction::Sum, Some(v)) => {
                        format!("to_jsonb(sum({distinct}cdr_num({v})))::text")
                    }
                    (AggregateFunction::Avg, Some(v)) => {
                        format!("to_jsonb(avg({distinct}cdr_num({v})))::text")
                    }
                    (f, None) => {
                        return Err(QueryError::at(
                            a.span(),
                            format!("{}(*) is not defined; only COUNT(*) is", f.name()),
                        ))
                    }
                };
                (text, None)
            }
            ColumnExpr::Function(f) => {
                let json = c.function_expr(f, &mut ExprContext::Select(&mut scope))?;
                let text = format!("{json}::text");
                group.push(text.clone());
                (text, Some(json))
            }
            ColumnExpr::Terminology(t) => {
                let p = c.params.push(c.terminology(t)?.to_string());
                (format!("{p}::text"), None)
            }
        };
        if let Some(alias) = &col.alias {
            selected.push((alias.name.clone(), json.clone(), text.clone()));
        }
        selected.push((path_text.clone(), json, text.clone()));
        outputs.push(format!("{text} AS o{i}"));
        columns.push((name, path_text));
    }

    // ORDER BY keys become hidden trailing columns so DISTINCT and ORDER BY agree.
    let mut order = Vec::new();
    for (k, ob) in q.order_by.iter().enumerate() {
        let key_text = ob.path.to_string();
        let known = selected
            .iter()
            .find(|(t, _, _)| *t == key_text)
            .and_then(|(_, json, _)| json.clone());
        let key = match known {
            Some(json) => json,
            None => {
                if has_aggregate || q.select.distinct {
                    return Err(QueryError::at(
                        ob.span(),
                        "with DISTINCT or aggregates, ORDER BY must name a selected path or alias",
                    ));
                }
                let set = c.path_set(&ob.path)?;
                format!("(SELECT w.v FROM {set} AS w(v) LIMIT 1)")
            }
        };
        if has_aggregate {
            // Grouped: order by the selected (grouped) expression itself.
            let (_, _, text) = selected
                .iter()
                .find(|(t, _, _)| *t == key_text)
                .expect("checked above");
            order.push(format!("{text} {}", direction(ob.direction)));
            continue;
        }
        outputs.push(format!("{key} AS k{k}"));
        order.push(format!("k{k} {}", direction(ob.direction)));
    }

    {
        let mut outside: Vec<&mut String> = outputs
            .iter_mut()
            .chain(group.iter_mut())
            .chain(order.iter_mut())
            .collect();
        leaf_sourced(&mut scope, &c.node_candidates, &c.leaf_filters, &outside);
        scope.drop_unneeded(&mut outside);
    }
    let distinct = if q.select.distinct { "DISTINCT " } else { "" };
    let mut sql = format!("SELECT {distinct}{}{}", outputs.join(", "), scope.render());
    if has_aggregate && !group.is_empty() {
        sql.push_str(" GROUP BY ");
        sql.push_str(&group.join(", "));
    }
    if !order.is_empty() {
        sql.push_str(" ORDER BY ");
        sql.push_str(&order.join(", "));
    }
    let (limit, offset) = limits(q, inputs)?;
    if let Some(limit) = limit {
        let p = c.params.push(limit);
        sql.push_str(&format!(" LIMIT {p}"));
    }
    if let Some(offset) = offset {
        let p = c.params.push(offset);
        sql.push_str(&format!(" OFFSET {p}"));
    }
    Ok(Compiled {
        sql,
        ehr_bound: !c.ehr_params.is_empty(),
        params: c.params.0,
        columns,
    })
}

fn direction(d: SortDirection) -> &'static str {
    match d {
        SortDirection::Ascending => "ASC NULLS LAST",
        SortDirection::Descending => "DESC NULLS FIRST",
    }
}

/// LIMIT and OFFSET: the query's own (or TOP), else the request's fetch/offset, else the
/// default; never more than the maximum.
fn limits(q: &Query, inputs: &Inputs) -> Result<(Option<i64>, Option<i64>)> {
    let (mut limit, offset) = match (&q.limit, &q.select.top) {
        (Some(l), _) => (Some(l.row_count), l.offset),
        (None, Some(top)) => {
            if top.direction == Some(cdr_aql::ast::TopDirection::Backward) {
                return Err(QueryError::at(
                    top.span.get(),
                    "TOP … BACKWARD is not supported",
                ));
            }
            (Some(top.count), None)
        }
        (None, None) => (inputs.fetch.or(inputs.default_limit), inputs.offset),
    };
    if let Some(max) = inputs.max_rows {
        limit = Some(limit.map_or(max, |l| l.min(max)));
    }
    let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    Ok((limit.map(clamp), offset.map(clamp)))
}

impl Compiler<'_> {
    /// A selected path: (JSON text expression, jsonb expression).
    fn select_path(&mut self, scope: &mut Scope, ip: &IdentifiedPath) -> Result<(String, String)> {
        let var = self.var(&ip.variable)?.clone();
        if ip.path.is_none() && ip.predicate.is_none() {
            return Ok((var.facet("text").to_owned(), var.facet("value").to_owned()));
        }
        if let Some(scalar) = self.path_scalar(ip)? {
            return Ok((format!("{scalar}::text"), scalar));
        }
        if let Some(text) = self.leaf_select(&var, ip) {
            let s = self.alias("s");
            scope.left_lateral(format!("({text}) AS {s}(v)"));
            return Ok((format!("{s}.v"), format!("{s}.v::jsonb")));
        }
        let set = self.path_set(ip)?;
        let s = self.alias("s");
        scope.left_lateral(format!("{set} AS {s}(v)"));
        Ok((format!("{s}.v::text"), format!("{s}.v")))
    }
}

fn has_all_versions(c: &Containment) -> bool {
    let class_all = |ce: &ClassExpr| {
        matches!(ce, ClassExpr::Version(v) if matches!(
            v.predicate.as_ref().map(|p| &p.kind),
            Some(VersionPredicateKind::AllVersions | VersionPredicateKind::Standard(_))
        ))
    };
    match &c.kind {
        ContainmentKind::Class(ce) => class_all(ce),
        ContainmentKind::Contains { outer, inner, .. } => {
            class_all(outer) || has_all_versions(inner)
        }
        ContainmentKind::And(items) | ContainmentKind::Or(items) => {
            items.iter().any(has_all_versions)
        }
    }
}

/// `WHERE e/ehr_id/value = X AND …` at the top level binds the query to one EHR: every
/// EHR-scoped table then gets `ehr_id = $n`.
fn bind_ehr_from_where(c: &mut Compiler, q: &Query) -> Result<()> {
    let root = root_class(&q.from).filter(|rc| rc.rm_type.name == "EHR");
    let ehr_var = root.and_then(|rc| rc.variable.as_ref());
    let Some(ehr_var) = ehr_var else {
        return Ok(());
    };
    let mut conjuncts: Vec<&WhereExpr> = Vec::new();
    if let Some(w) = &q.where_clause {
        match &w.kind {
            WhereKind::And(items) => conjuncts.extend(items.iter()),
            _ => conjuncts.push(w),
        }
    }
    // The EHR predicate `[ehr_id/value = X]` binds too.
    let mut ids: Vec<Value> = Vec::new();
    if let Some(p) = root.and_then(|rc| rc.predicate.as_ref()) {
        if let PredicateKind::Standard(st) = &p.kind {
            if st.op == ComparisonOp::Eq && is_ehr_id_path(&st.path.steps) {
                match &st.operand {
                    PredicateOperand::Literal(l) => ids.push(literal_json(&l.value)),
                    PredicateOperand::Parameter(param) => ids.push(c.inputs.param(param)?.clone()),
                    _ => {}
                }
            }
        }
    }
    for w in conjuncts {
        if let WhereKind::Comparison {
            left,
            op: ComparisonOp::Eq,
            right,
        } = &w.kind
        {
            let (path, other) = match (left, right) {
                (Operand::Path(p), o) | (o, Operand::Path(p)) => (p, o),
                _ => continue,
            };
            if path.variable.name != ehr_var.name
                || path.predicate.is_some()
                || !path.path.as_ref().is_some_and(|p| is_ehr_id_path(&p.steps))
            {
                continue;
            }
            if let Some(v) = c.operand_value(other)? {
                ids.push(v);
            }
        }
    }
    for v in ids {
        match v.as_str().and_then(|s| Uuid::parse_str(s).ok()) {
            Some(id) => {
                let p = c.params.push(id);
                c.ehr_params.push(p);
            }
            None => {
                // No EHR has that id: bind to one that cannot exist so nothing matches.
                let p = c.params.push(Uuid::nil());
                c.ehr_params.push(p);
            }
        }
    }
    Ok(())
}

/// The outermost class expression of a FROM clause, when there is one.
fn root_class(c: &Containment) -> Option<&RmClassExpr> {
    match &c.kind {
        ContainmentKind::Class(ClassExpr::Rm(rc))
        | ContainmentKind::Contains {
            outer: ClassExpr::Rm(rc),
            ..
        } => Some(rc),
        _ => None,
    }
}

fn is_ehr_id_path(steps: &[cdr_aql::ast::PathStep]) -> bool {
    steps.len() == 2
        && steps[0].attribute.name == "ehr_id"
        && steps[1].attribute.name == "value"
        && steps.iter().all(|s| s.predicate.is_none())
}
