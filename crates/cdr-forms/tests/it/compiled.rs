//! The compiler's fixture template (cdr-template's `tests/fixtures/compile`) seen through its
//! web template: the filled slots, occurrences, names, exclusions and clones the rules make.

use std::path::PathBuf;

use cdr_forms::webtemplate::{WebTemplate, WebTemplateNode};
use cdr_forms::Forms;
use cdr_template::compile::compile;
use cdr_template::{parse_opt, CObject, CObjectKind, Template};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../cdr-template/tests/fixtures/compile")
}

fn compiled() -> Template {
    let mut archetypes = Vec::new();
    for e in std::fs::read_dir(dir()).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "adl") {
            let text = std::fs::read_to_string(&p).unwrap();
            archetypes.push(cdr_adl::parse(&text, &p.display().to_string()).unwrap());
        }
    }
    let oet = std::fs::read(dir().join("visit.oet")).unwrap();
    let xml = compile(&oet, &archetypes).expect("the fixture compiles");
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

fn at<'a>(wt: &'a WebTemplate, last: &[&str]) -> &'a WebTemplateNode {
    let path: Vec<&str> = READING.iter().chain(last).copied().collect();
    node(&wt.tree, &path)
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
    let device = at(&wt, &["device"]);
    assert_eq!(device.rm_type, "CLUSTER");
    assert_eq!((device.min, device.max), (0, 2));
    assert_eq!(
        device.aql_path,
        format!("{TREE}/items[openEHR-EHR-CLUSTER.cdr_device.v1]")
    );
    assert!(objects(&t, &format!("{TREE}/items[at0012]")).is_empty());
    assert_eq!(at(&wt, &["device", "model"]).rm_type, "DV_TEXT");
    // A rule on a node the archetype reaches through `use_node` applies to a copy of it.
    let spare = at(&wt, &["device", "spare", "spare_model"]);
    assert_eq!(spare.rm_type, "DV_TEXT");
    assert!(
        spare
            .aql_path
            .ends_with("/items[at0002]/items[at0001,'Spare model']/value"),
        "{}",
        spare.aql_path
    );
    // The node the specialisation adds is there.
    assert_eq!(at(&wt, &["taken_by"]).rm_type, "DV_TEXT");
}

#[test]
fn rules_narrow_rename_exclude_and_clone() {
    let t = compiled();
    let wt = t.web_template();
    // An event constraint makes the EVENT a POINT_EVENT.
    let event = node(&wt.tree, READING);
    assert_eq!(event.rm_type, "POINT_EVENT");
    // Occurrences (min), a new name, and a unit left out.
    let bp = at(&wt, &["blood_pressure"]);
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
    let position = at(&wt, &["position"]);
    let codes: Vec<&str> = position.inputs[0]
        .list
        .iter()
        .map(|i| i.value.as_str())
        .collect();
    assert_eq!(codes, ["at0006", "at0007"]);
    // A value choice narrowed to text, max 1; and its clone under another name.
    let comment = at(&wt, &["comment"]);
    assert_eq!((comment.rm_type.as_str(), comment.max), ("DV_TEXT", 1));
    // The clone is the archetype's node (both value types) with its own name and max.
    let second = at(&wt, &["second_opinion"]);
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
    let ids: Vec<&str> = node(&wt.tree, READING)
        .children
        .iter()
        .map(|c| c.id.as_str())
        .filter(|id| id.starts_with("device"))
        .collect();
    assert_eq!(ids, ["device"]);
}
