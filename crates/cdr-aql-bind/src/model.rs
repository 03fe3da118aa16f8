//! The bound query: what each variable, path, condition and column of a query means. Built
//! only by [`crate::bind`], whose checks are the query's semantic errors; read by the SQL
//! compiler (cdr-store) and the oracle (cdr-aql-oracle).

use cdr_aql::ast::{
    AggregateFunction, BuiltinFunction, ComparisonOp, FunctionCall, IdentifiedPath, PathStep,
    Predicate, Query, SortDirection, StandardPredicate,
};
use cdr_aql::Span;
use cdr_rm::meta::RmType;
use serde_json::Value;

use crate::like::LikePattern;
use crate::types::Types;

/// Index of a variable in [`BoundQuery::vars`].
pub type VarId = usize;
/// Index of a row node in [`BoundQuery::rows`].
pub type RowId = usize;

/// A query bound to RM types.
#[derive(Debug)]
pub struct BoundQuery<'q> {
    /// The syntax tree it was bound from.
    pub query: &'q Query,
    /// The FROM variables (named or not), in FROM order.
    pub vars: Vec<Var<'q>>,
    /// The containment expression over [`Self::vars`].
    pub from: From,
    /// The multi-valued nodes that make rows (see [`RowNode`]), parents before children.
    pub rows: Vec<RowNode<'q>>,
    pub columns: Vec<Column<'q>>,
    pub distinct: bool,
    pub condition: Option<Condition<'q>>,
    pub order_by: Vec<OrderKey<'q>>,
    /// The query's own LIMIT/OFFSET (TOP n is LIMIT n); `None` when it has neither.
    pub page: Option<Page>,
    /// Values the outermost EHR variable's id is bound to by its predicate
    /// (`EHR e[ehr_id/value = X]`) or a top-level conjunct `e/ehr_id/value = X`.
    pub ehr_ids: Vec<Value>,
}

/// LIMIT and OFFSET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: u64,
    pub offset: Option<u64>,
}

/// The containment expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum From {
    Var(VarId),
    Contains {
        outer: VarId,
        negated: bool,
        inner: Box<From>,
    },
    And(Vec<From>),
    Or(Vec<From>),
}

/// A FROM variable.
#[derive(Debug)]
pub struct Var<'q> {
    pub name: Option<&'q str>,
    pub class: Class<'q>,
    /// The variable whose object this one lies inside.
    pub parent: Option<VarId>,
    /// Under NOT CONTAINS: never bound, so no path may start from it.
    pub negated: bool,
    /// The class can never lie inside its parent's (COMPOSITION CONTAINS EHR_STATUS): the
    /// variable has no candidates.
    pub impossible: bool,
    /// Directly below an EHR variable, a class the RM lets lie inside an EHR_STATUS
    /// (ITEM_STRUCTURE and its items, data values, …): it ranges over the content of the EHR's
    /// current EHR_STATUS as well as over its current compositions.
    pub with_status: bool,
    /// `[archetype-id]` or `[archetype-id, 'name']` (parameters resolved).
    pub archetype: Option<Archetype>,
    /// Any other predicate of the class expression, evaluated on each candidate like a WHERE
    /// comparison.
    pub predicate: Option<&'q Predicate>,
    pub span: Span,
}

/// An archetype predicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archetype {
    pub id: String,
    /// The name (`[id, 'name']`): a string, or a parameter's value of any type.
    pub name: Option<Value>,
}

/// What a variable ranges over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class<'q> {
    Ehr,
    /// Versions of compositions or of EHR_STATUS (decided by what the VERSION contains).
    Version {
        all: bool,
        of: VersionOf,
        predicate: Option<&'q StandardPredicate>,
    },
    Composition,
    EhrStatus,
    Folder,
    /// Objects of another RM class (`OBSERVATION`, `ENTRY`, `DATA_STRUCTURE`, `ELEMENT`, …).
    Object(RmType),
}

/// The versioned objects a VERSION variable ranges over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionOf {
    Composition,
    EhrStatus,
}

impl Class<'_> {
    /// The RM class of the variable's objects (`None` for EHR, which no RM class describes).
    pub fn rm_type(&self) -> Option<RmType> {
        match self {
            Class::Ehr => None,
            Class::Version { .. } => Some(RmType::OriginalVersion),
            Class::Composition => Some(RmType::Composition),
            Class::EhrStatus => Some(RmType::EhrStatus),
            Class::Folder => Some(RmType::Folder),
            Class::Object(t) => Some(*t),
        }
    }
}

/// A multi-valued node of a SELECT path: each of its elements (each event, each item, …) is
/// its own row. Paths that pass through the same node (same variable, same steps with the same
/// predicates up to and including the node's) bind to the same element.
#[derive(Debug)]
pub struct RowNode<'q> {
    pub var: VarId,
    /// The enclosing row node of the same path, if any.
    pub parent: Option<RowId>,
    /// A path through the node; its steps `[from..depth]` lead from the parent's element (or
    /// the variable's object) to the node's elements.
    pub path: &'q IdentifiedPath,
    pub from: usize,
    pub depth: usize,
}

impl<'q> RowNode<'q> {
    /// The steps from the parent's element (or the variable) to this node's elements; the
    /// first node of a path with a predicate on its variable (`o[…]/…`) applies it first.
    pub fn steps(&self) -> &'q [PathStep] {
        &self.path.path.as_ref().map_or(&[][..], |p| &p.steps[..])[self.from..self.depth]
    }
}

/// A bound path `var[pred]/a/b[pred]/…`.
#[derive(Debug, Clone)]
pub struct Path<'q> {
    pub ast: &'q IdentifiedPath,
    pub var: VarId,
    pub steps: Vec<Step<'q>>,
    /// The deepest row node this path passes through: its first `depth` steps are bound to
    /// that node's element in each row.
    pub anchor: Option<Anchor>,
    /// The types of the values the path reaches.
    pub types: Types,
}

/// Where a path is bound to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub row: RowId,
    pub depth: usize,
}

/// One attribute step of a path, typed.
#[derive(Debug, Clone)]
pub struct Step<'q> {
    pub ast: &'q PathStep,
    /// The attribute holds a list for some of the types before it.
    pub multiple: bool,
    /// The types the step reaches.
    pub types: Types,
    /// The attribute's declared RM type name, when every type before it declares the same.
    pub declared: Option<&'static str>,
}

impl<'q> Path<'q> {
    /// The steps after the anchor (all of them without one).
    pub fn rest(&self) -> &[Step<'q>] {
        &self.steps[self.anchor.map_or(0, |a| a.depth)..]
    }

    /// The attribute names of the steps.
    pub fn names(&self) -> Vec<&'q str> {
        self.steps
            .iter()
            .map(|s| s.ast.attribute.name.as_str())
            .collect()
    }

    /// Whether no step and not the variable carry a predicate.
    pub fn plain(&self) -> bool {
        self.ast.predicate.is_none() && self.steps.iter().all(|s| s.ast.predicate.is_none())
    }

    /// The canonical AQL text.
    pub fn text(&self) -> String {
        self.ast.to_string()
    }
}

/// A WHERE condition.
#[derive(Debug, Clone)]
pub enum Condition<'q> {
    /// Existential over path values, typed by the constant side (by the left value when both
    /// are paths).
    Compare {
        left: Operand<'q>,
        op: ComparisonOp,
        right: Operand<'q>,
    },
    /// `path LIKE pattern`; no pattern (a parameter that is not a string) never holds.
    Like {
        path: Path<'q>,
        pattern: Option<LikePattern>,
    },
    /// `path MATCHES {…}`: equal (as `=` would compare) to one of the values.
    Matches {
        path: Path<'q>,
        values: Vec<Value>,
    },
    Exists(Path<'q>),
    Not(Box<Condition<'q>>),
    And(Vec<Condition<'q>>),
    Or(Vec<Condition<'q>>),
}

/// An operand of a comparison or a function argument.
#[derive(Debug, Clone)]
pub enum Operand<'q> {
    /// A literal, parameter value or TERMINOLOGY() result.
    Value(Value),
    Path(Path<'q>),
    Function(Function<'q>),
}

/// A call of an AQL built-in function (arity checked).
#[derive(Debug, Clone)]
pub struct Function<'q> {
    pub ast: &'q FunctionCall,
    pub builtin: BuiltinFunction,
    pub args: Vec<Operand<'q>>,
}

/// A SELECT column.
#[derive(Debug, Clone)]
pub struct Column<'q> {
    /// The alias, else `#i`.
    pub name: String,
    /// The column expression as canonical AQL.
    pub text: String,
    pub expr: ColumnExpr<'q>,
}

/// What a column holds.
#[derive(Debug, Clone)]
pub enum ColumnExpr<'q> {
    Path(Path<'q>),
    /// A literal or TERMINOLOGY() result.
    Value(Value),
    Aggregate(Aggregate<'q>),
    Function(Function<'q>),
}

/// An aggregate column.
#[derive(Debug, Clone)]
pub struct Aggregate<'q> {
    pub function: AggregateFunction,
    pub distinct: bool,
    /// `None` for `COUNT(*)`.
    pub arg: Option<Path<'q>>,
}

impl Aggregate<'_> {
    /// MIN/MAX that order their values naturally (the argument may be DV_ORDERED or DV_TEXT
    /// objects): the object with the least or greatest natural value.
    pub fn natural(&self) -> bool {
        matches!(
            self.function,
            AggregateFunction::Min | AggregateFunction::Max
        ) && self
            .arg
            .as_ref()
            .is_some_and(|p| p.types.may_order_naturally())
    }
}

/// An ORDER BY key.
#[derive(Debug, Clone)]
pub struct OrderKey<'q> {
    pub target: OrderTarget<'q>,
    pub direction: SortDirection,
    pub span: Span,
}

/// What an ORDER BY key sorts by.
#[derive(Debug, Clone)]
pub enum OrderTarget<'q> {
    /// A column, named by its alias or by the same path text.
    Column(usize),
    /// Another path, evaluated on the row (its first value).
    Path(Path<'q>),
}

impl<'q> BoundQuery<'q> {
    /// Whether some column is an aggregate.
    pub fn aggregated(&self) -> bool {
        self.columns
            .iter()
            .any(|c| matches!(c.expr, ColumnExpr::Aggregate(_)))
    }

    /// The variable a name denotes.
    pub fn var_named(&self, name: &str) -> Option<VarId> {
        self.vars.iter().position(|v| v.name == Some(name))
    }

    /// Every path of the query (columns, function arguments, aggregate arguments, WHERE,
    /// ORDER BY), for passes that look at all of them.
    pub fn paths(&self) -> Vec<&Path<'q>> {
        let mut out = Vec::new();
        for c in &self.columns {
            match &c.expr {
                ColumnExpr::Path(p) => out.push(p),
                ColumnExpr::Aggregate(a) => out.extend(a.arg.as_ref()),
                ColumnExpr::Function(f) => f.paths(&mut out),
                ColumnExpr::Value(_) => {}
            }
        }
        if let Some(c) = &self.condition {
            c.paths(&mut out);
        }
        for k in &self.order_by {
            if let OrderTarget::Path(p) = &k.target {
                out.push(p);
            }
        }
        out
    }
}

impl<'q> Function<'q> {
    fn paths<'a>(&'a self, out: &mut Vec<&'a Path<'q>>) {
        for a in &self.args {
            a.paths(out);
        }
    }
}

impl<'q> Operand<'q> {
    fn paths<'a>(&'a self, out: &mut Vec<&'a Path<'q>>) {
        match self {
            Operand::Path(p) => out.push(p),
            Operand::Function(f) => f.paths(out),
            Operand::Value(_) => {}
        }
    }
}

impl<'q> Condition<'q> {
    fn paths<'a>(&'a self, out: &mut Vec<&'a Path<'q>>) {
        match self {
            Condition::Compare { left, right, .. } => {
                left.paths(out);
                right.paths(out);
            }
            Condition::Like { path, .. } | Condition::Matches { path, .. } => out.push(path),
            Condition::Exists(p) => out.push(p),
            Condition::Not(c) => c.paths(out),
            Condition::And(cs) | Condition::Or(cs) => cs.iter().for_each(|c| c.paths(out)),
        }
    }

    /// The top-level conjuncts.
    pub fn conjuncts(&self) -> Vec<&Condition<'q>> {
        match self {
            Condition::And(cs) => cs.iter().collect(),
            c => vec![c],
        }
    }
}

/// Whether comparing `path` with `value` compares object ids: the path is a COMPOSITION's or
/// VERSION's `uid/value` (a version uid `id::system::n`) and the value a string without `::`
/// (an object id), which then compares with the id part of the uid, so it matches every
/// version of that object.
pub fn compares_object_id(q: &BoundQuery, path: &Path, value: &Value) -> bool {
    let uid_path = path.plain()
        && path.names() == ["uid", "value"]
        && matches!(
            q.vars[path.var].class,
            Class::Composition | Class::Version { .. }
        );
    uid_path && value.as_str().is_some_and(|s| !s.contains("::"))
}
