//! The care-plan templates cdr ships, with the example in each template's folder: the FLAT form
//! converts to exactly the canonical composition beside it, both validate against the template
//! compiled from the repository's sources, and the composition goes FLAT ↔ canonical without
//! losing a value of the form.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use cdr_forms::flat::{canonical_to_flat, flat_to_canonical, read_flat};
use cdr_template::{parse_opt, Template};

use crate::flat::{read, same, validated};

const NOW: &str = "2026-12-06T09:00:00Z";

const FOLDERS: [&str; 3] = [
    "urgent_care_plan",
    "care_and_support_plan",
    "emergency_care_and_treatment_plan",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn archetypes(dir: &Path, out: &mut Vec<cdr_adl::Archetype>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            archetypes(&p, out);
        } else if p.extension().is_some_and(|x| x == "adl") {
            let text = std::fs::read_to_string(&p).unwrap();
            out.push(cdr_adl::parse(&text, &p.display().to_string()).unwrap());
        }
    }
}

fn template(folder: &str, archetypes: &[cdr_adl::Archetype]) -> Template {
    let oet = repo()
        .join("templates")
        .join(folder)
        .join(format!("{folder}.oet"));
    let xml = cdr_template::compile::compile(&std::fs::read(&oet).unwrap(), archetypes)
        .unwrap_or_else(|e| panic!("{}: {e:?}", oet.display()));
    parse_opt(xml.as_bytes()).unwrap()
}

fn json(folder: &str, file: &str) -> Value {
    let path = repo().join("templates").join(folder).join(file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_shipped_examples_validate_and_round_trip() {
    let mut found = Vec::new();
    archetypes(&repo().join("archetypes"), &mut found);
    for folder in FOLDERS {
        let t = template(folder, &found);
        let Value::Object(form) = json(folder, "example.flat.json") else {
            panic!("{folder}: the FLAT example is not an object")
        };
        let stored = json(folder, "example.composition.json");
        // The form reads without a problem, validates, and is the stored composition.
        let canonical = read(read_flat(&t, &form, NOW), &t)
            .unwrap_or_else(|e| panic!("{folder}: example.flat.json: {e}"));
        assert!(
            canonical == stored,
            "{folder}: example.composition.json is not what the FLAT form converts to: {:?}",
            crate::flat::first_difference(&canonical, &stored, "")
        );
        validated(&t, stored.clone())
            .unwrap_or_else(|e| panic!("{folder}: example.composition.json: {e}"));
        // Back to FLAT: every key of the form but the `ctx/` defaults, with its value.
        let back: Map<String, Value> =
            canonical_to_flat(&t, &stored).unwrap_or_else(|e| panic!("{folder}: to FLAT: {e}"));
        for (key, value) in form.iter().filter(|(k, _)| !k.starts_with("ctx/")) {
            assert_eq!(back.get(key), Some(value), "{folder}: {key}");
        }
        // And canonical again: the same composition.
        let again = flat_to_canonical(&t, &back, NOW)
            .unwrap_or_else(|e| panic!("{folder}: FLAT back to canonical: {e}"));
        same(&stored, &again).unwrap_or_else(|e| panic!("{folder}: {e}"));
    }
}

/// The plans record what the README tour asks of them: the urgent care plan's person is not for
/// attempted CPR, at the path and code its README's queries use.
#[test]
fn the_urgent_care_plan_example_is_a_dnacpr_plan() {
    let stored = json("urgent_care_plan", "example.composition.json");
    let decision = stored["content"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|section| section["items"].as_array().into_iter().flatten())
        .find(|entry| entry["archetype_node_id"] == "openEHR-EHR-EVALUATION.cdr_cpr_decision.v0")
        .expect("a CPR decision");
    let item = decision["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["archetype_node_id"] == "at0002")
        .expect("the decision element");
    assert_eq!(item["value"]["defining_code"]["code_string"], "at0004");
}
