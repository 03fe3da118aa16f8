//! Every canonical composition of `../shared/testdata` is judged as its manifest says.

use cdr_rm::{from_json, from_xml, Composition};
use cdr_template::{parse_opt, Template};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata")
}

/// One canonical composition with its template slug and expectation.
#[derive(Debug, Clone)]
pub struct Case {
    pub slug: String,
    pub path: PathBuf,
    pub format: String,
    pub valid: bool,
    /// Why the manifest overrules its source project's expectation, if it does.
    pub ruling: Option<String>,
}

/// The canonical composition cases, or `None` when the corpus is absent.
pub fn cases() -> Option<Vec<Case>> {
    let Ok(text) = std::fs::read(root().join("manifest.json")) else {
        eprintln!(
            "corpus absent: ../shared/testdata/manifest.json not found; corpus tests skipped"
        );
        return None;
    };
    let m: serde_json::Value = serde_json::from_slice(&text).unwrap();
    let mut out = Vec::new();
    for t in m["templates"].as_array().unwrap() {
        let slug = t["slug"].as_str().unwrap().to_owned();
        for f in t["files"].as_array().unwrap() {
            if f["kind"] != "canonical" {
                continue;
            }
            out.push(Case {
                slug: slug.clone(),
                path: root().join(&slug).join(f["file"].as_str().unwrap()),
                format: f["format"].as_str().unwrap().to_owned(),
                valid: f["expected"] == "valid",
                ruling: f["ruling"].as_str().map(str::to_owned),
            });
        }
    }
    Some(out)
}

/// Parsed templates by slug (each parsed once).
pub fn templates() -> HashMap<String, Template> {
    let mut map = HashMap::new();
    if let Ok(dirs) = std::fs::read_dir(root()) {
        for d in dirs.flatten() {
            let opt = d.path().join("template.opt");
            if let Ok(bytes) = std::fs::read(&opt) {
                let t = parse_opt(&bytes).unwrap_or_else(|e| panic!("{}: {e}", opt.display()));
                map.insert(d.file_name().to_string_lossy().into_owned(), t);
            }
        }
    }
    map
}

pub fn decode(path: &Path) -> Result<Composition, cdr_rm::DecodeError> {
    let bytes = std::fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "xml") {
        from_xml(&bytes)
    } else {
        from_json(&bytes)
    }
}

#[test]
fn corpus_compositions_are_judged_as_the_manifest_says() {
    let Some(cases) = cases() else { return };
    let templates = templates();
    let (mut valid_ok, mut invalid_ok) = (0, 0);
    let mut failures = Vec::new();
    for case in &cases {
        let template = &templates[&case.slug];
        let verdict = match decode(&case.path).map(|c| cdr_validation::validate(template, &c)) {
            Err(e) => Err(format!("decode: {e}")),
            Ok(issues) if issues.is_empty() => Ok(()),
            Ok(issues) => Err(issues
                .iter()
                .take(6)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join("\n    ")),
        };
        let ruling = case
            .ruling
            .as_deref()
            .map(|r| format!(" (the manifest's ruling: {r})"))
            .unwrap_or_default();
        match (case.valid, verdict) {
            (true, Ok(())) => valid_ok += 1,
            (false, Err(e)) => {
                invalid_ok += 1;
                if !ruling.is_empty() {
                    let first = e.lines().next().unwrap_or_default();
                    eprintln!("rejected {}{ruling}: {first}", case.path.display());
                }
            }
            (true, Err(e)) => {
                failures.push(format!("{} should be valid:\n    {e}", case.path.display()))
            }
            (false, Ok(())) => failures.push(format!(
                "{} should be rejected{ruling}",
                case.path.display()
            )),
        }
    }
    eprintln!("accepted {valid_ok} valid, rejected {invalid_ok} invalid canonical compositions");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
