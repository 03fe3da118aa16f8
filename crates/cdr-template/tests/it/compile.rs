//! The OET compiler on archetypes and a template of our own (`tests/fixtures/compile`): every
//! kind of rule, a slot filling, a specialised archetype, the OPT read back, and the errors.

use std::path::PathBuf;

use cdr_template::compile::{compile, compile_document};
use cdr_template::{parse_opt, CObject, CObjectKind, CPrimitive, Template};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compile")
}

fn archetypes() -> Vec<cdr_adl::Archetype> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir()).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "adl") {
            let text = std::fs::read_to_string(&p).unwrap();
            out.push(cdr_adl::parse(&text, &p.display().to_string()).unwrap());
        }
    }
    out
}

fn oet() -> Vec<u8> {
    std::fs::read(dir().join("visit.oet")).unwrap()
}

fn compiled() -> Template {
    let xml = compile(&oet(), &archetypes()).expect("the fixture compiles");
    parse_opt(xml.as_bytes()).expect("the compiled OPT parses")
}

fn objects<'a>(t: &'a Template, path: &str) -> Vec<&'a CObject> {
    t.path_index
        .get(path)
        .into_iter()
        .flatten()
        .map(|route| {
            let mut obj = &t.definition;
            for &(a, c) in route {
                obj = &obj.attributes()[a as usize].children[c as usize];
            }
            obj
        })
        .collect()
}

const TREE: &str = "/content[openEHR-EHR-OBSERVATION.cdr_reading-home.v1]/data[at0001]/events[at0002]/data[at0003]";

#[test]
fn defaults_and_hidden_nodes_are_written() {
    let t = compiled();
    let [d] = &t.default_values[..] else {
        panic!("{:?}", t.default_values)
    };
    assert_eq!(d.path, format!("{TREE}/items[at0005]"));
    assert_eq!(d.rm_type, "DV_CODED_TEXT");
    assert!(d.fields.contains(&("value".into(), "Sitting".into())));
    assert!(d
        .fields
        .contains(&("defining_code".into(), "at0006".into())));
    let xml = compile(&oet(), &archetypes()).unwrap();
    assert!(xml.contains(&format!(
        "<constraints path=\"[openEHR-EHR-COMPOSITION.cdr_visit.v1]{TREE}/items[at0.1]\">"
    )));
    assert!(xml.contains("<items id=\"pass_through\">"));
}

/// The same sources always compile to the same text (`cdr serve --models` compares it with
/// the stored OPT): the fixture has codes that number alike (`at0.1`, `at0000.1`), and each
/// compilation's maps iterate in an order of their own.
#[test]
fn the_same_sources_compile_to_the_same_text() {
    let first = compile(&oet(), &archetypes()).unwrap();
    for _ in 0..20 {
        assert_eq!(compile(&oet(), &archetypes()).unwrap(), first);
    }
}

#[test]
fn the_written_opt_reads_back_as_the_compiled_tree() {
    let doc = compile_document(&oet(), &archetypes(), &[]).unwrap();
    let t = compiled();
    assert_eq!(t.definition, doc.definition);
    // A fixed name is a DV_TEXT with the one string.
    let clone = objects(&t, &format!("{TREE}/items[at0009]"))[1];
    let name = &clone.attribute("name").unwrap().children[0];
    let CObjectKind::Primitive(CPrimitive::String { list, .. }) =
        &name.attribute("value").unwrap().children[0].kind
    else {
        panic!()
    };
    assert_eq!(list, &["Second opinion"]);
}

#[test]
fn every_missing_archetype_and_unmatched_rule_is_reported_with_its_line() {
    let text = String::from_utf8(oet()).unwrap();
    let broken = text
        .replace("cdr_device.v1\"", "cdr_missing.v1\"")
        .replace("items[at0010]\" max=\"0\"", "items[at0099]\" max=\"0\"");
    let errors = compile(broken.as_bytes(), &archetypes()).unwrap_err();
    let line_of = |needle: &str| {
        broken
            .lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .unwrap()
    };
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            format!(
                "line {}: rule /data[at0001]/events[at0002]/data[at0003]/items[at0099] matches no node of openEHR-EHR-OBSERVATION.cdr_reading-home.v1",
                line_of("at0099")
            ),
            format!(
                "line {}: archetype openEHR-EHR-CLUSTER.cdr_missing.v1 not found",
                line_of("cdr_missing")
            ),
        ]
    );
}

#[test]
fn a_filling_whose_path_matches_nothing_is_an_error() {
    let text = String::from_utf8(oet()).unwrap();
    let broken = text.replace("items[at0012]\"", "items[at0077]\"");
    let errors = compile(broken.as_bytes(), &archetypes()).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0]
        .message
        .contains("openEHR-EHR-CLUSTER.cdr_device.v1 is placed at /data[at0001]/events[at0002]/data[at0003]/items[at0077], which matches no node"));
}

#[test]
fn a_parent_missing_for_a_specialised_archetype_is_an_error() {
    let without_parent: Vec<_> = archetypes()
        .into_iter()
        .filter(|a| a.archetype_id != "openEHR-EHR-OBSERVATION.cdr_reading.v1")
        .collect();
    let errors = compile(&oet(), &without_parent).unwrap_err();
    assert!(
        errors[0]
            .message
            .contains("which is not among the archetypes given"),
        "{errors:?}"
    );
}

#[test]
fn a_damaged_oet_is_an_error_with_its_position() {
    let errors = compile(
        b"<template><name>x</name>\n<definition archetype_id=\"a\">",
        &[],
    )
    .unwrap_err();
    assert_eq!(errors[0].line, 2, "{errors:?}");
    let errors = compile(b"<opt/>", &[]).unwrap_err();
    assert!(
        errors[0].message.contains("not an OET template"),
        "{errors:?}"
    );
}

#[test]
fn truncated_and_mangled_oets_fail_cleanly() {
    let text = oet();
    let set = archetypes();
    for end in (0..text.len()).step_by(7) {
        // Either result is fine; a panic is not.
        let _ = compile(&text[..end], &set);
    }
    let s = String::from_utf8(text).unwrap();
    for (from, to) in [
        ("path=\"/data[at0001]", "path=\"/data[at0001"),
        ("path=\"/data[at0001]", "path=\"//"),
        ("path=\"/content[at0001]\"", "path=\"\""),
        ("max=\"1\"", "max=\"x\""),
        ("min=\"1\"", "min=\"-5\""),
        ("archetype_id=\"openEHR-EHR-CLUSTER.cdr_device.v1\"", ""),
        ("\"quantityConstraint\"", "\"intervalConstraint\""),
    ] {
        let mangled = s.replacen(from, to, 1);
        let result = compile(mangled.as_bytes(), &set);
        assert!(result.is_err(), "{to}: {result:?}");
        if to.contains("interval") {
            let errors = result.unwrap_err();
            assert!(
                errors[0]
                    .message
                    .contains("constraints of kind 'intervalConstraint' are not supported"),
                "{errors:?}"
            );
        }
    }
}

/// The text a node's name is fixed to (`name` → DV_TEXT → `value` ∈ {"…"}).
fn fixed_name(o: &CObject) -> Option<String> {
    let text = o.attribute("name")?.children.first()?;
    let value = text.attribute("value")?.children.first()?;
    match &value.kind {
        CObjectKind::Primitive(CPrimitive::String { list, .. }) => list.first().cloned(),
        _ => None,
    }
}

/// A template of the device cluster, for embedding: `rule` is its one rule.
fn device_template(rule: &str) -> cdr_template::compile::Oet {
    let xml = format!(
        r#"<?xml version="1.0"?>
<template xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="openEHR/v1/Template">
  <id>7d1c7a52-0000-4000-8000-00000000d001</id>
  <name>cdr device part</name>
  <definition xsi:type="CLUSTER" archetype_id="openEHR-EHR-CLUSTER.cdr_device.v1" concept_name="Device">
    {rule}
  </definition>
</template>"#
    );
    cdr_template::compile::parse_oet(xml.as_bytes()).unwrap()
}

fn embedding_oet() -> String {
    String::from_utf8(oet()).unwrap().replace(
        "archetype_id=\"openEHR-EHR-CLUSTER.cdr_device.v1\" concept_name",
        "archetype_id=\"openEHR-EHR-CLUSTER.cdr_device.v1\" \
         template_id=\"7d1c7a52-0000-4000-8000-00000000d001\" concept_name",
    )
}

#[test]
fn an_embedded_template_brings_its_rules() {
    use cdr_template::compile::compile_with;
    let embedded = device_template(r#"<Rule path="/items[at0001]" name="Serial" />"#);
    let xml = compile_with(embedding_oet().as_bytes(), &archetypes(), &[embedded]).unwrap();
    let t = parse_opt(xml.as_bytes()).unwrap();
    // The embedded template's rule names the serial element; the item's own rule names the
    // use_node copy's model element; the item's occurrences win over the embedded template's.
    let device = format!("{TREE}/items[openEHR-EHR-CLUSTER.cdr_device.v1]");
    let [root] = objects(&t, &device)[..] else {
        panic!("one device cluster")
    };
    let occurrences = &root.occurrences;
    assert_eq!(
        (occurrences.min_count(), occurrences.max_count()),
        (0, Some(2))
    );
    let names = |path: &str| -> Vec<Option<String>> {
        objects(&t, path).iter().map(|o| fixed_name(o)).collect()
    };
    assert_eq!(
        names(&format!("{device}/items[at0001]")),
        [Some("Serial".to_string())]
    );
    assert!(
        names(&format!("{device}/items[at0002]/items[at0001]"))
            .contains(&Some("Spare model".to_string())),
        "{:?}",
        names(&format!("{device}/items[at0002]/items[at0001]"))
    );
    // Without the embedded template, or with a rule of its own that matches nothing.
    let errors = compile_with(embedding_oet().as_bytes(), &archetypes(), &[]).unwrap_err();
    assert!(
        errors[0].message.contains("embeds the template 7d1c7a52-0000-4000-8000-00000000d001, which is not among the templates given"),
        "{errors:?}"
    );
    let broken = device_template(r#"<Rule path="/items[at0077]" max="0" />"#);
    let errors = compile_with(embedding_oet().as_bytes(), &archetypes(), &[broken]).unwrap_err();
    assert_eq!(
        errors[0].located("visit.oet"),
        "visit.oet: embedded template 'cdr device part', line 6: rule /items[at0077] matches no node of openEHR-EHR-CLUSTER.cdr_device.v1"
    );
}
