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

/// The corpus, parsed: (file name, archetype).
fn parsed(files: &[PathBuf]) -> Vec<(String, cdr_adl::Archetype)> {
    files
        .iter()
        .map(|f| {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(f).unwrap();
            (name.clone(), cdr_adl::parse(&text, &name).unwrap())
        })
        .collect()
}

/// The errors the corpus has, each a real breach of the rule named (see ARCHITECTURE.md):
/// (file, code, path).
const EXPECTED_ERRORS: [(&str, &str, &str); 8] = [
    // Older CKM ACTIONs: several ISM_TRANSITION alternatives without node ids under the
    // single-valued `ism_transition`.
    (
        "openEHR-EHR-ACTION.pathology_test.v1.adl",
        "VACSIT",
        "/ism_transition",
    ),
    (
        "openEHR-EHR-ACTION.referral.v1.adl",
        "VACSIT",
        "/ism_transition",
    ),
    // Specialisations that widen their parent: a new code in a value set, an open value set
    // where the parent lists codes, units the parent does not admit, nodes the parent lacks
    // that keep an unspecialised code.
    (
        "openEHR-EHR-CLUSTER.tnm_staging-melanoma.v1.adl",
        "VSONNC",
        "/items[at0006]/items[at0030]/value/defining_code",
    ),
    (
        "openEHR-EHR-OBSERVATION.avpu-and_confusion.v0.adl",
        "VSONNC",
        "/data[at0001]/events[at0002]/data[at0003]/items[at0004.1]/value/defining_code",
    ),
    (
        "openEHR-EHR-OBSERVATION.body_weight-birth.v1.adl",
        "VSONNC",
        "/data[at0002]/events[at0003.1]/data[at0001]/items[at0004.1]/value",
    ),
    (
        "openEHR-EHR-OBSERVATION.braden_scale-child.v1.adl",
        "VSONCI",
        "/data[at0001]/events[at0002]/data[at0003]/items[at0035]",
    ),
    (
        "openEHR-EHR-OBSERVATION.intravascular_pressure-jvp.v1.adl",
        "VSONNC",
        "/data[at0001]/events[at0002]/data[at0003]/items[at0005.1]/value",
    ),
    (
        "openEHR-EHR-OBSERVATION.lab_test-histopathology.v1.adl",
        "VSONCI",
        "/protocol[at0004]/items[at0013]",
    ),
];

/// Specialised archetypes whose parent is not in the corpus.
const PARENT_ABSENT: [&str; 5] = [
    "openEHR-EHR-INSTRUCTION.request-follow_up.v1.adl",
    "openEHR-EHR-INSTRUCTION.request-imaging_exam.v1.adl",
    "openEHR-EHR-INSTRUCTION.request-lab_test.v1.adl",
    "openEHR-EHR-INSTRUCTION.request-pathology_test.v1.adl",
    "openEHR-EHR-INSTRUCTION.request-referral.v1.adl",
];

#[test]
fn corpus_checks_find_only_the_known_breaches() {
    let Some(files) = corpus() else { return };
    let parsed = parsed(&files);
    let all: Vec<cdr_adl::Archetype> = parsed.iter().map(|(_, a)| a.clone()).collect();
    let mut errors = Vec::new();
    let mut warnings = std::collections::BTreeMap::new();
    let mut absent = Vec::new();
    let mut specialised = 0;
    let results = cdr_adl::check_set(&all);
    for ((name, a), findings) in parsed.iter().zip(results) {
        if a.specialise.is_some() {
            specialised += 1;
        }
        for f in findings {
            assert!(f.line_col.is_some(), "{name}: {f}");
            if f.code == "VASID" && f.severity == cdr_adl::Severity::Warning {
                absent.push(name.as_str());
            } else if f.severity == cdr_adl::Severity::Error {
                errors.push((name.clone(), f.code, f.path.clone().unwrap_or_default()));
            } else {
                *warnings.entry(f.code).or_insert(0) += 1;
            }
        }
    }
    errors.sort();
    absent.sort();
    let expected: Vec<(String, &str, String)> = EXPECTED_ERRORS
        .iter()
        .map(|(f, c, p)| (f.to_string(), *c, p.to_string()))
        .collect();
    assert_eq!(errors, expected);
    assert_eq!(absent, PARENT_ABSENT);
    assert_eq!(specialised, 27);
    // Warnings: codes defined but unused (common in specialised archetypes, which carry their
    // parent's terms) and RM functions constrained as attributes (`is_integral`, `offset`).
    assert_eq!(
        warnings.keys().copied().collect::<Vec<_>>(),
        ["ICARM", "WOUC"]
    );
}

#[test]
fn corpus_specialisations_flatten_onto_their_parents() {
    let Some(files) = corpus() else { return };
    let parsed = parsed(&files);
    let all: Vec<cdr_adl::Archetype> = parsed.iter().map(|(_, a)| a.clone()).collect();
    let mut flattened = 0;
    let specialised_code = regex::Regex::new(r"\[(at\d+)(\.\d+)*\]").unwrap();
    for (name, a) in &parsed {
        let Some(parent_id) = &a.specialise else {
            continue;
        };
        let Some(parent) = all.iter().find(|x| &x.archetype_id == parent_id) else {
            let e = cdr_adl::flatten::flatten_in(a, &all).unwrap_err();
            assert!(
                matches!(e, cdr_adl::FlattenError::ParentNotFound { .. }),
                "{name}: {e}"
            );
            continue;
        };
        let flat = cdr_adl::flatten::flatten_in(a, &all).unwrap();
        flattened += 1;
        assert_eq!(flat.archetype_id, a.archetype_id);
        assert_eq!(flat.definition.node_id.as_deref(), Some(a.concept.as_str()));
        // Every node of the child is in the flat form, and every node of the parent is there
        // or redefined by a node with a specialised code.
        let flat_paths: Vec<String> = flat.complex_objects().into_iter().map(|(p, _)| p).collect();
        for (p, _) in a.complex_objects() {
            assert!(
                flat_paths.contains(&p),
                "{name}: {p} missing from the flat form"
            );
        }
        let generalise = |p: &str| specialised_code.replace_all(p, "[$1]").into_owned();
        let flat_general: Vec<String> = flat_paths.iter().map(|p| generalise(p)).collect();
        let parent_flat = cdr_adl::flatten::flatten_in(parent, &all).unwrap();
        for (p, _) in parent_flat.complex_objects() {
            let g = generalise(&p);
            assert!(
                flat_general.contains(&g),
                "{name}: the parent's {p} is lost"
            );
        }
        // The merged ontology defines every code the flat definition uses.
        let findings = cdr_adl::check(&flat);
        let undefined: Vec<_> = findings
            .iter()
            .filter(|f| f.code == "VATDF" || f.code == "VACDF")
            .collect();
        assert!(undefined.is_empty(), "{name}: {undefined:#?}");
        // The flat form is an archetype like any other: it writes and reads back.
        let again = cdr_adl::parse(&cdr_adl::write(&flat), name).unwrap();
        assert_eq!(again, flat, "{name}");
    }
    assert_eq!(flattened, 22);
}
