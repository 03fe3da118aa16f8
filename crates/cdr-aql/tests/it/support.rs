//! Shared helpers: the corpus location, and the `verified` / `parses_to` checks.

use std::path::{Path, PathBuf};

use cdr_aql::{parse, Query};

/// `aql-grammar/corpus/<kind>` at the workspace root.
pub fn corpus_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../aql-grammar/corpus")
        .join(kind)
}

/// Every `.aql` file under `corpus/<kind>`, sorted by name, with its text.
pub fn corpus(kind: &str) -> Vec<(String, String)> {
    let dir = corpus_dir(kind);
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "aql"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).unwrap();
            (name, text)
        })
        .collect();
    files.sort();
    files
}

/// Parses `aql`, checks that printing and re-parsing gives the same AST and
/// the same text, and returns the AST.
pub fn verified(aql: &str) -> Query {
    let query = parse(aql).unwrap_or_else(|e| panic!("{e}\nin:\n{aql}"));
    let printed = query.to_string();
    let reparsed = parse(&printed).unwrap_or_else(|e| panic!("{e}\nin printed:\n{printed}"));
    assert_eq!(
        reparsed, query,
        "print/parse changed the AST; printed:\n{printed}"
    );
    assert_eq!(reparsed.to_string(), printed, "printing is not stable");
    query
}

/// Checks that `aql` parses and prints as `canonical`, which itself verifies.
pub fn parses_to(aql: &str, canonical: &str) -> Query {
    let query = verified(aql);
    assert_eq!(query.to_string(), canonical);
    assert_eq!(verified(canonical), query);
    query
}
