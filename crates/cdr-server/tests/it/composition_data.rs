//! Composition data at the edge between decoding and validation: primitives written as
//! strings, missing mandatory attributes, literals that do not parse, RM invariants.

use serde_json::{json, Value};

use crate::common::{composition_with, server_with_template, Resp, Server};
use crate::ehr::status_for;

/// The ELEMENT values of the fixture composition's event.
fn items(c: &mut Value) -> &mut Value {
    &mut c["content"][0]["data"]["events"][0]["data"]["items"]
}

/// Posts a composition asking for it back; returns the response.
async fn post(srv: &Server, ehr: &str, body: &Value) -> Resp {
    srv.post(&format!("/ehr/{ehr}/composition"))
        .header("Prefer", "return=representation")
        .json(body)
        .send()
        .await
}

/// Numbers and booleans sent as JSON strings that convert exactly are accepted, stored and
/// answered as JSON numbers and booleans; strings that do not convert are still 400.
#[tokio::test]
async fn primitives_sent_as_strings_are_stored_as_numbers_and_booleans() {
    let srv = server_with_template().await;
    let ehr = srv.ehr().await;
    let sent = composition_with(|c| {
        let items = items(c);
        items[0]["value"]["magnitude"] = json!("120.0");
        items[0]["value"]["precision"] = json!("0");
        items[2]["value"]["value"] = json!("1");
        items[3]["value"]["magnitude"] = json!("3");
        items[7]["value"]["value"] = json!("true");
        items[11]["value"]["numerator"] = json!("0.5");
        items[11]["value"]["denominator"] = json!("1");
        items[11]["value"]["type"] = json!("1");
    });
    let res = post(&srv, &ehr, &sent).await;
    assert_eq!(res.status, 201, "{}", res.text());
    let uid = res.etag();
    let stored = srv
        .get(&format!("/ehr/{ehr}/composition/{uid}"))
        .send()
        .await
        .json();
    for mut c in [res.json(), stored] {
        let items = items(&mut c);
        assert_eq!(items[0]["value"]["magnitude"], json!(120.0));
        assert_eq!(items[0]["value"]["precision"], json!(0));
        assert_eq!(items[2]["value"]["value"], json!(1));
        assert_eq!(items[3]["value"]["magnitude"], json!(3));
        assert_eq!(items[7]["value"]["value"], json!(true));
        assert_eq!(items[11]["value"]["numerator"], json!(0.5));
        assert_eq!(items[11]["value"]["denominator"], json!(1.0));
        assert_eq!(items[11]["value"]["type"], json!(1));
    }

    // An EHR_STATUS too.
    let mut status = status_for("strings-1");
    status["is_modifiable"] = json!("true");
    status["is_queryable"] = json!("false");
    let res = srv
        .post("/ehr")
        .header("Prefer", "return=representation")
        .json(&status)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let ehr2 = res.etag();
    let status = srv
        .get(&format!("/ehr/{ehr2}/ehr_status"))
        .send()
        .await
        .json();
    assert_eq!(status["is_modifiable"], json!(true));
    assert_eq!(status["is_queryable"], json!(false));

    // Strings that are not exactly a number or a boolean.
    for (i, attr, bad) in [
        (0, "magnitude", "120 mmHg"),
        (3, "magnitude", "3.0"),
        (2, "value", " 1"),
        (7, "value", "yes"),
    ] {
        let sent = composition_with(|c| items(c)[i]["value"][attr] = json!(bad));
        let body = post(&srv, &ehr, &sent).await.problem(400, "malformed_body");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("invalid type: string \"{bad}\"")),
            "{body}"
        );
        assert!(body["line"].as_u64() > Some(0), "{body}");
    }
}

/// Removes `key` from the object `v`.
fn drop(v: &mut Value, key: &str) {
    v.as_object_mut().unwrap().remove(key);
}

/// The `(constraint, path)` of each issue of a problem.
fn issue_paths(problem: &Value) -> Vec<(String, String)> {
    problem["issues"]
        .as_array()
        .unwrap_or_else(|| panic!("no issues: {problem}"))
        .iter()
        .map(|i| {
            let s = |k: &str| i[k].as_str().unwrap_or_default().to_owned();
            (s("constraint"), s("path"))
        })
        .collect()
}

/// Null or missing mandatory RM attributes inside composition data are 422 validation issues
/// with their paths, all at once (in a composition and in a contribution's composition); a
/// date-time bound of an interval without its value is 400; an EHR_STATUS body that lacks
/// what the RM requires stays 400.
#[tokio::test]
async fn missing_mandatory_attributes_are_validation_issues() {
    let srv = server_with_template().await;
    let ehr = srv.ehr().await;
    let sent = composition_with(|c| {
        let items = items(c);
        drop(&mut items[0]["value"], "magnitude");
        items[0]["value"]["units"] = Value::Null;
        drop(&mut items[1]["value"]["defining_code"], "code_string");
        items[2]["value"]["value"] = Value::Null;
        drop(&mut items[2]["value"], "symbol");
        drop(&mut items[3]["value"], "magnitude");
        items[5]["value"]["value"] = Value::Null;
        drop(&mut items[7]["value"], "value");
        c["language"]["terminology_id"]["value"] = Value::Null;
    });
    let at = |i: usize, rest: &str| format!("/content[0]/data/events[0]/data/items[{i}]{rest}");
    let expected = [
        at(0, "/value/magnitude"),
        at(0, "/value/units"),
        at(1, "/value/defining_code/code_string"),
        at(2, "/value/value"),
        at(2, "/value/symbol"),
        at(3, "/value/magnitude"),
        at(5, "/value/value"),
        at(7, "/value/value"),
        "/language/terminology_id/value".to_owned(),
    ];
    let problem = post(&srv, &ehr, &sent)
        .await
        .problem(422, "validation_failed");
    let found = issue_paths(&problem);
    for path in &expected {
        let want = ("rm_mandatory_missing".to_owned(), path.clone());
        assert!(found.contains(&want), "{want:?} not in {problem}");
    }

    // The same composition in a contribution.
    let contribution = json!({
        "audit": {
            "change_type": {"value": "creation", "defining_code": {
                "terminology_id": {"value": "openehr"}, "code_string": "249"}},
            "committer": {"_type": "PARTY_IDENTIFIED", "name": "Dr X"}
        },
        "versions": [{
            "_type": "ORIGINAL_VERSION",
            "lifecycle_state": {"value": "complete", "defining_code": {
                "terminology_id": {"value": "openehr"}, "code_string": "532"}},
            "commit_audit": {
                "change_type": {"value": "creation", "defining_code": {
                    "terminology_id": {"value": "openehr"}, "code_string": "249"}},
                "committer": {"_type": "PARTY_IDENTIFIED", "name": "Dr X"}
            },
            "data": sent
        }]
    });
    let problem = srv
        .post(&format!("/ehr/{ehr}/contribution"))
        .json(&contribution)
        .send()
        .await
        .problem(422, "validation_failed");
    let found = issue_paths(&problem);
    for path in &expected {
        let want = ("rm_mandatory_missing".to_owned(), path.clone());
        assert!(found.contains(&want), "{want:?} not in {problem}");
    }

    // A null DV_DATE_TIME value inside a DV_INTERVAL: 400, naming the path.
    let sent = composition_with(|c| {
        items(c)[4]["value"]["normal_range"] = json!({
            "_type": "DV_INTERVAL",
            "lower": {"_type": "DV_DATE_TIME", "value": null},
            "upper": {"_type": "DV_DATE_TIME", "value": "2024-03-01T11:00:00Z"},
            "lower_unbounded": false,
            "upper_unbounded": false
        });
    });
    let problem = post(&srv, &ehr, &sent)
        .await
        .problem(400, "malformed_content");
    let path = at(4, "/value/normal_range/lower/value");
    assert_eq!(
        issue_paths(&problem),
        [("invalid_temporal".to_owned(), path.clone())],
        "{problem}"
    );
    assert!(
        problem["detail"].as_str().unwrap().contains(&path),
        "{problem}"
    );

    // An EHR_STATUS without a mandatory primitive is still a bad request, now with its path.
    let mut status = status_for("incomplete-1");
    drop(&mut status["subject"]["external_ref"], "namespace");
    let problem = srv
        .post("/ehr")
        .json(&status)
        .send()
        .await
        .problem(400, "malformed_content");
    assert!(
        issue_paths(&problem).contains(&(
            "rm_mandatory_missing".to_owned(),
            "/subject/external_ref/namespace".to_owned()
        )),
        "{problem}"
    );
}

/// ISO 8601 literals that do not parse and a DV_URI that is not a URI are 400, naming each
/// path, all at once; values that parse but break the template stay 422; a fraction in the
/// last component of a duration is accepted.
#[tokio::test]
async fn literals_that_do_not_parse_are_400_naming_the_path() {
    let srv = server_with_template().await;
    let ehr = srv.ehr().await;
    let at = |i: usize| format!("/content[0]/data/events[0]/data/items[{i}]/value/value");
    for (i, ty, literal, code) in [
        (4, "DV_DATE", "2021-13", "invalid_temporal"),
        (4, "DV_DATE", "2021-10-32", "invalid_temporal"),
        (4, "DV_TIME", "T48", "invalid_temporal"),
        (4, "DV_TIME", "10:95", "invalid_temporal"),
        (4, "DV_DATE_TIME", "", "invalid_temporal"),
        (4, "DV_DATE_TIME", "NULL", "invalid_temporal"),
        (8, "DV_DURATION", "1Y", "invalid_duration"),
        (5, "DV_URI", "x yz", "invalid_uri"),
    ] {
        let sent =
            composition_with(|c| items(c)[i]["value"] = json!({"_type": ty, "value": literal}));
        let problem = post(&srv, &ehr, &sent)
            .await
            .problem(400, "malformed_content");
        assert_eq!(
            issue_paths(&problem),
            [(code.to_owned(), at(i))],
            "{ty} {literal:?}: {problem}"
        );
        assert!(
            problem["detail"].as_str().unwrap().contains(&at(i)),
            "{problem}"
        );
    }

    // Several at once, outside the template's constraints too (the event time).
    let sent = composition_with(|c| {
        c["content"][0]["data"]["events"][0]["time"]["value"] = json!("2021-13-01T10:00:00Z");
        items(c)[8]["value"]["value"] = json!("NULL");
        items(c)[0]["value"]["units"] = json!("kg"); // a template issue: not listed at 400
    });
    let problem = post(&srv, &ehr, &sent)
        .await
        .problem(400, "malformed_content");
    assert_eq!(
        issue_paths(&problem),
        [
            ("invalid_duration".to_owned(), at(8)),
            (
                "invalid_temporal".to_owned(),
                "/content[0]/data/events[0]/time/value".to_owned()
            ),
        ],
        "{problem}"
    );

    // Parses, but breaks the template (a date where the pattern wants a time; a day where
    // only hours and minutes are allowed): 422.
    let sent = composition_with(|c| {
        items(c)[4]["value"]["value"] = json!("2024-03-01");
        items(c)[8]["value"]["value"] = json!("P1D");
    });
    let problem = post(&srv, &ehr, &sent)
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        issue_paths(&problem),
        [
            ("temporal_pattern".to_owned(), at(4)),
            ("duration_pattern".to_owned(), at(8)),
        ],
        "{problem}"
    );

    // A fraction in the last component.
    let sent = composition_with(|c| items(c)[8]["value"]["value"] = json!("PT2.5H"));
    let res = post(&srv, &ehr, &sent).await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert_eq!(items(&mut res.json())[8]["value"]["value"], "PT2.5H");
}

/// RM invariants: a DV_EHR_URI uses the `ehr:` scheme; a DV_ORDINAL's symbol text is the
/// template's term for its code. Both 422.
#[tokio::test]
async fn ehr_uris_and_ordinal_symbols_are_checked() {
    let srv = server_with_template().await;
    let ehr = srv.ehr().await;
    // In the element of the slot-filling CLUSTER (whose archetype the template does not hold).
    let with_uri = |uri: &str| {
        let uri = uri.to_owned();
        composition_with(move |c| {
            items(c)[12]["items"][0]["value"] = json!({"_type": "DV_EHR_URI", "value": uri});
        })
    };
    let problem = post(&srv, &ehr, &with_uri("https://example.com/x"))
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        issue_paths(&problem),
        [(
            "rm_invariant".to_owned(),
            "/content[0]/data/events[0]/data/items[12]/items[0]/value/value".to_owned()
        )],
        "{problem}"
    );
    let res = post(&srv, &ehr, &with_uri(&format!("ehr:/{ehr}/compositions"))).await;
    assert_eq!(res.status, 201, "{}", res.text());

    let sent = composition_with(|c| items(c)[2]["value"]["symbol"]["value"] = json!("Severe"));
    let problem = post(&srv, &ehr, &sent)
        .await
        .problem(422, "validation_failed");
    let path = "/content[0]/data/events[0]/data/items[2]/value/symbol/value";
    assert_eq!(
        issue_paths(&problem),
        [("ordinal_not_allowed".to_owned(), path.to_owned())],
        "{problem}"
    );
    assert_eq!(problem["issues"][0]["expected"], "Mild", "{problem}");
}
