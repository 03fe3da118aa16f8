//! FLAT and STRUCTURED compositions as form tools send them: `ctx` fields and entry-level
//! codes, the older (EhrScape) dialect, and every problem of a body answered at once.

use serde_json::{json, Map, Value};

use crate::common::{server_with_template, Server};

const FLAT: &str = "application/openehr.wt.flat+json";
const STRUCTURED: &str = "application/openehr.wt.structured+json";
const WITH_TEMPLATE: &str = "?templateId=cdr_test_vitals.v1";
const EVENT: &str = "encounter/test_vitals/any_event:0";

/// A FLAT composition of the fixture template, as a form would send it: `ctx` and data keys.
fn form() -> Map<String, Value> {
    let pairs = [
        ("ctx/language", json!("en")),
        ("ctx/territory", json!("GB")),
        ("ctx/composer_name", json!("Dr. A")),
        ("ctx/time", json!("2024-03-01T10:15:00Z")),
        (&format!("{EVENT}/time"), json!("2024-03-01T10:10:00Z")),
        (&format!("{EVENT}/systolic|magnitude"), json!(120)),
        (&format!("{EVENT}/systolic|unit"), json!("mm[Hg]")),
        (&format!("{EVENT}/device_id"), json!("AA-1")),
    ];
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// Commits `body` (`media`) to a new EHR and reads the stored composition back as canonical
/// JSON; panics unless it is created.
async fn committed(srv: &Server, media: &str, body: &Value) -> Value {
    let ehr = srv.ehr().await;
    let res = srv
        .post(&format!("/ehr/{ehr}/composition{WITH_TEMPLATE}"))
        .body(media, body.to_string())
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let uid = res.etag();
    let res = srv
        .get(&format!("/ehr/{ehr}/composition/{uid}"))
        .header("Accept", "application/json")
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

/// `ctx/health_care_facility` with the scheme and namespace of its reference, an entry's
/// language and encoding as FLAT keys, and a STRUCTURED `ctx` object.
#[tokio::test]
async fn ctx_facility_entry_codes_and_structured_ctx() {
    let srv = server_with_template().await;
    let mut f = form();
    for (k, v) in [
        ("ctx/health_care_facility|id", json!("999999-345")),
        ("ctx/health_care_facility|name", json!("Ripple Valley")),
        (
            "ctx/health_care_facility|id_scheme",
            json!("2.16.840.1.113883.2.1.4.3"),
        ),
        ("ctx/health_care_facility|id_namespace", json!("NHS-UK")),
        ("encounter/test_vitals/language|code", json!("de")),
        (
            "encounter/test_vitals/language|terminology",
            json!("ISO_639-1"),
        ),
        (
            "encounter/test_vitals/encoding|terminology",
            json!("IANA_character-sets"),
        ),
    ] {
        f.insert(k.to_owned(), v);
    }
    let c = committed(&srv, FLAT, &Value::Object(f)).await;
    let facility = &c["context"]["health_care_facility"];
    assert_eq!(facility["name"], "Ripple Valley", "{c}");
    assert_eq!(facility["external_ref"]["id"]["value"], "999999-345");
    assert_eq!(
        facility["external_ref"]["id"]["scheme"],
        "2.16.840.1.113883.2.1.4.3"
    );
    assert_eq!(facility["external_ref"]["namespace"], "NHS-UK");
    assert_eq!(c["content"][0]["language"]["code_string"], "de");
    assert_eq!(c["content"][0]["encoding"]["code_string"], "UTF-8");

    let structured = json!({
        "ctx": {
            "language": "en", "territory": "GB", "composer_name": "Dr. A",
            "time": "2024-03-01T10:15:00Z",
            "health_care_facility|id": "999999-345",
            "health_care_facility": {"|name": "Ripple Valley", "|id_namespace": "NHS-UK"}
        },
        "encounter": {"test_vitals": {"any_event": [{
            "time": "2024-03-01T10:10:00Z",
            "systolic": {"|magnitude": 120, "|unit": "mm[Hg]"},
            "device_id": "AA-1"
        }]}}
    });
    let c = committed(&srv, STRUCTURED, &structured).await;
    let facility = &c["context"]["health_care_facility"];
    assert_eq!(facility["name"], "Ripple Valley", "{c}");
    assert_eq!(facility["external_ref"]["namespace"], "NHS-UK");
    assert_eq!(c["composer"]["name"], "Dr. A");
    assert_eq!(c["territory"]["code_string"], "GB");
}

/// The older (EhrScape) dialect: term texts for codes (bare or `|value` alone), an openEHR
/// code by its rubric, an ordinal by its text, a boolean as `True`, a duration by its unit
/// inputs. A text that is no term of the node stays text, which the template refuses (422
/// naming the key).
#[tokio::test]
async fn older_dialect_is_read_by_the_template() {
    let srv = server_with_template().await;
    let mut f = form();
    for (k, v) in [
        (format!("{EVENT}/position"), json!("Sitting")),
        (format!("{EVENT}/pain|value"), json!("Severe")),
        (format!("{EVENT}/confirmed"), json!("True")),
        (format!("{EVENT}/duration|minute"), json!(5)),
        ("encounter/context/setting|value".to_owned(), json!("home")),
    ] {
        f.insert(k, v);
    }
    let c = committed(&srv, FLAT, &Value::Object(f.clone())).await;
    let items = &c["content"][0]["data"]["events"][0]["data"]["items"];
    let value_of = |id: &str| {
        items
            .as_array()
            .and_then(|items| items.iter().find(|i| i["archetype_node_id"] == id))
            .map(|i| i["value"].clone())
            .unwrap_or_else(|| panic!("no {id} in {c}"))
    };
    assert_eq!(value_of("at0005")["defining_code"]["code_string"], "at0020");
    assert_eq!(
        value_of("at0006")["symbol"]["defining_code"]["code_string"],
        "at0031"
    );
    assert_eq!(value_of("at0006")["value"], 2);
    assert_eq!(value_of("at0011")["value"], true);
    assert_eq!(value_of("at0012")["value"], "PT5M");
    assert_eq!(
        c["context"]["setting"]["defining_code"]["code_string"],
        "225"
    );

    f.insert(format!("{EVENT}/position"), json!("Lying"));
    let ehr = srv.ehr().await;
    let problem = srv
        .post(&format!("/ehr/{ehr}/composition{WITH_TEMPLATE}"))
        .body(FLAT, Value::Object(f).to_string())
        .send()
        .await
        .problem(422, "validation_failed");
    let issues = problem["issues"].as_array().cloned().unwrap_or_default();
    assert!(
        issues
            .iter()
            .any(|i| i["flat_path"] == format!("{EVENT}/position")),
        "{problem}"
    );
}

/// The issues of a 422 as (flat_path, web_template_id, constraint), after checking that each
/// names its place and that the body has no position of its own.
fn places(problem: &Value) -> Vec<(String, String, String)> {
    assert!(
        problem.get("line").is_none() && problem.get("column").is_none(),
        "{problem}"
    );
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(!detail.contains("line 0"), "{problem}");
    let issues = problem["issues"].as_array().cloned().unwrap_or_default();
    issues
        .iter()
        .map(|i| {
            let field = |k: &str| {
                i[k].as_str()
                    .unwrap_or_else(|| panic!("{k} missing in {i}"))
                    .to_owned()
            };
            (
                field("flat_path"),
                field("web_template_id"),
                field("constraint"),
            )
        })
        .collect()
}

/// A form with an unknown key, a value that does not convert, a quantity without its
/// magnitude and without its mandatory device id: one 422 names all four, each at its FLAT
/// key and web template node; the same through STRUCTURED; `cdr validate` lists them too.
#[tokio::test]
async fn every_problem_of_a_form_at_once() {
    let srv = server_with_template().await;
    let ehr = srv.ehr().await;
    let mut f = form();
    f.remove(&format!("{EVENT}/device_id"));
    f.remove(&format!("{EVENT}/systolic|magnitude"));
    f.insert(format!("{EVENT}/no_such_node|magnitude"), json!(1));
    f.insert(format!("{EVENT}/count"), json!("three"));
    let expected = |prefix: &str| {
        let mut e = vec![
            (
                format!("{prefix}/no_such_node|magnitude"),
                "any_event",
                "unknown_path",
            ),
            (format!("{prefix}/count"), "count", "invalid_value"),
            (
                format!("{prefix}/systolic|magnitude"),
                "systolic",
                "rm_mandatory_missing",
            ),
            (
                format!("{prefix}/device_id"),
                "device_id",
                "occurrences_too_few",
            ),
        ]
        .into_iter()
        .map(|(p, id, c)| (p, id.to_owned(), c.to_owned()))
        .collect::<Vec<_>>();
        e.sort();
        e
    };
    let problem = srv
        .post(&format!("/ehr/{ehr}/composition{WITH_TEMPLATE}"))
        .body(FLAT, Value::Object(f.clone()).to_string())
        .send()
        .await
        .problem(422, "invalid_flat");
    let mut got = places(&problem);
    got.sort();
    assert_eq!(got, expected(EVENT), "{problem}");

    // STRUCTURED: the same problems, at the same FLAT keys.
    let structured = json!({
        "ctx": {"language": "en", "territory": "GB", "composer_name": "Dr. A"},
        "encounter": {"test_vitals": {"any_event": [{
            "time": "2024-03-01T10:10:00Z",
            "systolic": {"|unit": "mm[Hg]"},
            "no_such_node": {"|magnitude": 1},
            "count": "three"
        }]}}
    });
    let problem = srv
        .post(&format!("/ehr/{ehr}/composition{WITH_TEMPLATE}"))
        .body(STRUCTURED, structured.to_string())
        .send()
        .await
        .problem(422, "invalid_structured");
    let mut got = places(&problem);
    got.sort();
    assert_eq!(got, expected(EVENT), "{problem}");
    // Nothing was stored.
    let q = json!({"q": "SELECT c/uid/value FROM EHR e CONTAINS COMPOSITION c",
                   "query_parameters": {"ehr_id": ehr}});
    let rows = srv.post("/query/aql").json(&q).send().await.json()["rows"].clone();
    assert_eq!(rows, json!([]));
}
