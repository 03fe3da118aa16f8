//! Small self-contained fixtures: a hand-written OPT (`tests/fixtures/cdr_test_vitals.v1.opt`,
//! one OBSERVATION with one element per constraint kind) and a valid canonical JSON composition
//! for it. Each test breaks the composition in one way and asserts the exact constraint code
//! and instance path of every issue reported.

use cdr_rm::{from_json, Composition};
use cdr_template::{parse_opt, Template};
use cdr_validation::{validate, ValidationIssue};
use serde_json::{json, Value};
use std::sync::OnceLock;

const OPT: &[u8] = include_bytes!("../fixtures/cdr_test_vitals.v1.opt");
const VALID: &[u8] = include_bytes!("../fixtures/cdr_test_vitals.v1.json");

/// Instance path of the ITEM_TREE's items.
const ITEMS: &str = "/content[0]/data/events[0]/data/items";

// Indexes of the members of `items` in the valid fixture.
const SYSTOLIC: usize = 0; // at0004 DV_QUANTITY mm[Hg] 0..1000, precision 0..0
const POSITION: usize = 1; // at0005 DV_CODED_TEXT local [at0020, at0021]
const PAIN: usize = 2; // at0006 DV_ORDINAL 1|at0030, 2|at0031
const COUNT: usize = 3; // at0007 DV_COUNT magnitude 0..10
const MEASURED_AT: usize = 4; // at0008 DV_DATE_TIME yyyy-mm-ddTHH:MM:??
const COMMENT: usize = 5; // at0009 DV_TEXT ["ok", "not ok"]
const DEVICE_ID: usize = 6; // at0010 DV_TEXT /[A-Z]{2}-[0-9]+/, occurrences 1..1
const CONFIRMED: usize = 7; // at0011 DV_BOOLEAN, only true
const DURATION: usize = 8; // at0012 DV_DURATION PTHM
const LEFT_ARM: usize = 9; // at0013 named "Left arm": DV_QUANTITY mm[Hg] 0..300
const RIGHT_ARM: usize = 10; // at0013 named "Right arm": DV_QUANTITY kPa 0..40
const RATIO: usize = 11; // at0014 DV_PROPORTION, unconstrained
const DEVICE: usize = 12; // at0015 CLUSTER slot: openEHR-EHR-CLUSTER.device(-…)*.v1

fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| parse_opt(OPT).expect("the fixture OPT parses"))
}

fn valid() -> Value {
    serde_json::from_slice(VALID).expect("the fixture composition is JSON")
}

/// `items[i]` of the fixture's ITEM_TREE.
fn item(doc: &mut Value, i: usize) -> &mut Value {
    &mut doc["content"][0]["data"]["events"][0]["data"]["items"][i]
}

fn items(doc: &mut Value) -> &mut Vec<Value> {
    doc["content"][0]["data"]["events"][0]["data"]["items"]
        .as_array_mut()
        .unwrap()
}

fn at(i: usize, rest: &str) -> String {
    format!("{ITEMS}[{i}]{rest}")
}

fn issues(doc: &Value) -> Vec<ValidationIssue> {
    let bytes = serde_json::to_vec(doc).unwrap();
    let c: Composition = from_json(&bytes).unwrap_or_else(|e| panic!("fixture decodes: {e}"));
    validate(template(), &c)
}

/// The issues of a composition as (constraint code, instance path) pairs.
fn check(doc: &Value) -> Vec<(String, String)> {
    issues(doc)
        .into_iter()
        .map(|i| (i.constraint.as_str().to_owned(), i.path))
        .collect()
}

fn one(code: &str, path: impl Into<String>) -> Vec<(String, String)> {
    vec![(code.to_owned(), path.into())]
}

/// Asserts that `doc` has exactly one issue, `code` at `path`.
#[track_caller]
fn assert_only(doc: &Value, code: &str, path: impl Into<String>) {
    let path = path.into();
    assert_eq!(check(doc), one(code, path.as_str()), "{:#?}", issues(doc));
}

#[test]
fn fixture_template_parses_with_expected_identity() {
    let t = template();
    assert_eq!(t.template_id, "cdr_test_vitals.v1");
    assert_eq!(
        t.definition.instance_node_id(),
        "openEHR-EHR-COMPOSITION.encounter.v1"
    );
    let elements = t.nodes_at(
        "/content[openEHR-EHR-OBSERVATION.cdr_test_vitals.v1]/data[at0001]/events[at0002]/data[at0003]/items[at0013]",
    );
    assert_eq!(elements.len(), 2, "two ELEMENT constraints share at0013");
}

#[test]
fn valid_fixture_has_no_issues() {
    let found = issues(&valid());
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn siblings_in_another_order_are_still_valid() {
    let mut doc = valid();
    items(&mut doc).reverse();
    assert_eq!(check(&doc), vec![]);
}

#[test]
fn optional_elements_may_be_absent() {
    let mut doc = valid();
    items(&mut doc).retain(|i| i["archetype_node_id"] == "at0010");
    assert_eq!(check(&doc), vec![]);
}

#[test]
fn template_mismatch() {
    let mut doc = valid();
    doc["archetype_details"]["template_id"]["value"] = json!("another_template.v1");
    assert_only(
        &doc,
        "template_mismatch",
        "/archetype_details/template_id/value",
    );
}

#[test]
fn template_mismatch_when_template_id_is_absent() {
    let mut doc = valid();
    doc["archetype_details"]
        .as_object_mut()
        .unwrap()
        .remove("template_id");
    assert_only(
        &doc,
        "template_mismatch",
        "/archetype_details/template_id/value",
    );
}

#[test]
fn archetype_mismatch() {
    let mut doc = valid();
    doc["archetype_node_id"] = json!("openEHR-EHR-COMPOSITION.report.v1");
    assert_only(&doc, "archetype_mismatch", "/archetype_node_id");
}

#[test]
fn archetype_details_mismatch() {
    let mut doc = valid();
    doc["content"][0]["archetype_details"]["archetype_id"]["value"] =
        json!("openEHR-EHR-OBSERVATION.other.v1");
    assert_only(
        &doc,
        "archetype_details_mismatch",
        "/content[0]/archetype_details/archetype_id/value",
    );
}

#[test]
fn rm_type_mismatch() {
    let mut doc = valid();
    item(&mut doc, SYSTOLIC)["value"] = json!({"_type": "DV_BOOLEAN", "value": true});
    assert_only(&doc, "rm_type_mismatch", at(SYSTOLIC, "/value"));
}

#[test]
fn rm_type_mismatch_of_a_data_structure() {
    let mut doc = valid();
    let data = &mut doc["content"][0]["data"]["events"][0]["data"];
    data["_type"] = json!("ITEM_LIST");
    data["items"] = json!([]);
    assert_only(&doc, "rm_type_mismatch", "/content[0]/data/events[0]/data");
}

#[test]
fn unknown_node() {
    let mut doc = valid();
    doc["content"][0]["data"]["events"][0]["archetype_node_id"] = json!("at9999");
    assert_only(&doc, "unknown_node", "/content[0]/data/events[0]");
}

#[test]
fn unknown_content_archetype() {
    let mut doc = valid();
    doc["content"][0]["archetype_node_id"] = json!("openEHR-EHR-OBSERVATION.unknown.v1");
    doc["content"][0]["archetype_details"]["archetype_id"]["value"] =
        json!("openEHR-EHR-OBSERVATION.unknown.v1");
    assert_only(&doc, "unknown_node", "/content[0]");
}

#[test]
fn unknown_element_beside_a_cluster_slot() {
    let mut doc = valid();
    item(&mut doc, COMMENT)["archetype_node_id"] = json!("at9999");
    // No ELEMENT constraint has at9999, and the only open child (the CLUSTER slot) cannot take
    // an ELEMENT.
    assert_only(&doc, "unknown_node", at(COMMENT, ""));
}

#[test]
fn attribute_missing() {
    let mut doc = valid();
    doc.as_object_mut().unwrap().remove("context");
    assert_only(&doc, "attribute_missing", "/context");
}

#[test]
fn occurrences_too_few() {
    let mut doc = valid();
    items(&mut doc).remove(DEVICE_ID);
    assert_only(&doc, "occurrences_too_few", ITEMS);
}

#[test]
fn occurrences_too_many() {
    let mut doc = valid();
    let copy = item(&mut doc, SYSTOLIC).clone();
    items(&mut doc).insert(SYSTOLIC + 1, copy);
    assert_only(&doc, "occurrences_too_many", at(SYSTOLIC + 1, ""));
}

#[test]
fn occurrences_too_many_of_a_named_sibling() {
    let mut doc = valid();
    let copy = item(&mut doc, LEFT_ARM).clone();
    items(&mut doc).push(copy);
    let last = items(&mut doc).len() - 1;
    assert_only(&doc, "occurrences_too_many", at(last, ""));
}

#[test]
fn string_not_allowed() {
    let mut doc = valid();
    item(&mut doc, COMMENT)["value"]["value"] = json!("maybe");
    assert_only(&doc, "string_not_allowed", at(COMMENT, "/value/value"));
}

#[test]
fn pattern_mismatch() {
    let mut doc = valid();
    item(&mut doc, DEVICE_ID)["value"]["value"] = json!("bp42");
    assert_only(&doc, "pattern_mismatch", at(DEVICE_ID, "/value/value"));
}

#[test]
fn pattern_is_anchored() {
    let mut doc = valid();
    item(&mut doc, DEVICE_ID)["value"]["value"] = json!("xBP-42x");
    assert_only(&doc, "pattern_mismatch", at(DEVICE_ID, "/value/value"));
}

#[test]
fn number_not_allowed() {
    let mut doc = valid();
    item(&mut doc, COUNT)["value"]["magnitude"] = json!(11);
    assert_only(&doc, "number_not_allowed", at(COUNT, "/value/magnitude"));
    item(&mut doc, COUNT)["value"]["magnitude"] = json!(-1);
    assert_only(&doc, "number_not_allowed", at(COUNT, "/value/magnitude"));
    item(&mut doc, COUNT)["value"]["magnitude"] = json!(10);
    assert_eq!(check(&doc), vec![]);
}

#[test]
fn boolean_not_allowed() {
    let mut doc = valid();
    item(&mut doc, CONFIRMED)["value"]["value"] = json!(false);
    assert_only(&doc, "boolean_not_allowed", at(CONFIRMED, "/value/value"));
}

#[test]
fn invalid_temporal() {
    let mut doc = valid();
    item(&mut doc, MEASURED_AT)["value"]["value"] = json!("2024-13-45T99:99:00");
    assert_only(&doc, "invalid_temporal", at(MEASURED_AT, "/value/value"));
}

#[test]
fn invalid_temporal_outside_the_template() {
    let mut doc = valid();
    doc["context"]["start_time"]["value"] = json!("yesterday");
    assert_only(&doc, "invalid_temporal", "/context/start_time/value");
}

#[test]
fn temporal_pattern() {
    let mut doc = valid();
    // The pattern yyyy-mm-ddTHH:MM:?? requires hours and minutes.
    item(&mut doc, MEASURED_AT)["value"]["value"] = json!("2024-03-01");
    assert_only(&doc, "temporal_pattern", at(MEASURED_AT, "/value/value"));
    item(&mut doc, MEASURED_AT)["value"]["value"] = json!("2024-03-01T10:15");
    assert_eq!(check(&doc), vec![], "seconds are optional (??)");
}

#[test]
fn invalid_duration() {
    let mut doc = valid();
    item(&mut doc, DURATION)["value"]["value"] = json!("5 minutes");
    assert_only(&doc, "invalid_duration", at(DURATION, "/value/value"));
}

#[test]
fn duration_pattern() {
    let mut doc = valid();
    item(&mut doc, DURATION)["value"]["value"] = json!("P1D");
    assert_only(&doc, "duration_pattern", at(DURATION, "/value/value"));
    item(&mut doc, DURATION)["value"]["value"] = json!("PT1H30M");
    assert_eq!(check(&doc), vec![]);
}

#[test]
fn terminology_mismatch() {
    let mut doc = valid();
    item(&mut doc, POSITION)["value"]["defining_code"]["terminology_id"]["value"] =
        json!("SNOMED-CT");
    assert_only(
        &doc,
        "terminology_mismatch",
        at(POSITION, "/value/defining_code/terminology_id/value"),
    );
}

#[test]
fn code_not_allowed() {
    let mut doc = valid();
    // at0022 is defined by the archetype but not in the element's code list.
    item(&mut doc, POSITION)["value"]["defining_code"]["code_string"] = json!("at0022");
    assert_only(
        &doc,
        "code_not_allowed",
        at(POSITION, "/value/defining_code/code_string"),
    );
}

#[test]
fn unknown_local_code() {
    let mut doc = valid();
    // A DV_CODED_TEXT where the template asks for a DV_TEXT: its local code must still be one
    // the archetype defines.
    item(&mut doc, COMMENT)["value"] = json!({
        "_type": "DV_CODED_TEXT",
        "value": "ok",
        "defining_code": {"terminology_id": {"value": "local"}, "code_string": "at9999"}
    });
    assert_only(
        &doc,
        "unknown_local_code",
        at(COMMENT, "/value/defining_code/code_string"),
    );
    item(&mut doc, COMMENT)["value"]["defining_code"]["code_string"] = json!("at0022");
    assert_eq!(check(&doc), vec![], "at0022 is defined by the archetype");
}

#[test]
fn unit_not_allowed() {
    let mut doc = valid();
    item(&mut doc, SYSTOLIC)["value"]["units"] = json!("kg");
    assert_only(&doc, "unit_not_allowed", at(SYSTOLIC, "/value/units"));
}

#[test]
fn magnitude_out_of_range() {
    let mut doc = valid();
    item(&mut doc, SYSTOLIC)["value"]["magnitude"] = json!(1200.0);
    let found = issues(&doc);
    assert_eq!(
        check(&doc),
        one("magnitude_out_of_range", at(SYSTOLIC, "/value/magnitude"))
    );
    assert_eq!(
        found[0].archetype_path,
        "/content[openEHR-EHR-OBSERVATION.cdr_test_vitals.v1]/data[at0001]/events[at0002]\
         /data[at0003]/items[at0004]/value"
    );
    assert_eq!(found[0].actual.as_deref(), Some("1200"));
    item(&mut doc, SYSTOLIC)["value"]["magnitude"] = json!(-0.5);
    assert_eq!(
        check(&doc)[0],
        (
            "magnitude_out_of_range".to_owned(),
            at(SYSTOLIC, "/value/magnitude")
        )
    );
    item(&mut doc, SYSTOLIC)["value"]["magnitude"] = json!(1000);
    assert_eq!(check(&doc), vec![], "the upper bound is included");
}

#[test]
fn precision_not_allowed() {
    let mut doc = valid();
    item(&mut doc, SYSTOLIC)["value"]["magnitude"] = json!(120.5);
    item(&mut doc, SYSTOLIC)["value"]["precision"] = json!(1);
    assert_only(
        &doc,
        "precision_not_allowed",
        at(SYSTOLIC, "/value/precision"),
    );
}

#[test]
fn precision_0_0_needs_an_integral_magnitude_even_without_precision() {
    let mut doc = valid();
    item(&mut doc, SYSTOLIC)["value"]
        .as_object_mut()
        .unwrap()
        .remove("precision");
    assert_eq!(check(&doc), vec![]);
    item(&mut doc, SYSTOLIC)["value"]["magnitude"] = json!(120.5);
    assert_only(
        &doc,
        "precision_not_allowed",
        at(SYSTOLIC, "/value/precision"),
    );
}

#[test]
fn ordinal_not_allowed() {
    let mut doc = valid();
    // A listed symbol with the other value.
    item(&mut doc, PAIN)["value"]["value"] = json!(2);
    assert_only(&doc, "ordinal_not_allowed", at(PAIN, "/value"));
    // A value not in the list at all.
    item(&mut doc, PAIN)["value"]["value"] = json!(3);
    item(&mut doc, PAIN)["value"]["symbol"]["defining_code"]["code_string"] = json!("at0031");
    assert_only(&doc, "ordinal_not_allowed", at(PAIN, "/value"));
    // The other listed pair.
    item(&mut doc, PAIN)["value"]["value"] = json!(2);
    item(&mut doc, PAIN)["value"]["symbol"]["value"] = json!("Severe");
    assert_eq!(check(&doc), vec![]);
}

#[test]
fn ordinal_symbol_text_must_be_the_templates_term() {
    let mut doc = valid();
    item(&mut doc, PAIN)["value"]["symbol"]["value"] = json!("Severe");
    assert_only(&doc, "ordinal_not_allowed", at(PAIN, "/value/symbol/value"));
    let found = issues(&doc);
    assert_eq!(found[0].expected.as_deref(), Some("Mild"));
    // A composition in another language than the template's (whose terms the OPT does not
    // hold) is not judged on it.
    doc["language"]["code_string"] = json!("de");
    assert_eq!(check(&doc), vec![]);
}

#[test]
fn an_ehr_uri_must_use_the_ehr_scheme() {
    // The element in the slot-filling CLUSTER, whose archetype the template does not hold.
    let mut doc = valid();
    let uri = |doc: &mut Value, v: &str| {
        item(doc, DEVICE)["items"][0]["value"] = json!({"_type": "DV_EHR_URI", "value": v});
    };
    uri(
        &mut doc,
        "ehr:/2b5d0c4e-0000-4000-8000-000000000000/compositions",
    );
    assert_eq!(check(&doc), vec![]);
    uri(&mut doc, "https://example.com/x");
    assert_only(&doc, "rm_invariant", at(DEVICE, "/items[0]/value/value"));
    uri(&mut doc, "x yz");
    assert_only(&doc, "invalid_uri", at(DEVICE, "/items[0]/value/value"));
    // A LINK's target is not held to the scheme (published data relies on it), but it must
    // be a URI.
    let mut doc = valid();
    let link = |target: &str| {
        json!([{
            "meaning": {"value": "follow up"},
            "type": {"value": "issue"},
            "target": {"_type": "DV_EHR_URI", "value": target}
        }])
    };
    doc["links"] = link("target1");
    assert_eq!(check(&doc), vec![]);
    doc["links"] = link("x yz");
    assert_only(&doc, "invalid_uri", "/links[0]/target/value");
}

#[test]
fn literals_that_do_not_parse_are_malformed() {
    let cases = [
        (MEASURED_AT, "DV_DATE", "2021-13", "invalid_temporal"),
        (MEASURED_AT, "DV_DATE", "2021-10-32", "invalid_temporal"),
        (MEASURED_AT, "DV_TIME", "T48", "invalid_temporal"),
        (MEASURED_AT, "DV_TIME", "10:95", "invalid_temporal"),
        (MEASURED_AT, "DV_DATE_TIME", "", "invalid_temporal"),
        (MEASURED_AT, "DV_DATE_TIME", "NULL", "invalid_temporal"),
        (DURATION, "DV_DURATION", "1Y", "invalid_duration"),
        (DURATION, "DV_DURATION", "P1.5DT2H", "invalid_duration"),
        (COMMENT, "DV_URI", "x yz", "invalid_uri"),
    ];
    for (i, ty, literal, code) in cases {
        let mut doc = valid();
        item(&mut doc, i)["value"] = json!({"_type": ty, "value": literal});
        let found = issues(&doc);
        let malformed: Vec<_> = found
            .iter()
            .filter(|x| x.constraint.is_malformed_literal())
            .map(|x| (x.constraint.as_str(), x.path.clone()))
            .collect();
        assert_eq!(
            malformed,
            [(code, at(i, "/value/value"))],
            "{ty} {literal:?}: {found:#?}"
        );
    }
    // Values that parse but break the template are not malformed.
    let mut doc = valid();
    item(&mut doc, MEASURED_AT)["value"]["value"] = json!("2024-03-01");
    item(&mut doc, DURATION)["value"]["value"] = json!("P1D");
    let found = issues(&doc);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found.iter().all(|x| !x.constraint.is_malformed_literal()));
    // A fraction in the last component is ISO 8601.
    let mut doc = valid();
    item(&mut doc, DURATION)["value"]["value"] = json!("PT2.5H");
    assert_eq!(check(&doc), vec![]);
}

#[test]
fn slot_not_allowed() {
    let mut doc = valid();
    let id = "openEHR-EHR-CLUSTER.other.v1";
    item(&mut doc, DEVICE)["archetype_node_id"] = json!(id);
    item(&mut doc, DEVICE)["archetype_details"]["archetype_id"]["value"] = json!(id);
    assert_only(&doc, "slot_not_allowed", at(DEVICE, ""));
}

#[test]
fn slot_accepts_a_specialisation() {
    let mut doc = valid();
    let id = "openEHR-EHR-CLUSTER.device-cuff.v1";
    item(&mut doc, DEVICE)["archetype_node_id"] = json!(id);
    item(&mut doc, DEVICE)["archetype_details"]["archetype_id"]["value"] = json!(id);
    assert_eq!(check(&doc), vec![]);
}

#[test]
fn rm_mandatory_missing() {
    let mut doc = valid();
    doc.as_object_mut().unwrap().remove("composer");
    assert_only(&doc, "rm_mandatory_missing", "/composer");

    let mut doc = valid();
    doc["content"][0].as_object_mut().unwrap().remove("subject");
    assert_only(&doc, "rm_mandatory_missing", "/content[0]/subject");

    let mut doc = valid();
    item(&mut doc, DEVICE)["items"] = json!([]);
    assert_only(&doc, "rm_mandatory_missing", at(DEVICE, "/items"));
}

#[test]
fn missing_or_null_mandatory_primitives_are_issues_all_at_once() {
    let mut doc = valid();
    let drop = |v: &mut Value, key: &str| {
        v.as_object_mut().unwrap().remove(key);
    };
    drop(&mut item(&mut doc, SYSTOLIC)["value"], "magnitude");
    item(&mut doc, SYSTOLIC)["value"]["units"] = Value::Null;
    drop(&mut item(&mut doc, POSITION)["value"], "value");
    drop(
        &mut item(&mut doc, POSITION)["value"]["defining_code"],
        "code_string",
    );
    item(&mut doc, PAIN)["value"]["value"] = Value::Null;
    drop(&mut item(&mut doc, PAIN)["value"], "symbol");
    drop(&mut item(&mut doc, COUNT)["value"], "magnitude");
    item(&mut doc, COMMENT)["value"]["value"] = Value::Null;
    drop(&mut item(&mut doc, CONFIRMED)["value"], "value");
    item(&mut doc, DURATION)["value"]["value"] = Value::Null;
    drop(&mut item(&mut doc, RATIO)["value"], "denominator");
    doc["language"]["terminology_id"]["value"] = Value::Null;
    let found = check(&doc);
    for path in [
        at(SYSTOLIC, "/value/magnitude"),
        at(SYSTOLIC, "/value/units"),
        at(POSITION, "/value/value"),
        at(POSITION, "/value/defining_code/code_string"),
        at(PAIN, "/value/value"),
        at(PAIN, "/value/symbol"),
        at(COUNT, "/value/magnitude"),
        at(COMMENT, "/value/value"),
        at(CONFIRMED, "/value/value"),
        at(DURATION, "/value/value"),
        at(RATIO, "/value/denominator"),
        "/language/terminology_id/value".to_owned(),
    ] {
        let expected = ("rm_mandatory_missing".to_owned(), path);
        assert!(found.contains(&expected), "{expected:?} not in {found:#?}");
    }
    // Each missing attribute once (the template's own `attribute_missing` gives way), and the
    // language without a terminology is not an ISO 639-1 code.
    assert_eq!(found.len(), 13, "{found:#?}");
    assert!(found.contains(&("invalid_code".to_owned(), "/language".to_owned())));
    // Nothing is reported as a literal that does not parse.
    assert!(
        issues(&doc)
            .iter()
            .all(|i| !i.constraint.is_malformed_literal()),
        "{found:#?}"
    );
}

#[test]
fn a_date_time_bound_without_a_value_is_a_malformed_literal() {
    let mut doc = valid();
    item(&mut doc, COUNT)["value"]["normal_range"] = json!({
        "_type": "DV_INTERVAL",
        "lower": {"_type": "DV_COUNT", "magnitude": 0},
        "lower_unbounded": false, "upper_unbounded": true
    });
    assert!(check(&doc).is_empty(), "{:#?}", issues(&doc));
    item(&mut doc, MEASURED_AT)["value"]["normal_range"] = json!({
        "_type": "DV_INTERVAL",
        "lower": {"_type": "DV_DATE_TIME", "value": null},
        "upper": {"_type": "DV_DATE_TIME", "value": "2024-03-01T11:00:00Z"},
        "lower_unbounded": false, "upper_unbounded": false
    });
    let found = issues(&doc);
    let malformed: Vec<_> = found
        .iter()
        .filter(|i| i.constraint.is_malformed_literal())
        .map(|i| (i.constraint.as_str(), i.path.as_str()))
        .collect();
    let path = at(MEASURED_AT, "/value/normal_range/lower/value");
    assert_eq!(
        malformed,
        [("invalid_temporal", path.as_str())],
        "{found:#?}"
    );
}

#[test]
fn invalid_code_of_setting() {
    let mut doc = valid();
    doc["context"]["setting"]["defining_code"]["code_string"] = json!("999");
    assert_only(&doc, "invalid_code", "/context/setting/defining_code");
}

#[test]
fn invalid_code_wrong_rubric() {
    let mut doc = valid();
    doc["context"]["setting"]["value"] = json!("home");
    assert_only(&doc, "invalid_code", "/context/setting/value");
}

#[test]
fn invalid_code_of_category_is_also_not_in_the_template_list() {
    let mut doc = valid();
    doc["category"]["defining_code"]["code_string"] = json!("999");
    let mut found = check(&doc);
    found.sort();
    assert_eq!(
        found,
        vec![
            (
                "code_not_allowed".to_owned(),
                "/category/defining_code/code_string".to_owned()
            ),
            (
                "invalid_code".to_owned(),
                "/category/defining_code".to_owned()
            ),
        ]
    );
}

#[test]
fn invalid_code_of_language_and_territory() {
    let mut doc = valid();
    doc["language"]["code_string"] = json!("english");
    doc["territory"]["terminology_id"]["value"] = json!("ISO_3166-2");
    let mut found = check(&doc);
    found.sort();
    assert_eq!(
        found,
        vec![
            ("invalid_code".to_owned(), "/language".to_owned()),
            ("invalid_code".to_owned(), "/territory".to_owned()),
        ]
    );
}

#[test]
fn rm_invariant_proportion() {
    let mut doc = valid();
    item(&mut doc, RATIO)["value"]["denominator"] = json!(5.0);
    assert_only(&doc, "rm_invariant", at(RATIO, "/value/denominator"));
}

#[test]
fn rm_invariant_value_and_null_flavour() {
    let mut doc = valid();
    item(&mut doc, COUNT)["null_flavour"] = json!({
        "_type": "DV_CODED_TEXT",
        "value": "no information",
        "defining_code": {"terminology_id": {"value": "openehr"}, "code_string": "271"}
    });
    assert_only(&doc, "rm_invariant", at(COUNT, ""));
    // Without the value, the null flavour is fine.
    item(&mut doc, COUNT)
        .as_object_mut()
        .unwrap()
        .remove("value");
    assert_eq!(check(&doc), vec![]);
}

#[test]
fn rm_invariant_empty_text() {
    let mut doc = valid();
    item(&mut doc, DEVICE)["items"][0]["value"]["value"] = json!("");
    assert_only(&doc, "rm_invariant", at(DEVICE, "/items[0]/value/value"));
}

#[test]
fn all_issues_are_reported_at_once() {
    let mut doc = valid();
    item(&mut doc, SYSTOLIC)["value"]["units"] = json!("kg");
    item(&mut doc, COUNT)["value"]["magnitude"] = json!(99);
    doc["context"]["setting"]["defining_code"]["code_string"] = json!("999");
    doc.as_object_mut().unwrap().remove("composer");
    let found = check(&doc);
    assert!(found.len() >= 4, "{found:?}");
    for expected in [
        ("unit_not_allowed", at(SYSTOLIC, "/value/units")),
        ("number_not_allowed", at(COUNT, "/value/magnitude")),
        ("invalid_code", "/context/setting/defining_code".to_owned()),
        ("rm_mandatory_missing", "/composer".to_owned()),
    ] {
        let expected = (expected.0.to_owned(), expected.1);
        assert!(found.contains(&expected), "{expected:?} not in {found:?}");
    }
    assert_eq!(found.len(), 4, "{found:?}");
}

#[test]
fn issues_are_not_duplicated() {
    let mut doc = valid();
    // Both the template walk and the RM walk see an unparseable date-time.
    item(&mut doc, MEASURED_AT)["value"]["value"] = json!("not a date");
    let found = check(&doc);
    assert_eq!(found.len(), 1, "{found:?}");
}

#[test]
fn same_node_id_siblings_are_told_apart_by_name() {
    // Each arm is checked against its own constraint: mm[Hg] is right only for the left arm,
    // kPa only for the right arm.
    let mut doc = valid();
    item(&mut doc, LEFT_ARM)["value"] =
        json!({"_type": "DV_QUANTITY", "magnitude": 15.5, "units": "kPa"});
    assert_only(&doc, "unit_not_allowed", at(LEFT_ARM, "/value/units"));

    let mut doc = valid();
    item(&mut doc, RIGHT_ARM)["value"] =
        json!({"_type": "DV_QUANTITY", "magnitude": 118.0, "units": "mm[Hg]"});
    assert_only(&doc, "unit_not_allowed", at(RIGHT_ARM, "/value/units"));

    // 50 is within the left arm's 0..300 but outside the right arm's 0..40.
    let mut doc = valid();
    item(&mut doc, RIGHT_ARM)["value"]["magnitude"] = json!(50.0);
    assert_only(
        &doc,
        "magnitude_out_of_range",
        at(RIGHT_ARM, "/value/magnitude"),
    );
    let mut doc = valid();
    item(&mut doc, LEFT_ARM)["value"]["magnitude"] = json!(50.0);
    assert_eq!(check(&doc), vec![]);
}

#[test]
fn same_node_id_sibling_with_an_unknown_name() {
    let mut doc = valid();
    item(&mut doc, LEFT_ARM)["name"]["value"] = json!("Middle arm");
    assert_only(&doc, "string_not_allowed", at(LEFT_ARM, "/name/value"));
}

#[test]
fn named_siblings_may_be_swapped() {
    let mut doc = valid();
    items(&mut doc).swap(LEFT_ARM, RIGHT_ARM);
    assert_eq!(check(&doc), vec![]);
}

#[test]
fn validate_never_panics_on_odd_data() {
    type Mutation = fn(&mut Value);
    let mutations: &[Mutation] = &[
        |d| item(d, SYSTOLIC)["value"]["magnitude"] = json!(1e308),
        |d| item(d, SYSTOLIC)["value"]["magnitude"] = json!(-1e308),
        |d| item(d, SYSTOLIC)["value"]["precision"] = json!(i64::MIN),
        |d| item(d, SYSTOLIC)["value"]["precision"] = json!(i64::MAX),
        |d| item(d, SYSTOLIC)["value"]["units"] = json!(""),
        |d| item(d, COUNT)["value"]["magnitude"] = json!(i64::MAX),
        |d| item(d, COUNT)["value"]["magnitude"] = json!(i64::MIN),
        |d| item(d, PAIN)["value"]["value"] = json!(i64::MIN),
        |d| item(d, PAIN)["value"]["symbol"]["defining_code"]["code_string"] = json!(""),
        |d| item(d, MEASURED_AT)["value"]["value"] = json!(""),
        |d| {
            item(d, MEASURED_AT)["value"]["value"] =
                json!("9999999999-99-99T99:99:99.9999999999+99:99")
        },
        |d| item(d, MEASURED_AT)["value"]["value"] = json!("2024-03-01T10:15:00ü"),
        |d| item(d, DURATION)["value"]["value"] = json!(""),
        |d| item(d, DURATION)["value"]["value"] = json!("P99999999999999999999999Y"),
        |d| item(d, DURATION)["value"]["value"] = json!("-PT1.5.5S"),
        |d| item(d, DEVICE_ID)["value"]["value"] = json!(""),
        |d| item(d, DEVICE_ID)["value"]["value"] = json!("é".repeat(10_000)),
        |d| item(d, COMMENT)["value"]["value"] = json!("\u{0}"),
        |d| item(d, POSITION)["value"]["defining_code"]["code_string"] = json!(""),
        |d| item(d, POSITION)["value"]["defining_code"]["terminology_id"]["value"] = json!(""),
        |d| item(d, RATIO)["value"]["denominator"] = json!(0.0),
        |d| item(d, RATIO)["value"]["type"] = json!(i64::MAX),
        |d| item(d, RATIO)["value"]["numerator"] = json!(-1e308),
        |d| item(d, LEFT_ARM)["name"]["value"] = json!(""),
        |d| item(d, DEVICE)["archetype_node_id"] = json!(""),
        |d| item(d, DEVICE)["archetype_node_id"] = json!("[(*+?"),
        |d| item(d, SYSTOLIC)["archetype_node_id"] = json!(""),
        |d| d["archetype_node_id"] = json!(""),
        |d| d["archetype_details"]["template_id"]["value"] = json!(""),
        |d| d["content"][0]["archetype_node_id"] = json!(""),
        |d| d["language"]["code_string"] = json!(""),
        |d| d["territory"]["code_string"] = json!("ÄÖ"),
        |d| d["category"]["defining_code"]["code_string"] = json!(""),
        |d| {
            let it = items(d);
            let copy = it.clone();
            for _ in 0..20 {
                it.extend(copy.iter().cloned());
            }
        },
        |d| items(d).clear(),
        |d| {
            d["content"][0]["data"]["events"] = json!([]);
        },
        |d| {
            // A DV_INTERVAL with bounds of different types where a DV_PROPORTION is expected.
            item(d, RATIO)["value"] = json!({
                "_type": "DV_INTERVAL",
                "lower": {"_type": "DV_COUNT", "magnitude": 5},
                "upper": {"_type": "DV_QUANTITY", "magnitude": 1.0, "units": "kg"},
                "lower_unbounded": false,
                "upper_unbounded": true
            });
        },
    ];
    for (n, m) in mutations.iter().enumerate() {
        let mut doc = valid();
        m(&mut doc);
        let bytes = serde_json::to_vec(&doc).unwrap();
        let c: Composition = from_json(&bytes).unwrap_or_else(|e| panic!("mutation {n}: {e}"));
        let _ = validate(template(), &c);
        let _ = cdr_validation::validate_rm(&c);
    }
}

#[test]
fn deeply_nested_clusters_do_not_overflow() {
    let mut doc = valid();
    let mut cluster = json!({
        "_type": "ELEMENT",
        "name": {"_type": "DV_TEXT", "value": "leaf"},
        "archetype_node_id": "at0001",
        "value": {"_type": "DV_TEXT", "value": "x"}
    });
    // 40 levels: about as deep as canonical JSON can go (serde_json stops at 128 nested
    // containers, and each level is an object and a list).
    for _ in 0..40 {
        cluster = json!({
            "_type": "CLUSTER",
            "name": {"_type": "DV_TEXT", "value": "nested"},
            "archetype_node_id": "at0002",
            "items": [cluster]
        });
    }
    item(&mut doc, DEVICE)["items"] = json!([cluster]);
    assert_eq!(
        check(&doc),
        vec![],
        "a filled slot is not constrained further"
    );
}

#[test]
fn element_without_value_or_null_flavour() {
    let mut doc = valid();
    item(&mut doc, COUNT)
        .as_object_mut()
        .unwrap()
        .remove("value");
    // RM invariant: an ELEMENT without a value must carry a null_flavour.
    assert_eq!(check(&doc), one("rm_invariant", at(COUNT, "/null_flavour")));
}

#[test]
fn precision_minus_one_against_an_integral_constraint() {
    let mut doc = valid();
    item(&mut doc, SYSTOLIC)["value"]["magnitude"] = json!(120.5);
    item(&mut doc, SYSTOLIC)["value"]["precision"] = json!(-1);
    // Precision -1 ("any") does not lift the template's 0..0: the magnitude must be integral.
    assert_eq!(
        check(&doc),
        one("precision_not_allowed", at(SYSTOLIC, "/value/precision"))
    );
}

#[test]
fn same_results_through_canonical_xml() {
    for mutate in [
        (|_: &mut Value| {}) as fn(&mut Value),
        |d| item(d, SYSTOLIC)["value"]["units"] = json!("kg"),
        |d| item(d, LEFT_ARM)["value"]["units"] = json!("kPa"),
        |d| {
            items(d).remove(DEVICE_ID);
        },
    ] {
        let mut doc = valid();
        mutate(&mut doc);
        let c: Composition = from_json(&serde_json::to_vec(&doc).unwrap()).unwrap();
        let xml = cdr_rm::to_xml(&c, "composition");
        let back: Composition = cdr_rm::from_xml(xml.as_bytes()).unwrap();
        assert_eq!(validate(template(), &back), validate(template(), &c));
    }
}
