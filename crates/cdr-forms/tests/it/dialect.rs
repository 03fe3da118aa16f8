//! The FLAT that older (Better/EhrScape) form tools send: coded values given by a term text
//! (bare, or `|value` alone), openEHR codes by their rubric, ordinals by text or number,
//! booleans as `True`/`False`, durations by the web template's unit inputs. Judged by the
//! template: only an exact term text becomes a code.

use cdr_forms::flat::flat_to_canonical;
use cdr_template::{parse_opt, Template};
use serde_json::{json, Map, Value};

use crate::flat::{basic, NOW};
use cdr_template::fixtures::*;
use cdr_template::fixtures::{occ, opt};

/// A C_DV_ORDINAL listing `(ordinal, code)` pairs.
fn ordinal(items: &[(i64, &str)]) -> String {
    let list: String = items
        .iter()
        .map(|(v, code)| {
            format!(
                "<list><value>{v}</value><symbol><value>x</value><defining_code><terminology_id><value>local</value></terminology_id><code_string>{code}</code_string></defining_code></symbol></list>"
            )
        })
        .collect();
    format!(
        r#"<children xsi:type="C_DV_ORDINAL"><rm_type_name>DV_ORDINAL</rm_type_name>{}<node_id/>{list}</children>"#,
        occ(1, 1)
    )
}

/// An ACTION archetype root (0..*) with one text element in its description.
fn action() -> String {
    let description = object(
        "ITEM_TREE",
        "at0001",
        1,
        1,
        &multiple("items", &element("at0002", 0, 1, &dv("DV_TEXT"), "")),
    );
    format!(
        r#"<children xsi:type="C_ARCHETYPE_ROOT"><rm_type_name>ACTION</rm_type_name><occurrences><lower_included>true</lower_included><upper_included>false</upper_included><lower_unbounded>false</lower_unbounded><upper_unbounded>true</upper_unbounded><lower>0</lower></occurrences><node_id>at0000</node_id>{d}<archetype_id><value>openEHR-EHR-ACTION.demo.v1</value></archetype_id>{t0}{t1}{t2}</children>"#,
        d = single("description", &description),
        t0 = term("at0000", "Procedure"),
        t1 = term("at0001", "Tree"),
        t2 = term("at0002", "Note"),
    )
}

/// The FLAT fixture's observation (systolic, position Standing/Sitting, comment) plus an
/// ordinal Mild (1) / Severe (2), a boolean, and an ACTION.
fn template() -> Template {
    let items = [
        element("at0004", 0, 1, &quantity("mm[Hg]", ""), ""),
        element("at0005", 0, 1, &coded("local", &["at1000", "at1001"]), ""),
        element("at0006", 0, 1, &dv("DV_TEXT"), ""),
        element(
            "at0007",
            0,
            1,
            &ordinal(&[(1, "at1010"), (2, "at1011")]),
            "",
        ),
        element("at0008", 0, 1, &dv("DV_BOOLEAN"), ""),
        element("at0009", 0, 1, &dv("DV_DURATION"), ""),
    ];
    let terms = [
        term("at0002", "Any event"),
        term("at0003", "Tree"),
        term("at0004", "Systolic"),
        term("at0005", "Position"),
        term("at0006", "Comment"),
        term("at0007", "Pain"),
        term("at0008", "Confirmed"),
        term("at0009", "Duration"),
        term("at1000", "Standing"),
        term("at1001", "Sitting"),
        term("at1010", "Mild"),
        term("at1011", "Severe"),
    ]
    .concat();
    let content = observation(&single_event(&items), &terms) + &action();
    let xml = opt(&multiple("content", &content));
    parse_opt(xml.as_bytes()).expect("fixture parses")
}

const EVENT: &str = "fixture/blood_pressure:0";

/// [`basic`] without its position, plus `pairs`.
fn with(pairs: &[(&str, Value)]) -> Map<String, Value> {
    let mut f = basic();
    f.remove(&format!("{EVENT}/position|code"));
    for (k, v) in pairs {
        f.insert((*k).to_owned(), v.clone());
    }
    f
}

fn convert(f: &Map<String, Value>) -> Value {
    flat_to_canonical(&template(), f, NOW).unwrap_or_else(|e| panic!("{e}"))
}

/// The observation's ELEMENT `node_id`.
fn element_of<'c>(c: &'c Value, node_id: &str) -> &'c Value {
    let items = c["content"][0]["data"]["events"][0]["data"]["items"].as_array();
    items
        .and_then(|items| items.iter().find(|i| i["archetype_node_id"] == node_id))
        .unwrap_or_else(|| panic!("no {node_id} in {c}"))
}

/// The value of the observation's ELEMENT `node_id`.
fn item<'c>(c: &'c Value, node_id: &str) -> &'c Value {
    &element_of(c, node_id)["value"]
}

#[test]
fn a_term_text_is_its_code() {
    for key in [
        format!("{EVENT}/position"),
        format!("{EVENT}/position|value"),
    ] {
        let c = convert(&with(&[(&key, json!("Sitting"))]));
        let position = item(&c, "at0005");
        assert_eq!(position["_type"], "DV_CODED_TEXT", "{key}: {position}");
        assert_eq!(position["value"], "Sitting");
        assert_eq!(position["defining_code"]["code_string"], "at1001");
        assert_eq!(
            position["defining_code"]["terminology_id"]["value"],
            "local"
        );
    }
    // Not a term text of the node (another node's, a different case): text, which the
    // validator refuses where the template wants a code.
    for text in ["Severe", "sitting", "Sitting "] {
        let c = convert(&with(&[(&format!("{EVENT}/position"), json!(text))]));
        assert_eq!(
            item(&c, "at0005"),
            &json!({"_type": "DV_TEXT", "value": text})
        );
    }
}

#[test]
fn an_ordinal_by_its_text_or_number() {
    for (given, code, text, value) in [
        (json!("Severe"), "at1011", "Severe", 2),
        (json!(1), "at1010", "Mild", 1),
        (json!("2"), "at1011", "Severe", 2),
    ] {
        let c = convert(&with(&[(&format!("{EVENT}/pain"), given.clone())]));
        let pain = item(&c, "at0007");
        assert_eq!(pain["_type"], "DV_ORDINAL", "{given}: {pain}");
        assert_eq!(pain["value"], value, "{given}");
        assert_eq!(pain["symbol"]["value"], text);
        assert_eq!(pain["symbol"]["defining_code"]["code_string"], code);
    }
    // `|value` (the symbol's text) or `|ordinal` alone name the item too.
    let c = convert(&with(&[(&format!("{EVENT}/pain|value"), json!("Mild"))]));
    assert_eq!(
        item(&c, "at0007")["symbol"]["defining_code"]["code_string"],
        "at1010"
    );
    let c = convert(&with(&[(&format!("{EVENT}/pain|ordinal"), json!(2))]));
    assert_eq!(item(&c, "at0007")["symbol"]["value"], "Severe");
    // Neither a term text nor an ordinal of the list: no code is made up.
    let c = convert(&with(&[(&format!("{EVENT}/pain"), json!("Moderate"))]));
    assert!(
        item(&c, "at0007")["symbol"].get("defining_code").is_none(),
        "{c}"
    );
}

#[test]
fn openehr_codes_by_their_rubric() {
    let c = convert(&with(&[
        (
            "fixture/procedure:0/ism_transition/current_state|value",
            json!("completed"),
        ),
        ("fixture/context/setting|value", json!("home")),
        ("fixture/category|value", json!("event")),
        (
            &format!("{EVENT}/comment/_null_flavour|value"),
            json!("unknown"),
        ),
    ]));
    let state = &c["content"][1]["ism_transition"]["current_state"];
    assert_eq!(state["defining_code"]["code_string"], "532", "{c}");
    assert_eq!(state["defining_code"]["terminology_id"]["value"], "openehr");
    assert_eq!(state["value"], "completed");
    assert_eq!(
        c["context"]["setting"]["defining_code"]["code_string"],
        "225"
    );
    assert_eq!(c["category"]["defining_code"]["code_string"], "433");
    let comment = element_of(&c, "at0006");
    assert_eq!(
        comment["null_flavour"]["defining_code"]["code_string"],
        "253"
    );
    // A rubric of no code of the group: no code is made up; the RM wants a coded text there,
    // so it stays one without its code (which validation reports).
    let c = convert(&with(&[
        (
            "fixture/procedure:0/ism_transition/current_state|value",
            json!("done"),
        ),
        (
            &format!("{EVENT}/comment/_null_flavour|value"),
            json!("none"),
        ),
    ]));
    let state = &c["content"][1]["ism_transition"]["current_state"];
    assert_eq!(state, &json!({"_type": "DV_CODED_TEXT", "value": "done"}));
    let flavour = &element_of(&c, "at0006")["null_flavour"];
    assert_eq!(flavour, &json!({"_type": "DV_CODED_TEXT", "value": "none"}));
}

#[test]
fn booleans_in_any_case() {
    for (given, expected) in [
        (json!("True"), true),
        (json!("FALSE"), false),
        (json!("true"), true),
        (json!(false), false),
    ] {
        let c = convert(&with(&[
            (&format!("{EVENT}/confirmed"), given.clone()),
            ("ctx/composer_self", given.clone()),
        ]));
        assert_eq!(item(&c, "at0008")["value"], expected, "{given}");
        let composer = if expected {
            "PARTY_SELF"
        } else {
            "PARTY_IDENTIFIED"
        };
        assert_eq!(c["composer"]["_type"], composer, "{given}");
    }
    for bad in [json!("yes"), json!(1)] {
        let f = with(&[(&format!("{EVENT}/confirmed"), bad.clone())]);
        let err = flat_to_canonical(&template(), &f, NOW).expect_err("not a boolean");
        assert!(err.to_string().contains("expected a boolean"), "{err}");
    }
}

#[test]
fn a_code_phrase_given_bare_is_its_code() {
    let c = convert(&with(&[("fixture/blood_pressure:0/language", json!("de"))]));
    let language = &c["content"][0]["language"];
    assert_eq!(language["code_string"], "de", "{language}");
    assert_eq!(language["terminology_id"]["value"], "ISO_639-1");
}

#[test]
fn a_duration_by_its_unit_inputs() {
    let key = |unit: &str| format!("{EVENT}/duration|{unit}");
    for (parts, expected) in [
        (vec![("hour", json!(1)), ("minute", json!(30))], "PT1H30M"),
        (vec![("day", json!("2"))], "P2D"),
        (vec![("year", json!(1)), ("second", json!(2.5))], "P1YT2.5S"),
        (vec![("week", json!(0))], "P0W"),
        (vec![("day", json!(2)), ("week", json!(1))], "P1W2D"),
    ] {
        let pairs: Vec<(String, Value)> = parts.iter().map(|(u, v)| (key(u), v.clone())).collect();
        let pairs: Vec<(&str, Value)> =
            pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let c = convert(&with(&pairs));
        assert_eq!(
            item(&c, "at0009"),
            &json!({"_type": "DV_DURATION", "value": expected})
        );
    }
    for bad in [json!("soon"), json!(-1)] {
        let f = with(&[(&key("hour"), bad.clone())]);
        let err = flat_to_canonical(&template(), &f, NOW).expect_err("not a duration part");
        assert_eq!(err.path(), key("hour"), "{bad}");
    }
}
