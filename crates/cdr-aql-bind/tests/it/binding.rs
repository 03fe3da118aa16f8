//! Binding: variables, RM typing of paths, row nodes and anchors, containment, errors.

use cdr_aql_bind::{
    bind, BindError, BoundQuery, Class, ColumnExpr, Condition, Inputs, Operand, OrderTarget, Path,
    VersionOf,
};
use cdr_rm::meta::RmType;
use serde_json::{json, Map, Value};

const SYS: &str = "o/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value/magnitude";
const DIA: &str = "o/data[at0001]/events[at0002]/data[at0003]/items[at0005]/value/magnitude";
const TIME: &str = "o/data[at0001]/events[at0002]/time/value";

fn with<T>(aql: &str, params: Value, f: impl FnOnce(Result<BoundQuery, BindError>) -> T) -> T {
    let q = cdr_aql::parse(aql).unwrap_or_else(|e| panic!("{aql}: {e:?}"));
    let params: Map<String, Value> = params.as_object().cloned().unwrap_or_default();
    let no_terminology = |_: &_| Err("no terminology service".to_owned());
    let inputs = Inputs {
        params: &params,
        terminology: &no_terminology,
    };
    f(bind(&q, &inputs))
}

fn bound<T>(aql: &str, f: impl FnOnce(&BoundQuery) -> T) -> T {
    with(aql, json!({}), |b| {
        f(&b.unwrap_or_else(|e| panic!("{aql}: {e}")))
    })
}

fn error(aql: &str) -> String {
    with(aql, json!({}), |b| match b {
        Ok(_) => panic!("{aql} bound"),
        Err(e) => e.message,
    })
}

fn column<'a, 'q>(b: &'a BoundQuery<'q>, i: usize) -> &'a Path<'q> {
    match &b.columns[i].expr {
        ColumnExpr::Path(p) => p,
        other => panic!("not a path column: {other:?}"),
    }
}

#[test]
fn paths_are_typed_with_the_rm() {
    bound(&format!("SELECT {SYS}, o/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value FROM OBSERVATION o"), |b| {
        let p = column(b, 0);
        let multiple: Vec<bool> = p.steps.iter().map(|s| s.multiple).collect();
        // data, events, data, items, value, magnitude
        assert_eq!(multiple, [false, true, false, true, false, false]);
        // DV_QUANTITY's is a Real, DV_COUNT's an Integer.
        assert_eq!(
            p.types.only_objects(),
            None,
            "magnitude is a primitive: {:?}",
            p.types
        );
        let v = column(b, 1);
        assert_eq!(v.steps.last().unwrap().declared, Some("DATA_VALUE"));
        assert!(v.types.may_be_ordered());
        assert!(!p.types.may_be_ordered());
    });
    // An attribute the RM does not declare has unknown types.
    bound("SELECT o/foo/bar FROM OBSERVATION o", |b| {
        assert_eq!(column(b, 0).types, cdr_aql_bind::Types::Unknown);
    });
    // EHR attributes and a VERSION's data.
    bound(
        "SELECT e/time_created, v/data/context FROM EHR e CONTAINS VERSION v CONTAINS COMPOSITION c",
        |b| {
            assert!(column(b, 0).types.may_be_ordered());
            assert_eq!(
                column(b, 1).types,
                cdr_aql_bind::Types::class(RmType::EventContext)
            );
        },
    );
}

#[test]
fn select_paths_through_one_node_share_its_rows() {
    bound(
        &format!("SELECT {SYS}, {DIA}, {TIME} FROM OBSERVATION o"),
        |b| {
            // events (shared by all three), then items[at0004] and items[at0005].
            assert_eq!(b.rows.len(), 3);
            assert_eq!(b.rows[0].depth, 2);
            assert_eq!(b.rows[1].parent, Some(0));
            assert_eq!(b.rows[2].parent, Some(0));
            let anchors: Vec<_> = (0..3).map(|i| column(b, i).anchor.unwrap()).collect();
            assert_eq!(
                anchors.iter().map(|a| (a.row, a.depth)).collect::<Vec<_>>(),
                [(1, 4), (2, 4), (0, 2)]
            );
        },
    );
}

#[test]
fn where_and_order_by_paths_bind_to_the_rows_they_pass_through() {
    bound(
        &format!(
            "SELECT {SYS} FROM OBSERVATION o WHERE {TIME} > '2024-01-01' AND o/name/value = 'x' \
             ORDER BY {DIA}"
        ),
        |b| {
            let cs = b.condition.as_ref().unwrap().conjuncts();
            let Condition::Compare {
                left: Operand::Path(t),
                ..
            } = cs[0]
            else {
                panic!()
            };
            // Bound to the event of the row; the rest of the path is evaluated from it.
            assert_eq!(t.anchor.map(|a| (a.row, a.depth)), Some((0, 2)));
            assert_eq!(t.rest().len(), 2);
            let Condition::Compare {
                left: Operand::Path(n),
                ..
            } = cs[1]
            else {
                panic!()
            };
            // Shares nothing with SELECT: existential over the variable's object.
            assert_eq!(n.anchor, None);
            let OrderTarget::Path(k) = &b.order_by[0].target else {
                panic!()
            };
            assert_eq!(k.anchor.map(|a| a.row), Some(0));
        },
    );
    // A different predicate is a different node.
    bound(
        "SELECT o/data/events[at0002]/time/value FROM OBSERVATION o WHERE o/data/events[at0003]/time/value > 1",
        |b| {
            let Condition::Compare { left: Operand::Path(p), .. } = b.condition.as_ref().unwrap() else {
                panic!()
            };
            assert_eq!(p.anchor, None);
        },
    );
}

#[test]
fn classes_and_containment() {
    bound(
        "SELECT s FROM EHR e CONTAINS VERSION v CONTAINS EHR_STATUS s CONTAINS ITEM_TREE t",
        |b| {
            assert!(matches!(
                b.vars[1].class,
                Class::Version {
                    of: VersionOf::EhrStatus,
                    ..
                }
            ));
            assert!(b.vars.iter().all(|v| !v.impossible));
        },
    );
    bound(
        "SELECT d FROM COMPOSITION c CONTAINS DATA_STRUCTURE d",
        |b| {
            assert_eq!(b.vars[1].class, Class::Object(RmType::DataStructure));
            assert!(!b.vars[1].impossible);
        },
    );
    for (aql, impossible) in [
        ("SELECT s FROM COMPOSITION c CONTAINS EHR_STATUS s", true),
        ("SELECT c FROM EHR_STATUS s CONTAINS COMPOSITION c", true),
        ("SELECT c FROM OBSERVATION o CONTAINS COMPOSITION c", true),
        ("SELECT x FROM DV_QUANTITY q CONTAINS CLUSTER x", true),
        ("SELECT x FROM ENTRY e CONTAINS SECTION x", true),
        ("SELECT e FROM COMPOSITION c CONTAINS EHR e", true),
        ("SELECT v FROM FOLDER f CONTAINS VERSION v", false),
        ("SELECT x FROM EHR_STATUS s CONTAINS CLUSTER x", false),
        ("SELECT x FROM SECTION s CONTAINS SECTION x", false),
    ] {
        bound(aql, |b| {
            assert_eq!(b.vars[1].impossible, impossible, "{aql}")
        });
    }
    // Directly below an EHR, a class that can lie inside an EHR_STATUS ranges over its content
    // too; one that cannot (or below anything else) over compositions only.
    for (aql, with_status) in [
        ("SELECT x FROM EHR e CONTAINS ELEMENT x", true),
        ("SELECT x FROM EHR e CONTAINS CLUSTER x", true),
        ("SELECT x FROM EHR e CONTAINS ITEM_TREE x", true),
        ("SELECT x FROM EHR e CONTAINS ITEM_SINGLE x", true),
        ("SELECT x FROM EHR e CONTAINS DATA_STRUCTURE x", true),
        ("SELECT x FROM EHR e CONTAINS OBSERVATION x", false),
        ("SELECT x FROM EHR e CONTAINS SECTION x", false),
        ("SELECT x FROM EHR e CONTAINS HISTORY x", false),
        ("SELECT x FROM EHR e CONTAINS COMPOSITION x", false),
        ("SELECT x FROM EHR e CONTAINS EHR_STATUS x", false),
    ] {
        bound(aql, |b| {
            assert_eq!(b.vars[1].with_status, with_status, "{aql}");
            assert!(!b.vars[1].impossible, "{aql}");
        });
    }
    for aql in [
        "SELECT x FROM ELEMENT x",
        "SELECT x FROM EHR e CONTAINS COMPOSITION c CONTAINS ELEMENT x",
        "SELECT x FROM EHR e CONTAINS EHR_STATUS s CONTAINS ELEMENT x",
        "SELECT x FROM EHR e CONTAINS VERSION v CONTAINS ELEMENT x",
    ] {
        bound(aql, |b| {
            assert!(b.vars.iter().all(|v| !v.with_status), "{aql}");
        });
    }
}

#[test]
fn semantic_errors() {
    assert!(error("SELECT x/name FROM COMPOSITION c").contains("'x'"));
    assert!(error("SELECT c FROM FOO c").contains("'FOO'"));
    assert!(error("SELECT c FROM COMPOSITION c CONTAINS OBSERVATION c").contains("twice"));
    assert!(error("SELECT c FROM COMPOSITION c WHERE c/name/value = $p").contains("$p"));
    assert!(error("SELECT LENGTH('a', 'b') FROM COMPOSITION c").contains("LENGTH takes 1"));
    assert!(error("SELECT FOO(c) FROM COMPOSITION c").contains("'FOO'"));
    let avg = error("SELECT AVG(o/data/events/data/items/value) FROM OBSERVATION o");
    assert!(avg.contains("AVG is not supported for"), "{avg}");
    let sum = error("SELECT SUM(c/context/start_time) FROM COMPOSITION c");
    assert!(
        sum.contains("SUM is not supported for DV_DATE_TIME"),
        "{sum}"
    );
    assert!(error(
        "SELECT c FROM COMPOSITION c NOT CONTAINS OBSERVATION o WHERE o/name/value = 'x'"
    )
    .contains("NOT CONTAINS"));
    assert!(
        error("SELECT DISTINCT c/name/value FROM COMPOSITION c ORDER BY c/uid/value")
            .contains("ORDER BY")
    );
    // A numeric path aggregates; an unknown one is left to the data.
    bound(
        &format!("SELECT AVG({SYS}), SUM(o/foo) FROM OBSERVATION o"),
        |_| {},
    );
}

#[test]
fn ehr_bindings_and_parameters() {
    with(
        "SELECT c FROM EHR e[ehr_id/value=$a] CONTAINS COMPOSITION c \
         WHERE e/ehr_id/value = 'b' AND c/name/value MATCHES {$names, 'z'}",
        json!({"a": "A", "names": ["x", "y"]}),
        |b| {
            let b = b.unwrap();
            assert_eq!(b.ehr_ids, [json!("A"), json!("b")]);
            let Condition::Matches { values, .. } = b.condition.as_ref().unwrap().conjuncts()[1]
            else {
                panic!()
            };
            assert_eq!(values, &[json!("x"), json!("y"), json!("z")]);
        },
    );
}
