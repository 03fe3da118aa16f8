//! Error values: kinds, positions and messages.

use cdr_aql::{parse, ParseError, ParseErrorKind, MAX_NESTING};

fn err(aql: &str) -> ParseError {
    match parse(aql) {
        Ok(q) => panic!("parsed: {q}"),
        Err(e) => e,
    }
}

#[test]
fn syntax_errors_name_what_was_expected() {
    let e = err("SELECT c FROM EHR e CONTAINS");
    assert_eq!((e.line, e.column), (1, 29));
    assert_eq!(
        e.to_string(),
        "line 1, column 29: expected a class expression or '(', found end of input"
    );
    let e = err("SELECT c FORM EHR e");
    let ParseErrorKind::Syntax { expected, found } = &e.kind else {
        panic!("{e:?}")
    };
    assert!(expected.contains(&"FROM".to_owned()), "{expected:?}");
    assert_eq!(found, "`FORM`");
}

#[test]
fn errors_implement_std_error() {
    let e: Box<dyn std::error::Error> = Box::new(err("SELECT"));
    assert!(e.to_string().starts_with("line 1, column 7: expected"));
}

/// WHERE groups around function calls around a path with predicates, `k`
/// of each.
fn mixed(k: usize) -> String {
    format!(
        "SELECT c FROM EHR e WHERE {}{}c{}{}{} = 1{}",
        "(".repeat(k),
        "f(".repeat(k),
        "[a".repeat(k),
        "=1]".repeat(k),
        ")".repeat(k),
        ")".repeat(k)
    )
}

/// Queries nested `n` levels deep in each of the ways the parser recurses.
fn nested(n: usize) -> Vec<(&'static str, String)> {
    vec![
        (
            "parentheses",
            format!(
                "SELECT c FROM EHR e CONTAINS COMPOSITION c WHERE {}c/x = 1{}",
                "(".repeat(n),
                ")".repeat(n)
            ),
        ),
        (
            "NOT",
            format!(
                "SELECT c FROM EHR e CONTAINS COMPOSITION c WHERE {}c/x = 1",
                "NOT ".repeat(n)
            ),
        ),
        (
            "CONTAINS",
            format!("SELECT c FROM EHR e{}", " CONTAINS CLUSTER c".repeat(n)),
        ),
        (
            "containment groups",
            format!("SELECT c FROM {}EHR e{}", "(".repeat(n), ")".repeat(n)),
        ),
        (
            "predicates",
            format!("SELECT c{}{} FROM EHR e", "[a".repeat(n), "=1]".repeat(n)),
        ),
        (
            "predicate groups",
            format!(
                "SELECT c[{}at0001{}] FROM EHR e",
                "(".repeat(n - 1),
                ")".repeat(n - 1)
            ),
        ),
        (
            "functions",
            format!("SELECT {}1{} FROM EHR e", "f(".repeat(n), ")".repeat(n)),
        ),
        ("mixed", mixed(n / 3)),
    ]
}

#[test]
fn too_deep_nesting_is_a_clean_error() {
    let mut cases = nested(MAX_NESTING + 1);
    cases.retain(|(what, _)| *what != "mixed");
    cases.push(("mixed", mixed(MAX_NESTING / 3 + 1)));
    for (what, aql) in cases {
        let e = err(&aql);
        assert_eq!(
            e.kind,
            ParseErrorKind::TooDeep { limit: MAX_NESTING },
            "{what}: {e}"
        );
    }
    // Far too deep: rejected by the cheap scan before pest recurses.
    let e = err(&format!(
        "SELECT c FROM EHR e WHERE {}",
        "(".repeat(1_000_000)
    ));
    assert_eq!(e.kind, ParseErrorKind::TooDeep { limit: MAX_NESTING });
    assert_eq!(e.column, 27 + MAX_NESTING);
}

#[test]
fn nesting_at_the_limit_parses_in_a_1_mb_stack() {
    // Half of the 2 MB that test and Tokio worker threads get, in a debug build.
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            for (what, aql) in nested(MAX_NESTING) {
                let q = parse(&aql).unwrap_or_else(|e| panic!("{what}: {e}"));
                let again = parse(&q.to_string()).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(q, again, "{what}");
                drop((q.clone(), again));
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn literal_problems_point_at_the_literal() {
    let e = err("SELECT c FROM EHR e WHERE e/x = 99999999999999999999");
    assert_eq!(
        e.kind,
        ParseErrorKind::NumberOutOfRange("99999999999999999999".into())
    );
    assert_eq!(e.column, 33);
    let e = err("SELECT c FROM EHR e WHERE e/x = 1e999");
    assert!(matches!(e.kind, ParseErrorKind::NumberOutOfRange(_)));
    let e = err("SELECT c FROM EHR e WHERE e/x LIKE 'a\\*b'");
    assert_eq!(e.kind, ParseErrorKind::InvalidEscape("\\*".into()));
    assert_eq!(e.column, 38);
    let e = err("SELECT c FROM EHR e WHERE e/x = 'abc");
    assert_eq!(e.kind, ParseErrorKind::UnterminatedString);
    assert_eq!(e.column, 33);
    let e = err("SELECT c FROM EHR e LIMIT 99999999999999999999999");
    assert!(matches!(e.kind, ParseErrorKind::NumberOutOfRange(_)));
}
