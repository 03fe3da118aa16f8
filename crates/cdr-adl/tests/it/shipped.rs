//! The archetypes cdr ships (the repository's `archetypes/`): every one parses, round-trips
//! through the writer, and passes every check without a finding, warnings included.

use std::path::{Path, PathBuf};

fn shipped() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../../archetypes")];
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
    files
}

#[test]
fn the_shipped_archetypes_are_clean() {
    let files = shipped();
    assert!(files.len() >= 18, "{files:?}");
    let mut archetypes = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let name = f.display().to_string();
        let a = cdr_adl::parse(&text, &name).unwrap_or_else(|e| panic!("{e}"));
        let again = cdr_adl::parse(&cdr_adl::write(&a), &name).unwrap();
        assert_eq!(a, again, "{name}: the written form parses to another model");
        let file_name = f.file_stem().unwrap().to_string_lossy().into_owned();
        assert_eq!(a.archetype_id, file_name, "file named after its id");
        archetypes.push(a);
    }
    let findings = cdr_adl::check_set(&archetypes);
    let all: Vec<String> = findings
        .iter()
        .flatten()
        .map(|f| format!("{f:?}"))
        .collect();
    assert!(all.is_empty(), "{}", all.join("\n"));
}
