//! The shape of the AST for representative queries, and canonical printing.

use cdr_aql::ast::*;
use cdr_aql::{parse, LineCol, Query, Spanned};

use crate::support::{parses_to, verified};

fn path_text(p: &IdentifiedPath) -> String {
    p.to_string()
}

#[test]
fn blood_pressure_query() {
    let q = verified(
        "SELECT obs/data[at0001]/events[at0006]/data[at0003]/items[at0004]/value/magnitude AS systolic,
                c/context/start_time AS date_time
         FROM EHR[ehr_id/value=$ehrUid] CONTAINS COMPOSITION c[openEHR-EHR-COMPOSITION.encounter.v1]
              CONTAINS OBSERVATION obs[openEHR-EHR-OBSERVATION.blood_pressure.v1]
         WHERE obs/data[at0001]/events[at0006]/data[at0003]/items[at0004]/value/magnitude >= 140
         ORDER BY c/context/start_time DESC
         LIMIT 5",
    );

    // SELECT
    assert!(!q.select.distinct);
    assert_eq!(q.select.columns.len(), 2);
    let first = &q.select.columns[0];
    assert_eq!(first.alias.as_ref().unwrap().name, "systolic");
    let ColumnExpr::Path(path) = &first.expr else {
        panic!("{:?}", first.expr)
    };
    assert_eq!(path.variable.name, "obs");
    assert!(path.predicate.is_none());
    let steps = &path.path.as_ref().unwrap().steps;
    let names: Vec<&str> = steps.iter().map(|s| s.attribute.name.as_str()).collect();
    assert_eq!(
        names,
        ["data", "events", "data", "items", "value", "magnitude"]
    );
    let Some(pred) = &steps[1].predicate else {
        panic!("no predicate on events")
    };
    let PredicateKind::Node(node) = &pred.kind else {
        panic!("{pred:?}")
    };
    assert_eq!(node.code.value, "at0006");
    assert!(node.name.is_none());

    // FROM: EHR[...] CONTAINS (COMPOSITION c[...] CONTAINS OBSERVATION obs[...])
    let ContainmentKind::Contains {
        outer,
        negated: false,
        inner,
    } = &q.from.kind
    else {
        panic!("{:?}", q.from)
    };
    let ClassExpr::Rm(ehr) = outer else {
        panic!("{outer:?}")
    };
    assert_eq!(ehr.rm_type.name, "EHR");
    assert!(ehr.variable.is_none());
    let PredicateKind::Standard(std_pred) = &ehr.predicate.as_ref().unwrap().kind else {
        panic!("{:?}", ehr.predicate)
    };
    assert_eq!(std_pred.path.to_string(), "ehr_id/value");
    assert_eq!(std_pred.op, ComparisonOp::Eq);
    assert!(matches!(&std_pred.operand, PredicateOperand::Parameter(p) if p.name == "ehrUid"));
    let ContainmentKind::Contains { outer, inner, .. } = &inner.kind else {
        panic!("{inner:?}")
    };
    assert_eq!(outer.rm_type(), "COMPOSITION");
    assert_eq!(outer.variable().unwrap().name, "c");
    let ContainmentKind::Class(ClassExpr::Rm(obs)) = &inner.kind else {
        panic!("{inner:?}")
    };
    let PredicateKind::Archetype(arch) = &obs.predicate.as_ref().unwrap().kind else {
        panic!("{:?}", obs.predicate)
    };
    assert!(
        matches!(&arch.archetype, ArchetypeRef::Id(id) if id.value == "openEHR-EHR-OBSERVATION.blood_pressure.v1")
    );

    // WHERE
    let Some(WhereExpr {
        kind: WhereKind::Comparison { left, op, right },
        ..
    }) = &q.where_clause
    else {
        panic!("{:?}", q.where_clause)
    };
    assert!(matches!(left, Operand::Path(p) if p.variable.name == "obs"));
    assert_eq!(*op, ComparisonOp::Ge);
    assert!(matches!(
        right,
        Operand::Literal(Literal {
            value: LiteralValue::Integer(140),
            ..
        })
    ));

    // ORDER BY, LIMIT
    assert_eq!(q.order_by.len(), 1);
    assert_eq!(path_text(&q.order_by[0].path), "c/context/start_time");
    assert_eq!(q.order_by[0].direction, SortDirection::Descending);
    let limit = q.limit.as_ref().unwrap();
    assert_eq!((limit.row_count, limit.offset), (5, None));
}

#[test]
fn version_all_versions_query() {
    let q = verified(
        "SELECT v/uid/value FROM EHR e[ehr_id/value=$ehr_id] CONTAINS VERSION v[ALL_VERSIONS]
         CONTAINS COMPOSITION c[openEHR-EHR-COMPOSITION.encounter.v1]
         ORDER BY v/commit_audit/time_committed/value DESC",
    );
    let ContainmentKind::Contains { inner, .. } = &q.from.kind else {
        panic!("{:?}", q.from)
    };
    let ContainmentKind::Contains { outer, inner, .. } = &inner.kind else {
        panic!("{inner:?}")
    };
    let ClassExpr::Version(v) = outer else {
        panic!("{outer:?}")
    };
    assert_eq!(v.variable.as_ref().unwrap().name, "v");
    assert_eq!(
        v.predicate.as_ref().unwrap().kind,
        VersionPredicateKind::AllVersions
    );
    assert_eq!(outer.rm_type(), "VERSION");
    assert!(matches!(&inner.kind, ContainmentKind::Class(c) if c.rm_type() == "COMPOSITION"));

    let q = verified(
        "SELECT v FROM EHR e CONTAINS VERSION v[commit_audit/time_committed/value > '2021-01-01']",
    );
    let ContainmentKind::Contains { inner, .. } = &q.from.kind else {
        panic!()
    };
    let ContainmentKind::Class(ClassExpr::Version(v)) = &inner.kind else {
        panic!("{inner:?}")
    };
    let VersionPredicateKind::Standard(p) = &v.predicate.as_ref().unwrap().kind else {
        panic!("{v:?}")
    };
    assert_eq!(p.op, ComparisonOp::Gt);
    let PredicateOperand::Literal(lit) = &p.operand else {
        panic!("{p:?}")
    };
    assert_eq!(lit.value.temporal_kind(), Some(TemporalKind::Date));
}

#[test]
fn containment_precedence() {
    // CONTAINS > AND > OR.
    let q = verified("SELECT a FROM A a CONTAINS B b AND C c OR D d CONTAINS E e");
    let ContainmentKind::Or(items) = &q.from.kind else {
        panic!("{:?}", q.from)
    };
    assert_eq!(items.len(), 2);
    let ContainmentKind::And(ands) = &items[0].kind else {
        panic!("{:?}", items[0])
    };
    assert!(matches!(ands[0].kind, ContainmentKind::Contains { .. }));
    assert!(matches!(ands[1].kind, ContainmentKind::Class(_)));
    assert!(matches!(items[1].kind, ContainmentKind::Contains { .. }));

    // Parentheses after CONTAINS regroup, NOT CONTAINS is kept.
    let q = verified("SELECT a FROM A a NOT CONTAINS (B b OR C c)");
    let ContainmentKind::Contains { negated, inner, .. } = &q.from.kind else {
        panic!()
    };
    assert!(negated);
    assert!(matches!(&inner.kind, ContainmentKind::Or(v) if v.len() == 2));

    // Parentheses the structure does not need are dropped; needed ones printed.
    parses_to(
        "SELECT a FROM (A a CONTAINS (B b)) AND ((C c))",
        "SELECT a FROM A a CONTAINS B b AND C c",
    );
    parses_to(
        "SELECT a FROM A a AND (B b AND C c)",
        "SELECT a FROM A a AND (B b AND C c)",
    );
    parses_to(
        "SELECT a FROM (A a OR B b) AND C c",
        "SELECT a FROM (A a OR B b) AND C c",
    );
}

#[test]
fn where_precedence_and_canonical_parentheses() {
    let q = verified("SELECT c FROM C c WHERE NOT c/a = 1 AND c/b = 2 OR c/c = 3");
    let WhereKind::Or(items) = &q.where_clause.as_ref().unwrap().kind else {
        panic!()
    };
    let WhereKind::And(ands) = &items[0].kind else {
        panic!("{:?}", items[0])
    };
    assert!(matches!(ands[0].kind, WhereKind::Not(_)));
    parses_to(
        "select c from C c where ((c/a = 1)) and (c/b = 2 or c/c = 3) and not (c/d = 4 and c/e = 5)",
        "SELECT c FROM C c WHERE c/a = 1 AND (c/b = 2 OR c/c = 3) AND NOT (c/d = 4 AND c/e = 5)",
    );
    parses_to(
        "SELECT c FROM C c WHERE (c/a = 1 AND c/b = 2) AND c/c = 3",
        "SELECT c FROM C c WHERE (c/a = 1 AND c/b = 2) AND c/c = 3",
    );
    parses_to(
        "SELECT c FROM C c WHERE c/a = 1 OR (c/b = 2 AND c/c = 3)",
        "SELECT c FROM C c WHERE c/a = 1 OR c/b = 2 AND c/c = 3",
    );
}

#[test]
fn predicate_kinds() {
    let q = verified(
        "SELECT o/a[at0001]/b[at0002, 'n']/c[at0003, $p]/d[at0004, at0005]/e[at0006, icd10AM(2010)::F60.1|Schizoid|]/f[id7]
         FROM EHR e CONTAINS OBSERVATION o[$arch] CONTAINS CLUSTER x[openEHR-EHR-CLUSTER.a.v1, 'name']
         CONTAINS ELEMENT y[value matches {/^a\\/b$/;'d'}]",
    );
    let ColumnExpr::Path(p) = &q.select.columns[0].expr else {
        panic!()
    };
    let names: Vec<Option<NodeName>> = p
        .path
        .as_ref()
        .unwrap()
        .steps
        .iter()
        .map(|s| match &s.predicate.as_ref().unwrap().kind {
            PredicateKind::Node(n) => n.name.clone(),
            k => panic!("{k:?}"),
        })
        .collect();
    assert!(names[0].is_none());
    assert!(matches!(&names[1], Some(NodeName::String(s)) if s.value == "n"));
    assert!(matches!(&names[2], Some(NodeName::Parameter(p)) if p.name == "p"));
    assert!(matches!(&names[3], Some(NodeName::Code(c)) if c.value == "at0005"));
    let Some(NodeName::TermCode(tc)) = &names[4] else {
        panic!("{:?}", names[4])
    };
    assert_eq!(
        (
            tc.terminology.as_str(),
            tc.version.as_deref(),
            tc.code.as_str(),
            tc.text.as_deref()
        ),
        ("icd10AM", Some("2010"), "F60.1", Some("Schizoid"))
    );
    assert!(names[5].is_none());

    let ContainmentKind::Contains { inner, .. } = &q.from.kind else {
        panic!()
    };
    let ContainmentKind::Contains { outer, inner, .. } = &inner.kind else {
        panic!()
    };
    let ClassExpr::Rm(o) = &outer else { panic!() };
    assert!(matches!(
        &o.predicate.as_ref().unwrap().kind,
        PredicateKind::Archetype(ArchetypePredicate { archetype: ArchetypeRef::Parameter(p), name: None }) if p.name == "arch"
    ));
    let ContainmentKind::Contains { outer, inner, .. } = &inner.kind else {
        panic!()
    };
    let ClassExpr::Rm(x) = &outer else { panic!() };
    assert!(matches!(
        &x.predicate.as_ref().unwrap().kind,
        PredicateKind::Archetype(ArchetypePredicate {
            archetype: ArchetypeRef::Id(_),
            name: Some(NodeName::String(_))
        })
    ));
    let ContainmentKind::Class(ClassExpr::Rm(y)) = &inner.kind else {
        panic!()
    };
    let PredicateKind::Regex(r) = &y.predicate.as_ref().unwrap().kind else {
        panic!()
    };
    assert_eq!(r.regex.pattern, "^a\\/b$");
    assert_eq!(r.regex.default.as_ref().unwrap().value, "d");

    // AND binds tighter than OR inside predicates too.
    let q = verified("SELECT a FROM A a[at0001 and b/c=1 or at0002]");
    let ContainmentKind::Class(ClassExpr::Rm(a)) = &q.from.kind else {
        panic!()
    };
    let PredicateKind::Or(terms) = &a.predicate.as_ref().unwrap().kind else {
        panic!()
    };
    assert!(matches!(&terms[0].kind, PredicateKind::And(v) if v.len() == 2));
    assert!(matches!(&terms[1].kind, PredicateKind::Node(_)));
}

#[test]
fn functions_aggregates_and_literals() {
    let q = verified(
        "SELECT count(*), COUNT(distinct c/uid/value), max(c/x), length(c/name/value), \
         my_fn(1, 'a'), TERMINOLOGY('expand', 'api', 'uri'), -1.5e3, NULL, FALSE FROM C c",
    );
    let cols: Vec<&ColumnExpr> = q.select.columns.iter().map(|c| &c.expr).collect();
    assert!(matches!(
        cols[0],
        ColumnExpr::Aggregate(Aggregate {
            function: AggregateFunction::Count,
            distinct: false,
            argument: AggregateArg::Star,
            ..
        })
    ));
    assert!(matches!(
        cols[1],
        ColumnExpr::Aggregate(Aggregate {
            function: AggregateFunction::Count,
            distinct: true,
            argument: AggregateArg::Path(_),
            ..
        })
    ));
    assert!(matches!(
        cols[2],
        ColumnExpr::Aggregate(Aggregate {
            function: AggregateFunction::Max,
            ..
        })
    ));
    assert!(matches!(
        cols[3],
        ColumnExpr::Function(FunctionCall {
            name: FunctionName::Builtin(BuiltinFunction::Length),
            ..
        })
    ));
    assert!(
        matches!(cols[4], ColumnExpr::Function(FunctionCall { name: FunctionName::Other(n), args, .. }) if n == "my_fn" && args.len() == 2)
    );
    assert!(matches!(cols[5], ColumnExpr::Terminology(t) if t.operation.value == "expand"));
    assert!(
        matches!(cols[6], ColumnExpr::Literal(Literal { value: LiteralValue::Real(r), .. }) if *r == -1500.0)
    );
    assert!(matches!(
        cols[7],
        ColumnExpr::Literal(Literal {
            value: LiteralValue::Null,
            ..
        })
    ));
    assert!(matches!(
        cols[8],
        ColumnExpr::Literal(Literal {
            value: LiteralValue::Boolean(false),
            ..
        })
    ));
    assert_eq!(
        q.to_string(),
        "SELECT COUNT(*), COUNT(DISTINCT c/uid/value), MAX(c/x), LENGTH(c/name/value), \
         my_fn(1, 'a'), TERMINOLOGY('expand', 'api', 'uri'), -1500.0, NULL, false FROM C c"
    );
}

#[test]
fn canonical_printing() {
    parses_to(
        "select distinct top 5 c/x as X from EHR e contains composition c order by c/x asc, c/y descending limit 3 offset 1",
        "SELECT DISTINCT TOP 5 c/x AS X FROM EHR e CONTAINS composition c ORDER BY c/x, c/y DESC LIMIT 3 OFFSET 1",
    );
    parses_to(
        r#"SELECT c FROM C c WHERE c/a = "it's \"q\"" AND c/b LIKE 'x\\y' AND c/c matches {'a',"b", 1 ,$p}"#,
        r#"SELECT c FROM C c WHERE c/a = 'it\'s "q"' AND c/b LIKE 'x\\y' AND c/c MATCHES {'a', 'b', 1, $p}"#,
    );
    parses_to(
        "SELECT c FROM C c[ehr_id/value = 'x' and name/value != $n] WHERE c/v matches { terminology://a/b?c=1 }",
        "SELECT c FROM C c[ehr_id/value='x' AND name/value!=$n] WHERE c/v MATCHES {terminology://a/b?c=1}",
    );
    parses_to(
        "SELECT 1e3, .5, 10, -0.0 FROM C c",
        "SELECT 1000.0, 0.5, 10, -0.0 FROM C c",
    );
}

#[test]
fn spans_point_into_the_text() {
    let text =
        "SELECT c/name/value AS n\nFROM EHR e CONTAINS COMPOSITION c\nWHERE c/name/value = $x";
    let q = verified(text);
    let col = &q.select.columns[0];
    assert_eq!(col.span().slice(text), Some("c/name/value AS n"));
    assert_eq!(col.expr.span().slice(text), Some("c/name/value"));
    let w = q.where_clause.as_ref().unwrap();
    assert_eq!(w.span().slice(text), Some("c/name/value = $x"));
    assert_eq!(w.span().line_col(text), LineCol { line: 3, column: 7 });
    let WhereKind::Comparison { right, .. } = &w.kind else {
        panic!()
    };
    assert_eq!(right.span().slice(text), Some("$x"));
    assert_eq!(
        q.from.span().slice(text),
        Some("EHR e CONTAINS COMPOSITION c")
    );
    assert_eq!(q.span().slice(text), Some(text));
}

#[test]
fn equality_ignores_spans_but_not_content() {
    let a = parse("SELECT c FROM C c").unwrap();
    let b = parse("  select   c\n from C   c -- x").unwrap();
    assert_eq!(a, b);
    assert_ne!(a.span(), b.span());
    let c = parse("SELECT d FROM C d").unwrap();
    assert_ne!(a, c);
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};
    let hash = |q: &Query| {
        let mut h = DefaultHasher::new();
        q.hash(&mut h);
        h.finish()
    };
    assert_eq!(hash(&a), hash(&b));
}
