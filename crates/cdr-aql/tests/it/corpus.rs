//! The file corpus: `ok/` queries round-trip, `err/` queries fail where their
//! `-- expect: line:col` header says.

use cdr_aql::{parse, Spanned};

use crate::support::{corpus, verified};

#[test]
fn ok_corpus_round_trips() {
    let files = corpus("ok");
    assert!(files.len() >= 40, "only {} ok queries", files.len());
    for (name, text) in &files {
        let query = verified(text);
        let printed = query.to_string();
        assert!(!printed.contains("  "), "{name}: double space in {printed}");
        assert!(!printed.contains('\n'), "{name}: newline in {printed}");
        let span = query.span();
        let covered = span
            .slice(text)
            .unwrap_or_else(|| panic!("{name}: bad span {span}"));
        assert!(
            covered.starts_with(['S', 's']),
            "{name}: span starts at {covered:?}"
        );
    }
}

/// The expectation header of an err file: `-- expect: L:C`, then
/// `-- message: <the error message without its position>`.
fn expectation(name: &str, text: &str) -> (String, Option<String>) {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let position = first
        .strip_prefix("-- expect:")
        .unwrap_or_else(|| panic!("{name}: first line must be `-- expect: line:col`"))
        .trim()
        .to_owned();
    let message = lines
        .next()
        .and_then(|l| l.strip_prefix("-- message:"))
        .map(|m| m.trim().to_owned());
    (position, message)
}

/// The error message without the `line L, column C: ` prefix.
fn message_of(e: &cdr_aql::ParseError) -> String {
    e.kind.to_string()
}

/// Rewrites the two header lines of an err file from the parser's output.
fn update(name: &str, text: &str, e: &cdr_aql::ParseError) {
    let body: Vec<&str> = text.lines().skip(2).collect();
    let mut out = format!(
        "-- expect: {}:{}\n-- message: {}\n",
        e.line,
        e.column,
        message_of(e)
    );
    for line in body {
        out.push_str(line);
        out.push('\n');
    }
    let path = crate::support::corpus_dir("err").join(name);
    std::fs::write(&path, out).unwrap_or_else(|err| panic!("writing {}: {err}", path.display()));
}

/// Each err file fails at the line:column its header states, with its
/// message. `UPDATE_EXPECT=1` rewrites the headers from the parser's output
/// (review the diff) instead of checking them; the query text starts on the
/// third line, so rewriting does not move the positions.
#[test]
fn err_corpus_fails_at_the_expected_position() {
    let files = corpus("err");
    assert!(files.len() >= 15, "only {} err queries", files.len());
    let updating = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for (name, text) in &files {
        let (position, message) = expectation(name, text);
        match parse(text) {
            Ok(q) => failures.push(format!("{name}: parsed as {q}")),
            Err(e) if updating => update(name, text, &e),
            Err(e) => {
                let actual = format!("{}:{}", e.line, e.column);
                if actual != position {
                    failures.push(format!(
                        "{name}: error at {actual}, expected {position}: {e}"
                    ));
                }
                if let Some(m) = message {
                    if message_of(&e) != m {
                        failures.push(format!(
                            "{name}: message {:?}, expected {m:?}",
                            message_of(&e)
                        ));
                    }
                }
                let lc = cdr_aql::line_col(text, e.span.start);
                assert_eq!((lc.line, lc.column), (e.line, e.column), "{name}");
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
