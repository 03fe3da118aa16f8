//! STRUCTURED ↔ canonical on the FLAT fixture OPT: the nested form gives what its FLAT gives,
//! the way back nests lists and `|suffix` keys, and mistakes are errors naming the key path.

use cdr_forms::flat::{canonical_to_flat, flat_to_canonical, FlatError};
use cdr_forms::structured::{
    canonical_to_structured, flat_to_structured, structured_to_canonical, structured_to_flat,
};
use serde_json::{json, Value};

use crate::flat::{basic, template, NOW};

fn structured() -> Value {
    json!({
        "ctx": {"language": "en", "territory": "DE", "composer_name": "Dr. A", "time": "2024-03-01T10:15:00+01:00"},
        "fixture": {
            "blood_pressure": [{
                "systolic": [{"|magnitude": 142}],
                "position": [{"|code": "at1001"}],
                "comment": ["after a walk"]
            }]
        }
    })
}

#[test]
fn structured_gives_what_its_flat_gives() {
    let t = template();
    let flat = structured_to_flat(&t, &structured()).expect("to FLAT");
    assert_eq!(flat, basic());
    let c = structured_to_canonical(&t, &structured(), NOW).expect("converts");
    assert_eq!(
        c,
        flat_to_canonical(&t, &basic(), NOW).expect("FLAT converts")
    );
    // A single instance may be given without its list, the root as a one-item list.
    let mut loose = structured();
    loose["fixture"]["blood_pressure"] = loose["fixture"]["blood_pressure"][0].clone();
    loose["fixture"] = json!([loose["fixture"].clone()]);
    assert_eq!(structured_to_canonical(&t, &loose, NOW).expect("loose"), c);
}

/// The top-level `ctx` object: its fields as members (nested as STRUCTURED nests them, or
/// written as FLAT writes them after `ctx/`), lists for indexed fields; what it gives is what
/// the same `ctx/*` keys give in FLAT.
#[test]
fn ctx_object_gives_the_ctx_keys() {
    let t = template();
    let nested = json!({
        "language": "en", "territory": "DE", "composer_name": "Dr. A",
        "time": "2024-03-01T10:15:00+01:00",
        "health_care_facility": {"|id": "999999-345", "|name": "Home", "|id_scheme": "S", "|id_namespace": "NS"},
        "participation_name": ["Nurse A", "Nurse B"],
        "participation_function": ["performer", "witness"]
    });
    let as_flat_writes = json!({
        "language": "en", "territory": "DE", "composer_name": "Dr. A",
        "time": "2024-03-01T10:15:00+01:00",
        "health_care_facility|id": "999999-345", "health_care_facility|name": "Home",
        "health_care_facility|id_scheme": "S", "health_care_facility|id_namespace": "NS",
        "participation_name:0": "Nurse A", "participation_name:1": "Nurse B",
        "participation_function": "performer", "participation_function:1": "witness"
    });
    let mut f = basic();
    for (k, v) in [
        ("ctx/health_care_facility|id", json!("999999-345")),
        ("ctx/health_care_facility|name", json!("Home")),
        ("ctx/health_care_facility|id_scheme", json!("S")),
        ("ctx/health_care_facility|id_namespace", json!("NS")),
        ("ctx/participation_name:0", json!("Nurse A")),
        ("ctx/participation_name:1", json!("Nurse B")),
        ("ctx/participation_function:0", json!("performer")),
        ("ctx/participation_function:1", json!("witness")),
    ] {
        f.insert(k.to_owned(), v);
    }
    let expected = flat_to_canonical(&t, &f, NOW).expect("FLAT converts");
    let facility = &expected["context"]["health_care_facility"];
    assert_eq!(facility["external_ref"]["namespace"], "NS", "{facility}");
    for ctx in [nested, as_flat_writes] {
        let mut s = structured();
        s["ctx"] = ctx.clone();
        let c = structured_to_canonical(&t, &s, NOW).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_eq!(c, expected, "{ctx}");
    }
    // A FLAT-style key outside `ctx` is still one segment too many.
    let mut s = structured();
    s["fixture"]["blood_pressure"][0]["comment|value"] = json!("x");
    let err = structured_to_canonical(&t, &s, NOW).expect_err("not a ctx key");
    assert_eq!(err.path(), "fixture/blood_pressure:0/comment|value");
}

#[test]
fn canonical_to_structured_nests_lists_and_suffixes() {
    let t = template();
    let mut f = basic();
    f.insert("fixture/blood_pressure:1/comment".into(), json!("later"));
    f.insert(
        "fixture/blood_pressure:1/comment/_null_flavour|code".into(),
        json!("253"),
    );
    let c = flat_to_canonical(&t, &f, NOW).expect("converts");
    let s = canonical_to_structured(&t, &c).expect("to STRUCTURED");
    let root = &s["fixture"];
    assert!(root.is_object(), "{s}");
    let bp = root["blood_pressure"].as_array().expect("a list");
    assert_eq!(bp.len(), 2);
    assert_eq!(bp[0]["systolic"][0]["|magnitude"], 142.0);
    assert_eq!(bp[0]["systolic"][0]["|unit"], "mm[Hg]");
    assert_eq!(bp[0]["position"][0]["|value"], "Sitting");
    assert_eq!(bp[0]["comment"], json!(["after a walk"]));
    // A bare value beside other members is the "" member.
    assert_eq!(bp[1]["comment"][0][""], "later");
    assert_eq!(bp[1]["comment"][0]["_null_flavour"][0]["|code"], "253");
    assert_eq!(root["language"][0]["|code"], "en");
    assert_eq!(
        root["context"][0]["start_time"],
        json!(["2024-03-01T10:15:00+01:00"])
    );
    // And back, to the same composition and the same FLAT.
    assert_eq!(structured_to_canonical(&t, &s, NOW).expect("back"), c);
    let flat = canonical_to_flat(&t, &c).expect("to FLAT");
    assert_eq!(structured_to_flat(&t, &s).expect("to FLAT"), flat);
    assert_eq!(flat_to_structured(&flat).expect("regroup"), s);
}

#[test]
fn errors_name_the_key_path() {
    let t = template();
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"fixture": {"blood_pressure": [{"diastolic": [{"|magnitude": 80}]}]}}),
            "fixture/blood_pressure:0/diastolic|magnitude",
            "unknown path",
        ),
        (
            json!({"fixture": {"blood_pressure": [{"systolic": [{"|colour": "red"}]}]}}),
            "fixture/blood_pressure:0/systolic|colour",
            "unknown path",
        ),
        (
            json!({"fixture": {"blood_pressure": [{"systolic": [{"|magnitude": "high"}]}]}}),
            "fixture/blood_pressure:0/systolic|magnitude",
            "expected a number",
        ),
        (
            json!({"fixture": {"blood_pressure": [{"diastolic": []}]}}),
            "fixture/blood_pressure:0/diastolic",
            "unknown path",
        ),
        (
            json!({"fixture": {"blood_pressure": [{"comment": [["nested"]]}]}}),
            "fixture/blood_pressure:0/comment",
            "not a list",
        ),
        (
            json!({"fixture": {"blood_pressure": [{"comment/x": ["a"]}]}}),
            "fixture/blood_pressure:0/comment/x",
            "one web template id",
        ),
        (
            json!({"fixture": {"blood_pressure": [{"position": [{"|code": "at1000"}, {"|code": "at1001"}]}]}}),
            "fixture/blood_pressure:0/position:1|code",
            "occurs at most once",
        ),
        (json!({"other_root": {}}), "other_root", "unknown path"),
        (json!({"fixture": "text"}), "fixture", "expected an object"),
        (
            json!({"ctx": {"not_a_ctx_field": 1}}),
            "ctx/not_a_ctx_field",
            "unknown path",
        ),
        (
            json!({"ctx": {"language": []}}),
            "ctx/language",
            "gives no value",
        ),
        (json!([1]), "", "JSON object"),
    ];
    for (s, path, shows) in cases {
        let mut whole = structured();
        let s = match (s.as_object(), whole.as_object_mut()) {
            (Some(part), Some(w)) => {
                for (k, v) in part {
                    w.insert(k.clone(), v.clone());
                }
                whole
            }
            _ => s,
        };
        let err = structured_to_canonical(&t, &s, NOW).expect_err(path);
        assert_eq!(err.path(), path, "{err}");
        assert!(err.to_string().contains(shows), "{path}: {err}");
    }
}

/// STRUCTURED reads as FLAT does: every problem at once, its structural ones among them,
/// each at its FLAT key.
#[test]
fn every_problem_at_once() {
    let t = template();
    let mut s = structured();
    s["fixture"]["blood_pressure"][0]["systolic"] = json!([{"|magnitude": "high"}]);
    s["fixture"]["blood_pressure"][0]["diastolic"] = json!([{"|magnitude": 80}]);
    s["fixture"]["blood_pressure"][0]["comment"] = json!([["nested"]]);
    // A value the RM cannot hold, given as canonical JSON.
    let raw = json!({"_type": "ELEMENT", "archetype_node_id": "at0004",
                     "name": {"_type": "DV_TEXT", "value": "Systolic"},
                     "value": {"_type": "DV_QUANTITY", "magnitude": "abc", "units": "mm[Hg]"}});
    if let Some(list) = s["fixture"]["blood_pressure"].as_array_mut() {
        list.push(json!({"systolic": [{"|raw": raw.to_string()}]}));
    }
    s["ctx"]["not_a_ctx_field"] = json!(1);
    let reading = cdr_forms::structured::read_structured(&t, &s, NOW);
    let mut got = crate::flat::places(&reading);
    got.sort();
    assert_eq!(
        got,
        [
            ("ctx/not_a_ctx_field", "fixture", "unknown_path"),
            (
                "fixture/blood_pressure:0/comment",
                "comment",
                "invalid_value"
            ),
            (
                "fixture/blood_pressure:0/diastolic|magnitude",
                "blood_pressure",
                "unknown_path"
            ),
            (
                "fixture/blood_pressure:0/systolic|magnitude",
                "systolic",
                "invalid_value"
            ),
            (
                "fixture/blood_pressure:1/systolic|magnitude",
                "systolic",
                "invalid_value"
            ),
        ]
    );
    assert!(reading.composition.is_some());
}

#[test]
fn hostile_structures_are_errors() {
    let t = template();
    let mut deep = json!({"|type": "x"});
    for _ in 0..300 {
        deep = json!({"_link": [deep]});
    }
    let s = json!({"fixture": deep});
    let err = structured_to_canonical(&t, &s, NOW).expect_err("too deep");
    assert!(matches!(err, FlatError::BadPath { .. }), "{err}");
    let empty = json!({"fixture": {"blood_pressure": [{"comment": [{"|": "a"}]}]}});
    let err = structured_to_canonical(&t, &empty, NOW).expect_err("empty suffix");
    assert_eq!(err.path(), "fixture/blood_pressure:0/comment|");
}
