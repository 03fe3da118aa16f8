//! Access to the shared corpus (`../shared/testdata`) through its manifest.

use std::path::PathBuf;

/// One file of the corpus.
#[derive(Debug, Clone)]
pub struct CorpusFile {
    pub path: PathBuf,
    pub kind: String,
    pub format: String,
    pub parse_error: bool,
    /// The manifest's `expected` is `valid`.
    pub valid: bool,
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata")
}

/// All files of the manifest, or `None` (with a message) when the corpus is absent.
pub fn files() -> Option<Vec<CorpusFile>> {
    let manifest = root().join("manifest.json");
    let Ok(text) = std::fs::read(&manifest) else {
        eprintln!(
            "corpus absent: {} not found; corpus tests skipped",
            manifest.display()
        );
        return None;
    };
    let m: serde_json::Value = serde_json::from_slice(&text).expect("manifest.json is JSON");
    let mut out = Vec::new();
    for t in m["templates"].as_array().expect("templates") {
        let slug = t["slug"].as_str().unwrap_or_default().to_owned();
        for f in t["files"].as_array().expect("files") {
            out.push(CorpusFile {
                path: root()
                    .join(&slug)
                    .join(f["file"].as_str().unwrap_or_default()),
                kind: f["kind"].as_str().unwrap_or_default().to_owned(),
                format: f["format"].as_str().unwrap_or_default().to_owned(),
                parse_error: f.get("parse_error").is_some_and(|p| !p.is_null()),
                valid: f["expected"] == "valid",
            });
        }
    }
    Some(out)
}

/// Canonical compositions that are well-formed documents.
pub fn canonical(format: &str) -> Vec<CorpusFile> {
    files()
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f.kind == "canonical" && f.format == format && !f.parse_error)
        .collect()
}
