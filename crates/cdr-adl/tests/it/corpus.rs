//! The ADL corpus of ../shared/models: every archetype parses and round-trips.

use std::path::{Path, PathBuf};

/// Every `.adl` file below ../shared/models, sorted; `None` (after saying so) when absent.
pub fn corpus() -> Option<Vec<PathBuf>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models");
    if !dir.is_dir() {
        eprintln!(
            "corpus absent: {} not found; corpus test skipped",
            dir.display()
        );
        return None;
    }
    let mut files = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "adl") {
                files.push(p);
            }
        }
    }
    files.sort();
    Some(files)
}

#[test]
fn every_corpus_archetype_parses_and_round_trips() {
    let Some(files) = corpus() else { return };
    assert!(files.len() >= 290, "only {} .adl files found", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let name = f.display().to_string();
        match cdr_adl::parse(&text, &name) {
            Err(e) => failures.push(e.to_string()),
            Ok(a) => {
                let written = cdr_adl::write(&a);
                match cdr_adl::parse(&written, &format!("{name} (written)")) {
                    Err(e) => failures.push(e.to_string()),
                    Ok(b) => {
                        if a != b {
                            failures
                                .push(format!("{name}: the written form parses to another model"));
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
