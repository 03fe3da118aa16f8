//! The OET compiler on archetypes and a template of our own (`tests/fixtures/compile`): every
//! kind of rule, a slot filling, a specialised archetype, the OPT read back, and the errors.

use std::path::PathBuf;

use cdr_template::compile::{compile, compile_document};
use cdr_template::webtemplate::WebTemplateNode;
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

fn node<'a>(n: &'a WebTemplateNode, ids: &[&str]) -> &'a WebTemplateNode {
    let Some((first, rest)) = ids.split_first() else {
        return n;
    };
    let child = n
        .children
        .iter()
        .find(|c| c.id == *first)
        .unwrap_or_else(|| {
            let ids: Vec<&str> = n.children.iter().map(|c| c.id.as_str()).collect();
            panic!("no {first} under {}; children: {ids:?}", n.id)
        });
    node(child, rest)
}

const READING: &[&str] = &["home_reading", "any_event"];

fn at<'a>(t: &'a Template, last: &[&str]) -> &'a WebTemplateNode {
    let path: Vec<&str> = READING.iter().chain(last).copied().collect();
    node(&t.web_template().tree, &path)
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
fn the_template_header_and_the_filled_slot() {
    let t = compiled();
    assert_eq!(t.template_id, "cdr visit");
    assert_eq!(t.concept, "cdr visit");
    assert_eq!(
        t.uid.as_deref(),
        Some("0f7a2c9e-2b7d-4c55-9d1e-6a3c1f0b8e21")
    );
    assert_eq!(t.language, "en");
    let wt = t.web_template();
    assert_eq!(wt.tree.rm_type, "COMPOSITION");
    // The specialised archetype fills the slot, with the template's occurrences (0..1), not
    // the slot's (0..*); the slot itself is gone.
    let reading = node(&wt.tree, &["home_reading"]);
    assert_eq!(reading.rm_type, "OBSERVATION");
    assert_eq!(
        reading.node_id.as_deref(),
        Some("openEHR-EHR-OBSERVATION.cdr_reading-home.v1")
    );
    assert_eq!((reading.min, reading.max), (0, 1));
    let content = t.definition.attribute("content").unwrap();
    assert_eq!(content.children.len(), 1);
    // The root of the filling carries the flat archetype's terms: its own and its parent's.
    let root = content.children[0].as_archetype_root().unwrap();
    assert_eq!(content.children[0].node_id, "at0000.1");
    assert_eq!(root.terms["at0000.1"].text, "Home reading");
    assert_eq!(root.terms["at0004"].text, "Pressure");
    // The nested filling: the cluster in the observation's slot, 0..2.
    let device = at(&t, &["device"]);
    assert_eq!(device.rm_type, "CLUSTER");
    assert_eq!((device.min, device.max), (0, 2));
    assert_eq!(
        device.aql_path,
        format!("{TREE}/items[openEHR-EHR-CLUSTER.cdr_device.v1]")
    );
    assert!(objects(&t, &format!("{TREE}/items[at0012]")).is_empty());
    assert_eq!(at(&t, &["device", "model"]).rm_type, "DV_TEXT");
    // A rule on a node the archetype reaches through `use_node` applies to a copy of it.
    let spare = at(&t, &["device", "spare", "spare_model"]);
    assert_eq!(spare.rm_type, "DV_TEXT");
    assert!(
        spare
            .aql_path
            .ends_with("/items[at0002]/items[at0001,'Spare model']/value"),
        "{}",
        spare.aql_path
    );
    // The node the specialisation adds is there.
    assert_eq!(at(&t, &["taken_by"]).rm_type, "DV_TEXT");
}

#[test]
fn rules_narrow_rename_exclude_and_clone() {
    let t = compiled();
    // An event constraint makes the EVENT a POINT_EVENT.
    let event = node(&t.web_template().tree, READING);
    assert_eq!(event.rm_type, "POINT_EVENT");
    // Occurrences (min), a new name, and a unit left out.
    let bp = at(&t, &["blood_pressure"]);
    assert_eq!((bp.min, bp.max), (1, 1));
    assert_eq!(bp.rm_type, "DV_QUANTITY");
    let [element] = objects(&t, &format!("{TREE}/items[at0004]"))[..] else {
        panic!("one element")
    };
    let value = &element.attribute("value").unwrap().children[0];
    let CObjectKind::DvQuantity(q) = &value.kind else {
        panic!("{value:?}")
    };
    let units: Vec<&str> = q.list.iter().map(|i| i.units.as_str()).collect();
    assert_eq!(units, ["mm[Hg]"]);
    // A code left out of a value set.
    let position = at(&t, &["position"]);
    let codes: Vec<&str> = position.inputs[0]
        .list
        .iter()
        .map(|i| i.value.as_str())
        .collect();
    assert_eq!(codes, ["at0006", "at0007"]);
    // A value choice narrowed to text, max 1; and its clone under another name.
    let comment = at(&t, &["comment"]);
    assert_eq!((comment.rm_type.as_str(), comment.max), ("DV_TEXT", 1));
    // The clone is the archetype's node (both value types) with its own name and max.
    let second = at(&t, &["second_opinion"]);
    assert_eq!((second.rm_type.as_str(), second.max), ("DV_CODED_TEXT", 1));
    let [original, clone] = objects(&t, &format!("{TREE}/items[at0009]"))[..] else {
        panic!("the element and its clone")
    };
    let types = |o: &CObject| -> Vec<String> {
        o.attribute("value")
            .unwrap()
            .children
            .iter()
            .map(|c| c.rm_type_name.clone())
            .collect()
    };
    assert_eq!(types(original), ["DV_TEXT"]);
    assert_eq!(types(clone), ["DV_TEXT", "DV_CODED_TEXT"]);
    assert_eq!(
        second.aql_path,
        format!("{TREE}/items[at0009,'Second opinion']/value")
    );
    // max 0 removes the node: the ELEMENT "Device" is gone, the CLUSTER "Device" alone keeps
    // the id.
    assert!(objects(&t, &format!("{TREE}/items[at0010]")).is_empty());
    let ids: Vec<&str> = node(&t.web_template().tree, READING)
        .children
        .iter()
        .map(|c| c.id.as_str())
        .filter(|id| id.starts_with("device"))
        .collect();
    assert_eq!(ids, ["device"]);
}

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
    // The embedded template's rule, and the item's own (on the use_node copy).
    assert_eq!(at(&t, &["device", "serial"]).rm_type, "DV_TEXT");
    assert_eq!(
        at(&t, &["device", "spare", "spare_model"]).rm_type,
        "DV_TEXT"
    );
    // The item's occurrences, not the embedded template's.
    let device = at(&t, &["device"]);
    assert_eq!((device.min, device.max), (0, 2));
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
