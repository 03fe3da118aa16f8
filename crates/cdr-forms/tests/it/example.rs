//! Example compositions on small OPTs: what an example holds, values inside the constraints,
//! and bounded size however many instances a template asks for. (Validity is checked in
//! cdr-validation, which can validate.)

use cdr_forms::example::{example_composition, example_flat};
use cdr_template::parse_opt;
use serde_json::json;

use cdr_template::fixtures::opt;
use cdr_template::fixtures::*;

const NOW: &str = "2024-05-01T10:00:00.123+02:00";

#[test]
fn every_node_once_with_allowed_values() {
    let t = crate::flat::template();
    let flat = example_flat(&t, NOW);
    let at = "fixture/blood_pressure:0";
    assert_eq!(flat[&format!("{at}/systolic|unit")], "mm[Hg]");
    assert_eq!(flat[&format!("{at}/systolic|magnitude")], json!(1));
    assert_eq!(flat[&format!("{at}/position|code")], "at1000");
    assert_eq!(flat[&format!("{at}/position|value")], "Standing");
    assert_eq!(flat[&format!("{at}/comment")], "Comment");
    assert_eq!(flat["ctx/time"], "2024-05-01T10:00:00+02:00");
    assert_eq!(flat["ctx/language"], "en");
    let c = example_composition(&t, NOW).expect("converts");
    let items = &c["content"][0]["data"]["events"][0]["data"]["items"];
    assert_eq!(items.as_array().map(Vec::len), Some(3));
    assert_eq!(
        c["context"]["start_time"]["value"],
        "2024-05-01T10:00:00+02:00"
    );
}

/// Nested nodes that each ask for 50 instances: the example keeps to 100 instances of any
/// node instead of 50³.
#[test]
fn many_required_instances_stay_bounded() {
    let leaf = element("at0012", 50, 1000, &dv("DV_TEXT"), "");
    let inner = object("CLUSTER", "at0011", 50, 1000, &multiple("items", &leaf));
    let outer = object("CLUSTER", "at0010", 50, 1000, &multiple("items", &inner));
    let terms = [
        term("at0002", "Any event"),
        term("at0003", "Tree"),
        term("at0010", "Outer"),
        term("at0011", "Inner"),
        term("at0012", "Leaf"),
    ]
    .concat();
    let xml = opt(&multiple(
        "content",
        &observation(&single_event(&[outer]), &terms),
    ));
    let t = parse_opt(xml.as_bytes()).expect("fixture parses");
    let flat = example_flat(&t, NOW);
    let leaves = flat.keys().filter(|k| k.ends_with("/leaf")).count();
    assert!(leaves <= 100, "{leaves} leaves");
    assert!(flat.contains_key("fixture/blood_pressure:0/outer:49/inner:0/leaf:0"));
    assert!(flat.contains_key("fixture/blood_pressure:0/outer:0/inner:1/leaf:0"));
    assert!(!flat.contains_key("fixture/blood_pressure:0/outer:0/inner:2/leaf:0"));
    assert!(!flat.contains_key("fixture/blood_pressure:0/outer:0/inner:0/leaf:1"));
}
