//! Every corpus OPT parses, with the template id the manifest states, and spot checks of facts
//! read from the files themselves.

use std::collections::HashMap;

use cdr_template::{parse_opt, CObjectKind, CPrimitive, Template};

use crate::support::{corpus_dir, corpus_opts};

fn manifest_ids() -> HashMap<String, String> {
    let Some(dir) = corpus_dir() else {
        return HashMap::new();
    };
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("read manifest.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("manifest.json is JSON");
    let mut ids = HashMap::new();
    for t in json["templates"].as_array().expect("templates array") {
        let slug = t["slug"].as_str().expect("slug").to_owned();
        let id = t["template_id"].as_str().expect("template_id").to_owned();
        ids.insert(slug, id);
    }
    ids
}

fn load(slug: &str) -> Option<Template> {
    let dir = corpus_dir()?;
    let bytes = std::fs::read(dir.join(slug).join("template.opt")).expect("read template.opt");
    Some(parse_opt(&bytes).unwrap_or_else(|e| panic!("{slug}: {e}")))
}

#[test]
fn every_corpus_opt_parses_with_manifest_template_id() {
    let opts = corpus_opts();
    if opts.is_empty() {
        return;
    }
    let ids = manifest_ids();
    assert!(
        opts.len() >= 17,
        "expected the 17 corpus OPTs, found {}",
        opts.len()
    );
    for (slug, bytes) in &opts {
        let t = parse_opt(bytes).unwrap_or_else(|e| panic!("{slug}: {e}"));
        let expected = ids
            .get(slug)
            .unwrap_or_else(|| panic!("{slug} missing from manifest"));
        assert_eq!(&t.template_id, expected, "{slug}");
        assert_eq!(t.definition.rm_type_name, "COMPOSITION", "{slug}");
        assert!(
            t.definition.as_archetype_root().is_some(),
            "{slug}: root is an archetype root"
        );
        assert!(!t.language.is_empty(), "{slug}: language");
        let root = t.nodes_at("/");
        assert_eq!(root.len(), 1, "{slug}");
        // Every route in the index leads to a node.
        let mut count = 0;
        for (path, routes) in &t.path_index {
            for r in routes {
                assert!(t.node(r).is_some(), "{slug}: dangling route at {path}");
                count += 1;
            }
        }
        eprintln!("{slug}: {} paths, {count} nodes", t.path_index.len());
    }
}

fn one<'t>(t: &'t Template, path: &str) -> &'t cdr_template::CObject {
    let nodes = t.nodes_at(path);
    assert_eq!(nodes.len(), 1, "expected one node at {path}");
    nodes[0]
}

#[test]
fn minimal_evaluation_facts() {
    let Some(t) = load("minimal-evaluation.en.v1") else {
        return;
    };
    assert_eq!(
        t.uid.as_deref(),
        Some("711d7d49-b3c6-4a6a-a6b4-a4bd02fc353d")
    );
    assert_eq!(t.concept, "Minimal evaluation");
    assert_eq!(t.language, "en");
    let root = t.definition.as_archetype_root().expect("root");
    assert_eq!(root.archetype_id, "openEHR-EHR-COMPOSITION.minimal.v1");
    assert_eq!(
        root.template_id.as_deref(),
        Some("minimal_evaluation.en.v1")
    );
    let category = one(&t, "/category/defining_code");
    match &category.kind {
        CObjectKind::CodePhrase(c) => {
            assert_eq!(c.terminology_id.as_deref(), Some("openehr"));
            assert_eq!(c.code_list, vec!["433".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
    let eval = one(&t, "/content[openEHR-EHR-EVALUATION.minimal.v1]");
    assert_eq!(eval.occurrences, cdr_template::Interval::at_least(0));
    assert_eq!(
        eval.as_archetype_root().expect("root").terms["at0002"].text,
        "quantity"
    );
    let content = t.definition.attribute("content").expect("content");
    assert_eq!(content.existence, cdr_template::Interval::closed(0, 1));
    let card = content.cardinality.as_ref().expect("multiple");
    assert!(!card.is_ordered && !card.is_unique);
    let q = one(
        &t,
        "/content[openEHR-EHR-EVALUATION.minimal.v1]/data[at0001]/items[at0002]/value",
    );
    match &q.kind {
        CObjectKind::DvQuantity(q) => {
            assert_eq!(q.property, Some(("openehr".into(), "124".into())));
            let units: Vec<&str> = q.list.iter().map(|i| i.units.as_str()).collect();
            assert_eq!(units, ["kg", "mg", "gm"]);
            assert!(q
                .list
                .iter()
                .all(|i| i.magnitude.is_none() && i.precision.is_none()));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(t.path_index.len(), 7);
}

#[test]
fn blood_pressure_facts() {
    let Some(t) = load("ehrbase-blood-pressure-simple.de.v0") else {
        return;
    };
    let obs = "/content[openEHR-EHR-OBSERVATION.sample_blood_pressure.v1]";
    let systolic = one(
        &t,
        &format!("{obs}/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value"),
    );
    assert_eq!(systolic.rm_type_name, "DV_QUANTITY");
    match &systolic.kind {
        CObjectKind::DvQuantity(q) => {
            assert_eq!(q.property, Some(("openehr".into(), "125".into())));
            assert_eq!(q.list.len(), 1);
            assert_eq!(q.list[0].units, "mm[Hg]");
            let m = q.list[0].magnitude.as_ref().expect("magnitude");
            assert_eq!(
                (m.lower, m.upper, m.lower_included, m.upper_included),
                (Some(0.0), Some(1000.0), true, false)
            );
            assert_eq!(
                q.list[0].precision,
                Some(cdr_template::Interval::closed(0, 0))
            );
        }
        other => panic!("{other:?}"),
    }
    let root = one(&t, obs).as_archetype_root().expect("root").clone();
    assert_eq!(root.terms["at0004"].text, "Systolic");
    assert!(root.terms["at0004"]
        .description
        .starts_with("Peak systemic arterial blood pressure"));
    assert_eq!(root.term_bindings["SNOMED-CT"]["at0000"], "163020007");
    let position = one(
        &t,
        &format!(
            "{obs}/data[at0001]/events[at0002]/state[at0007]/items[at0008]/value/defining_code"
        ),
    );
    match &position.kind {
        CObjectKind::CodePhrase(c) => {
            assert_eq!(c.terminology_id.as_deref(), Some("local"));
            assert_eq!(c.assumed, Some(("local".into(), "at1001".into())));
            assert_eq!(
                c.code_list,
                ["at1000", "at1001", "at1002", "at1003", "at1013", "at1014"]
            );
        }
        other => panic!("{other:?}"),
    }
    let exertion = one(
        &t,
        &format!("{obs}/data[at0001]/events[at0002]/state[at0007]/items[at1030]"),
    );
    match &exertion.kind {
        CObjectKind::Slot(s) => {
            assert_eq!(
                s.includes,
                [r"openEHR-EHR-CLUSTER\.sample_level_of_exertion\.v1"]
            );
            assert!(s.excludes.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let offset = one(
        &t,
        &format!("{obs}/data[at0001]/events[at0002]/offset/value"),
    );
    assert!(matches!(
        offset.kind,
        CObjectKind::Primitive(CPrimitive::Duration { .. })
    ));
}

#[test]
fn blood_pressure_v2_in_sections() {
    let bp = "items[openEHR-EHR-OBSERVATION.blood_pressure.v2]/data[at0001]/events[at0006]/data[at0003]/items[at0004]/value";
    for (slug, section) in [
        (
            "international-patient-summary",
            "/content[openEHR-EHR-SECTION.adhoc.v1]",
        ),
        (
            "ehrn-vital-signs.v2",
            "/content[openEHR-EHR-SECTION.vital_signs.v1]",
        ),
    ] {
        let Some(t) = load(slug) else { return };
        let systolic = one(&t, &format!("{section}/{bp}"));
        match &systolic.kind {
            CObjectKind::DvQuantity(q) => {
                assert!(q.list.iter().any(|i| i.units == "mm[Hg]"), "{slug}")
            }
            other => panic!("{slug}: {other:?}"),
        }
    }
}

#[test]
fn international_patient_summary_facts() {
    let Some(t) = load("international-patient-summary") else {
        return;
    };
    // Fourteen SECTION.adhoc.v1 roots told apart by name share one path.
    assert_eq!(
        t.nodes_at("/content[openEHR-EHR-SECTION.adhoc.v1]").len(),
        14
    );
    let key = "[openEHR-EHR-COMPOSITION.health_summary.v1]/content[openEHR-EHR-SECTION.adhoc.v1,'Allergies & Intolerances']/items[openEHR-EHR-EVALUATION.adverse_reaction_risk.v1]";
    assert_eq!(
        t.annotations[key],
        vec![
            ("source".to_owned(), "openEHR,FHIR".to_owned()),
            ("FHIR".to_owned(), "AllergyIntolerance".to_owned())
        ]
    );
    assert!(t.annotations.values().map(Vec::len).sum::<usize>() > 20);
}

#[test]
fn rare_constructs() {
    if let Some(t) = load("ehrn-vital-signs.v2") {
        let slot = one(&t, "/content[openEHR-EHR-SECTION.vital_signs.v1]/items[openEHR-EHR-OBSERVATION.pulse.v1]/protocol[at0010]/items[at1013]");
        match &slot.kind {
            CObjectKind::Slot(s) => {
                assert_eq!(
                    s.includes,
                    [r"openEHR-EHR-CLUSTER\.device(-[a-zA-Z0-9_]+)*\.v1"]
                );
                assert_eq!(s.excludes, [".*"]);
            }
            other => panic!("{other:?}"),
        }
    }
    if let Some(t) = load("respect-3.v0") {
        let code = one(&t, "/context/other_context[at0001]/items[openEHR-EHR-CLUSTER.xds_metadata.v0]/items[at0003]/value/defining_code");
        match &code.kind {
            CObjectKind::CodePhrase(c) => assert_eq!(
                c.reference_set_uri.as_deref(),
                Some("terminology://snomed.info")
            ),
            other => panic!("{other:?}"),
        }
    }
    if let Some(t) = load("ripple-conformance-test-template") {
        let base = "/content[openEHR-EHR-SECTION.adhoc.v1]/items[openEHR-EHR-OBSERVATION.demo.v1]/data[at0001]/events[at0002]/data[at0003]/items[at0004]";
        let code = one(&t, &format!("{base}/items[at0011]/value/defining_code"));
        assert_eq!(
            code.kind,
            CObjectKind::ConstraintRef {
                reference: "ac0001".into()
            }
        );
        // Pretty-printed booleans (`<lower_included>true\n   </lower_included>`) are trimmed.
        assert_eq!(code.occurrences, cdr_template::Interval::closed(1, 1));
    }
    if let Some(t) = load("ereact-deterioriation-assessment.v0") {
        let story = one(&t, "/content[openEHR-EHR-SECTION.adhoc.v1]/items[openEHR-EHR-OBSERVATION.story.v1]/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value/value");
        match &story.kind {
            CObjectKind::Primitive(CPrimitive::String {
                list,
                list_open,
                pattern,
                ..
            }) => {
                assert!(*list_open);
                assert_eq!(pattern, &None);
                assert_eq!(list.len(), 10);
                assert_eq!(list[0], "Just not themselves");
            }
            other => panic!("{other:?}"),
        }
    }
    if let Some(t) = load("idcr-vital-signs-encounter.v1") {
        let v = "/content[openEHR-EHR-SECTION.vital_signs.v1]/items[openEHR-EHR-OBSERVATION.respiration.v1]/data[at0001]/events[at0002]/state[at0022]/items[openEHR-EHR-CLUSTER.ambient_oxygen.v0]/items[at0053]/value";
        match &one(&t, &format!("{v}/numerator")).kind {
            CObjectKind::Primitive(CPrimitive::Real {
                range: Some(r),
                assumed,
                ..
            }) => {
                assert_eq!(r, &cdr_template::Interval::closed(0.0, 100.0));
                assert_eq!(*assumed, Some(21.0));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            one(&t, &format!("{v}/is_integral")).kind,
            CObjectKind::Primitive(CPrimitive::Boolean {
                true_valid: false,
                false_valid: true,
                assumed: None
            })
        );
    }
    if let Some(t) = load("test-all-types.en.v1") {
        let data = "/content[openEHR-EHR-OBSERVATION.test_all_types.v1]/data[at0001]/events[at0002]/data[at0003]";
        match &one(&t, &format!("{data}/items[at0013]/value")).kind {
            CObjectKind::DvOrdinal(o) => {
                let codes: Vec<(i64, &str)> = o
                    .list
                    .iter()
                    .map(|i| (i.value, i.code_string.as_str()))
                    .collect();
                assert_eq!(codes, [(0, "at0014"), (1, "at0015"), (2, "at0016")]);
                assert!(o.list.iter().all(|i| i.terminology_id == "local"));
            }
            other => panic!("{other:?}"),
        }
        match &one(&t, &format!("{data}/items[at0006]/value/defining_code")).kind {
            CObjectKind::CodePhrase(c) => assert_eq!(
                c.reference_set_uri.as_deref(),
                Some("terminology:SNOMED-CT")
            ),
            other => panic!("{other:?}"),
        }
        let activity = "/content[openEHR-EHR-SECTION.test_all_types.v1]/items[at0001]/items[at0002]/items[openEHR-EHR-INSTRUCTION.test_all_types.v1]/activities[at0001]/description[at0002]";
        assert_eq!(
            one(&t, &format!("{activity}/items[at0003]/value/value")).kind,
            CObjectKind::Primitive(CPrimitive::Date {
                pattern: Some("yyyy-??-XX".into()),
                timezone_validity: None,
                range: None
            })
        );
    }
    if let Some(t) = load("test-ism.vitagroup.de.v1") {
        // xmlns:xsi is declared on each element that uses it, not on the root.
        assert_eq!(
            t.definition.attribute("category").map(|a| a.is_multiple()),
            Some(false)
        );
        assert!(t
            .definition
            .as_archetype_root()
            .expect("root")
            .terms
            .contains_key("at0000"));
    }
}
