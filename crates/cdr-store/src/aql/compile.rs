//! SQL printed from a bound query (cdr-aql-bind): ONE parameterised SQL statement.
//!
//! Each FROM variable becomes rows of the store's tables or values inside a document:
//! - `EHR` → `ehr`;
//! - `VERSION` / `COMPOSITION` / `EHR_STATUS` → `versioned_object` + `object_version` (current
//!   version unless `ALL_VERSIONS`);
//! - entries and other archetype roots → `node` rows (nested set: `CONTAINS` is a range test);
//! - everything else (ELEMENT, non-archetyped CLUSTER, HISTORY, EVENT, …) → objects found by a
//!   SQL/JSON path (`.**`) inside the enclosing variable's document or node subtree (a node
//!   row points into its version's document: `document #> pointer`).
//!
//! Row nodes (multi-valued nodes of SELECT paths) are `LEFT JOIN LATERAL`s over the elements;
//! paths bound to a row start from its element. Paths become SQL/JSON path expressions
//! evaluated with `cdr_path_query` (`jsonb_path_query` with a small row estimate); WHERE
//! comparisons are existential (`EXISTS`), typed by
//! the literal (see SEMANTICS.md). Every literal, parameter and path is a bind parameter: the
//! SQL text is made of fixed fragments and `$n` only. What a query means was decided when it
//! was bound; this module only chooses tables and prints.

use serde_json::Value;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use cdr_aql::ast::{
    AggregateFunction, ComparisonOp, PathStep, Predicate, PredicateKind, PredicateOperand,
    SortDirection, TemporalKind,
};
use cdr_aql::Spanned;
use cdr_aql_bind::{
    compares_object_id, literal_json, Archetype, BoundQuery, Class, ColumnExpr, Condition, From,
    Function, Operand, OrderTarget, Path, RowId, VarId, VersionOf,
};
use cdr_rm::meta::RmType;

use super::error::Result;
use super::jsonpath::JsonPath;
use super::Inputs;
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
    /// When the statement pages (LIMIT or OFFSET), a statement counting the whole result; it
    /// takes the first `count_params` parameters (the paging values come last).
    pub count_sql: Option<String>,
    pub count_params: usize,
}

#[derive(Default)]
struct Params(Vec<Param>);

impl Params {
    fn push<T: ToSql + Sync + Send + 'static>(&mut self, v: T) -> String {
        self.0.push(Box::new(v));
        format!("${}", self.0.len())
    }
}

/// Which versioned objects (`versioned_object.kind`) a FROM variable reads: the condition on
/// the kind column.
#[derive(Debug, Clone, Copy)]
struct VoKinds(&'static str);

const COMPOSITIONS: VoKinds = VoKinds("= 1");
const EHR_STATUS: VoKinds = VoKinds("= 2");
const DIRECTORY: VoKinds = VoKinds("= 3");
/// The current compositions and the current EHR_STATUS of an EHR: the documents a class below
/// `EHR` that can lie in both ranges over.
const COMPOSITIONS_AND_EHR_STATUS: VoKinds = VoKinds("IN (1, 2)");

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

struct Compiler<'a, 'q> {
    b: &'a BoundQuery<'q>,
    inputs: &'a Inputs<'a>,
    params: Params,
    /// Bound FROM variables, by `VarId` (`None` under NOT CONTAINS or not yet bound).
    vars: Vec<Option<Var>>,
    /// The SQL alias of each row node's element (`rN.val`), by `RowId`.
    rows: Vec<Option<String>>,
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
    /// Selected leaf values filtered by the same path (see [`Zipped`]).
    zipped: Vec<Zipped>,
    /// Node rows joined to a leaf row by their keys (see `leaf_joined`).
    leaf_joins: Vec<LeafJoin>,
    /// Selected leaf values read from leaf rows where the node allows (see [`LeafGroup`]).
    leaf_groups: Vec<LeafGroup>,
}

/// Where leaf rows hold a path's final attributes: (attribute steps after the data value,
/// leaf column, data value types with how each prints).
type LeafTarget = (usize, &'static str, &'static [(&'static str, LeafJson)]);

/// The selected ELEMENT values (magnitude, units, code string) of a node variable whose row
/// nodes no other path passes through. Where the node row's `repeats` name none of the lists
/// the paths pass through (no list repeats the node id a path names), each path reaches at most
/// one value, so the node has one row holding each path's leaf value or null; elsewhere the
/// row nodes are evaluated on the document, inside the same lateral subquery.
struct LeafGroup {
    var: VarId,
    columns: Vec<LeafColumn>,
    /// The row nodes the paths pass through, parents first.
    rows: Vec<RowId>,
    /// The lateral subquery's alias, once emitted.
    alias: String,
}

/// A leaf group's column while its SQL is printed: path ids with how each prints, the leaf
/// column, and the path.
type GroupColumn<'p> = (Vec<(i64, LeafJson)>, &'static str, &'p Path<'p>);

/// A column of a [`LeafGroup`]: path ids with how each prints, and the leaf column.
struct LeafColumn {
    column: usize,
    ids: Vec<(i64, LeafJson)>,
    column_sql: &'static str,
}

/// A selected path whose rows a top-level comparison of the same path filters, when nothing
/// else passes through its row nodes: the rows that survive are exactly the leaf rows that
/// satisfy the comparison (an element without the value has a null, which no comparison
/// keeps), one per row. The path's row nodes are not joined; a `leaf` row is, right after the
/// variable's node row, and the column and the comparison read it.
struct Zipped {
    var: VarId,
    column: usize,
    conjunct: usize,
    /// Path ids with how each prints.
    ids: Vec<(i64, LeafJson)>,
    /// The leaf column holding the selected value.
    column_sql: &'static str,
    /// The comparison on the leaf row `l`.
    cmp: String,
    /// The leaf row's alias, once joined.
    alias: String,
}

/// A node row joined to a leaf row by (ehr_id, vo_id, num): when nothing else reads the node
/// row, the leaf row stands in for it (leaf path ids name the archetype, whose class the
/// variable accepts, so `own`, the node's type and archetype conditions, hold).
struct LeafJoin {
    node: String,
    leaf: String,
    join: String,
    own: Vec<String>,
}

impl<'a, 'q> Compiler<'a, 'q> {
    /// An RM type name as SQL: a literal (RM class names are upper-case letters, digits and `_`,
    /// from the compiler's own tables).
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

    fn var(&self, id: VarId) -> &Var {
        self.vars[id].as_ref().expect("bound before use")
    }

    // ---- FROM ------------------------------------------------------------------------------

    fn containment(&mut self, scope: &mut Scope, c: &From, parent: Option<VarId>) -> Result<()> {
        match c {
            From::Var(v) => {
                self.class(scope, *v, parent)?;
            }
            From::Contains {
                outer,
                negated,
                inner,
            } => {
                self.class(scope, *outer, parent)?;
                if *negated {
                    let mut sub = Scope::default();
                    self.containment(&mut sub, inner, Some(*outer))?;
                    // Variables under NOT CONTAINS are never bound.
                    scope
                        .wheres
                        .push(format!("NOT EXISTS (SELECT 1{})", sub.render()));
                } else {
                    self.containment(scope, inner, Some(*outer))?;
                }
            }
            From::And(items) => {
                for item in items {
                    self.containment(scope, item, parent)?;
                }
            }
            From::Or(items) => {
                let mut oks = Vec::with_capacity(items.len());
                for item in items {
                    let before: Vec<bool> = self.vars.iter().map(Option::is_some).collect();
                    let mut sub = Scope::default();
                    self.containment(&mut sub, item, parent)?;
                    let b = self.alias("b");
                    let mut cols = vec!["true AS ok".to_owned()];
                    let mut n = 0;
                    for (id, var) in self.vars.iter_mut().enumerate() {
                        let Some(var) = var.as_mut().filter(|_| !before[id]) else {
                            continue;
                        };
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

    fn class(&mut self, scope: &mut Scope, id: VarId, parent: Option<VarId>) -> Result<()> {
        let bv = &self.b.vars[id];
        let parent_var = parent.map(|p| self.var(p).clone());
        let parent = parent_var.as_ref();
        let var = match &bv.class {
            Class::Ehr => self.ehr(scope, id)?,
            Class::Version { all, of, predicate } => {
                let kind = match of {
                    VersionOf::Composition => COMPOSITIONS,
                    VersionOf::EhrStatus => EHR_STATUS,
                };
                let mut v = self.version_rows(scope, parent, *all, kind);
                v.kind = Kind::Version;
                if let Some(folder) = parent.filter(|p| p.kind == Kind::Folder) {
                    self.filed_in(scope, &v, folder);
                }
                if let Some(sp) = predicate {
                    let p = Predicate {
                        kind: PredicateKind::Standard((*sp).clone()),
                        span: bv.span.into(),
                    };
                    let cond = self.class_predicate(&v, &p)?;
                    scope.wheres.push(cond);
                }
                v
            }
            Class::Composition => {
                let var = match parent.map(|p| (p.kind, p)) {
                    Some((Kind::Folder, folder)) => {
                        let v = self.version_rows(scope, Some(folder), false, COMPOSITIONS);
                        self.filed_in(scope, &v, folder);
                        self.document_var(&v, Kind::Composition)
                    }
                    Some((Kind::Version, v)) => self.document_var(v, Kind::Composition),
                    _ => {
                        let v = self.version_rows(scope, parent, false, COMPOSITIONS);
                        self.document_var(&v, Kind::Composition)
                    }
                };
                match (&bv.archetype, bv.predicate) {
                    (Some(Archetype { id, name: None }), _) => {
                        let ph = self.params.push(id.clone());
                        scope
                            .wheres
                            .push(format!("{} = {ph}", var.facet("archetype")));
                    }
                    (_, _) => self.predicates(scope, &var, id)?,
                }
                var
            }
            Class::EhrStatus => {
                let var = match parent.map(|p| (p.kind, p)) {
                    Some((Kind::Version, v)) => self.document_var(v, Kind::Object),
                    _ => self.ehr_status(scope, parent),
                };
                self.predicates(scope, &var, id)?;
                var
            }
            Class::Folder => {
                let var = match parent.map(|p| (p.kind, p)) {
                    Some((Kind::Folder, f)) => self.sub_folders(scope, f),
                    _ => self.folders(scope, parent),
                };
                self.predicates(scope, &var, id)?;
                var
            }
            Class::Object(class) => self.object_class(scope, id, *class, parent)?,
        };
        if self.b.vars[id].impossible {
            scope.wheres.push("false".into());
        }
        // The caller's access predicate, once per FROM tree: every other variable of the tree
        // lies in the same EHR as its root (each is joined to its parent's EHR), so no row
        // of an EHR the caller may not see reaches the statement's result.
        if parent.is_none() {
            if let Some(access) = self.inputs.access {
                let params = &mut self.params;
                let mut push = |v: crate::access::Bind| params.push(v);
                // Bound to an EHR (every EHR-scoped table equals each binding), on the bound
                // id: evaluated once, by index probes; over the population, the EHRs whose
                // sharing is taken away are gathered once per statement.
                let predicate = match self.ehr_params.first() {
                    None => access.population_sql(var.facet("ehr"), &mut push),
                    Some(bound) => access.sql(bound, &mut push),
                };
                scope.wheres.push(predicate);
            }
        }
        self.vars[id] = Some(var);
        Ok(())
    }

    /// The class expression's archetype (as a node predicate) and other predicate, as
    /// conditions on the variable's object.
    fn predicates(&mut self, scope: &mut Scope, var: &Var, id: VarId) -> Result<()> {
        let bv = &self.b.vars[id];
        if let Some(a) = &bv.archetype {
            let mut jp = JsonPath::root();
            jp.archetype_filter(&a.id, a.name.as_ref());
            let path = self.params.push(jp.text.clone());
            let vars = self.params.push(jp.vars_text());
            scope.wheres.push(format!(
                "jsonb_path_exists({}, {path}::text::jsonpath, {vars}::text::jsonb)",
                var.facet("value")
            ));
        }
        if let Some(p) = bv.predicate {
            let cond = self.class_predicate(var, p)?;
            scope.wheres.push(cond);
        }
        Ok(())
    }

    fn ehr(&mut self, scope: &mut Scope, id: VarId) -> Result<Var> {
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
        match self.b.vars[id].predicate {
            // The query's EHR binding (`e[ehr_id/value = X]` on the outermost EHR): every
            // EHR-scoped table is already constrained to X.
            Some(p) if self.binds_ehr(id, p) => {}
            Some(p) => {
                let cond = self.class_predicate(&var, p)?;
                scope.wheres.push(cond);
            }
            None => {}
        }
        Ok(var)
    }

    /// Whether `p` on EHR variable `id` is what the binder took as the query's EHR binding:
    /// `[ehr_id/value = X]` on the outermost class expression (X is then among
    /// [`BoundQuery::ehr_ids`], and every EHR-scoped table equals it).
    fn binds_ehr(&self, id: VarId, p: &Predicate) -> bool {
        let outermost = matches!(
            self.b.from,
            From::Var(v) | From::Contains { outer: v, .. } if v == id
        );
        let PredicateKind::Standard(s) = &p.kind else {
            return false;
        };
        outermost
            && s.op == ComparisonOp::Eq
            && is_ehr_id_path(&s.path.steps)
            && matches!(
                s.operand,
                PredicateOperand::Literal(_) | PredicateOperand::Parameter(_)
            )
            && !self.b.ehr_ids.is_empty()
    }

    /// `versioned_object` + `object_version` rows of versioned objects of `kind` (see
    /// [`VoKinds`]): current versions, or all.
    fn version_rows(
        &mut self,
        scope: &mut Scope,
        ehr: Option<&Var>,
        all: bool,
        kind: VoKinds,
    ) -> Var {
        let vo = self.alias("vo");
        let ov = self.alias("ov");
        self.versioned_objects(scope, &vo, kind, ehr);
        if !all {
            scope.wheres.push(format!("NOT {vo}.deleted"));
        }
        // The current version of an object that is not deleted has a document, so its
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

    /// `versioned_object {vo}` rows of the kinds, in the EHR of `ehr` when given.
    fn versioned_objects(&mut self, scope: &mut Scope, vo: &str, kind: VoKinds, ehr: Option<&Var>) {
        scope.cross(format!("versioned_object {vo}"));
        scope.wheres.push(format!("{vo}.kind {}", kind.0));
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
        self.versioned_objects(scope, &vo, EHR_STATUS, ehr);
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
        self.versioned_objects(scope, &vo, DIRECTORY, ehr);
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
            "LATERAL cdr_path_query({base}, {path}::text::jsonpath, '{{}}', false) AS {f}(val)"
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

    /// Keeps the versions of rows `v` whose object folder `folder` (or a folder below it)
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

    /// The object a version row holds (its document), as a variable of `kind`.
    fn document_var(&self, v: &Var, kind: Kind) -> Var {
        Var {
            kind,
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

    /// Objects of any other RM class: node rows when every such object has one (an archetype
    /// root, or an entry), objects found in the enclosing document otherwise.
    fn object_class(
        &mut self,
        scope: &mut Scope,
        id: VarId,
        class: RmType,
        parent: Option<&Var>,
    ) -> Result<Var> {
        let types: Vec<&'static str> = class.concrete().map(RmType::name).collect();
        let base = match parent.map(|p| (p.kind, p)) {
            None | Some((Kind::Ehr, _)) => {
                // Below an EHR, the EHR_STATUS's content too where the class can lie there.
                let kind = match self.b.vars[id].with_status {
                    true => COMPOSITIONS_AND_EHR_STATUS,
                    false => COMPOSITIONS,
                };
                let v = self.version_rows(scope, parent, false, kind);
                self.document_var(&v, Kind::Composition)
            }
            Some((Kind::Version, v)) => self.document_var(v, Kind::Composition),
            Some((_, p)) => p.clone(),
        };
        let bv = &self.b.vars[id];
        let entries = class
            .concrete()
            .all(|t| t.conforms_to(RmType::ContentItem) && t != RmType::Section);
        let node_parent = matches!(base.kind, Kind::Composition | Kind::Node);
        let node_ok = !self.all_versions
            && node_parent
            && !types.is_empty()
            && match &bv.archetype {
                Some(a) => a.id.starts_with("openEHR-") || entries,
                None => bv.predicate.is_none() && entries,
            };
        if node_ok {
            let archetype = bv.archetype.clone();
            let rest = bv.predicate;
            let var = self.node_var(scope, id, &base, &types, archetype);
            if let Some(p) = rest {
                let cond = self.class_predicate(&var, p)?;
                scope.wheres.push(cond);
            }
            Ok(var)
        } else {
            self.object_var(scope, &base, &types, id)
        }
    }

    fn node_var(
        &mut self,
        scope: &mut Scope,
        id: VarId,
        base: &Var,
        types: &[&str],
        archetype: Option<Archetype>,
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
        let archetype_id = archetype.as_ref().map(|a| a.id.clone());
        let class_ok = archetype.as_ref().is_some_and(|a| {
            a.name.is_none()
                && a.id
                    .split('-')
                    .nth(2)
                    .and_then(|c| c.split('.').next())
                    .is_some_and(|c| types.contains(&c))
        });
        let type_condition = scope.wheres.last().expect("just pushed").clone();
        let mut own = None;
        if let Some(Archetype {
            id: archetype,
            name,
        }) = archetype
        {
            // Dictionary ids are written into the text so that cached (generic) plans see
            // the archetype's selectivity.
            let dict = int8_literal(dict_id(&archetype));
            scope.wheres.push(format!("{n}.archetype = {dict}"));
            if class_ok {
                let archetype_condition = scope.wheres.last().expect("just pushed").clone();
                own = Some(vec![type_condition, archetype_condition]);
                self.node_candidates.push(NodeCandidate {
                    alias: n.clone(),
                    own: own.clone().unwrap_or_default(),
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
        // A selected leaf value filtered by the same path joins its leaf row here.
        if let Some(z) = self.zipped.iter().position(|z| z.var == id) {
            let l = self.alias("l");
            scope.cross(format!("leaf {l}"));
            let join =
                format!("{l}.ehr_id = {n}.ehr_id AND {l}.vo_id = {n}.vo_id AND {l}.num = {n}.num");
            scope.wheres.push(join.clone());
            self.ehr_scope(scope, &format!("{l}.ehr_id"));
            let ids: Vec<i64> = self.zipped[z].ids.iter().map(|(id, _)| *id).collect();
            scope.wheres.push(format!(
                "{l}.path_id {} AND {}",
                path_condition(&ids),
                self.zipped[z].cmp.replace("l.", &format!("{l}."))
            ));
            self.zipped[z].alias = l.clone();
            self.leaf_joins.push(LeafJoin {
                node: n.clone(),
                leaf: l,
                join,
                own: own.unwrap_or_default(),
            });
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
        id: VarId,
    ) -> Result<Var> {
        let mut jp = JsonPath {
            text: "strict $.**{1 to last}".into(),
            ..JsonPath::default()
        };
        jp.type_filter(types);
        let bv = &self.b.vars[id];
        if let Some(a) = &bv.archetype {
            jp.archetype_filter(&a.id, a.name.as_ref());
        }
        if let Some(p) = bv.predicate {
            jp.filter(p, self.inputs)?;
        }
        let x = self.alias("x");
        let path = self.params.push(jp.text.clone());
        let vars = self.params.push(jp.vars_text());
        scope.cross(format!(
            "LATERAL cdr_path_query({}, {path}::text::jsonpath, {vars}::text::jsonb, false) AS {x}(val)",
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
                if is_ehr_id_path(&s.path.steps) {
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

    // ---- rows ------------------------------------------------------------------------------

    /// Joins the elements of each row node (`LEFT JOIN LATERAL`: a node without elements is one
    /// row with a null element), except the nodes a zipped leaf value stands for.
    fn row_nodes(&mut self, scope: &mut Scope) -> Result<()> {
        let skipped = self.zipped_rows();
        for (id, row) in self.b.rows.iter().enumerate() {
            if skipped.contains(&id) {
                continue;
            }
            let var = self.var(row.var).clone();
            let (base, steps, root_pred) = match row.parent {
                Some(p) => (
                    format!("{}.val", self.rows[p].as_deref().expect("parents first")),
                    row.steps(),
                    None,
                ),
                None => {
                    let steps = row.steps();
                    match (var.kind, steps.first()) {
                        (Kind::Ehr, Some(first))
                            if first.attribute.name == "ehr_status"
                                && first.predicate.is_none() =>
                        {
                            (var.facet("status").to_owned(), &steps[1..], None)
                        }
                        _ => (
                            var.facet("value").to_owned(),
                            steps,
                            row.path.predicate.as_deref(),
                        ),
                    }
                }
            };
            let jp = self.steps_path(root_pred, steps)?;
            let path = self.params.push(jp.text.clone());
            let vars = self.params.push(jp.vars_text());
            let r = self.alias("r");
            scope.left_lateral(format!(
                "cdr_path_query({base}, {path}::text::jsonpath, {vars}::text::jsonb, false) AS {r}(val)"
            ));
            self.rows[id] = Some(r);
        }
        Ok(())
    }

    /// The row nodes that zipped values and leaf groups stand for (evaluated inside their own
    /// subquery, or not at all).
    fn zipped_rows(&self) -> Vec<RowId> {
        let mut out: Vec<RowId> = self
            .leaf_groups
            .iter()
            .flat_map(|g| g.rows.clone())
            .collect();
        for z in &self.zipped {
            let ColumnExpr::Path(p) = &self.b.columns[z.column].expr else {
                continue;
            };
            out.extend(self.chain(p.anchor.map(|a| a.row)));
        }
        out
    }

    /// A row node and its ancestors.
    fn chain(&self, mut row: Option<RowId>) -> Vec<RowId> {
        let mut out = Vec::new();
        while let Some(r) = row {
            out.push(r);
            row = self.b.rows[r].parent;
        }
        out
    }

    // ---- paths -----------------------------------------------------------------------------

    /// The SQL/JSON path of `steps`, after `root` (a predicate on the starting object).
    fn steps_path<'s>(
        &self,
        root: Option<&Predicate>,
        steps: impl IntoIterator<Item = &'s PathStep>,
    ) -> Result<JsonPath> {
        let mut jp = JsonPath::root();
        if let Some(p) = root {
            jp.filter(p, self.inputs)?;
        }
        for step in steps {
            jp.attribute(&step.attribute.name)
                .map_err(|e| e.or_at(step.span()))?;
            if let Some(p) = &step.predicate {
                jp.filter(p, self.inputs)?;
            }
        }
        Ok(jp)
    }

    /// The first row node's predicate on the variable (`o[…]/…`), when `node` is one.
    fn row_root<'r>(node: &'r cdr_aql_bind::RowNode<'_>) -> Option<&'r Predicate> {
        if node.from == 0 {
            node.path.predicate.as_deref()
        } else {
            None
        }
    }

    /// The SQL set-returning expression yielding the values of a path (one jsonb per row).
    fn path_set(&mut self, p: &Path) -> Result<String> {
        if let Some(scalar) = self.path_scalar(p) {
            return Ok(format!("(VALUES ({scalar}))"));
        }
        let var = self.var(p.var).clone();
        let rest: Vec<&PathStep> = p.rest().iter().map(|s| s.ast).collect();
        let (base, steps, root_pred) = match p.anchor {
            Some(a) => (
                format!("{}.val", self.rows[a.row].as_deref().expect("row joined")),
                &rest[..],
                None,
            ),
            None => match (var.kind, rest.first()) {
                (Kind::Ehr, Some(first))
                    if first.attribute.name == "ehr_status" && first.predicate.is_none() =>
                {
                    (var.facet("status").to_owned(), &rest[1..], None)
                }
                _ => (
                    var.facet("value").to_owned(),
                    &rest[..],
                    p.ast.predicate.as_deref(),
                ),
            },
        };
        if steps.is_empty() && root_pred.is_none() {
            return Ok(format!("(VALUES ({base})) "));
        }
        let jp = self.steps_path(root_pred, steps.iter().copied())?;
        let path = self.params.push(jp.text.clone());
        let vars = self.params.push(jp.vars_text());
        Ok(format!(
            "cdr_path_query({base}, {path}::text::jsonpath, {vars}::text::jsonb, false)"
        ))
    }

    /// A single jsonb expression for a path when one is cheap (`e/ehr_id/value`), else `None`.
    fn path_scalar(&self, p: &Path) -> Option<String> {
        if p.anchor.is_some() || !p.plain() {
            return None;
        }
        let var = self.var(p.var);
        match (var.kind, p.names().as_slice()) {
            (Kind::Ehr, ["ehr_id", "value"]) => {
                Some(format!("to_jsonb({}::text)", var.facet("ehr")))
            }
            // The stored document's uid is its version uid; its template id is promoted.
            (Kind::Composition | Kind::Version, ["uid", "value"]) => {
                Some(var.facet("uid").to_owned())
            }
            (Kind::Composition, ["archetype_details", "template_id", "value"]) => {
                Some(var.facet("template").to_owned())
            }
            _ => None,
        }
    }

    // ---- WHERE -----------------------------------------------------------------------------

    /// An operand as one `jsonb` expression. In WHERE a path adds its value set to `sets` (the
    /// comparison then ranges over them, existentially); in SELECT it is the selected
    /// column's value (rows multiply as for any selected path).
    fn operand_expr(&mut self, o: &Operand, ctx: &mut ExprContext) -> Result<String> {
        match o {
            Operand::Value(v) => {
                let p = self.params.push(v.to_string());
                Ok(format!("{p}::text::jsonb"))
            }
            Operand::Path(p) => match ctx {
                ExprContext::Where(sets) => {
                    let set = self.path_set(p)?;
                    let a = self.alias("a");
                    sets.push(format!("{set} AS {a}(v)"));
                    Ok(format!("{a}.v"))
                }
                ExprContext::Select(scope) => Ok(self.select_path(scope, p)?.1),
            },
            Operand::Function(f) => self.function_expr(f, ctx),
        }
    }

    fn function_expr(&mut self, f: &Function, ctx: &mut ExprContext) -> Result<String> {
        let mut args = Vec::with_capacity(f.args.len());
        for a in &f.args {
            args.push(self.operand_expr(a, ctx)?);
        }
        Ok(super::functions::builtin_sql(f.builtin, &args))
    }

    fn condition(&mut self, c: &Condition) -> Result<String> {
        match c {
            Condition::And(items) | Condition::Or(items) => {
                let sep = if matches!(c, Condition::And(_)) {
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
            Condition::Not(inner) => Ok(format!("NOT ({})", self.condition(inner)?)),
            Condition::Exists(p) => {
                let set = self.path_set(p)?;
                Ok(format!(
                    "EXISTS (SELECT 1 FROM {set} AS w(v) WHERE w.v IS NOT NULL)"
                ))
            }
            Condition::Compare { left, op, right }
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
            Condition::Compare { left, op, right } => match (left, right) {
                (Operand::Path(p), Operand::Value(v)) => self.compare_path(p, *op, v),
                (Operand::Value(v), Operand::Path(p)) => self.compare_path(p, flip(*op), v),
                (Operand::Path(a), Operand::Path(b)) => {
                    let sa = self.path_set(a)?;
                    let sb = self.path_set(b)?;
                    let (l, r) = (self.natural(a, "w.v"), self.natural(b, "u.v"));
                    Ok(format!(
                        "EXISTS (SELECT 1 FROM {sa} AS w(v), {sb} AS u(v) \
                             WHERE cdr_cmp({l}, {r}) {} 0)",
                        sql_op(*op)
                    ))
                }
                (Operand::Value(a), Operand::Value(b)) => {
                    let pa = self.params.push(a.to_string());
                    let pb = self.params.push(b.to_string());
                    Ok(format!(
                        "coalesce(cdr_cmp({pa}::text::jsonb, {pb}::text::jsonb) {} 0, false)",
                        sql_op(*op)
                    ))
                }
                _ => unreachable!("functions handled above"),
            },
            Condition::Like { path, pattern } => {
                let Some(pattern) = pattern else {
                    return Ok("false".into());
                };
                let set = self.path_set(path)?;
                let ph = self.params.push(pattern.to_sql());
                Ok(format!(
                    "EXISTS (SELECT 1 FROM {set} AS w(v) WHERE cdr_str(w.v) LIKE {ph}::text)"
                ))
            }
            Condition::Matches { path, values } => {
                let mut parts = Vec::with_capacity(values.len());
                for value in values {
                    parts.push(self.compare_path(path, ComparisonOp::Eq, value)?);
                }
                if parts.is_empty() {
                    return Ok("false".into());
                }
                Ok(parts.join(" OR "))
            }
        }
    }

    /// A path value as it compares: DV_ORDERED objects by their natural value (see
    /// SEMANTICS.md), when the path may reach them.
    fn natural(&self, p: &Path, x: &str) -> String {
        if p.types.may_be_ordered() {
            format!("cdr_natural({x})")
        } else {
            x.to_owned()
        }
    }

    /// `some value of path op value`, typed by the value.
    fn compare_path(&mut self, p: &Path, op: ComparisonOp, value: &Value) -> Result<String> {
        let var = self.var(p.var).clone();
        if var.kind == Kind::Ehr
            && p.anchor.is_none()
            && p.ast.predicate.is_none()
            && is_ehr_id_path(&p.steps.iter().map(|s| s.ast.clone()).collect::<Vec<_>>())
        {
            return Ok(self.ehr_id_cmp(&var, op, value));
        }
        if compares_object_id(self.b, p, value) {
            // An object id matches every version of the object.
            let s = value.as_str().unwrap_or_default().to_owned();
            let ordering = !matches!(op, ComparisonOp::Eq | ComparisonOp::Ne);
            return Ok(match (Uuid::parse_str(&s), ordering) {
                (Ok(id), false) => {
                    let ph = self.params.push(id);
                    format!("{} {} {ph}", var.facet("vo"), sql_op(op))
                }
                (Err(_), false) if op == ComparisonOp::Eq => "false".into(),
                _ => {
                    let ph = self.params.push(s);
                    format!(
                        "{}::text COLLATE \"C\" {} {ph}::text COLLATE \"C\"",
                        var.facet("vo"),
                        sql_op(op)
                    )
                }
            });
        }
        if p.anchor.is_none() {
            if let Some(cond) = self.leaf_cmp(&var, p, op, value) {
                return Ok(cond);
            }
        }
        let x = self.natural(p, "w.v");
        let Some(cmp) = self.typed_cmp(&x, op, value) else {
            return Ok("false".into());
        };
        let set = self.path_set(p)?;
        Ok(format!("EXISTS (SELECT 1 FROM {set} AS w(v) WHERE {cmp})"))
    }

    /// The leaf rows' (chain, column, types) for a path's final attributes, when a leaf column
    /// holds them: `(attribute steps after the data value, column, data value types)`.
    fn leaf_target(names: &[&str]) -> Option<LeafTarget> {
        use LeafJson::{Integer, Real, Text};
        Some(match names {
            [.., "magnitude"] => (1, "v_num", &[("DV_QUANTITY", Real), ("DV_COUNT", Integer)]),
            [.., "units"] => (1, "v_text", &[("DV_QUANTITY", Text)]),
            [.., "symbol", "defining_code", "code_string"] => {
                (3, "v_code", &[("DV_ORDINAL", Text), ("DV_SCALE", Text)])
            }
            [.., "defining_code", "code_string"] => (2, "v_code", &[("DV_CODED_TEXT", Text)]),
            _ => return None,
        })
    }

    /// The comparison of a leaf column with a value, on leaf row `l`, when the leaf rows hold
    /// exactly the compared attribute of the path's final steps: (path ids, condition).
    fn leaf_condition(
        &mut self,
        archetype: &str,
        p: &Path,
        op: ComparisonOp,
        value: &Value,
    ) -> Option<(Vec<i64>, String)> {
        let steps: Vec<PathStep> = p.steps.iter().map(|s| s.ast.clone()).collect();
        let names = p.names();
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
        let ids = leaf_path_ids(archetype, &steps, chain, types)?;
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
        Some((
            ids,
            format!("l.{column}{collate} {} {rhs}{collate}", sql_op(op)),
        ))
    }

    /// The same comparison on leaf rows, when they hold exactly the compared attribute: a node
    /// variable with a known archetype, a path not bound to a row whose every step before the
    /// data value has a plain node predicate (so it is the leaf's path), and an
    /// attribute/literal pair some leaf column represents exactly. Leaf rows exist for every
    /// occurrence, so `EXISTS` over them is the existential comparison of SEMANTICS.md.
    fn leaf_cmp(&mut self, var: &Var, p: &Path, op: ComparisonOp, value: &Value) -> Option<String> {
        if var.kind != Kind::Node || p.ast.predicate.is_some() || p.anchor.is_some() {
            return None;
        }
        let archetype = var.archetype.clone()?;
        let (ids, cmp) = self.leaf_condition(&archetype, p, op, value)?;
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
                _ if x.starts_with("cdr_natural(") && is_duration(s) => {
                    // A duration literal stands for its length beside DV_DURATION objects.
                    let p = self.params.push(s.clone());
                    format!(
                        "(CASE WHEN {inner} ->> '_type' = 'DV_DURATION' THEN cdr_num({x}) END) \
                         {op} cdr_duration_seconds({p}::text)",
                        inner = &x["cdr_natural(".len()..x.len() - 1]
                    )
                }
                _ => {
                    let p = self.params.push(s.clone());
                    format!("cdr_str({x}) COLLATE \"C\" {op} {p}::text COLLATE \"C\"")
                }
            },
            _ => return None,
        })
    }

    // ---- SELECT ----------------------------------------------------------------------------

    /// A selected path: (JSON text expression, jsonb expression).
    fn select_path(&mut self, scope: &mut Scope, p: &Path) -> Result<(String, String)> {
        let var = self.var(p.var).clone();
        if p.anchor.is_none() && p.ast.path.is_none() && p.ast.predicate.is_none() {
            return Ok((var.facet("text").to_owned(), var.facet("value").to_owned()));
        }
        if let Some(scalar) = self.path_scalar(p) {
            return Ok((format!("{scalar}::text"), scalar));
        }
        if let (Some(a), true) = (p.anchor, p.rest().is_empty()) {
            let r = self.rows[a.row].clone().expect("row joined");
            return Ok((format!("{r}.val::text"), format!("{r}.val")));
        }
        let set = self.path_set(p)?;
        let s = self.alias("s");
        scope.left_lateral(format!("{set} AS {s}(v)"));
        Ok((format!("{s}.v::text"), format!("{s}.v")))
    }

    /// Whether no path but `mine` passes through their row nodes (and no row node hangs below
    /// them).
    fn exclusive_rows(&self, mine: &[&Path]) -> bool {
        let b = self.b;
        let own: Vec<RowId> = mine
            .iter()
            .flat_map(|p| self.chain(p.anchor.map(|a| a.row)))
            .collect();
        let shared = b
            .paths()
            .into_iter()
            .filter(|x| !mine.iter().any(|m| std::ptr::eq(*x, *m)))
            .filter_map(|x| x.anchor)
            .any(|a| self.chain(Some(a.row)).iter().any(|r| own.contains(r)))
            || b.rows
                .iter()
                .enumerate()
                .any(|(r, n)| !own.contains(&r) && n.parent.is_some_and(|x| own.contains(&x)));
        !shared
    }

    /// The leaf rows that hold a selected path's value: path ids with how each prints, and
    /// the leaf column; `None` unless the path is a node variable's (archetype, no name, not
    /// under OR) ELEMENT value attribute that leaf rows hold exactly.
    fn leaf_value(&self, p: &Path) -> Option<(Vec<(i64, LeafJson)>, &'static str)> {
        let bv = &self.b.vars[p.var];
        let archetype = bv.archetype.as_ref().filter(|a| a.name.is_none())?;
        if p.ast.predicate.is_some() || under_or(&self.b.from, p.var, false) {
            return None;
        }
        let names = p.names();
        let (chain, column, types) = Self::leaf_target(&names)?;
        let steps: Vec<PathStep> = p.steps.iter().map(|s| s.ast.clone()).collect();
        let type_names: Vec<&str> = types.iter().map(|(t, _)| *t).collect();
        let ids = leaf_path_ids(&archetype.id, &steps, chain, &type_names)?;
        Some((
            ids.into_iter().zip(types.iter().map(|(_, j)| *j)).collect(),
            column,
        ))
    }

    /// Finds the selected leaf values that a top-level comparison of the same path filters
    /// (see [`Zipped`]), and the other selected leaf values whose rows are their own (see
    /// [`LeafGroup`]).
    fn plan_leaf_values(&mut self) {
        let b = self.b;
        let conjuncts = b
            .condition
            .as_ref()
            .map(Condition::conjuncts)
            .unwrap_or_default();
        for (ci, col) in b.columns.iter().enumerate() {
            let ColumnExpr::Path(p) = &col.expr else {
                continue;
            };
            if p.anchor.is_none() || self.zipped.iter().any(|z| z.var == p.var) {
                continue;
            }
            let Some((ids, column)) = self.leaf_value(p) else {
                continue;
            };
            // The comparison: a conjunct `p op value` of the same path.
            let found = conjuncts.iter().enumerate().find_map(|(k, c)| match c {
                Condition::Compare {
                    left: Operand::Path(q),
                    op,
                    right: Operand::Value(v),
                } if q.ast == p.ast => Some((k, *op, v, q)),
                Condition::Compare {
                    left: Operand::Value(v),
                    op,
                    right: Operand::Path(q),
                } if q.ast == p.ast => Some((k, flip(*op), v, q)),
                _ => None,
            });
            if let Some((k, op, value, q)) = found {
                if !self.exclusive_rows(&[p, q]) {
                    continue;
                }
                let archetype = b.vars[p.var].archetype.clone().expect("leaf value");
                // The selected value and the comparison read the same leaf rows.
                let Some((cmp_ids, cmp)) = self.leaf_condition(&archetype.id, q, op, value) else {
                    continue;
                };
                if cmp_ids != ids.iter().map(|(id, _)| *id).collect::<Vec<_>>() {
                    continue;
                }
                self.zipped.push(Zipped {
                    var: p.var,
                    column: ci,
                    conjunct: k,
                    ids,
                    column_sql: column,
                    cmp,
                    alias: String::new(),
                });
            } else {
                let c = LeafColumn {
                    column: ci,
                    ids,
                    column_sql: column,
                };
                match self.leaf_groups.iter_mut().find(|g| g.var == p.var) {
                    Some(g) => g.columns.push(c),
                    None => self.leaf_groups.push(LeafGroup {
                        var: p.var,
                        columns: vec![c],
                        rows: Vec::new(),
                        alias: String::new(),
                    }),
                }
            }
        }
        // A group stands only when its row nodes are its own.
        let groups = std::mem::take(&mut self.leaf_groups);
        for mut g in groups {
            let paths: Vec<&Path> = g
                .columns
                .iter()
                .filter_map(|c| match &b.columns[c.column].expr {
                    ColumnExpr::Path(p) => Some(p),
                    _ => None,
                })
                .collect();
            if self.zipped.iter().any(|z| z.var == g.var) || !self.exclusive_rows(&paths) {
                continue;
            }
            let mut rows: Vec<RowId> = paths
                .iter()
                .flat_map(|p| self.chain(p.anchor.map(|a| a.row)))
                .collect();
            rows.sort_unstable();
            rows.dedup();
            g.rows = rows;
            self.leaf_groups.push(g);
        }
    }

    /// The document branch of a leaf group of several columns: its row nodes as laterals,
    /// then each column's value.
    fn group_document(
        &mut self,
        g: usize,
        var: &Var,
        columns: &[GroupColumn],
        unique: &str,
    ) -> Result<String> {
        let b = self.b;
        let mut from = String::from("(SELECT 1) AS one");
        let mut aliases: Vec<(RowId, String)> = Vec::new();
        for &r in &self.leaf_groups[g].rows.clone() {
            let node = &b.rows[r];
            let base = match node.parent {
                Some(p) => {
                    let a = &aliases
                        .iter()
                        .find(|(x, _)| *x == p)
                        .expect("parents first")
                        .1;
                    format!("{a}.val")
                }
                None => var.facet("value").to_owned(),
            };
            let jp = self.steps_path(Self::row_root(node), node.steps())?;
            let path = self.params.push(jp.text.clone());
            let vars = self.params.push(jp.vars_text());
            let a = self.alias("r");
            from.push_str(&format!(
                " LEFT JOIN LATERAL cdr_path_query({base}, {path}::text::jsonpath, \
                 {vars}::text::jsonb, false) AS {a}(val) ON true"
            ));
            aliases.push((r, a));
        }
        let mut selected = Vec::with_capacity(columns.len());
        for (k, (_, _, p)) in columns.iter().enumerate() {
            let anchor = p.anchor.expect("anchored");
            let base = &aliases
                .iter()
                .find(|(x, _)| *x == anchor.row)
                .expect("joined")
                .1;
            let jp = self.steps_path(None, p.rest().iter().map(|s| s.ast))?;
            let path = self.params.push(jp.text.clone());
            let vars = self.params.push(jp.vars_text());
            from.push_str(&format!(
                " LEFT JOIN LATERAL cdr_path_query({base}.val, {path}::text::jsonpath, \
                 {vars}::text::jsonb, false) AS t{k}(v) ON true"
            ));
            selected.push(format!("t{k}.v::text"));
        }
        Ok(format!(
            "SELECT {} FROM {from} WHERE NOT coalesce({unique}, false)",
            selected.join(", ")
        ))
    }

    /// A leaf group's lateral subquery (see [`LeafGroup`]); its alias, whose columns `c0`,
    /// `c1`, … are the group's values as JSON text.
    fn group_select(&mut self, scope: &mut Scope, g: usize) -> Result<String> {
        let b = self.b;
        let var = self.var(self.leaf_groups[g].var).clone();
        let n = var
            .facet("num")
            .strip_suffix(".num")
            .expect("a node variable")
            .to_owned();
        let columns: Vec<GroupColumn> = self.leaf_groups[g]
            .columns
            .iter()
            .filter_map(|c| match &b.columns[c.column].expr {
                ColumnExpr::Path(p) => Some((c.ids.clone(), c.column_sql, p)),
                _ => None,
            })
            .collect();
        // The lists the paths pass through (as `NodeRow::repeats` names them), and the empty
        // string that a node row's unreadable repeats stand as.
        let mut lists = vec![String::new()];
        for (_, _, p) in &columns {
            let mut prefix = String::new();
            for step in &p.steps[..p.anchor.map_or(0, |a| a.depth)] {
                prefix.push('/');
                prefix.push_str(&step.ast.attribute.name);
                if let Some(PredicateKind::Node(node)) =
                    step.ast.predicate.as_deref().map(|p| &p.kind)
                {
                    prefix.push('[');
                    prefix.push_str(&node.code.value);
                    prefix.push(']');
                }
                if step.multiple && !lists.contains(&prefix) {
                    lists.push(prefix.clone());
                }
            }
        }
        let lists = self.params.push(lists);
        let unique = format!("{n}.repeats IS NOT NULL AND NOT ({n}.repeats && {lists}::text[])");
        // Where no list repeats: each value from the node's leaf rows (at most one leaf row
        // holds it: the paths reach at most one ELEMENT, whose value has one RM type).
        let mut values = Vec::with_capacity(columns.len());
        let mut alone = None;
        for (k, (ids, column, _)) in columns.iter().enumerate() {
            let several = ids.len() > 1;
            let branches: Vec<String> = ids
                .iter()
                .map(|(id, json)| {
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
                        self.leaf_rows(&var, std::slice::from_ref(id))
                    )
                })
                .collect();
            if columns.len() == 1 {
                // One value: the leaf rows are the group's rows themselves (none: the
                // lateral join's null).
                let gated: Vec<String> = branches
                    .iter()
                    .map(|b| format!("{b} AND {unique}"))
                    .collect();
                alone = Some(gated.join(" UNION ALL "));
                break;
            }
            values.push(format!(
                "(SELECT u.v FROM ({}) AS u(v) LIMIT 1) AS c{k}",
                branches.join(" UNION ALL ")
            ));
        }
        let leaf = alone.unwrap_or_else(|| format!("SELECT {} WHERE {unique}", values.join(", ")));
        // Elsewhere the row nodes and the values, from the document.
        let doc = if let [(_, _, p)] = columns.as_slice() {
            // One path: its row nodes are a chain, evaluated by one function call.
            let mut paths = Vec::new();
            let mut vars = Vec::new();
            for &r in &self.leaf_groups[g].rows.clone() {
                let node = &b.rows[r];
                let jp = self.steps_path(Self::row_root(node), node.steps())?;
                paths.push(jp.text.clone());
                vars.push(jp.vars_text());
            }
            let jp = self.steps_path(None, p.rest().iter().map(|s| s.ast))?;
            paths.push(jp.text.clone());
            vars.push(jp.vars_text());
            let paths = self.params.push(paths);
            let vars = self.params.push(vars);
            format!(
                "SELECT v.v::text FROM cdr_path_rows({}, {paths}::text[]::jsonpath[], \
                 {vars}::text[]::jsonb[]) AS v(v) WHERE NOT coalesce({unique}, false)",
                var.facet("value")
            )
        } else {
            self.group_document(g, &var, &columns, &unique)?
        };
        let s = self.alias("g");
        let names: Vec<String> = (0..columns.len()).map(|k| format!("c{k}")).collect();
        scope.left_lateral(format!(
            "({leaf} UNION ALL {doc}) AS {s}({})",
            names.join(", ")
        ));
        Ok(s)
    }
}

/// Whether variable `v` is bound inside an OR of the containment (its SQL columns are then a
/// branch's).
fn under_or(from: &From, v: VarId, inside: bool) -> bool {
    match from {
        From::Var(x) => *x == v && inside,
        From::Contains { outer, inner, .. } => {
            (*outer == v && inside) || under_or(inner, v, inside)
        }
        From::And(items) => items.iter().any(|i| under_or(i, v, inside)),
        From::Or(items) => items.iter().any(|i| under_or(i, v, true)),
    }
}

/// Whether a string is an ISO 8601 duration (`P1Y2M`, `PT5M`, `P2W`, `-P1D`).
fn is_duration(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    let Some(rest) = body.strip_prefix('P') else {
        return false;
    };
    !rest.is_empty()
        && rest != "T"
        && rest
            .bytes()
            .all(|b| b.is_ascii_digit() || b"YMWDTHS.,".contains(&b))
        && rest.bytes().any(|b| b.is_ascii_alphabetic() && b != b'T')
}

/// Node rows joined to a leaf row by their keys give way to it when nothing else reads them
/// (see [`LeafJoin`]).
fn leaf_joined(scope: &mut Scope, joins: &[LeafJoin], outside: &mut [&mut String]) {
    for j in joins {
        if j.own.is_empty() {
            continue;
        }
        let table = format!("node {}", j.node);
        let Some(item) = scope
            .items
            .iter()
            .position(|(t, lateral)| !lateral && *t == table)
        else {
            continue;
        };
        let own: Vec<usize> = j
            .own
            .iter()
            .chain([&j.join])
            .filter_map(|o| scope.wheres.iter().position(|w| w == o))
            .collect();
        if own.len() != j.own.len() + 1 {
            continue;
        }
        if !keys_only(scope, &j.node, item, &own, outside) {
            continue;
        }
        let rename = |t: &str| {
            let mut t = t.to_owned();
            for c in ["ehr_id", "vo_id", "num"] {
                t = replace_token(&t, &format!("{}.{c}", j.node), &format!("{}.{c}", j.leaf));
            }
            t
        };
        // The leaf row takes the node row's place in the FROM list (laterals after it may
        // read its keys).
        let leaf_item = format!("leaf {}", j.leaf);
        scope.items.retain(|(t, _)| *t != leaf_item);
        scope.items[item].0 = leaf_item;
        for i in own {
            scope.wheres[i] = "true".into();
        }
        for (t, _) in scope.items.iter_mut() {
            *t = rename(t);
        }
        for w in scope.wheres.iter_mut() {
            *w = rename(w);
        }
        for t in outside.iter_mut() {
            **t = rename(t);
        }
    }
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
        let skipped: Vec<usize> = own.iter().copied().chain([exists]).collect();
        if !keys_only(scope, &n.alias, item, &skipped, outside) {
            continue;
        }
        scope.items[item].0 = format!("({}) {}", filter.source, n.alias);
        for i in own.into_iter().chain([exists]) {
            scope.wheres[i] = "true".into();
        }
    }
}

/// Whether every mention of table alias `alias` outside FROM item `item` and conditions
/// `skipped` (in the statement's other pieces too) is one of its key columns.
fn keys_only(
    scope: &Scope,
    alias: &str,
    item: usize,
    skipped: &[usize],
    outside: &[&mut String],
) -> bool {
    scope
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
                .filter(|(i, _)| !skipped.contains(i))
                .map(|(_, t)| t),
        )
        .chain(outside.iter().map(|t| &**t))
        .all(|t| only_key_columns(t, alias))
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
    op.mirrored()
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

/// Compiles a bound query.
pub(crate) fn compile(b: &BoundQuery, inputs: &Inputs) -> Result<Compiled> {
    let mut c = Compiler {
        b,
        inputs,
        params: Params::default(),
        vars: vec![None; b.vars.len()],
        rows: vec![None; b.rows.len()],
        seq: 0,
        ehr_params: Vec::new(),
        all_versions: b
            .vars
            .iter()
            .any(|v| matches!(v.class, Class::Version { all: true, .. })),
        node_candidates: Vec::new(),
        leaf_filters: Vec::new(),
        zipped: Vec::new(),
        leaf_joins: Vec::new(),
        leaf_groups: Vec::new(),
    };
    if let Some(id) = inputs.ehr_id {
        let p = c.params.push(id);
        c.ehr_params.push(p);
    }
    for v in &b.ehr_ids {
        let id = v
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            // No EHR has that id: bind to one that cannot exist so nothing matches.
            .unwrap_or(Uuid::nil());
        let p = c.params.push(id);
        c.ehr_params.push(p);
    }
    c.plan_leaf_values();

    let mut scope = Scope::default();
    c.containment(&mut scope, &b.from, None)?;
    // Leaf values only for the variables that became node rows.
    c.zipped.retain(|z| !z.alias.is_empty());
    let node = |c: &Compiler, p: usize| {
        let ColumnExpr::Path(p) = &b.columns[p].expr else {
            return false;
        };
        let v = c.var(p.var);
        v.kind == Kind::Node && v.facet("num").ends_with(".num")
    };
    let groups = std::mem::take(&mut c.leaf_groups);
    c.leaf_groups = groups
        .into_iter()
        .filter(|g| node(&c, g.columns[0].column))
        .collect();
    c.row_nodes(&mut scope)?;

    if let Some(w) = &b.condition {
        // Top-level conjuncts separately, so that `leaf_sourced` can find leaf comparisons.
        for (k, item) in w.conjuncts().into_iter().enumerate() {
            if c.zipped.iter().any(|z| z.conjunct == k) {
                continue; // on the joined leaf row
            }
            let cond = c.condition(item)?;
            scope.wheres.push(cond);
        }
    }

    // SELECT
    let mut outputs: Vec<String> = Vec::new();
    let mut columns = Vec::new();
    let mut group: Vec<String> = Vec::new();
    // Per column: (JSON text expression, jsonb expression when it has one).
    let mut selected: Vec<(String, Option<String>)> = Vec::new();
    let aggregated = b.aggregated();
    for (i, col) in b.columns.iter().enumerate() {
        let (text, json) = match &col.expr {
            ColumnExpr::Path(_) if c.zipped.iter().any(|z| z.column == i) => {
                let z = c.zipped.iter().find(|z| z.column == i).expect("found");
                let render = |j: LeafJson| {
                    j.render(z.column_sql)
                        .replace("l.", &format!("{}.", z.alias))
                };
                let text = match z.ids.as_slice() {
                    [(_, j)] => render(*j),
                    ids => {
                        let arms: Vec<String> = ids
                            .iter()
                            .map(|(id, j)| {
                                format!("WHEN {} THEN {}", int8_literal(*id), render(*j))
                            })
                            .collect();
                        format!("(CASE {}.path_id {} END)", z.alias, arms.join(" "))
                    }
                };
                group.push(text.clone());
                let json = format!("({text})::jsonb");
                (text, Some(json))
            }
            ColumnExpr::Path(_)
                if c.leaf_groups
                    .iter()
                    .any(|g| g.columns.iter().any(|x| x.column == i)) =>
            {
                let g = c
                    .leaf_groups
                    .iter()
                    .position(|g| g.columns.iter().any(|x| x.column == i))
                    .expect("found");
                if c.leaf_groups[g].alias.is_empty() {
                    c.leaf_groups[g].alias = c.group_select(&mut scope, g)?;
                }
                let k = c.leaf_groups[g]
                    .columns
                    .iter()
                    .position(|x| x.column == i)
                    .expect("found");
                let text = format!("{}.c{k}", c.leaf_groups[g].alias);
                group.push(text.clone());
                (text.clone(), Some(format!("{text}::jsonb")))
            }
            ColumnExpr::Path(p) => {
                let (text, json) = c.select_path(&mut scope, p)?;
                group.push(text.clone());
                (text, Some(json))
            }
            ColumnExpr::Value(v) => {
                let p = c.params.push(v.to_string());
                (format!("{p}::text"), None)
            }
            ColumnExpr::Aggregate(a) => {
                let arg = match &a.arg {
                    None => None,
                    Some(p) => Some(c.select_path(&mut scope, p)?.1),
                };
                let distinct = if a.distinct { "DISTINCT " } else { "" };
                let text = match (a.function, arg) {
                    (AggregateFunction::Count, None) => "to_jsonb(count(*))::text".to_owned(),
                    (AggregateFunction::Count, Some(v)) => {
                        format!("to_jsonb(count({distinct}{v}))::text")
                    }
                    (AggregateFunction::Min, Some(v)) if a.natural() => {
                        format!("cdr_min_natural({distinct}{v})::text")
                    }
                    (AggregateFunction::Max, Some(v)) if a.natural() => {
                        format!("cdr_max_natural({distinct}{v})::text")
                    }
                    (AggregateFunction::Min, Some(v)) => format!("cdr_min({distinct}{v})::text"),
                    (AggregateFunction::Max, Some(v)) => format!("cdr_max({distinct}{v})::text"),
                    (AggregateFunction::Sum, Some(v)) => {
                        format!("to_jsonb(sum({distinct}cdr_num({v})))::text")
                    }
                    (AggregateFunction::Avg, Some(v)) => {
                        // Without trailing zeros: 119, not 119.0000000000000000.
                        format!("to_jsonb(trim_scale(avg({distinct}cdr_num({v}))))::text")
                    }
                    (_, None) => unreachable!("only COUNT(*) binds without an argument"),
                };
                (text, None)
            }
            ColumnExpr::Function(f) => {
                let json = c.function_expr(f, &mut ExprContext::Select(&mut scope))?;
                let text = format!("{json}::text");
                group.push(text.clone());
                (text, Some(json))
            }
        };
        selected.push((text.clone(), json));
        outputs.push(format!("{text} AS o{i}"));
        columns.push((col.name.clone(), col.text.clone()));
    }

    // ORDER BY keys become hidden trailing columns so DISTINCT and ORDER BY agree.
    let mut order = Vec::new();
    for (k, ob) in b.order_by.iter().enumerate() {
        let natural = |p: &Path| p.types.may_order_naturally();
        let key = match &ob.target {
            OrderTarget::Column(i) if aggregated => {
                // Grouped: order by the selected (grouped) expression itself.
                order.push(format!("{} {}", selected[*i].0, direction(ob.direction)));
                continue;
            }
            OrderTarget::Column(i) => {
                let json = selected[*i]
                    .1
                    .clone()
                    .unwrap_or_else(|| format!("({})::jsonb", selected[*i].0));
                match &b.columns[*i].expr {
                    ColumnExpr::Path(p) if natural(p) => format!("cdr_order_key({json})"),
                    _ => json,
                }
            }
            OrderTarget::Path(p) => {
                let set = c.path_set(p)?;
                let first = format!("(SELECT w.v FROM {set} AS w(v) LIMIT 1)");
                if natural(p) {
                    format!("cdr_order_key({first})")
                } else {
                    first
                }
            }
        };
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
        leaf_joined(&mut scope, &c.leaf_joins, &mut outside);
    }
    let distinct = if b.distinct { "DISTINCT " } else { "" };
    let mut sql = format!("SELECT {distinct}{}{}", outputs.join(", "), scope.render());
    if aggregated && !group.is_empty() {
        sql.push_str(" GROUP BY ");
        sql.push_str(&group.join(", "));
    }
    let unordered = sql.len();
    if !order.is_empty() {
        sql.push_str(" ORDER BY ");
        sql.push_str(&order.join(", "));
    }
    let (limit, offset) = limits(b, inputs);
    // The size of the whole result, when a page of it is asked for (by the query's LIMIT or
    // TOP, or the request's fetch or offset; not when only the row limit applies).
    let count_params = c.params.0.len();
    let paged = b.page.is_some() || inputs.fetch.is_some() || inputs.offset.is_some();
    let count_sql =
        paged.then(|| format!("SELECT count(*) FROM ({}) AS page_of", &sql[..unordered]));
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
        count_sql,
        count_params,
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
fn limits(b: &BoundQuery, inputs: &Inputs) -> (Option<i64>, Option<i64>) {
    let (mut limit, offset) = match b.page {
        Some(p) => (Some(p.limit), p.offset),
        None => (inputs.fetch.or(inputs.default_limit), inputs.offset),
    };
    if let Some(max) = inputs.max_rows {
        limit = Some(limit.map_or(max, |l| l.min(max)));
    }
    let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    (limit.map(clamp), offset.map(clamp))
}

fn is_ehr_id_path(steps: &[PathStep]) -> bool {
    steps.len() == 2
        && steps[0].attribute.name == "ehr_id"
        && steps[1].attribute.name == "value"
        && steps.iter().all(|s| s.predicate.is_none())
}
