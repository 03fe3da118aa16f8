//! FLAT ↔ canonical on a small self-contained OPT: ctx defaults, rebuilt levels, coded values
//! completed from the template, RM attributes outside the template, errors that name the key,
//! and the way back.

use cdr_forms::flat::{canonical_to_flat, flat_to_canonical, FlatError};
use cdr_forms::Forms;
use cdr_template::{parse_opt, Template};
use serde_json::{json, Map, Value};

use cdr_template::fixtures::opt;
use cdr_template::fixtures::*;

pub const NOW: &str = "2024-05-01T10:00:00Z";

/// A COMPOSITION with one OBSERVATION (one event): a quantity (mm[Hg]), a local coded position
/// and a text comment.
pub fn template() -> Template {
    build("")
}

/// [`template`], its event constrained by `event_attributes` too.
fn build(event_attributes: &str) -> Template {
    build_with(event_attributes, "")
}

/// [`build`] with `extra_item` among the event's items.
fn build_with(event_attributes: &str, extra_item: &str) -> Template {
    let position = coded("local", &["at1000", "at1001"]);
    let quantity = quantity("mm[Hg]", "");
    let mut items = vec![
        element("at0004", 0, 1, &quantity, ""),
        element("at0005", 0, 1, &position, ""),
        element("at0006", 0, 1, &dv("DV_TEXT"), ""),
    ];
    if !extra_item.is_empty() {
        items.push(extra_item.to_owned());
    }
    let events = if event_attributes.is_empty() {
        single_event(&items)
    } else {
        let tree = object(
            "ITEM_TREE",
            "at0003",
            1,
            1,
            &multiple("items", &items.concat()),
        );
        let attributes = single("data", &tree) + event_attributes;
        object("EVENT", "at0002", 0, 1, &attributes)
    };
    let terms = [
        term("at0002", "Any event"),
        term("at0003", "Tree"),
        term("at0004", "Systolic"),
        term("at0005", "Position"),
        term("at0006", "Comment"),
        term("at0007", "Device"),
        term("at1000", "Standing"),
        term("at1001", "Sitting"),
    ]
    .concat();
    let xml = opt(&multiple("content", &observation(&events, &terms)));
    parse_opt(xml.as_bytes()).expect("fixture parses")
}

fn flat(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

pub fn basic() -> Map<String, Value> {
    flat(&[
        ("ctx/language", json!("en")),
        ("ctx/territory", json!("DE")),
        ("ctx/composer_name", json!("Dr. A")),
        ("ctx/time", json!("2024-03-01T10:15:00+01:00")),
        ("fixture/blood_pressure:0/systolic|magnitude", json!(142)),
        ("fixture/blood_pressure:0/position|code", json!("at1001")),
        ("fixture/blood_pressure:0/comment", json!("after a walk")),
    ])
}

#[test]
fn flat_to_canonical_rebuilds_levels_and_fills_from_ctx() {
    let t = template();
    let c = flat_to_canonical(&t, &basic(), NOW).expect("converts");
    assert_eq!(c["_type"], "COMPOSITION");
    assert_eq!(c["archetype_details"]["template_id"]["value"], "fixture.v1");
    assert_eq!(c["language"]["code_string"], "en");
    assert_eq!(c["territory"]["terminology_id"]["value"], "ISO_3166-1");
    assert_eq!(c["composer"]["name"], "Dr. A");
    assert_eq!(c["category"]["defining_code"]["code_string"], "433");
    assert_eq!(
        c["context"]["start_time"]["value"],
        "2024-03-01T10:15:00+01:00"
    );
    assert_eq!(c["context"]["setting"]["value"], "other care");
    let obs = &c["content"][0];
    assert_eq!(obs["archetype_node_id"], "openEHR-EHR-OBSERVATION.demo.v1");
    assert_eq!(obs["subject"]["_type"], "PARTY_SELF");
    assert_eq!(obs["encoding"]["code_string"], "UTF-8");
    let history = &obs["data"];
    assert_eq!(
        (
            history["_type"].as_str(),
            history["archetype_node_id"].as_str()
        ),
        (Some("HISTORY"), Some("at0001"))
    );
    assert_eq!(history["origin"]["value"], "2024-03-01T10:15:00+01:00");
    let event = &history["events"][0];
    assert_eq!(event["_type"], "POINT_EVENT");
    assert_eq!(event["name"]["value"], "Any event");
    let items = &event["data"]["items"];
    assert_eq!(items[0]["value"]["magnitude"], 142.0);
    // The only unit the template allows.
    assert_eq!(items[0]["value"]["units"], "mm[Hg]");
    // A code alone: text and terminology from the template.
    assert_eq!(items[1]["value"]["value"], "Sitting");
    assert_eq!(
        items[1]["value"]["defining_code"]["terminology_id"]["value"],
        "local"
    );
    assert_eq!(items[2]["value"]["_type"], "DV_TEXT");
    assert_eq!(items[2]["name"]["value"], "Comment");
}

#[test]
fn rm_attributes_outside_the_template() {
    let t = template();
    let mut f = basic();
    f.extend(flat(&[
        (
            "fixture/_uid",
            json!("8849182c-82ad-4088-a07f-48ead4180515::cdr::1"),
        ),
        ("fixture/blood_pressure:0/_link:0|type", json!("href")),
        (
            "fixture/blood_pressure:0/_link:0|meaning",
            json!("follow-up"),
        ),
        (
            "fixture/blood_pressure:0/_link:0|target",
            json!("ehr://a/b"),
        ),
        (
            "fixture/blood_pressure:0/comment/_null_flavour|code",
            json!("253"),
        ),
        (
            "fixture/context/_health_care_facility|name",
            json!("Hospital"),
        ),
        ("ctx/composer_self", json!(true)),
    ]));
    f.remove("ctx/composer_name");
    f.remove("fixture/blood_pressure:0/comment");
    let c = flat_to_canonical(&t, &f, NOW).expect("converts");
    assert_eq!(c["uid"]["_type"], "OBJECT_VERSION_ID");
    assert_eq!(c["composer"]["_type"], "PARTY_SELF");
    assert_eq!(c["content"][0]["links"][0]["target"]["value"], "ehr://a/b");
    let comment = &c["content"][0]["data"]["events"][0]["data"]["items"][2];
    assert!(comment.get("value").is_none());
    assert_eq!(comment["null_flavour"]["value"], "unknown");
    assert_eq!(c["context"]["health_care_facility"]["name"], "Hospital");
}

/// `ctx/health_care_facility` with its reference's scheme and namespace; an entry's language
/// and encoding given as FLAT keys (code, terminology, or both); the entries' language from the
/// composition's when `ctx/language` is absent.
#[test]
fn ctx_facility_and_entry_language_and_encoding() {
    let t = template();
    let mut f = basic();
    f.extend(flat(&[
        ("ctx/id_scheme", json!("ctx-scheme")),
        ("ctx/composer_id", json!("c-1")),
        ("ctx/health_care_facility|id", json!("999999-345")),
        ("ctx/health_care_facility|name", json!("Home")),
        (
            "ctx/health_care_facility|id_scheme",
            json!("2.16.840.1.113883.2.1.4.3"),
        ),
        ("ctx/health_care_facility|id_namespace", json!("NHS-UK")),
        ("fixture/blood_pressure:0/language|code", json!("de")),
        (
            "fixture/blood_pressure:0/language|terminology",
            json!("ISO_639-1"),
        ),
        (
            "fixture/blood_pressure:0/encoding|code",
            json!("ISO-8859-1"),
        ),
        (
            "fixture/blood_pressure:0/encoding|terminology",
            json!("IANA_character-sets"),
        ),
        (
            "fixture/blood_pressure:1/language|terminology",
            json!("ISO_639-1"),
        ),
        (
            "fixture/blood_pressure:1/encoding|terminology",
            json!("IANA_character-sets"),
        ),
        ("fixture/blood_pressure:1/comment", json!("later")),
    ]));
    let c = flat_to_canonical(&t, &f, NOW).expect("converts");
    let facility = &c["context"]["health_care_facility"];
    assert_eq!(facility["name"], "Home");
    let reference = &facility["external_ref"];
    assert_eq!(reference["id"]["value"], "999999-345");
    assert_eq!(reference["id"]["scheme"], "2.16.840.1.113883.2.1.4.3");
    assert_eq!(reference["namespace"], "NHS-UK");
    let first = &c["content"][0];
    assert_eq!(first["language"]["code_string"], "de");
    assert_eq!(first["language"]["terminology_id"]["value"], "ISO_639-1");
    assert_eq!(first["encoding"]["code_string"], "ISO-8859-1");
    // Only the terminology given: the code is ctx's.
    let second = &c["content"][1];
    assert_eq!(second["language"]["code_string"], "en");
    assert_eq!(second["encoding"]["code_string"], "UTF-8");
    // Other references keep ctx/id_scheme.
    assert_eq!(c["composer"]["external_ref"]["id"]["scheme"], "ctx-scheme");

    // No ctx/language: the composition's `language|code` is the entries' language too.
    let mut f = basic();
    f.remove("ctx/language");
    f.insert("fixture/language|code".into(), json!("nl"));
    f.insert("fixture/language|terminology".into(), json!("ISO_639-1"));
    let c = flat_to_canonical(&t, &f, NOW).expect("converts");
    assert_eq!(c["language"]["code_string"], "nl");
    assert_eq!(c["content"][0]["language"]["code_string"], "nl");

    // A facility reference without its id is refused, naming the key.
    let mut f = basic();
    f.insert("ctx/health_care_facility|id_scheme".into(), json!("x"));
    let err = flat_to_canonical(&t, &f, NOW).expect_err("no id");
    assert_eq!(err.path(), "ctx/health_care_facility|id_scheme");
}

#[test]
fn errors_name_the_key() {
    let t = template();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "fixture/blood_pressure:0/diastolic|magnitude",
            json!(80),
            "unknown path",
        ),
        (
            "fixture/blood_pressure:0/systolic|colour",
            json!("red"),
            "unknown path",
        ),
        (
            "fixture/blood_pressure:0/systolic|magnitude",
            json!("high"),
            "expected a number",
        ),
        (
            "fixture/blood_pressure:0/_unknown_thing",
            json!(1),
            "unknown path",
        ),
        ("other_root/x", json!(1), "unknown path"),
        ("ctx/not_a_ctx_field", json!(1), "unknown path"),
        (
            "fixture/blood_pressure:x/systolic|magnitude",
            json!(1),
            "must be a number",
        ),
    ];
    for (key, value, shows) in cases {
        let mut f = basic();
        f.insert(key.to_owned(), value);
        let err = flat_to_canonical(&t, &f, NOW).expect_err(key);
        assert_eq!(err.path(), key);
        assert!(err.to_string().contains(shows), "{key}: {err}");
    }
    // A node that occurs once, given twice.
    let mut f = basic();
    f.insert(
        "fixture/blood_pressure:0/position:1|code".into(),
        json!("at1000"),
    );
    f.insert(
        "fixture/blood_pressure:0/position:0|code".into(),
        json!("at1000"),
    );
    let err = flat_to_canonical(&t, &f, NOW).expect_err("twice");
    assert!(matches!(err, FlatError::BadPath { .. }), "{err}");
}

/// (FLAT key, web template id, constraint) of each issue of a reading.
pub fn places(reading: &cdr_forms::flat::FormReading) -> Vec<(&str, &str, &str)> {
    reading
        .issues
        .iter()
        .map(|i| {
            (
                i.flat_path.as_str(),
                i.web_template_id.as_str(),
                i.constraint,
            )
        })
        .collect()
}

/// Reading reports every problem at once, each at its key and web template node: keys that
/// name nothing, values that do not convert, values the RM cannot hold (given as canonical
/// JSON with `|raw`); what converts still becomes a composition (the rest left out), for
/// validation to add its issues.
#[test]
fn every_problem_at_once() {
    let t = template();
    let raw = |magnitude: Value| {
        json!({"_type": "ELEMENT", "archetype_node_id": "at0004",
               "name": {"_type": "DV_TEXT", "value": "Systolic"},
               "value": {"_type": "DV_QUANTITY", "magnitude": magnitude, "units": "mm[Hg]"}})
        .to_string()
    };
    let mut f = basic();
    for (k, v) in [
        ("ctx/not_a_ctx_field", json!(1)),
        ("fixture/blood_pressure:0/diastolic|magnitude", json!(80)),
        ("fixture/blood_pressure:0/systolic|magnitude", json!("high")),
        (
            "fixture/blood_pressure:1/systolic|raw",
            json!(raw(json!("abc"))),
        ),
        ("fixture/blood_pressure:2/position|code", json!("at9999")),
        (
            "fixture/blood_pressure:3/systolic|raw",
            json!(raw(json!([1]))),
        ),
        ("fixture/blood_pressure:3/comment", json!("kept")),
    ] {
        f.insert(k.to_owned(), v);
    }
    let reading = cdr_forms::flat::read_flat(&t, &f, NOW);
    let mut got = places(&reading);
    got.sort();
    let node =
        |n: usize, id: &str, suffix: &str| format!("fixture/blood_pressure:{n}/{id}{suffix}");
    let mut expected = [
        ("ctx/not_a_ctx_field".to_owned(), "fixture", "unknown_path"),
        (
            node(0, "diastolic", "|magnitude"),
            "blood_pressure",
            "unknown_path",
        ),
        (
            node(0, "systolic", "|magnitude"),
            "systolic",
            "invalid_value",
        ),
        (
            node(1, "systolic", "|magnitude"),
            "systolic",
            "invalid_value",
        ),
        (node(2, "position", "|code"), "position", "invalid_value"),
        (
            node(3, "systolic", "|magnitude"),
            "systolic",
            "invalid_value",
        ),
    ];
    expected.sort();
    let expected: Vec<(&str, &str, &str)> = expected
        .iter()
        .map(|(p, i, c)| (p.as_str(), *i, *c))
        .collect();
    assert_eq!(got, expected);
    let magnitude = reading
        .issues
        .iter()
        .find(|i| i.flat_path == node(1, "systolic", "|magnitude"))
        .expect("the magnitude that is not a number");
    assert_eq!(
        magnitude.path.as_deref(),
        Some("/content[1]/data/events[0]/data/items[0]/value/magnitude")
    );
    assert!(!reading.is_clean());
    // What converts is there: a node of which nothing converted is left out; a value that
    // does not decode is taken out, and validation issues that only say so are recognised.
    let c = reading.composition.as_ref().expect("the rest decodes");
    let canonical = cdr_rm::json::to_json_value(c, &cdr_rm::JsonConfig::CANONICAL);
    let items = |n: usize| canonical["content"][n]["data"]["events"][0]["data"]["items"].clone();
    let first = items(0);
    assert!(
        first
            .as_array()
            .is_some_and(|i| i.iter().all(|e| e["archetype_node_id"] != "at0004")),
        "{first}"
    );
    let fourth = items(3);
    assert_eq!(fourth[0].get("value"), None, "{fourth}");
    assert_eq!(fourth[1]["value"]["value"], "kept");
    assert!(reading.follows_from_issues("/content[3]/data/events[0]/data/items[0]"));
    assert!(reading.follows_from_issues("/content[3]/data/events[0]/data/items[0]/null_flavour"));
    assert!(!reading.follows_from_issues("/content[3]/data/events[0]/data/items[1]"));

    // Nothing wrong: a clean reading, the composition flat_to_canonical gives.
    let clean = cdr_forms::flat::read_flat(&t, &basic(), NOW);
    assert!(clean.is_clean(), "{:?}", clean.issues);
    assert_eq!(
        clean.canonical,
        flat_to_canonical(&t, &basic(), NOW).expect("converts")
    );
}

#[test]
fn canonical_to_flat_and_back() {
    let t = template();
    let c = flat_to_canonical(&t, &basic(), NOW).expect("converts");
    let f = canonical_to_flat(&t, &c).expect("to FLAT");
    assert_eq!(f["fixture/blood_pressure:0/systolic|magnitude"], 142.0);
    assert_eq!(f["fixture/blood_pressure:0/systolic|unit"], "mm[Hg]");
    assert_eq!(f["fixture/blood_pressure:0/position|code"], "at1001");
    assert_eq!(f["fixture/blood_pressure:0/position|value"], "Sitting");
    assert_eq!(f["fixture/blood_pressure:0/comment"], "after a walk");
    assert_eq!(f["fixture/language|code"], "en");
    assert_eq!(f["fixture/composer|name"], "Dr. A");
    assert_eq!(f["fixture/context/start_time"], "2024-03-01T10:15:00+01:00");
    assert!(f.keys().all(|k| !k.starts_with("ctx/")));
    let back = flat_to_canonical(&t, &f, NOW).expect("back");
    assert_eq!(back, c);
    // Data FLAT cannot carry is refused with its place, never dropped.
    let mut odd = c.clone();
    odd["content"][0]["data"]["events"][0]["data"]["items"][0]["value"]["property"] = json!({"_type": "CODE_PHRASE", "terminology_id": {"_type": "TERMINOLOGY_ID", "value": "openehr"}, "code_string": "125"});
    let err = canonical_to_flat(&t, &odd).expect_err("property has no FLAT path");
    assert!(matches!(err, FlatError::NotRepresentable { .. }), "{err}");
    assert!(err.path().ends_with("systolic"), "{err}");
}

#[test]
fn hostile_keys_are_errors() {
    let t = template();
    let deep = format!("fixture{}", "/_link:0".repeat(500));
    for key in [
        deep.as_str(),
        "fixture//x",
        "fixture/blood_pressure:0/systolic|",
        "fixture|a|b",
    ] {
        let mut f = basic();
        f.insert(key.to_owned(), json!("x"));
        let err = flat_to_canonical(&t, &f, NOW).expect_err(key);
        assert_eq!(err.path(), key);
    }
    let mut f = basic();
    f.insert("fixture/blood_pressure:0/comment".into(), json!({"a": [1]}));
    assert!(flat_to_canonical(&t, &f, NOW).is_err());
}

#[test]
fn instance_paths_are_located_in_flat() {
    let t = template();
    let mut f = basic();
    f.insert("fixture/blood_pressure:1/comment".into(), json!("later"));
    let c = flat_to_canonical(&t, &f, NOW).expect("converts");
    let at = cdr_forms::flat::locate(&t, &c);
    let event = "/content[0]/data/events[0]/data";
    for (path, flat, id) in [
        (
            format!("{event}/items[0]/value/units"),
            "fixture/blood_pressure:0/systolic|unit",
            "systolic",
        ),
        (
            format!("{event}/items[0]/value/magnitude"),
            "fixture/blood_pressure:0/systolic|magnitude",
            "systolic",
        ),
        (
            format!("{event}/items[1]/value/defining_code/code_string"),
            "fixture/blood_pressure:0/position|code",
            "position",
        ),
        (
            format!("{event}/items[2]/value/value"),
            "fixture/blood_pressure:0/comment",
            "comment",
        ),
        (
            format!("{event}/items[2]/null_flavour/defining_code/code_string"),
            "fixture/blood_pressure:0/comment/_null_flavour|code",
            "comment",
        ),
        (
            format!("{event}/items[0]"),
            "fixture/blood_pressure:0/systolic",
            "systolic",
        ),
        (
            "/content[1]/data/events[0]/data/items[0]/value/value".to_owned(),
            "fixture/blood_pressure:1/comment",
            "comment",
        ),
        (
            "/content[0]/data/events[0]/time/value".to_owned(),
            "fixture/blood_pressure:0/time",
            "time",
        ),
        (
            "/content[0]/links[1]/target/value".to_owned(),
            "fixture/blood_pressure:0/_link:1|target",
            "blood_pressure",
        ),
        (
            "/language/code_string".to_owned(),
            "fixture/language|code",
            "language",
        ),
        ("/".to_owned(), "fixture", "fixture"),
        ("/content[7]/data".to_owned(), "fixture", "fixture"),
    ] {
        let found = at.find(&path).expect(&path);
        assert_eq!(
            (found.flat_path.as_str(), found.web_template_id.as_str()),
            (flat, id),
            "{path}"
        );
    }
}

/// [`template`] with the event's `offset` (an RM function of EVENT: time − history origin)
/// constrained, as archetypes do.
fn template_with_offset() -> Template {
    build(&single("offset", &dv("DV_DURATION")))
}

#[test]
fn event_offset_is_computed_not_given() {
    let t = template_with_offset();
    let key = "fixture/blood_pressure:0/offset";
    let mut f = basic();
    f.insert(key.to_owned(), json!("PT0S"));
    let err = flat_to_canonical(&t, &f, NOW).expect_err("offset is refused");
    assert_eq!(err.path(), key);
    assert!(err.to_string().contains("computed"), "{err}");
    // STRUCTURED reads through FLAT: the same error, the same key.
    let s = cdr_forms::structured::flat_to_structured(&f).expect("to STRUCTURED");
    let err =
        cdr_forms::structured::structured_to_canonical(&t, &s, NOW).expect_err("offset is refused");
    assert_eq!(err.path(), key);
    // Without it the composition converts, and the way back writes no offset.
    f.remove(key);
    let c = flat_to_canonical(&t, &f, NOW).expect("converts");
    let back = canonical_to_flat(&t, &c).expect("to FLAT");
    assert!(back.keys().all(|k| !k.contains("offset")), "{back:?}");
}

/// [`template`] with an unfilled slot `at0007` ("Device", 0..2) among the event's items that
/// admits device clusters.
fn template_with_slot() -> Template {
    let slot = format!(
        r#"<children xsi:type="ARCHETYPE_SLOT"><rm_type_name>CLUSTER</rm_type_name>{}<node_id>at0007</node_id>
             <includes><string_expression>archetype_id/value matches {{/openEHR-EHR-CLUSTER\.device(-[a-zA-Z0-9_]+)*\.v1/}}</string_expression></includes>
           </children>"#,
        cdr_template::fixtures::occ(0, 2)
    );
    build_with("", &slot)
}

/// A device cluster (archetype `id`) as it fills the slot of [`template_with_slot`].
fn device(id: &str, cuff: &str) -> Value {
    json!({
        "_type": "CLUSTER",
        "name": {"_type": "DV_TEXT", "value": "Device"},
        "archetype_node_id": id,
        "archetype_details": {"_type": "ARCHETYPED", "archetype_id": {"_type": "ARCHETYPE_ID", "value": id}, "rm_version": "1.0.4"},
        "items": [{
            "_type": "ELEMENT",
            "name": {"_type": "DV_TEXT", "value": "Cuff"},
            "archetype_node_id": "at0001",
            "value": {"_type": "DV_TEXT", "value": cuff}
        }]
    })
}

/// Content in an unfilled slot has no web template node of its own (web templates leave such
/// slots out), yet it is data: FLAT carries each filling whole under the slot's segment as
/// canonical JSON (`|raw`), and reads it back into the same place. What the slot does not
/// admit stays unrepresentable.
#[test]
fn unfilled_slot_content_goes_whole_as_raw() {
    let t = template_with_slot();
    let web = t.web_template();
    assert!(
        web.to_json().to_string().find("at0007").is_none(),
        "the published web template leaves the slot out"
    );
    let mut c = flat_to_canonical(&t, &basic(), NOW).expect("converts");
    let items = c["content"][0]["data"]["events"][0]["data"]["items"]
        .as_array_mut()
        .unwrap();
    items.push(device("openEHR-EHR-CLUSTER.device.v1", "adult cuff"));
    items.push(device("openEHR-EHR-CLUSTER.device-cuff.v1", "child cuff"));
    let f = canonical_to_flat(&t, &c).expect("slot content is written");
    let raw = |i: usize| -> Value {
        let key = format!("fixture/blood_pressure:0/device:{i}|raw");
        let text = f[&key].as_str().unwrap_or_else(|| panic!("{key} in {f:?}"));
        serde_json::from_str(text).expect("canonical JSON")
    };
    assert_eq!(
        raw(0),
        device("openEHR-EHR-CLUSTER.device.v1", "adult cuff")
    );
    assert_eq!(
        raw(1),
        device("openEHR-EHR-CLUSTER.device-cuff.v1", "child cuff")
    );
    assert_eq!(f["fixture/blood_pressure:0/comment"], "after a walk");
    let back = flat_to_canonical(&t, &f, NOW).expect("back");
    assert_eq!(back, c);
    // STRUCTURED (FLAT nested) finds the slot's segment too.
    let s = cdr_forms::structured::canonical_to_structured(&t, &c).expect("to STRUCTURED");
    assert!(
        s["fixture"]["blood_pressure"][0]["device"][1]["|raw"].is_string(),
        "{s}"
    );
    let back = cdr_forms::structured::structured_to_canonical(&t, &s, NOW).expect("back");
    assert_eq!(back, c);

    // A slot's content comes whole; piecemeal keys under it are refused with their key.
    let mut piecemeal = basic();
    piecemeal.insert(
        "fixture/blood_pressure:0/device:0/cuff".into(),
        json!("adult cuff"),
    );
    let err = flat_to_canonical(&t, &piecemeal, NOW).expect_err("no piecemeal slot content");
    assert_eq!(err.path(), "fixture/blood_pressure:0/device:0/cuff");
    assert!(err.to_string().contains("|raw"), "{err}");

    // An archetype the slot does not admit has no FLAT path.
    let mut odd = flat_to_canonical(&t, &basic(), NOW).expect("converts");
    odd["content"][0]["data"]["events"][0]["data"]["items"]
        .as_array_mut()
        .unwrap()
        .push(device("openEHR-EHR-CLUSTER.other.v1", "x"));
    let err = canonical_to_flat(&t, &odd).expect_err("not admitted");
    assert!(matches!(err, FlatError::NotRepresentable { .. }), "{err}");
}

/// Same-code siblings, one with a free name and one whose name the template fixes: an object
/// with the fixed name is the second node's, in FLAT and when placing issues, whatever order
/// the siblings come in.
#[test]
fn a_fixed_name_picks_its_node_among_same_code_siblings() {
    let renamed = element(
        "at0006",
        0,
        1,
        &dv("DV_TEXT"),
        &fixed_name("Second comment"),
    );
    let t = build_with("", &renamed);
    let mut f = basic();
    f.insert(
        "fixture/blood_pressure:0/second_comment".into(),
        json!("seen by the GP"),
    );
    let c = flat_to_canonical(&t, &f, NOW).expect("converts");
    let back = canonical_to_flat(&t, &c).expect("to FLAT");
    assert_eq!(back["fixture/blood_pressure:0/comment"], "after a walk");
    assert_eq!(
        back["fixture/blood_pressure:0/second_comment"],
        "seen by the GP"
    );
    assert!(
        back.keys().all(|k| !k.contains("_name")),
        "{:?}",
        back.keys().collect::<Vec<_>>()
    );
    assert_eq!(flat_to_canonical(&t, &back, NOW).expect("back"), c);
    // Its instance path is placed at its own key.
    let items = c["content"][0]["data"]["events"][0]["data"]["items"]
        .as_array()
        .unwrap();
    let at = items
        .iter()
        .position(|i| i["name"]["value"] == "Second comment")
        .unwrap();
    let path = format!("/content[0]/data/events[0]/data/items[{at}]/value");
    let place = cdr_forms::flat::locate(&t, &c).find(&path).expect("placed");
    assert_eq!(place.flat_path, "fixture/blood_pressure:0/second_comment");
}
