//! Locating the corpus.

use std::path::PathBuf;

/// `shared/testdata`, relative to this crate (`crates/cdr-template/../../../shared/testdata`).
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "corpus absent: ../shared/testdata not found (looked at {})",
            dir.display()
        );
        None
    }
}

/// Every `<slug>/template.opt` of the corpus, sorted by slug, with its bytes.
pub fn corpus_opts() -> Vec<(String, Vec<u8>)> {
    let Some(dir) = corpus_dir() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("read corpus dir")
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let opt = entry.path().join("template.opt");
        if opt.is_file() {
            let slug = entry.file_name().to_string_lossy().into_owned();
            out.push((slug, std::fs::read(&opt).expect("read template.opt")));
        }
    }
    out
}
