//! Decoding rules: `_type` handling, unknown attributes, positions in errors; canonical XML
//! reading (xsi:type, XML attributes, DTDs, malformed input); JSON ↔ XML round trips; the
//! MINIMAL `_type` policy; and robustness against truncated and corrupted input.
//!
//! All documents are small fixtures written for these tests.

use cdr_rm::json::to_json_value;
use cdr_rm::{
    from_json, from_xml, to_json, to_xml, AnyDvText, Composition, ContentItem, DecodeError,
    JsonConfig,
};
use serde_json::{json, Value};

/// A small composition: one OBSERVATION with one event and three elements. `_type` is given
/// where ITS-JSON requires it, and left out on some concrete declared types.
const COMPOSITION: &str = r#"{
    "_type": "COMPOSITION",
    "name": {"value": "Encounter"},
    "archetype_details": {
        "archetype_id": {"value": "openEHR-EHR-COMPOSITION.encounter.v1"},
        "template_id": {"value": "cdr_decode_test.v1"},
        "rm_version": "1.0.4"
    },
    "archetype_node_id": "openEHR-EHR-COMPOSITION.encounter.v1",
    "language": {"terminology_id": {"value": "ISO_639-1"}, "code_string": "en"},
    "territory": {"terminology_id": {"value": "ISO_3166-1"}, "code_string": "DE"},
    "category": {
        "value": "event",
        "defining_code": {"terminology_id": {"value": "openehr"}, "code_string": "433"}
    },
    "composer": {"_type": "PARTY_IDENTIFIED", "name": "Dr. Decode"},
    "context": {
        "start_time": {"value": "2024-03-01T10:00:00Z"},
        "setting": {
            "value": "home",
            "defining_code": {"terminology_id": {"value": "openehr"}, "code_string": "225"}
        }
    },
    "content": [{
        "_type": "OBSERVATION",
        "name": {"_type": "DV_TEXT", "value": "Test"},
        "archetype_node_id": "openEHR-EHR-OBSERVATION.decode_test.v1",
        "language": {"terminology_id": {"value": "ISO_639-1"}, "code_string": "en"},
        "encoding": {"terminology_id": {"value": "IANA_character-sets"}, "code_string": "UTF-8"},
        "subject": {"_type": "PARTY_SELF"},
        "data": {
            "name": {"value": "History"},
            "archetype_node_id": "at0001",
            "origin": {"value": "2024-03-01T10:00:00Z"},
            "events": [{
                "_type": "POINT_EVENT",
                "name": {"value": "Any event"},
                "archetype_node_id": "at0002",
                "time": {"value": "2024-03-01T10:05:00Z"},
                "data": {
                    "_type": "ITEM_TREE",
                    "name": {"value": "Tree"},
                    "archetype_node_id": "at0003",
                    "items": [
                        {
                            "_type": "ELEMENT",
                            "name": {"value": "Systolic"},
                            "archetype_node_id": "at0004",
                            "value": {
                                "_type": "DV_QUANTITY",
                                "magnitude": 120.5,
                                "units": "mm[Hg]",
                                "precision": 1
                            }
                        },
                        {
                            "_type": "ELEMENT",
                            "name": {
                                "value": "Position",
                                "defining_code": {
                                    "terminology_id": {"value": "local"},
                                    "code_string": "at0005"
                                }
                            },
                            "archetype_node_id": "at0005",
                            "value": {
                                "_type": "DV_CODED_TEXT",
                                "value": "Sitting",
                                "defining_code": {
                                    "terminology_id": {"value": "local"},
                                    "code_string": "at0020"
                                }
                            }
                        },
                        {
                            "_type": "CLUSTER",
                            "name": {"value": "Device"},
                            "archetype_node_id": "at0006",
                            "items": [{
                                "_type": "ELEMENT",
                                "name": {"value": "Count"},
                                "archetype_node_id": "at0007",
                                "value": {"_type": "DV_COUNT", "magnitude": 3}
                            }]
                        }
                    ]
                }
            }]
        }
    }]
}"#;

fn composition() -> Value {
    serde_json::from_str(COMPOSITION).unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(v).unwrap()
}

fn decode(v: &Value) -> Result<Composition, DecodeError> {
    from_json(&bytes(v))
}

/// `items[i]` of the observation's ITEM_TREE.
fn item(doc: &mut Value, i: usize) -> &mut Value {
    &mut doc["content"][0]["data"]["events"][0]["data"]["items"][i]
}

/// Asserts a JSON decoding error whose message contains `needle` and that has a position.
#[track_caller]
fn assert_json_error(v: &Value, needle: &str) -> DecodeError {
    let e = decode(v).expect_err("decoding must fail");
    assert!(
        e.message.contains(needle),
        "message {:?} does not contain {needle:?}",
        e.message
    );
    assert!(e.line > 0 && e.column > 0, "no position: {e:?}");
    e
}

/// The decoded composition re-encoded with `_type` everywhere: shows the decoded RM types.
fn typed(c: &Composition) -> Value {
    to_json_value(c, &JsonConfig::CANONICAL)
}

// ---------------------------------------------------------------------------------------------
// `_type`

#[test]
fn small_composition_decodes() {
    let c = decode(&composition()).unwrap();
    assert_eq!(
        c.archetype_node_id.as_deref(),
        Some("openEHR-EHR-COMPOSITION.encounter.v1")
    );
    assert_eq!(c.content.len(), 1);
    assert!(matches!(c.content[0], ContentItem::Observation(_)));
    let t = typed(&c);
    let items = &t["content"][0]["data"]["events"][0]["data"]["items"];
    assert_eq!(items[0]["value"]["_type"], "DV_QUANTITY");
    assert_eq!(items[0]["value"]["magnitude"], 120.5);
    assert_eq!(items[2]["items"][0]["value"]["magnitude"], 3);
}

#[test]
fn type_is_optional_where_the_declared_type_is_concrete() {
    let c = decode(&composition()).unwrap();
    let t = typed(&c);
    assert_eq!(t["name"]["_type"], "DV_TEXT");
    assert_eq!(t["category"]["_type"], "DV_CODED_TEXT");
    assert_eq!(t["context"]["_type"], "EVENT_CONTEXT");
    assert_eq!(t["content"][0]["data"]["_type"], "HISTORY");
}

#[test]
fn root_type_is_optional_but_must_fit() {
    let mut doc = composition();
    doc.as_object_mut().unwrap().remove("_type");
    assert_eq!(decode(&doc).unwrap(), decode(&composition()).unwrap());
    doc["_type"] = json!("EHR_STATUS");
    assert_json_error(
        &doc,
        "_type `EHR_STATUS` found where COMPOSITION is expected",
    );
}

#[test]
fn type_is_required_for_element_value() {
    let mut doc = composition();
    item(&mut doc, 0)["value"]
        .as_object_mut()
        .unwrap()
        .remove("_type");
    assert_json_error(&doc, "`_type` is required for DATA_VALUE");
}

#[test]
fn type_is_required_for_content_items() {
    let mut doc = composition();
    doc["content"][0].as_object_mut().unwrap().remove("_type");
    assert_json_error(&doc, "`_type` is required for CONTENT_ITEM");
}

#[test]
fn type_is_required_for_tree_items() {
    let mut doc = composition();
    item(&mut doc, 2).as_object_mut().unwrap().remove("_type");
    assert_json_error(&doc, "`_type` is required for ITEM");
}

#[test]
fn type_is_required_for_an_empty_object_in_an_abstract_slot() {
    let mut doc = composition();
    item(&mut doc, 0)["value"] = json!({});
    assert_json_error(&doc, "`_type` is required for DATA_VALUE");
}

#[test]
fn type_may_appear_anywhere_in_an_object() {
    // serde_json's map keeps keys sorted, so `_type` comes first; write the JSON by hand to
    // put it last, in the middle, and first (the fast path).
    let first = br#"{"_type":"DV_QUANTITY","magnitude":1.5,"units":"kg"}"#;
    let middle = br#"{"magnitude":1.5,"_type":"DV_QUANTITY","units":"kg"}"#;
    let last = br#"{"magnitude":1.5,"units":"kg","_type":"DV_QUANTITY"}"#;
    let a: cdr_rm::DataValue = from_json(first).unwrap();
    let b: cdr_rm::DataValue = from_json(middle).unwrap();
    let c: cdr_rm::DataValue = from_json(last).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert!(matches!(a, cdr_rm::DataValue::DvQuantity(_)));

    // The same inside a whole composition, for a content item and an element value.
    let text = String::from_utf8(serde_json::to_vec(&composition()).unwrap()).unwrap();
    let moved = text
        .replacen(
            r#"{"_type":"OBSERVATION","#,
            r#"{"archetype_node_id":"openEHR-EHR-OBSERVATION.decode_test.v1","_type":"OBSERVATION","#,
            1,
        )
        .replacen(
            r#""archetype_node_id":"openEHR-EHR-OBSERVATION.decode_test.v1","data""#,
            r#""data""#,
            1,
        )
        .replacen(
            r#"{"_type":"DV_COUNT","magnitude":3}"#,
            r#"{"magnitude":3,"_type":"DV_COUNT"}"#,
            1,
        );
    assert_ne!(moved, text, "the replacements apply");
    assert!(moved.contains(r#""magnitude":3,"_type":"DV_COUNT""#));
    let c: Composition = from_json(moved.as_bytes()).unwrap();
    assert_eq!(c, decode(&composition()).unwrap());
}

#[test]
fn type_not_first_still_reports_errors_with_position() {
    let text = br#"{"magnitude":1.5,"units":"kg","colour":"red","_type":"DV_QUANTITY"}"#;
    let e = from_json::<cdr_rm::DataValue>(text).unwrap_err();
    assert!(
        e.message
            .contains("unknown attribute `colour` in DV_QUANTITY"),
        "{e:?}"
    );
    assert!(e.line > 0 && e.column > 0, "{e:?}");
    let text = br#"{"magnitude":1.5,"units":"kg"}"#;
    let e = from_json::<cdr_rm::DataValue>(text).unwrap_err();
    assert!(
        e.message.contains("`_type` is required for DATA_VALUE"),
        "{e:?}"
    );
    assert!(e.line > 0 && e.column > 0, "{e:?}");
}

#[test]
fn generic_type_names_are_accepted() {
    let v: cdr_rm::DataValue = from_json(
        br#"{"_type":"DV_INTERVAL<DV_COUNT>","lower":{"_type":"DV_COUNT","magnitude":1},
            "lower_unbounded":false,"upper_unbounded":true}"#,
    )
    .unwrap();
    assert!(matches!(v, cdr_rm::DataValue::DvInterval(_)));
}

#[test]
fn unknown_type_in_an_abstract_slot() {
    let mut doc = composition();
    item(&mut doc, 0)["value"]["_type"] = json!("DV_COLOUR");
    assert_json_error(&doc, "_type `DV_COLOUR` is not a DATA_VALUE");
    let mut doc = composition();
    item(&mut doc, 0)["value"]["_type"] = json!("COMPOSITION");
    assert_json_error(&doc, "_type `COMPOSITION` is not a DATA_VALUE");
}

#[test]
fn wrong_type_for_a_concrete_slot() {
    let mut doc = composition();
    doc["category"]["_type"] = json!("DV_TEXT");
    assert_json_error(
        &doc,
        "_type `DV_TEXT` found where DV_CODED_TEXT is expected",
    );
    let mut doc = composition();
    doc["name"]["_type"] = json!("DV_QUANTITY");
    assert_json_error(
        &doc,
        "_type `DV_QUANTITY` found where DV_TEXT or a subtype is expected",
    );
    let mut doc = composition();
    doc["content"][0]["data"]["_type"] = json!("ITEM_TREE");
    assert_json_error(&doc, "_type `ITEM_TREE` found where HISTORY is expected");
}

#[test]
fn unknown_attributes_are_errors() {
    let mut doc = composition();
    item(&mut doc, 0)["value"] = json!({"_type": "DV_TEXT", "value": "high", "x": 1});
    assert_json_error(&doc, "unknown attribute `x` in DV_TEXT");
    let mut doc = composition();
    doc["composer"]["x"] = json!(1);
    assert_json_error(&doc, "unknown attribute `x` in PARTY_IDENTIFIED");
    let mut doc = composition();
    item(&mut doc, 0)["value"]["unit"] = json!("kg");
    assert_json_error(&doc, "unknown attribute `unit` in DV_QUANTITY");
    let mut doc = composition();
    doc["colour"] = json!("red");
    assert_json_error(&doc, "unknown attribute `colour` in COMPOSITION");
}

#[test]
fn unknown_attribute_in_a_dv_text_slot_names_dv_text() {
    // The DV_TEXT family is decoded through its widest member (DV_CODED_TEXT); the error must
    // still name DV_TEXT.
    for name in [
        json!({"value": "Encounter", "x": 1}),
        json!({"_type": "DV_TEXT", "value": "Encounter", "x": 1}),
    ] {
        let mut doc = composition();
        doc["name"] = name;
        assert_json_error(&doc, "unknown attribute `x` in DV_TEXT");
    }
}

#[test]
fn error_position_points_at_the_offending_line() {
    let mut doc = composition();
    item(&mut doc, 2)["items"][0]["value"]["colour"] = json!("red");
    let text = bytes(&doc);
    let e = from_json::<Composition>(&text).unwrap_err();
    let line = String::from_utf8(text)
        .unwrap()
        .lines()
        .position(|l| l.contains("\"colour\""))
        .unwrap()
        + 1;
    assert_eq!(e.line, line, "{e:?}");
    assert!(e.column > 0);
}

#[test]
fn underscore_keys_other_than_type_are_ignored() {
    let mut doc = composition();
    doc["_links"] = json!({"self": {"href": "https://example.invalid"}});
    doc["name"]["_comment"] = json!("ignored");
    item(&mut doc, 0)["value"]["_magnitude_display"] = json!([1, 2, {"x": null}]);
    assert_eq!(decode(&doc).unwrap(), decode(&composition()).unwrap());
}

#[test]
fn dv_text_with_defining_code_is_coded_text() {
    let c = decode(&composition()).unwrap();
    let t = typed(&c);
    let items = &t["content"][0]["data"]["events"][0]["data"]["items"];
    assert_eq!(items[1]["name"]["_type"], "DV_CODED_TEXT");
    assert_eq!(items[0]["name"]["_type"], "DV_TEXT");

    let mut doc = composition();
    doc["name"]["defining_code"] =
        json!({"terminology_id": {"value": "local"}, "code_string": "at0000"});
    let c = decode(&doc).unwrap();
    assert!(matches!(c.name, Some(AnyDvText::DvCodedText(_))));
    assert_eq!(typed(&c)["name"]["_type"], "DV_CODED_TEXT");
}

#[test]
fn dv_text_typed_as_such_may_not_have_a_defining_code() {
    let mut doc = composition();
    doc["name"] = json!({
        "_type": "DV_TEXT",
        "value": "Encounter",
        "defining_code": {"terminology_id": {"value": "local"}, "code_string": "at0000"}
    });
    assert_json_error(&doc, "unknown attribute `defining_code` in DV_TEXT");
}

#[test]
fn missing_or_null_mandatory_primitives_decode_for_the_validator() {
    // Mandatory primitives are optional in memory, as mandatory objects are: the validator
    // reports each one missing with its path, all at once.
    let mut doc = composition();
    let q = item(&mut doc, 0)["value"].as_object_mut().unwrap();
    q.remove("magnitude");
    q.insert("units".into(), Value::Null);
    doc["language"]
        .as_object_mut()
        .unwrap()
        .remove("code_string");
    doc.as_object_mut().unwrap().remove("archetype_node_id");
    doc["name"]["value"] = Value::Null;
    let c = decode(&doc).unwrap();
    assert_eq!(c.archetype_node_id, None);
    assert_eq!(c.language.as_ref().unwrap().code_string, None);
    assert_eq!(c.name.as_ref().unwrap().value(), "");
    let t = typed(&c);
    let q = &t["content"][0]["data"]["events"][0]["data"]["items"][0]["value"];
    assert!(
        q.get("magnitude").is_none() && q.get("units").is_none(),
        "{q}"
    );
    assert_eq!(q["precision"], 1);
}

#[test]
fn missing_rm_mandatory_object_decodes_for_the_validator() {
    // `man` attributes are kept optional in memory: the validator reports them.
    let mut doc = composition();
    doc.as_object_mut().unwrap().remove("composer");
    let c = decode(&doc).unwrap();
    assert!(c.composer.is_none());
}

#[test]
fn null_is_allowed_for_optional_attributes() {
    let mut doc = composition();
    doc["uid"] = Value::Null;
    doc["feeder_audit"] = Value::Null;
    doc["links"] = Value::Null;
    doc["context"]["end_time"] = Value::Null;
    item(&mut doc, 0)["value"]["normal_range"] = Value::Null;
    item(&mut doc, 0)["null_flavour"] = Value::Null;
    assert_eq!(decode(&doc).unwrap(), decode(&composition()).unwrap());
    let mut doc = composition();
    doc["context"] = Value::Null;
    assert!(decode(&doc).unwrap().context.is_none());
}

#[test]
fn primitives_of_the_wrong_json_type_are_errors() {
    for (key, bad) in [
        ("magnitude", json!("120 mmHg")),
        ("units", json!(5)),
        ("precision", json!(1.5)),
        ("magnitude", json!([1])),
    ] {
        let mut doc = composition();
        item(&mut doc, 0)["value"][key] = bad.clone();
        let e = decode(&doc).unwrap_err();
        assert!(e.line > 0 && e.column > 0, "{key}={bad}: {e:?}");
    }
    let mut doc = composition();
    item(&mut doc, 2)["items"][0]["value"]["magnitude"] = json!(3.5);
    decode(&doc).unwrap_err();
}

/// The DV_COUNT of the fixture (inside the CLUSTER).
fn count(doc: &mut Value) -> &mut Value {
    &mut item(doc, 2)["items"][0]["value"]
}

#[test]
fn primitives_written_as_strings_are_read_when_they_convert_exactly() {
    let mut doc = composition();
    item(&mut doc, 0)["value"]["magnitude"] = json!("120.5");
    item(&mut doc, 0)["value"]["precision"] = json!("1");
    count(&mut doc)["magnitude"] = json!("3");
    let want = decode(&composition()).unwrap();
    assert_eq!(decode(&doc).unwrap(), want);
    // The same through a parsed value (contributions, FLAT) and with `_type` last.
    assert_eq!(
        cdr_rm::json::from_json_value::<Composition>(doc.clone()).unwrap(),
        want
    );
    let q = br#"{"magnitude":"-2.5e1","units":"kg","accuracy_is_percent":"false","_type":"DV_QUANTITY"}"#;
    let v = to_json_value(
        &from_json::<cdr_rm::DataValue>(q).unwrap(),
        &JsonConfig::CANONICAL,
    );
    assert_eq!(v["magnitude"], json!(-25.0));
    assert_eq!(v["accuracy_is_percent"], json!(false));
    // Written back as JSON numbers.
    let t = typed(&decode(&doc).unwrap());
    let items = &t["content"][0]["data"]["events"][0]["data"]["items"];
    assert_eq!(items[0]["value"]["magnitude"], json!(120.5));
    assert_eq!(items[0]["value"]["precision"], json!(1));
    assert_eq!(items[2]["items"][0]["value"]["magnitude"], json!(3));
    let ordinal = br#"{"_type":"DV_ORDINAL","value":"1","symbol":{"value":"x",
        "defining_code":{"terminology_id":{"value":"local"},"code_string":"at1"}}}"#;
    let v = to_json_value(
        &from_json::<cdr_rm::DataValue>(ordinal).unwrap(),
        &JsonConfig::CANONICAL,
    );
    assert_eq!(v["value"], json!(1));
    let status = br#"{"_type":"EHR_STATUS","archetype_node_id":"openEHR-EHR-EHR_STATUS.generic.v1",
        "name":{"value":"s"},"subject":{},"is_modifiable":"true","is_queryable":"false"}"#;
    let s: cdr_rm::EhrStatus = from_json(status).unwrap();
    assert_eq!((s.is_modifiable, s.is_queryable), (Some(true), Some(false)));
}

#[test]
fn strings_that_do_not_convert_exactly_are_errors_as_before() {
    for (bad, expected) in [
        (json!("120,5"), "f64"),
        (json!(" 120.5"), "f64"),
        (json!("NaN"), "f64"),
        (json!(""), "f64"),
    ] {
        let mut doc = composition();
        item(&mut doc, 0)["value"]["magnitude"] = bad.clone();
        let e = assert_json_error(&doc, "invalid type: string");
        assert!(
            e.message.ends_with(&format!("expected {expected}")),
            "{e:?}"
        );
    }
    for bad in ["3.0", "3e0", "+3", "03", "three"] {
        let mut doc = composition();
        count(&mut doc)["magnitude"] = json!(bad);
        assert_json_error(
            &doc,
            &format!("invalid type: string \"{bad}\", expected i64"),
        );
    }
    let status = br#"{"_type":"EHR_STATUS","archetype_node_id":"openEHR-EHR-EHR_STATUS.generic.v1",
        "name":{"value":"s"},"subject":{},"is_modifiable":"True","is_queryable":true}"#;
    let e = from_json::<cdr_rm::EhrStatus>(status).unwrap_err();
    assert!(
        e.message
            .contains("invalid type: string \"True\", expected a boolean"),
        "{e:?}"
    );
}

#[test]
fn an_integer_is_accepted_for_a_real() {
    let mut doc = composition();
    item(&mut doc, 0)["value"]["magnitude"] = json!(120);
    let c = decode(&doc).unwrap();
    let t = typed(&c);
    assert_eq!(
        t["content"][0]["data"]["events"][0]["data"]["items"][0]["value"]["magnitude"].as_f64(),
        Some(120.0)
    );
}

#[test]
fn duplicate_attributes_are_errors() {
    let text = br#"{"_type":"DV_QUANTITY","magnitude":1.5,"units":"kg","magnitude":2.5}"#;
    let e = from_json::<cdr_rm::DataValue>(text).unwrap_err();
    assert!(e.message.contains("duplicate field `magnitude`"), "{e:?}");
    assert!(e.line > 0 && e.column > 0);
}

#[test]
fn not_json_at_all() {
    for text in [
        &b""[..],
        b"   ",
        b"null",
        b"[]",
        b"42",
        b"{",
        b"{\"_type\": ",
        b"<composition/>",
        b"\xff\xfe{}",
    ] {
        let e = from_json::<Composition>(text).unwrap_err();
        assert!(!e.message.is_empty(), "{text:?}");
    }
    let e = from_json::<Composition>(b"{\n  \"name\": {\"value\": \"x\"},\n  oops\n}").unwrap_err();
    assert_eq!((e.line, e.column > 0), (3, true), "{e:?}");
}

#[test]
fn trailing_content_is_an_error() {
    let mut text = bytes(&composition());
    text.extend_from_slice(b"\n{}");
    let e = from_json::<Composition>(&text).unwrap_err();
    assert!(e.line > 0, "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// XML

const XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<composition xmlns="http://schemas.openehr.org/v1"
             xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
             archetype_node_id="openEHR-EHR-COMPOSITION.encounter.v1">
  <name>
    <value>Encounter</value>
  </name>
  <archetype_details>
    <archetype_id><value>openEHR-EHR-COMPOSITION.encounter.v1</value></archetype_id>
    <template_id><value>cdr_decode_test.v1</value></template_id>
    <rm_version>1.0.4</rm_version>
  </archetype_details>
  <language>
    <terminology_id><value>ISO_639-1</value></terminology_id>
    <code_string>en</code_string>
  </language>
  <territory>
    <terminology_id><value>ISO_3166-1</value></terminology_id>
    <code_string>DE</code_string>
  </territory>
  <category>
    <value>event</value>
    <defining_code>
      <terminology_id><value>openehr</value></terminology_id>
      <code_string>433</code_string>
    </defining_code>
  </category>
  <composer xsi:type="PARTY_IDENTIFIED">
    <name>Dr. Decode</name>
  </composer>
  <content xsi:type="OBSERVATION" archetype_node_id="openEHR-EHR-OBSERVATION.decode_test.v1">
    <name><value>Test</value></name>
    <language>
      <terminology_id><value>ISO_639-1</value></terminology_id>
      <code_string>en</code_string>
    </language>
    <encoding>
      <terminology_id><value>IANA_character-sets</value></terminology_id>
      <code_string>UTF-8</code_string>
    </encoding>
    <subject xsi:type="PARTY_SELF"/>
    <data archetype_node_id="at0001">
      <name><value>History</value></name>
      <origin><value>2024-03-01T10:00:00Z</value></origin>
      <events xsi:type="POINT_EVENT" archetype_node_id="at0002">
        <name><value>Any event</value></name>
        <time><value>2024-03-01T10:05:00Z</value></time>
        <data xsi:type="ITEM_TREE" archetype_node_id="at0003">
          <name><value>Tree</value></name>
          <items xsi:type="ELEMENT" archetype_node_id="at0004">
            <name><value>Systolic</value></name>
            <value xsi:type="DV_QUANTITY">
              <magnitude>120.5</magnitude>
              <units>mm[Hg]</units>
              <precision>1</precision>
            </value>
          </items>
          <items xsi:type="ELEMENT" archetype_node_id="at0005">
            <name xsi:type="DV_CODED_TEXT">
              <value>Position</value>
              <defining_code>
                <terminology_id><value>local</value></terminology_id>
                <code_string>at0005</code_string>
              </defining_code>
            </name>
            <value xsi:type="DV_CODED_TEXT">
              <value>Sitting</value>
              <defining_code>
                <terminology_id><value>local</value></terminology_id>
                <code_string>at0020</code_string>
              </defining_code>
            </value>
          </items>
          <items xsi:type="CLUSTER" archetype_node_id="at0006">
            <name><value>Device</value></name>
            <items xsi:type="ELEMENT" archetype_node_id="at0007">
              <name><value>Count</value></name>
              <value xsi:type="DV_COUNT"><magnitude>3</magnitude></value>
            </items>
          </items>
        </data>
      </events>
    </data>
  </content>
</composition>
"#;

fn without_context(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("context");
    v
}

#[test]
fn xml_decodes_with_xsi_type_and_archetype_node_id_attributes() {
    let c: Composition = from_xml(XML.as_bytes()).unwrap();
    assert_eq!(
        c.archetype_node_id.as_deref(),
        Some("openEHR-EHR-COMPOSITION.encounter.v1")
    );
    assert!(matches!(c.content[0], ContentItem::Observation(_)));
    // The XML fixture is the JSON fixture without its context.
    let expected = decode(&without_context(composition())).unwrap();
    assert_eq!(c, expected);
}

#[test]
fn xml_single_repeated_element_is_a_list_of_one() {
    let c: Composition = from_xml(XML.as_bytes()).unwrap();
    assert_eq!(c.content.len(), 1);
    let t = typed(&c);
    assert_eq!(
        t["content"][0]["data"]["events"][0]["data"]["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn xml_xsi_type_prefix_in_value_is_stripped() {
    let xml = XML.replace(
        r#"<value xsi:type="DV_COUNT">"#,
        r#"<value xsi:type="openehr:DV_COUNT" xmlns:openehr="http://schemas.openehr.org/v1">"#,
    );
    assert_ne!(xml, XML);
    let c: Composition = from_xml(xml.as_bytes()).unwrap();
    assert_eq!(c, from_xml::<Composition>(XML.as_bytes()).unwrap());
}

#[test]
fn xml_without_required_xsi_type() {
    let xml = XML.replace(r#"<value xsi:type="DV_COUNT">"#, "<value>");
    let e = from_xml::<Composition>(xml.as_bytes()).unwrap_err();
    assert!(
        e.message.contains("`_type` is required for DATA_VALUE"),
        "{e:?}"
    );
    assert!(e.line > 0 && e.column > 0, "{e:?}");
}

#[test]
fn xml_unknown_element_is_an_error_with_position() {
    let xml = XML.replace(
        "<units>mm[Hg]</units>",
        "<units>mm[Hg]</units><colour>red</colour>",
    );
    let e = from_xml::<Composition>(xml.as_bytes()).unwrap_err();
    assert!(
        e.message
            .contains("unknown attribute `colour` in DV_QUANTITY"),
        "{e:?}"
    );
    let line = xml
        .lines()
        .position(|l| l.contains("<value xsi:type=\"DV_QUANTITY\">"));
    assert_eq!(Some(e.line), line.map(|l| l + 1), "{e:?}");
}

#[test]
fn xml_bad_number_is_an_error_with_position() {
    let xml = XML.replace(
        "<magnitude>120.5</magnitude>",
        "<magnitude>high</magnitude>",
    );
    let e = from_xml::<Composition>(xml.as_bytes()).unwrap_err();
    assert!(e.message.contains("`high` is not a valid number"), "{e:?}");
    assert!(e.line > 0 && e.column > 0, "{e:?}");
}

#[test]
fn xml_repeated_single_element_is_an_error() {
    let xml = XML.replace(
        "<units>mm[Hg]</units>",
        "<units>mm[Hg]</units><units>kPa</units>",
    );
    let e = from_xml::<Composition>(xml.as_bytes()).unwrap_err();
    assert!(e.message.contains("repeated"), "{e:?}");
}

#[test]
fn xml_with_doctype_is_rejected() {
    let xml = XML.replacen(
        "<composition ",
        "<!DOCTYPE composition [<!ENTITY x \"boom\">]>\n<composition ",
        1,
    );
    let e = from_xml::<Composition>(xml.as_bytes()).unwrap_err();
    assert!(e.message.contains("DTD"), "{e:?}");
    assert_eq!(e.line, 2, "{e:?}");
}

#[test]
fn malformed_xml_gives_line_and_column() {
    for (broken, what) in [
        (XML.replace("</units>", "</unit>"), "mismatched end tag"),
        (
            XML.replace("<precision>1</precision>", "<precision>1"),
            "unclosed",
        ),
        (
            XML.replace("archetype_node_id=\"at0004\"", "archetype_node_id=at0004"),
            "unquoted",
        ),
        (
            XML.replace("<name>Dr. Decode</name>", "<name>Dr. & Decode</name>"),
            "bare &",
        ),
    ] {
        let e = from_xml::<Composition>(broken.as_bytes()).unwrap_err();
        assert!(e.line > 1 && e.column > 0, "{what}: {e:?}");
    }
    let truncated = &XML[..XML.len() / 2];
    let e = from_xml::<Composition>(truncated.as_bytes()).unwrap_err();
    assert!(e.line > 0 && e.column > 0, "{e:?}");
    for text in ["", "   ", "plain text", "<a/><b/>", "<composition>"] {
        let e = from_xml::<Composition>(text.as_bytes()).unwrap_err();
        assert!(!e.message.is_empty(), "{text:?}");
    }
}

#[test]
fn xml_nesting_is_bounded() {
    let depth = cdr_rm::xml::MAX_DEPTH + 10;
    let mut xml = String::from("<composition>");
    for _ in 0..depth {
        xml.push_str("<a>");
    }
    for _ in 0..depth {
        xml.push_str("</a>");
    }
    xml.push_str("</composition>");
    let e = from_xml::<Composition>(xml.as_bytes()).unwrap_err();
    assert!(e.message.contains("deeper"), "{e:?}");
}

#[test]
fn xml_entities_and_cdata_are_text() {
    let xml = XML.replace(
        "<name>Dr. Decode</name>",
        "<name>Dr. &lt;Decode&gt; &amp; <![CDATA[Co & <b>]]></name>",
    );
    let c: Composition = from_xml(xml.as_bytes()).unwrap();
    assert_eq!(typed(&c)["composer"]["name"], "Dr. <Decode> & Co & <b>");
}

// ---------------------------------------------------------------------------------------------
// Round trips and encoding policy

#[test]
fn json_xml_json_round_trip() {
    let c = decode(&composition()).unwrap();
    let xml = to_xml(&c, "composition");
    let back: Composition = from_xml(xml.as_bytes()).unwrap();
    assert_eq!(back, c);
    assert_eq!(
        to_json_value(&back, &JsonConfig::CANONICAL),
        to_json_value(&c, &JsonConfig::CANONICAL)
    );
    // And the XML reads back to the same XML.
    assert_eq!(to_xml(&back, "composition"), xml);
}

#[test]
fn json_round_trip_in_both_configs() {
    let c = decode(&composition()).unwrap();
    for config in [JsonConfig::CANONICAL, JsonConfig::MINIMAL] {
        let out = to_json(&c, &config);
        let again: Composition = from_json(&out).unwrap();
        assert_eq!(again, c, "{config:?}");
    }
}

#[test]
fn xml_writes_archetype_node_id_as_attribute_and_xsi_type_where_polymorphic() {
    let c = decode(&composition()).unwrap();
    let xml = to_xml(&c, "composition");
    assert!(xml.contains(r#"<items xsi:type="ELEMENT" archetype_node_id="at0004">"#));
    assert!(xml.contains(r#"<value xsi:type="DV_QUANTITY">"#));
    assert!(
        xml.contains(r#"<data archetype_node_id="at0001">"#),
        "HISTORY is concrete"
    );
    assert!(!xml.contains("<archetype_node_id>"));
}

#[test]
fn minimal_config_omits_type_only_where_implied() {
    let c = decode(&composition()).unwrap();
    let m: Value = serde_json::from_slice(&to_json(&c, &JsonConfig::MINIMAL)).unwrap();
    // The root always carries `_type`.
    assert_eq!(m["_type"], "COMPOSITION");
    // Concrete declared types: implied.
    assert!(m["name"].get("_type").is_none());
    assert!(m["category"].get("_type").is_none());
    assert!(m["context"].get("_type").is_none());
    assert!(m["context"]["start_time"].get("_type").is_none());
    assert!(m["content"][0]["data"].get("_type").is_none());
    assert!(m["language"].get("_type").is_none());
    // Abstract declared types: kept.
    assert_eq!(m["composer"]["_type"], "PARTY_IDENTIFIED");
    assert_eq!(m["content"][0]["_type"], "OBSERVATION");
    assert_eq!(m["content"][0]["subject"]["_type"], "PARTY_SELF");
    let event = &m["content"][0]["data"]["events"][0];
    assert_eq!(event["_type"], "POINT_EVENT");
    assert_eq!(event["data"]["_type"], "ITEM_TREE");
    let items = &event["data"]["items"];
    assert_eq!(items[0]["_type"], "ELEMENT");
    assert_eq!(items[0]["value"]["_type"], "DV_QUANTITY");
    assert_eq!(items[1]["value"]["_type"], "DV_CODED_TEXT");
    assert_eq!(items[2]["_type"], "CLUSTER");
    assert_eq!(items[2]["items"][0]["value"]["_type"], "DV_COUNT");
    // A subtype where its supertype is declared: kept.
    assert_eq!(items[1]["name"]["_type"], "DV_CODED_TEXT");
    assert!(items[0]["name"].get("_type").is_none());
}

#[test]
fn canonical_config_types_every_object() {
    fn all_typed(v: &Value, path: &str, missing: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if !m.contains_key("_type") {
                    missing.push(path.to_owned());
                }
                for (k, c) in m {
                    all_typed(c, &format!("{path}/{k}"), missing);
                }
            }
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    all_typed(c, &format!("{path}[{i}]"), missing);
                }
            }
            _ => {}
        }
    }
    let c = decode(&composition()).unwrap();
    let v: Value = serde_json::from_slice(&to_json(&c, &JsonConfig::CANONICAL)).unwrap();
    let mut missing = Vec::new();
    all_typed(&v, "", &mut missing);
    assert!(missing.is_empty(), "objects without _type: {missing:?}");
}

// ---------------------------------------------------------------------------------------------
// Robustness: never panic on damaged input

/// Deterministic byte substitutions that are likely to change the structure.
const SUBSTITUTES: &[u8] = b"\"{}[]:,0a_<>/&\\\xff";

/// Calls `f` with every prefix of `input`, and with copies in which one byte is replaced
/// (`per_position` substitutes per position, rotating through [`SUBSTITUTES`]) or deleted.
fn damaged(input: &[u8], per_position: usize, mut f: impl FnMut(&[u8])) {
    for cut in 0..input.len() {
        f(&input[..cut]);
    }
    for i in 0..input.len() {
        for k in 0..per_position {
            let b = SUBSTITUTES[(i * per_position + k) % SUBSTITUTES.len()];
            if input[i] == b {
                continue;
            }
            let mut v = input.to_vec();
            v[i] = b;
            f(&v);
        }
        let mut v = input.to_vec();
        v.remove(i);
        f(&v);
    }
}

#[test]
fn truncated_or_corrupted_json_never_panics() {
    let input = to_json(&decode(&composition()).unwrap(), &JsonConfig::MINIMAL);
    let (mut ok, mut err) = (0usize, 0usize);
    damaged(&input, 2, |bytes| match from_json::<Composition>(bytes) {
        Ok(_) => ok += 1,
        Err(e) => {
            assert!(!e.message.is_empty());
            err += 1;
        }
    });
    assert!(
        err > input.len(),
        "most damaged documents are rejected ({ok} ok, {err} err)"
    );
}

#[test]
fn truncated_or_corrupted_xml_never_panics() {
    let c = decode(&composition()).unwrap();
    let xml = to_xml(&c, "composition");
    // Compact the writer's indentation so more positions hit structure.
    let compact: String = xml.lines().map(str::trim_start).collect();
    let (mut ok, mut err) = (0usize, 0usize);
    damaged(compact.as_bytes(), 1, |bytes| {
        match from_xml::<Composition>(bytes) {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(!e.message.is_empty());
                err += 1;
            }
        }
    });
    assert!(
        err > compact.len(),
        "most damaged documents are rejected ({ok} ok, {err} err)"
    );
    assert!(from_xml::<Composition>(compact.as_bytes()).unwrap() == c);
}

#[test]
fn deeply_nested_json_never_overflows() {
    // Clusters nested ever deeper: decoding must succeed or fail cleanly (the reader stops at
    // 128 nested containers, as serde_json does).
    for depth in [1usize, 10, 30, 50, 60, 63, 64, 65, 70, 100, 500] {
        let mut inner = String::from(
            r#"{"_type":"ELEMENT","name":{"value":"leaf"},"archetype_node_id":"at1"}"#,
        );
        for _ in 0..depth {
            inner = format!(
                r#"{{"_type":"CLUSTER","name":{{"value":"c"}},"archetype_node_id":"at2","items":[{inner}]}}"#
            );
        }
        let mut doc = composition();
        item(&mut doc, 2)["items"] = json!([]);
        let text = String::from_utf8(serde_json::to_vec(&doc).unwrap()).unwrap();
        let text = text.replacen(r#""items":[]"#, &format!(r#""items":[{inner}]"#), 1);
        let _ = from_json::<Composition>(text.as_bytes());
    }
}

#[test]
fn deeply_nested_xml_never_overflows() {
    // Around and beyond the XML depth limit: decode or fail cleanly.
    let limit = cdr_rm::xml::MAX_DEPTH;
    for depth in [
        10,
        50,
        limit - 20,
        limit - 10,
        limit - 5,
        limit,
        limit + 5,
        4 * limit,
    ] {
        let mut inner = String::from(
            r#"<items xsi:type="ELEMENT" archetype_node_id="at1"><name><value>leaf</value></name></items>"#,
        );
        for _ in 0..depth {
            inner = format!(
                r#"<items xsi:type="CLUSTER" archetype_node_id="at2"><name><value>c</value></name>{inner}</items>"#
            );
        }
        let xml = XML.replace(
            r#"<value xsi:type="DV_COUNT"><magnitude>3</magnitude></value>"#,
            "",
        );
        let xml = xml.replacen(
            r#"<items xsi:type="ELEMENT" archetype_node_id="at0007">"#,
            &format!("{inner}<items xsi:type=\"ELEMENT\" archetype_node_id=\"at0007\">"),
            1,
        );
        let _ = from_xml::<Composition>(xml.as_bytes());
    }
}

#[test]
fn invalid_utf8_is_an_error_with_its_position() {
    let mut bytes = b"{\n  \"_type\": \"COMPOSITION\",\n  \"name\": {\"value\": \"ab".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe]);
    bytes.extend_from_slice(b"\"}}");
    let err = cdr_rm::from_json::<Composition>(&bytes).unwrap_err();
    assert_eq!(err.line, 3, "{err:?}");
    assert!(err.column > 0, "{err:?}");
}
