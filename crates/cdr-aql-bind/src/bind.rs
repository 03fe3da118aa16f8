//! Building a [`BoundQuery`] from a syntax tree. Every semantic error of a query is raised
//! here, at the node it concerns.

use std::collections::HashMap;

use cdr_aql::ast::{
    AggregateArg, AggregateFunction, ArchetypeRef, BuiltinFunction, ClassExpr, ColumnExpr as Ast,
    ComparisonOp, Containment, ContainmentKind, FunctionCall, FunctionName, IdentifiedPath,
    LikePattern as AstLike, LiteralValue, MatchesOperand, NodeName, Operand as AstOperand,
    Parameter, Predicate, PredicateKind, PredicateOperand, Query, TerminologyCall, TopDirection,
    VersionPredicateKind, WhereExpr, WhereKind,
};
use cdr_aql::Spanned;
use cdr_rm::meta::RmType;
use serde_json::{Map, Value};

use crate::error::BindError;
use crate::like::LikePattern;
use crate::model::*;
use crate::types::{can_contain, Attribute, Types};

/// What binding reads besides the query.
pub struct Inputs<'a> {
    /// `$name` parameter values, by name without the `$`.
    pub params: &'a Map<String, Value>,
    /// The value of a TERMINOLOGY() call, or why there is none (an error at the call).
    pub terminology: &'a dyn Fn(&TerminologyCall) -> std::result::Result<Value, String>,
}

impl std::fmt::Debug for Inputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inputs")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

type Result<T> = std::result::Result<T, BindError>;

/// Binds a parsed query: resolves variables and parameters, types every path with the RM,
/// decides which multi-valued nodes make rows and where each path binds to them, and checks
/// what the syntax alone cannot.
///
/// # Errors
///
/// A [`BindError`] at the first node that has no meaning: an unknown variable or parameter,
/// a class AQL cannot query, a function called with the wrong arguments, an aggregate over
/// values it does not apply to, …
pub fn bind<'q>(query: &'q Query, inputs: &Inputs) -> Result<BoundQuery<'q>> {
    let mut b = Binder {
        inputs,
        vars: Vec::new(),
        names: HashMap::new(),
    };
    let from = b.containment(&query.from, None, false)?;
    let condition = query
        .where_clause
        .as_ref()
        .map(|w| b.condition(w))
        .transpose()?;
    let mut columns = Vec::with_capacity(query.select.columns.len());
    for (i, c) in query.select.columns.iter().enumerate() {
        columns.push(Column {
            name: c
                .alias
                .as_ref()
                .map_or_else(|| format!("#{i}"), |a| a.name.clone()),
            text: c.expr.to_string(),
            expr: b.column(&c.expr)?,
        });
    }
    let aggregated = columns
        .iter()
        .any(|c| matches!(c.expr, ColumnExpr::Aggregate(_)));
    let mut order_by = Vec::with_capacity(query.order_by.len());
    for ob in &query.order_by {
        let bare = ob.path.predicate.is_none() && ob.path.path.is_none();
        let text = ob.path.to_string();
        let by_alias = columns
            .iter()
            .position(|c| bare && c.name == ob.path.variable.name);
        let by_text = || {
            columns.iter().position(|c| {
                matches!(c.expr, ColumnExpr::Path(_) | ColumnExpr::Function(_)) && c.text == text
            })
        };
        let target = match by_alias.or_else(by_text) {
            Some(i) => OrderTarget::Column(i),
            None if aggregated || query.select.distinct => {
                return Err(BindError::at(
                    ob.span(),
                    "with DISTINCT or aggregates, ORDER BY must name a selected path or alias",
                ))
            }
            None => OrderTarget::Path(b.path(&ob.path)?),
        };
        order_by.push(OrderKey {
            target,
            direction: ob.direction,
            span: ob.span(),
        });
    }
    let page = match (&query.limit, &query.select.top) {
        (Some(l), _) => Some(Page {
            limit: l.row_count,
            offset: l.offset,
        }),
        (None, Some(top)) if top.direction == Some(TopDirection::Backward) => {
            return Err(BindError::at(
                top.span.get(),
                "TOP … BACKWARD is not supported",
            ))
        }
        (None, Some(top)) => Some(Page {
            limit: top.count,
            offset: None,
        }),
        (None, None) => None,
    };
    let ehr_ids = b.ehr_ids(query, condition.as_ref());
    let mut bound = BoundQuery {
        query,
        vars: b.vars,
        from,
        rows: Vec::new(),
        columns,
        distinct: query.select.distinct,
        condition,
        order_by,
        page,
        ehr_ids,
    };
    rows::place(&mut bound);
    Ok(bound)
}

struct Binder<'q, 'i> {
    inputs: &'i Inputs<'i>,
    vars: Vec<Var<'q>>,
    names: HashMap<&'q str, VarId>,
}

impl<'q> Binder<'q, '_> {
    fn param(&self, p: &Parameter) -> Result<Value> {
        self.inputs
            .params
            .get(&p.name)
            .cloned()
            .ok_or_else(|| BindError::at(p.span(), format!("parameter ${} has no value", p.name)))
    }

    fn terminology(&self, t: &TerminologyCall) -> Result<Value> {
        (self.inputs.terminology)(t).map_err(|m| BindError::at(t.span(), m))
    }

    // ---- FROM ------------------------------------------------------------------------------

    fn containment(
        &mut self,
        c: &'q Containment,
        parent: Option<VarId>,
        negated: bool,
    ) -> Result<From> {
        Ok(match &c.kind {
            ContainmentKind::Class(ce) => From::Var(self.class(ce, parent, negated, None)?),
            ContainmentKind::Contains {
                outer,
                negated: not,
                inner,
            } => {
                let v = self.class(outer, parent, negated, Some(inner))?;
                let inner = self.containment(inner, Some(v), negated || *not)?;
                From::Contains {
                    outer: v,
                    negated: *not,
                    inner: Box::new(inner),
                }
            }
            ContainmentKind::And(items) => From::And(
                items
                    .iter()
                    .map(|i| self.containment(i, parent, negated))
                    .collect::<Result<_>>()?,
            ),
            ContainmentKind::Or(items) => From::Or(
                items
                    .iter()
                    .map(|i| self.containment(i, parent, negated))
                    .collect::<Result<_>>()?,
            ),
        })
    }

    fn class(
        &mut self,
        ce: &'q ClassExpr,
        parent: Option<VarId>,
        negated: bool,
        inner: Option<&Containment>,
    ) -> Result<VarId> {
        let outer = parent.map(|p| self.vars[p].class.clone());
        let (class, predicate, span) = match ce {
            ClassExpr::Version(vc) => {
                let all = !matches!(
                    vc.predicate.as_ref().map(|p| &p.kind),
                    None | Some(VersionPredicateKind::LatestVersion)
                );
                let standard = match vc.predicate.as_ref().map(|p| &p.kind) {
                    Some(VersionPredicateKind::Standard(sp)) => {
                        self.check_params_in_path_operand(&sp.operand)?;
                        Some(sp)
                    }
                    _ => None,
                };
                let of = match inner.map(first_classes) {
                    Some(inner) if inner.contains(&"EHR_STATUS") => VersionOf::EhrStatus,
                    _ => VersionOf::Composition,
                };
                let class = Class::Version {
                    all,
                    of,
                    predicate: standard,
                };
                (class, None, vc.span.get())
            }
            ClassExpr::Rm(rc) => {
                let name = rc.rm_type.name.as_str();
                let class = match name {
                    "EHR" => Class::Ehr,
                    "COMPOSITION" => Class::Composition,
                    "EHR_STATUS" => Class::EhrStatus,
                    "FOLDER" => Class::Folder,
                    "VERSIONED_OBJECT"
                    | "VERSIONED_COMPOSITION"
                    | "VERSIONED_EHR_STATUS"
                    | "VERSIONED_FOLDER"
                    | "CONTRIBUTION"
                    | "EHR_ACCESS" => {
                        return Err(BindError::at(
                            rc.rm_type.span(),
                            format!("FROM {name} is not supported yet"),
                        ))
                    }
                    _ => Class::Object(RmType::parse(name).ok_or_else(|| {
                        BindError::at(
                            rc.rm_type.span(),
                            format!("'{name}' is not an RM class that AQL can query"),
                        )
                    })?),
                };
                (class, rc.predicate.as_deref(), rc.span.get())
            }
        };
        let impossible = !possible_inside(outer.as_ref(), &class);
        let with_status = matches!(
            (&outer, &class),
            (Some(Class::Ehr), Class::Object(t)) if can_contain(RmType::EhrStatus, *t)
        );
        let (archetype, predicate) = match predicate {
            Some(p) => self.class_predicate(p)?,
            None => (None, None),
        };
        let name = ce.variable().map(|v| v.name.as_str());
        let id = self.vars.len();
        if let Some(v) = ce.variable() {
            if self.names.insert(v.name.as_str(), id).is_some() {
                return Err(BindError::at(
                    v.span(),
                    format!("variable '{}' is bound twice", v.name),
                ));
            }
        }
        self.vars.push(Var {
            name,
            class,
            parent,
            negated,
            impossible,
            with_status,
            archetype,
            predicate,
            span,
        });
        Ok(id)
    }

    /// A class expression's predicate: an archetype id (with a name) on its own, or any other
    /// predicate to evaluate on the candidates.
    fn class_predicate(
        &self,
        p: &'q Predicate,
    ) -> Result<(Option<Archetype>, Option<&'q Predicate>)> {
        self.check_params(p)?;
        let PredicateKind::Archetype(a) = &p.kind else {
            return Ok((None, Some(p)));
        };
        let id = match &a.archetype {
            ArchetypeRef::Id(id) => id.value.clone(),
            ArchetypeRef::Parameter(param) => match self.param(param)? {
                Value::String(s) => s,
                _ => {
                    return Err(BindError::at(
                        param.span(),
                        format!("parameter ${} must be an archetype id string", param.name),
                    ))
                }
            },
        };
        let name = match &a.name {
            None => None,
            Some(NodeName::String(s)) => Some(Value::String(s.value.clone())),
            Some(NodeName::Parameter(param)) => Some(self.param(param)?),
            // A coded name stays a predicate on the candidates.
            Some(_) => return Ok((None, Some(p))),
        };
        Ok((Some(Archetype { id, name }), None))
    }

    /// Every parameter a predicate uses has a value.
    fn check_params(&self, p: &Predicate) -> Result<()> {
        match &p.kind {
            PredicateKind::Standard(s) => self.check_params_in_path_operand(&s.operand),
            PredicateKind::Node(n) => self.check_name(n.name.as_ref()),
            PredicateKind::Archetype(a) => {
                if let ArchetypeRef::Parameter(param) = &a.archetype {
                    self.param(param)?;
                }
                self.check_name(a.name.as_ref())
            }
            PredicateKind::Regex(_) => Ok(()),
            PredicateKind::And(ps) | PredicateKind::Or(ps) => {
                ps.iter().try_for_each(|p| self.check_params(p))
            }
        }
    }

    fn check_name(&self, name: Option<&NodeName>) -> Result<()> {
        if let Some(NodeName::Parameter(param)) = name {
            self.param(param)?;
        }
        Ok(())
    }

    fn check_params_in_path_operand(&self, o: &PredicateOperand) -> Result<()> {
        if let PredicateOperand::Parameter(param) = o {
            self.param(param)?;
        }
        Ok(())
    }

    // ---- paths -----------------------------------------------------------------------------

    fn path(&self, ip: &'q IdentifiedPath) -> Result<Path<'q>> {
        let name = ip.variable.name.as_str();
        let var = *self.names.get(name).ok_or_else(|| {
            BindError::at(
                ip.variable.span(),
                format!("'{name}' is not a variable of the FROM clause"),
            )
        })?;
        if self.vars[var].negated {
            return Err(BindError::at(
                ip.variable.span(),
                format!("'{name}' lies under NOT CONTAINS and is never bound"),
            ));
        }
        if let Some(p) = &ip.predicate {
            self.check_params(p)?;
        }
        let class = &self.vars[var].class;
        let mut types = match class.rm_type() {
            Some(t) => Types::class(t),
            None => Types::Unknown,
        };
        let mut steps = Vec::new();
        for (i, step) in ip.path.iter().flat_map(|p| p.steps.iter()).enumerate() {
            if let Some(p) = &step.predicate {
                self.check_params(p)?;
            }
            let name = step.attribute.name.as_str();
            let a = match (class, i) {
                (Class::Ehr, 0) => ehr_attribute(name),
                (Class::Version { of, .. }, 0) if name == "data" => Attribute {
                    types: Types::class(match of {
                        VersionOf::Composition => RmType::Composition,
                        VersionOf::EhrStatus => RmType::EhrStatus,
                    }),
                    multiple: false,
                    declared: None,
                },
                _ => types.attribute(name),
            };
            types = a.types.clone();
            steps.push(Step {
                ast: step,
                multiple: a.multiple,
                types: a.types,
                declared: a.declared,
            });
        }
        Ok(Path {
            ast: ip,
            var,
            steps,
            anchor: None,
            types,
        })
    }

    // ---- WHERE -----------------------------------------------------------------------------

    fn condition(&self, w: &'q WhereExpr) -> Result<Condition<'q>> {
        Ok(match &w.kind {
            WhereKind::Comparison { left, op, right } => Condition::Compare {
                left: self.operand(left)?,
                op: *op,
                right: self.operand(right)?,
            },
            WhereKind::Like { left, pattern } => {
                let AstOperand::Path(p) = left else {
                    return Err(BindError::at(left.span(), "LIKE needs a path on its left"));
                };
                let pattern = match pattern {
                    AstLike::String(s) => Some(LikePattern::parse(&s.value)),
                    AstLike::Parameter(param) => match self.param(param)? {
                        Value::String(s) => Some(LikePattern::parse(&s)),
                        _ => None,
                    },
                };
                Condition::Like {
                    path: self.path(p)?,
                    pattern,
                }
            }
            WhereKind::Matches { left, operand } => {
                let AstOperand::Path(p) = left else {
                    return Err(BindError::at(
                        left.span(),
                        "MATCHES needs a path on its left",
                    ));
                };
                let mut values = Vec::new();
                match operand {
                    MatchesOperand::List(list) => {
                        for item in &list.items {
                            let value =
                                match item {
                                    AstOperand::Literal(l) => literal_json(&l.value),
                                    AstOperand::Parameter(param) => self.param(param)?,
                                    AstOperand::Terminology(t) => self.terminology(t)?,
                                    _ => return Err(BindError::at(
                                        item.span(),
                                        "MATCHES lists hold literals, parameters and TERMINOLOGY()",
                                    )),
                                };
                            // An expansion, or a parameter given as a list, stands for its items.
                            match (item, value) {
                                (
                                    AstOperand::Terminology(_) | AstOperand::Parameter(_),
                                    Value::Array(items),
                                ) => values.extend(items),
                                (_, value) => values.push(value),
                            }
                        }
                    }
                    MatchesOperand::Terminology(t) => match self.terminology(t)? {
                        Value::Array(codes) => values.extend(codes),
                        other => values.push(other),
                    },
                    MatchesOperand::Uri(u) => {
                        return Err(BindError::at(
                            u.span.get(),
                            "MATCHES with a terminology URI is not supported",
                        ))
                    }
                }
                Condition::Matches {
                    path: self.path(p)?,
                    values,
                }
            }
            WhereKind::Exists(p) => Condition::Exists(self.path(p)?),
            WhereKind::Not(inner) => Condition::Not(Box::new(self.condition(inner)?)),
            WhereKind::And(items) => Condition::And(
                items
                    .iter()
                    .map(|i| self.condition(i))
                    .collect::<Result<_>>()?,
            ),
            WhereKind::Or(items) => Condition::Or(
                items
                    .iter()
                    .map(|i| self.condition(i))
                    .collect::<Result<_>>()?,
            ),
        })
    }

    fn operand(&self, o: &'q AstOperand) -> Result<Operand<'q>> {
        Ok(match o {
            AstOperand::Literal(l) => Operand::Value(literal_json(&l.value)),
            AstOperand::Parameter(p) => Operand::Value(self.param(p)?),
            AstOperand::Terminology(t) => Operand::Value(self.terminology(t)?),
            AstOperand::Path(p) => Operand::Path(self.path(p)?),
            AstOperand::Function(f) => Operand::Function(self.function(f)?),
        })
    }

    fn function(&self, f: &'q FunctionCall) -> Result<Function<'q>> {
        let FunctionName::Builtin(builtin) = &f.name else {
            return Err(BindError::at(
                f.span(),
                format!("'{}' is not an AQL function", f.name),
            ));
        };
        let (least, most) = arity(*builtin);
        let n = f.args.len();
        if n < least || most.is_some_and(|m| n > m) {
            let wanted = match most {
                Some(m) if m == least => format!("{least}"),
                Some(m) => format!("{least} to {m}"),
                None => format!("at least {least}"),
            };
            return Err(BindError::at(
                f.span(),
                format!(
                    "{} takes {wanted} argument{}, not {n}",
                    builtin.name(),
                    if wanted == "1" { "" } else { "s" },
                ),
            ));
        }
        Ok(Function {
            ast: f,
            builtin: *builtin,
            args: f
                .args
                .iter()
                .map(|a| self.operand(a))
                .collect::<Result<_>>()?,
        })
    }

    // ---- SELECT ----------------------------------------------------------------------------

    fn column(&self, c: &'q Ast) -> Result<ColumnExpr<'q>> {
        Ok(match c {
            Ast::Path(p) => ColumnExpr::Path(self.path(p)?),
            Ast::Literal(l) => ColumnExpr::Value(literal_json(&l.value)),
            Ast::Terminology(t) => ColumnExpr::Value(self.terminology(t)?),
            Ast::Function(f) => ColumnExpr::Function(self.function(f)?),
            Ast::Aggregate(a) => {
                let arg = match &a.argument {
                    AggregateArg::Star if a.function == AggregateFunction::Count => None,
                    AggregateArg::Star => {
                        return Err(BindError::at(
                            a.span(),
                            format!("{}(*) is not defined; only COUNT(*) is", a.function.name()),
                        ))
                    }
                    AggregateArg::Path(p) => Some(self.path(p)?),
                };
                if matches!(a.function, AggregateFunction::Sum | AggregateFunction::Avg) {
                    if let Some(objects) = arg.as_ref().and_then(|p| p.types.only_objects()) {
                        let declared = arg
                            .as_ref()
                            .and_then(|p| p.steps.last())
                            .and_then(|s| s.declared);
                        let what = match (declared, objects.as_slice()) {
                            (_, [one]) => one.name().to_owned(),
                            (Some(d), _) => format!("{d} values"),
                            (None, many) => {
                                many.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
                            }
                        };
                        return Err(BindError::at(
                            a.span(),
                            format!(
                                "{} is not supported for {what}: it aggregates numbers \
                                 (select a numeric attribute such as …/magnitude)",
                                a.function.name()
                            ),
                        ));
                    }
                }
                ColumnExpr::Aggregate(Aggregate {
                    function: a.function,
                    distinct: a.distinct,
                    arg,
                })
            }
        })
    }

    /// Values the outermost EHR variable is bound to.
    fn ehr_ids(&self, q: &Query, condition: Option<&Condition>) -> Vec<Value> {
        let root = match &q.from.kind {
            ContainmentKind::Class(ClassExpr::Rm(rc))
            | ContainmentKind::Contains {
                outer: ClassExpr::Rm(rc),
                ..
            } if rc.rm_type.name == "EHR" => rc,
            _ => return Vec::new(),
        };
        let mut ids = Vec::new();
        if let Some(p) = &root.predicate {
            if let PredicateKind::Standard(st) = &p.kind {
                if st.op == ComparisonOp::Eq && is_ehr_id_steps(&st.path.steps) {
                    match &st.operand {
                        PredicateOperand::Literal(l) => ids.push(literal_json(&l.value)),
                        PredicateOperand::Parameter(param) => {
                            ids.extend(self.param(param).ok());
                        }
                        _ => {}
                    }
                }
            }
        }
        let Some(var) = root.variable.as_ref().map(|v| v.name.as_str()) else {
            return ids;
        };
        for c in condition.map(Condition::conjuncts).unwrap_or_default() {
            if let Condition::Compare {
                left,
                op: ComparisonOp::Eq,
                right,
            } = c
            {
                let (path, value) = match (left, right) {
                    (Operand::Path(p), Operand::Value(v))
                    | (Operand::Value(v), Operand::Path(p)) => (p, v),
                    _ => continue,
                };
                let steps = path.ast.path.as_ref().map(|p| &p.steps[..]).unwrap_or(&[]);
                if path.ast.variable.name == var
                    && path.ast.predicate.is_none()
                    && is_ehr_id_steps(steps)
                {
                    ids.push(value.clone());
                }
            }
        }
        ids
    }
}

/// How many arguments a function takes: (least, most); `None` for no upper bound.
fn arity(f: BuiltinFunction) -> (usize, Option<usize>) {
    use BuiltinFunction::*;
    match f {
        Length | Abs | Ceil | Floor => (1, Some(1)),
        Contains | Position | Mod => (2, Some(2)),
        Substring => (2, Some(3)),
        Round => (1, Some(2)),
        Concat => (1, None),
        ConcatWs => (2, None),
        CurrentDate | CurrentTime | CurrentDateTime | Now | CurrentTimezone => (0, Some(0)),
    }
}

/// The attributes AQL gives an EHR variable.
fn ehr_attribute(name: &str) -> Attribute {
    let t = match name {
        "ehr_id" | "system_id" => RmType::HierObjectId,
        "time_created" => RmType::DvDateTime,
        "ehr_status" => RmType::EhrStatus,
        _ => {
            return Attribute {
                types: Types::Unknown,
                multiple: false,
                declared: None,
            }
        }
    };
    Attribute {
        types: Types::class(t),
        multiple: false,
        declared: Some(t.name()),
    }
}

/// `ehr_id/value` without predicates.
pub(crate) fn is_ehr_id_steps(steps: &[cdr_aql::ast::PathStep]) -> bool {
    steps.len() == 2
        && steps[0].attribute.name == "ehr_id"
        && steps[1].attribute.name == "value"
        && steps.iter().all(|s| s.predicate.is_none())
}

/// The JSON value of a literal.
pub fn literal_json(v: &LiteralValue) -> Value {
    match v {
        LiteralValue::String(s) => Value::String(s.clone()),
        LiteralValue::Integer(i) => Value::from(*i),
        LiteralValue::Real(r) => serde_json::Number::from_f64(*r)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        LiteralValue::Boolean(b) => Value::Bool(*b),
        LiteralValue::Null => Value::Null,
    }
}

/// The class names directly inside a containment (what `X CONTAINS …` contains first).
fn first_classes(c: &Containment) -> Vec<&str> {
    match &c.kind {
        ContainmentKind::Class(ce) | ContainmentKind::Contains { outer: ce, .. } => {
            vec![ce.rm_type()]
        }
        ContainmentKind::And(items) | ContainmentKind::Or(items) => {
            items.iter().flat_map(first_classes).collect()
        }
    }
}

/// Whether an object of `class` can lie inside one of `outer` (not below anything: inside an
/// EHR).
fn possible_inside(outer: Option<&Class>, class: &Class) -> bool {
    use Class::*;
    let composition_content = |t: RmType| can_contain(RmType::Composition, t);
    match (outer, class) {
        (None, Ehr) => true,
        (Some(_), Ehr) => false,
        (None | Some(Ehr), Version { .. } | Composition | EhrStatus | Folder) => true,
        (Some(Folder), Folder | Composition) => true,
        (Some(Folder), Version { of, .. }) => *of == VersionOf::Composition,
        (Some(Version { of, .. }), Composition) => *of == VersionOf::Composition,
        (Some(Version { of, .. }), EhrStatus) => *of == VersionOf::EhrStatus,
        (Some(_), Version { .. } | Composition | EhrStatus | Folder) => false,
        (None, Object(t)) => composition_content(*t),
        (Some(Ehr), Object(t)) => composition_content(*t) || can_contain(RmType::EhrStatus, *t),
        (Some(Version { of, .. }), Object(t)) => match of {
            VersionOf::Composition => composition_content(*t),
            VersionOf::EhrStatus => can_contain(RmType::EhrStatus, *t),
        },
        (Some(o), Object(t)) => o.rm_type().is_some_and(|o| can_contain(o, *t)),
    }
}

/// Row nodes and anchors.
mod rows {
    use super::*;

    /// Makes the row nodes of the SELECT paths and binds every path to the deepest node it
    /// passes through.
    pub(super) fn place(q: &mut BoundQuery) {
        let mut rows: Vec<RowNode> = Vec::new();
        let mut makers: Vec<Path> = Vec::new();
        for c in &q.columns {
            match &c.expr {
                ColumnExpr::Path(p) => makers.push(p.clone()),
                ColumnExpr::Aggregate(a) => makers.extend(a.arg.clone()),
                ColumnExpr::Function(f) => function_paths(f, &mut makers),
                ColumnExpr::Value(_) => {}
            }
        }
        for p in &makers {
            let mut parent: Option<RowId> = None;
            for (i, step) in p.steps.iter().enumerate() {
                if !step.multiple {
                    continue;
                }
                let id = match find(&rows, p, i + 1) {
                    Some(id) => id,
                    None => {
                        rows.push(RowNode {
                            var: p.var,
                            parent,
                            path: p.ast,
                            from: parent.map_or(0, |r| rows[r].depth),
                            depth: i + 1,
                        });
                        rows.len() - 1
                    }
                };
                parent = Some(id);
            }
        }
        let anchor = |p: &mut Path| {
            p.anchor = (1..=p.steps.len())
                .rev()
                .find_map(|d| find(&rows, p, d).map(|row| Anchor { row, depth: d }));
        };
        visit_paths(q, anchor);
        q.rows = rows;
    }

    /// The row node at `depth` steps of `p`'s prefix.
    fn find(rows: &[RowNode], p: &Path, depth: usize) -> Option<RowId> {
        let steps = p.ast.path.as_ref().map_or(&[][..], |x| &x.steps[..]);
        rows.iter().position(|r| {
            let rs = r.path.path.as_ref().map_or(&[][..], |x| &x.steps[..]);
            r.var == p.var
                && r.depth == depth
                && r.path.predicate == p.ast.predicate
                && steps.len() >= depth
                && rs[..depth] == steps[..depth]
        })
    }

    fn function_paths<'q>(f: &Function<'q>, out: &mut Vec<Path<'q>>) {
        for a in &f.args {
            match a {
                Operand::Path(p) => out.push(p.clone()),
                Operand::Function(g) => function_paths(g, out),
                Operand::Value(_) => {}
            }
        }
    }

    fn visit_paths(q: &mut BoundQuery, mut f: impl FnMut(&mut Path)) {
        fn operand(o: &mut Operand, f: &mut dyn FnMut(&mut Path)) {
            match o {
                Operand::Path(p) => f(p),
                Operand::Function(g) => g.args.iter_mut().for_each(|a| operand(a, f)),
                Operand::Value(_) => {}
            }
        }
        fn condition(c: &mut Condition, f: &mut dyn FnMut(&mut Path)) {
            match c {
                Condition::Compare { left, right, .. } => {
                    operand(left, f);
                    operand(right, f);
                }
                Condition::Like { path, .. } | Condition::Matches { path, .. } => f(path),
                Condition::Exists(p) => f(p),
                Condition::Not(c) => condition(c, f),
                Condition::And(cs) | Condition::Or(cs) => {
                    cs.iter_mut().for_each(|c| condition(c, f))
                }
            }
        }
        for c in &mut q.columns {
            match &mut c.expr {
                ColumnExpr::Path(p) => f(p),
                ColumnExpr::Aggregate(a) => a.arg.iter_mut().for_each(&mut f),
                ColumnExpr::Function(g) => g.args.iter_mut().for_each(|a| operand(a, &mut f)),
                ColumnExpr::Value(_) => {}
            }
        }
        if let Some(c) = &mut q.condition {
            condition(c, &mut f);
        }
        for k in &mut q.order_by {
            if let OrderTarget::Path(p) = &mut k.target {
                f(p);
            }
        }
    }
}
