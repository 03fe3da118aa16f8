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

/// Files the manifest marks valid that cdr rejects, each with the reason and the constraint
/// code that shows it. They are rejected on purpose: each breaks a rule that the mutation tests
/// (and the openEHR specification) require, against the OPT that the corpus ships.
pub const KNOWN_DISAGREEMENTS: &[(&str, &str, &str)] = &[
    (
        "sdk__rawdb_composition.json",
        "decode",
        "not canonical JSON: EHRbase 1's database encoding (`/$CLASS$`, `/content[…]` keys)",
    ),
    (
        "sdk__compo_with_nested_party_identified.json",
        "unknown_node",
        "content is SECTION allgemeine_angaben.v1, which this Corona_Anamnese OPT does not contain",
    ),
    (
        "sdk__compo_with_nested_party_related.json",
        "unknown_node",
        "content is SECTION allgemeine_angaben.v1, which this Corona_Anamnese OPT does not contain",
    ),
    (
        "sdk__compo_with_nested_party_self.json",
        "unknown_node",
        "content is SECTION allgemeine_angaben.v1, which this Corona_Anamnese OPT does not contain",
    ),
    (
        "sdk__compo_with_nested_provider.json",
        "unknown_node",
        "content is SECTION allgemeine_angaben.v1, which this Corona_Anamnese OPT does not contain",
    ),
    (
        "sdk__datetime_tests.json",
        "unknown_node",
        "written for the other test_all_types OPT: elements at0010.1… are not in this one",
    ),
    (
        "sdk__duration_tests.json",
        "unknown_node",
        "written for the other test_all_types OPT: elements at0010.1… are not in this one",
    ),
    (
        "sdk__test_all_types.v1.xml",
        "unknown_node",
        "written for the other test_all_types OPT: elements at0023 and at0024 are not in this one",
    ),
    (
        "careprecision__EREACT_-_Deterioration_assessment_1_CANONICAL.json",
        "unknown_node",
        "DENWIS indicator elements at0062, at0071, … are not in this OPT's denwis.v0",
    ),
    (
        "careprecision__EREACT_-_Deterioration_assessment_1_CANONICAL.xml",
        "unknown_node",
        "DENWIS indicator elements at0062, at0071, … are not in this OPT's denwis.v0",
    ),
    (
        "careprecision__EREACT_-_Deterioration_assessment_1_CANONICAL-EHRBASE_OUTPUT.json",
        "code_not_allowed",
        "the cluster named 'Care setting has confirmed Covid-19' holds code at0.9, which the \
         template allows only in the other, differently named at0016 cluster",
    ),
    (
        "careprecision__EREACT_-_Deterioration_assessment_1_CANONICAL-EHRBASE_OUTPUT.xml",
        "code_not_allowed",
        "the cluster named 'Care setting has confirmed Covid-19' holds code at0.9, which the \
         template allows only in the other, differently named at0016 cluster",
    ),
];

fn disagreement(path: &Path) -> Option<&'static (&'static str, &'static str, &'static str)> {
    KNOWN_DISAGREEMENTS
        .iter()
        .find(|(f, _, _)| path.ends_with(f))
}

#[test]
fn corpus_compositions_are_judged_as_the_manifest_says() {
    let Some(cases) = cases() else { return };
    let templates = templates();
    let (mut valid_ok, mut invalid_ok, mut disagreements) = (0, 0, 0);
    let mut failures = Vec::new();
    for case in &cases {
        let template = &templates[&case.slug];
        let issues = decode(&case.path).map(|c| cdr_validation::validate(template, &c));
        if let Some((_, code, why)) = disagreement(&case.path) {
            let shown = match &issues {
                Err(_) => *code == "decode",
                Ok(list) => list.iter().any(|i| i.constraint.as_str() == *code),
            };
            assert!(
                shown,
                "{}: expected rejection with {code} ({why}), got {issues:?}",
                case.path.display()
            );
            disagreements += 1;
            continue;
        }
        let verdict = match issues {
            Err(e) => Err(format!("decode: {e}")),
            Ok(issues) if issues.is_empty() => Ok(()),
            Ok(issues) => Err(issues
                .iter()
                .take(6)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join("\n    ")),
        };
        match (case.valid, verdict) {
            (true, Ok(())) => valid_ok += 1,
            (false, Err(_)) => invalid_ok += 1,
            (true, Err(e)) => {
                failures.push(format!("{} should be valid:\n    {e}", case.path.display()))
            }
            (false, Ok(())) => failures.push(format!("{} should be rejected", case.path.display())),
        }
    }
    eprintln!(
        "accepted {valid_ok} valid, rejected {invalid_ok} invalid canonical compositions; \
         {disagreements} marked valid rejected on purpose (KNOWN_DISAGREEMENTS)"
    );
    assert_eq!(
        disagreements,
        KNOWN_DISAGREEMENTS.len(),
        "every listed disagreement is in the corpus"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
