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
