//! Web template generation on small self-contained OPTs: node ids from names, sibling
//! de-duplication, level removal, ELEMENT merging and choices, name predicates, RM attributes
//! and inputs.

use cdr_forms::webtemplate::{node_id_from_name, WebTemplate, WebTemplateNode};
use cdr_template::parse_opt;

use cdr_template::fixtures::*;
use cdr_template::fixtures::{occ, opt};

fn build(body: &str) -> WebTemplate {
    let xml = opt(body);
    let t = parse_opt(xml.as_bytes()).unwrap_or_else(|e| panic!("fixture parses: {e}\n{xml}"));
    WebTemplate::from_template(&t)
}

fn ids(n: &WebTemplateNode) -> Vec<&str> {
    n.children.iter().map(|c| c.id.as_str()).collect()
}

fn find<'a>(n: &'a WebTemplateNode, path: &str) -> &'a WebTemplateNode {
    let mut cur = n;
    for id in path.split('/') {
        cur = cur
            .child(id)
            .unwrap_or_else(|| panic!("no {id} under {} (children {:?})", cur.id, ids(cur)));
    }
    cur
}

#[test]
fn ids_from_names() {
    assert_eq!(node_id_from_name("Body temperature"), "body_temperature");
    assert_eq!(node_id_from_name("Problem/diagnosis"), "problem_diagnosis");
    assert_eq!(node_id_from_name("1st visit"), "a1st_visit");
    assert_eq!(
        node_id_from_name("  Blood pressure (BP) "),
        "blood_pressure_bp"
    );
    assert_eq!(
        node_id_from_name("Timing - non-daily"),
        "timing_-_non-daily"
    );
    assert_eq!(node_id_from_name("Covid-19 exposure"), "covid-19_exposure");
    assert_eq!(node_id_from_name("SpO₂"), "spo");
    assert_eq!(node_id_from_name("Körpertemperatur"), "körpertemperatur");
    assert_eq!(
        node_id_from_name("Bezeichnung des Symptoms."),
        "bezeichnung_des_symptoms."
    );
    assert_eq!(node_id_from_name("a__b"), "a__b");
    assert_eq!(node_id_from_name("???"), "id");
}

/// One event that does not repeat: HISTORY, EVENT and ITEM_TREE disappear; the ELEMENT merges
/// with its value; an element named "Time" collides with the event's `time` → `time2`.
#[test]
fn level_removal_and_deduplication() {
    let events = single_event(&[
        element("at0004", 0, 1, &dv("DV_QUANTITY"), ""),
        element("at0005", 0, 1, &dv("DV_TEXT"), ""),
        element("at0006", 1, 1, &dv("DV_TIME"), ""),
        element(
            "at0007",
            0,
            1,
            &format!("{}{}", dv("DV_QUANTITY"), dv("DV_COUNT")),
            "",
        ),
        element("at0008", 0, 1, "", ""),
    ]);
    let terms = [
        term("at0002", "Any event"),
        term("at0003", "Tree"),
        term("at0004", "Systolic"),
        term("at0005", "1st comment"),
        term("at0006", "Time"),
        term("at0007", "Either"),
        term("at0008", "Anything"),
    ]
    .concat();
    let wt = build(&multiple("content", &observation(&events, &terms)));
    let root = &wt.tree;
    assert_eq!(root.id, "fixture");
    assert_eq!(root.aql_path, "");
    assert_eq!(
        ids(root),
        [
            "context",
            "blood_pressure",
            "category",
            "language",
            "territory",
            "composer"
        ]
    );
    let obs = find(root, "blood_pressure");
    assert_eq!((obs.min, obs.max), (0, -1));
    assert_eq!(
        ids(obs),
        [
            "systolic",
            "a1st_comment",
            "time",
            "either",
            "anything",
            "time2",
            "language",
            "encoding",
            "subject"
        ]
    );
    let systolic = find(obs, "systolic");
    assert_eq!(systolic.rm_type, "DV_QUANTITY");
    assert_eq!(systolic.node_id.as_deref(), Some("at0004"));
    assert_eq!(
        systolic.aql_path,
        "/content[openEHR-EHR-OBSERVATION.demo.v1]/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value"
    );
    // The steps from the observation rebuild the levels the web template leaves out.
    let steps: Vec<(&str, &str)> = systolic
        .steps
        .iter()
        .map(|s| (s.attribute.as_str(), s.rm_type.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("data", "HISTORY"),
            ("events", "EVENT"),
            ("data", "ITEM_TREE"),
            ("items", "ELEMENT"),
            ("value", "DV_QUANTITY")
        ]
    );
    let time = find(obs, "time");
    assert_eq!(
        (time.rm_type.as_str(), time.min, time.max),
        ("DV_TIME", 1, 1)
    );
    let event_time = find(obs, "time2");
    assert!(event_time.in_context);
    assert!(event_time.aql_path.ends_with("/events[at0002]/time"));
    // Several value types: the ELEMENT stays, one child per type.
    let either = find(obs, "either");
    assert_eq!(either.rm_type, "ELEMENT");
    assert_eq!(ids(either), ["quantity_value", "count_value"]);
    assert!(find(either, "count_value")
        .aql_path
        .ends_with("/items[at0007]/value"));
    // No value constraint: every data value type.
    let any = find(obs, "anything");
    assert_eq!(any.children.len(), 17);
    assert_eq!(any.children[0].id, "coded_text_value");
}

/// A repeating event is kept; same-code siblings with fixed names get name predicates.
#[test]
fn repeating_events_and_fixed_names() {
    let items = [
        element("at0004", 0, 1, &dv("DV_TEXT"), &fixed_name("Soft signs")),
        element("at0004", 0, 1, &dv("DV_TEXT"), &fixed_name("Notes")),
        element("at0005", 0, 1, &dv("DV_TEXT"), ""),
        element("at0005", 0, 1, &dv("DV_TEXT"), &fixed_name("Other")),
    ]
    .concat();
    let events = unbounded(
        "POINT_EVENT",
        "at0002",
        &single(
            "data",
            &object("ITEM_TREE", "at0003", 1, 1, &multiple("items", &items)),
        ),
    );
    let terms = [
        term("at0002", "Any event"),
        term("at0003", "Tree"),
        term("at0004", "Sign"),
        term("at0005", "Comment"),
    ]
    .concat();
    let wt = build(&multiple("content", &observation(&events, &terms)));
    let event = find(&wt.tree, "blood_pressure/any_event");
    assert_eq!(
        (event.rm_type.as_str(), event.min, event.max),
        ("POINT_EVENT", 0, -1)
    );
    assert_eq!(
        ids(event),
        ["soft_signs", "notes", "comment", "other", "time"]
    );
    assert!(find(event, "soft_signs")
        .aql_path
        .ends_with("/items[at0004,'Soft signs']/value"));
    // The unnamed sibling of a named one gets its default name in the path.
    assert!(find(event, "comment")
        .aql_path
        .ends_with("/items[at0005,'Comment']/value"));
    assert!(find(event, "soft_signs").steps[1].name_fixed);
}

/// Coded values, quantities and context attributes carry their inputs.
#[test]
fn inputs_of_coded_values_and_quantities() {
    let category = single(
        "category",
        &object(
            "DV_CODED_TEXT",
            "",
            1,
            1,
            &single(
                "defining_code",
                &format!(
                    r#"<children xsi:type="C_CODE_PHRASE"><rm_type_name>CODE_PHRASE</rm_type_name>{}<node_id/><terminology_id><value>openehr</value></terminology_id><code_list>433</code_list></children>"#,
                    occ(1, 1)
                ),
            ),
        ),
    );
    let local = coded("local", &["at0010", "at0011"]);
    let quantity = quantity(
        "mm[Hg]",
        "<magnitude><lower_included>true</lower_included><upper_included>false</upper_included><lower_unbounded>false</lower_unbounded><upper_unbounded>false</upper_unbounded><lower>0.0</lower><upper>1000.0</upper></magnitude>",
    );
    let events = single_event(&[
        element("at0004", 0, 1, &local, ""),
        element("at0005", 0, 1, &quantity, ""),
    ]);
    let terms = [
        term("at0002", "Any event"),
        term("at0003", "Tree"),
        term("at0004", "Position"),
        term("at0005", "Systolic"),
        term("at0010", "Sitting"),
        term("at0011", "Lying"),
    ]
    .concat();
    let wt = build(&format!(
        "{category}{}",
        multiple("content", &observation(&events, &terms))
    ));
    let json = wt.to_json();
    assert_eq!(json["version"], "2.3");
    assert_eq!(json["defaultLanguage"], "en");
    let category = find(&wt.tree, "category");
    assert!(category.in_context);
    let code = category.input(Some("code")).expect("code input");
    assert_eq!(code.kind, "CODED_TEXT");
    assert_eq!(code.terminology.as_deref(), Some("openehr"));
    assert_eq!(
        (code.list[0].value.as_str(), code.list[0].label.as_str()),
        ("433", "event")
    );
    let position = find(&wt.tree, "blood_pressure/position");
    let code = position.input(Some("code")).expect("code input");
    let labels: Vec<&str> = code.list.iter().map(|v| v.label.as_str()).collect();
    assert_eq!(labels, ["Sitting", "Lying"]);
    let systolic = serde_json::to_value(find(&wt.tree, "blood_pressure/systolic")).expect("json");
    assert_eq!(systolic["inputs"][0]["suffix"], "magnitude");
    assert_eq!(systolic["inputs"][0]["validation"]["range"]["maxOp"], "<");
    assert_eq!(systolic["inputs"][1]["list"][0]["value"], "mm[Hg]");
    let context = find(&wt.tree, "context");
    assert_eq!(ids(context), ["start_time", "setting"]);
    assert!(find(context, "start_time").in_context);
    let subject = find(&wt.tree, "blood_pressure/subject");
    let suffixes: Vec<_> = subject
        .inputs
        .iter()
        .filter_map(|i| i.suffix.as_deref())
        .collect();
    assert_eq!(suffixes, ["id", "id_scheme", "id_namespace", "name"]);
}
