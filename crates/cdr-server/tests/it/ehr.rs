//! EHR: create (POST, PUT with id), get, find by subject; body errors shared by all writes.

use serde_json::{json, Value};

use crate::common::{server, server_with, BASE};
use cdr_server::http::Limits;

pub fn status_for(subject: &str) -> Value {
    json!({
        "_type": "EHR_STATUS",
        "archetype_node_id": "openEHR-EHR-EHR_STATUS.generic.v1",
        "name": {"value": "EHR Status"},
        "subject": {"_type": "PARTY_SELF", "external_ref": {
            "id": {"_type": "GENERIC_ID", "value": subject, "scheme": "id_scheme"},
            "namespace": "examples", "type": "PERSON"}},
        "is_queryable": true,
        "is_modifiable": true,
    })
}

#[tokio::test]
async fn post_minimal_and_representation() {
    let srv = server().await;
    let res = srv.post("/ehr").send().await;
    assert_eq!(res.status, 201);
    assert!(res.body.is_empty());
    let id = res.etag();
    assert_eq!(id.len(), 36);
    let location = res.header("location").unwrap();
    assert!(location.starts_with("http://"), "{location}");
    assert!(
        location.ends_with(&format!("{BASE}/ehr/{id}")),
        "{location}"
    );
    assert!(res.header("last-modified").unwrap().ends_with(" GMT"));

    let res = srv
        .post("/ehr")
        .header("Prefer", "return=representation")
        .send()
        .await;
    assert_eq!(res.status, 201);
    assert_eq!(res.header("content-type"), Some("application/json"));
    let body = res.json();
    assert_eq!(body["ehr_id"]["value"], res.etag());
    assert_eq!(body["system_id"]["value"], "test.cdr");
    assert_eq!(body["ehr_status"]["type"], "EHR_STATUS");
}

#[tokio::test]
async fn absolute_urls_follow_the_forwarded_headers() {
    let srv = crate::common::server_with_template().await;
    let forwarded = |r: crate::common::Req, port: &str| {
        r.header("X-Forwarded-Host", "example.com")
            .header("X-Forwarded-Port", port)
            .header("X-Forwarded-Proto", "https")
    };
    let res = forwarded(srv.post("/ehr"), "333").send().await;
    assert_eq!(res.status, 201, "{}", res.text());
    let ehr = res.etag();
    assert_eq!(
        res.header("location"),
        Some(format!("https://example.com:333{BASE}/ehr/{ehr}").as_str())
    );
    let res = forwarded(srv.post(&format!("/ehr/{ehr}/composition")), "333")
        .body("application/json", crate::common::COMPOSITION)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let expected = format!(
        "https://example.com:333{BASE}/ehr/{ehr}/composition/{}",
        res.etag()
    );
    assert_eq!(res.header("location"), Some(expected.as_str()));
    // The scheme's own port is left out.
    let res = forwarded(srv.get(&format!("/ehr/{ehr}")), "443")
        .send()
        .await;
    assert_eq!(
        res.header("location"),
        Some(format!("https://example.com{BASE}/ehr/{ehr}").as_str())
    );
}

#[tokio::test]
async fn get_by_id_and_unknown_and_malformed_ids() {
    let srv = server().await;
    let id = srv.ehr().await;
    let res = srv.get(&format!("/ehr/{id}")).send().await;
    assert_eq!(res.status, 200);
    assert_eq!(res.etag(), id);
    assert_eq!(res.json()["ehr_id"]["value"], id);
    let unknown = uuid::Uuid::new_v4();
    srv.get(&format!("/ehr/{unknown}"))
        .send()
        .await
        .problem(404, "not_found");
    srv.get("/ehr/not-a-uuid")
        .send()
        .await
        .problem(404, "not_found");
    let res = srv
        .get(&format!("/ehr/{id}"))
        .header("Accept", "application/xml;q=0.5, application/json")
        .send()
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("application/json"));
}

/// The members of an EHR in XML, in order; panics unless each is there once.
fn ehr_xml_members(xml: &str, ehr_id: &str) {
    assert!(xml.starts_with("<?xml"), "{xml}");
    let order: Vec<usize> = [
        "<ehr ".to_owned(),
        "<system_id><value>test.cdr</value></system_id>".to_owned(),
        format!("<ehr_id><value>{ehr_id}</value></ehr_id>"),
        "<ehr_status><id xsi:type=\"OBJECT_VERSION_ID\"><value>".to_owned(),
        "</value></id><namespace>local</namespace><type>EHR_STATUS</type></ehr_status>".to_owned(),
        "<ehr_access><id xsi:type=\"OBJECT_VERSION_ID\"><value>".to_owned(),
        "<type>EHR_ACCESS</type></ehr_access>".to_owned(),
        "<time_created><value>".to_owned(),
        "</ehr>".to_owned(),
    ]
    .iter()
    .map(|part| {
        assert_eq!(xml.matches(part.as_str()).count(), 1, "{part} in {xml}");
        xml.find(part.as_str()).unwrap()
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{xml}");
}

#[tokio::test]
async fn the_ehr_in_xml() {
    let srv = server().await;
    // POST with an XML representation.
    let res = srv
        .post("/ehr")
        .header("Accept", "application/xml")
        .header("Prefer", "return=representation")
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("application/xml"));
    let id = res.etag();
    ehr_xml_members(&res.text(), &id);

    // GET by id.
    let res = srv
        .get(&format!("/ehr/{id}"))
        .header("Accept", "application/xml")
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("application/xml"));
    ehr_xml_members(&res.text(), &id);

    // PUT with a given id, with an EHR_STATUS, then GET by subject.
    let given = uuid::Uuid::new_v4().to_string();
    let res = srv
        .put(&format!("/ehr/{given}"))
        .header("Accept", "application/xml")
        .header("Prefer", "return=representation")
        .json(&status_for("xml01"))
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    ehr_xml_members(&res.text(), &given);
    let res = srv
        .get("/ehr?subject_id=xml01&subject_namespace=examples")
        .header("Accept", "text/xml")
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    ehr_xml_members(&res.text(), &given);
}

#[tokio::test]
async fn errors_in_xml_for_clients_that_accept_only_xml() {
    let srv = server().await;
    let unknown = uuid::Uuid::new_v4();
    let res = srv
        .get(&format!("/ehr/{unknown}"))
        .header("Accept", "application/xml")
        .send()
        .await;
    assert_eq!(res.status, 404);
    assert_eq!(res.header("content-type"), Some("application/xml"));
    let xml = res.text();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(
        xml.contains(&format!(
            "<error><error>Not Found</error><message>EHR {unknown} not found</message>"
        )),
        "{xml}"
    );
    assert!(xml.contains("<code>not_found</code>"), "{xml}");
    assert!(xml.trim_end().ends_with("</error>"), "{xml}");

    // The same as JSON: the problem's members and ITS-REST's, no validationErrors but on 422.
    let body = srv
        .get(&format!("/ehr/{unknown}"))
        .send()
        .await
        .problem(404, "not_found");
    assert_eq!(body["error"], "Not Found");
    assert_eq!(body["message"], body["detail"]);
    assert!(body.get("validationErrors").is_none(), "{body}");

    // A client that takes JSON too gets problem+json.
    for accept in [
        "application/xml, application/json;q=0.1",
        "*/*",
        "application/xml, */*",
    ] {
        srv.get(&format!("/ehr/{unknown}"))
            .header("Accept", accept)
            .send()
            .await
            .problem(404, "not_found");
    }

    // A validation failure, with one line per issue.
    let srv = crate::common::server_with_template().await;
    let ehr = srv.ehr().await;
    let unknown_template = crate::common::composition_with(|c| {
        c["archetype_details"]["template_id"]["value"] = json!("no.such.template");
    });
    let res = srv
        .post(&format!("/ehr/{ehr}/composition"))
        .header("Accept", "application/xml")
        .json(&unknown_template)
        .send()
        .await;
    assert_eq!(res.status, 422, "{}", res.text());
    let xml = res.text();
    assert!(xml.contains("<error>Unprocessable Entity</error>"), "{xml}");
    assert!(
        xml.contains(
            "<validationErrors><validationError>/archetype_details/template_id/value: template \
             'no.such.template' is not known to this server</validationError></validationErrors>"
        ),
        "{xml}"
    );
}

#[tokio::test]
async fn ids_in_the_path_that_are_not_uuids_name_nothing() {
    let srv = crate::common::server_with_template().await;
    let (ehr, _, vo) = srv.ehr_with_composition().await;
    for path in [
        "/ehr/not-a-uuid".to_owned(),
        "/ehr/1234/ehr_status".to_owned(),
        "/ehr/1234/versioned_ehr_status".to_owned(),
        "/ehr/1234/directory".to_owned(),
        format!("/ehr/1234/composition/{vo}"),
        format!("/ehr/1234/versioned_composition/{vo}"),
        format!("/ehr/{ehr}/versioned_composition/not-a-uuid"),
        format!("/ehr/{ehr}/versioned_composition/{vo}::test.cdr::1/revision_history"),
        format!("/ehr/{ehr}/versioned_composition/x/version"),
    ] {
        let body = srv.get(&path).send().await.problem(404, "not_found");
        assert!(
            body["detail"].as_str().unwrap().contains("not a UUID"),
            "{body}"
        );
    }
    srv.post("/ehr/1234/composition")
        .body("application/json", crate::common::COMPOSITION)
        .send()
        .await
        .problem(404, "not_found");
    // Creating an EHR with an id of the client's choice: a malformed one is bad input.
    srv.put("/ehr/1234").send().await.problem(400, "invalid_id");
}

#[tokio::test]
async fn put_with_a_given_id_then_conflict() {
    let srv = server().await;
    let id = uuid::Uuid::new_v4().to_string();
    let res = srv.put(&format!("/ehr/{id}")).send().await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert_eq!(res.etag(), id);
    srv.put(&format!("/ehr/{id}"))
        .send()
        .await
        .problem(409, "conflict");
    srv.put("/ehr/1234").send().await.problem(400, "invalid_id");
}

#[tokio::test]
async fn subjects_find_their_ehr_and_are_unique() {
    let srv = server().await;
    let res = srv.post("/ehr").json(&status_for("ins01")).send().await;
    assert_eq!(res.status, 201, "{}", res.text());
    let id = res.etag();
    let res = srv
        .get("/ehr?subject_id=ins01&subject_namespace=examples")
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["ehr_id"]["value"], id);
    srv.get("/ehr?subject_id=other&subject_namespace=examples")
        .send()
        .await
        .problem(404, "not_found");
    srv.get("/ehr?subject_id=ins01")
        .send()
        .await
        .problem(400, "invalid_parameter");
    srv.post("/ehr")
        .json(&status_for("ins01"))
        .send()
        .await
        .problem(409, "conflict");
}

#[tokio::test]
async fn ehr_status_in_xml_is_accepted() {
    let srv = server().await;
    let xml = r#"<ehr_status xmlns="http://schemas.openehr.org/v1"
        xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" archetype_node_id="openEHR-EHR-EHR_STATUS.generic.v1">
      <name><value>EHR Status</value></name>
      <subject xsi:type="PARTY_SELF"/>
      <is_queryable>true</is_queryable>
      <is_modifiable>false</is_modifiable>
    </ehr_status>"#;
    let res = srv.post("/ehr").body("application/xml", xml).send().await;
    assert_eq!(res.status, 201, "{}", res.text());
    let res = srv
        .get(&format!("/ehr/{}/ehr_status", res.etag()))
        .send()
        .await;
    assert_eq!(res.json()["is_modifiable"], false);
}

#[tokio::test]
async fn malformed_bodies_are_400_with_their_position() {
    let srv = server().await;
    let res = srv
        .post("/ehr")
        .body(
            "application/json",
            "{\n  \"_type\": \"EHR_STATUS\",\n  oops\n}",
        )
        .send()
        .await;
    let body = res.problem(400, "malformed_body");
    assert_eq!(body["line"], 3, "{body}");
    assert!(body["column"].as_u64().unwrap() > 0);

    let res = srv
        .post("/ehr")
        .body("application/xml", "<ehr_status>\n<name>\n</ehr_status>")
        .send()
        .await;
    let body = res.problem(400, "malformed_body");
    assert!(body["line"].as_u64().unwrap() >= 2, "{body}");

    // An attribute that EHR_STATUS does not have is refused, not dropped.
    let mut status = status_for("x");
    status["colour"] = json!("blue");
    srv.post("/ehr")
        .json(&status)
        .send()
        .await
        .problem(400, "malformed_body");
}

#[tokio::test]
async fn nul_and_lone_surrogates_are_400() {
    let srv = server().await;
    let mut status = status_for("a\u{0}b").to_string();
    assert!(status.contains("\\u0000"));
    let res = srv
        .post("/ehr")
        .body("application/json", status.clone())
        .send()
        .await;
    let body = res.problem(400, "malformed_body");
    assert_eq!(body["line"], 1);

    status = status.replace("\\u0000", "\\ud800");
    srv.post("/ehr")
        .body("application/json", status)
        .send()
        .await
        .problem(400, "malformed_body");

    let xml = "<ehr_status><name><value>a&#0;</value></name></ehr_status>";
    srv.post("/ehr")
        .body("application/xml", xml)
        .send()
        .await
        .problem(400, "malformed_body");
    let xml = "<ehr_status><name><value>a&#xD800;</value></name></ehr_status>";
    srv.post("/ehr")
        .body("application/xml", xml)
        .send()
        .await
        .problem(400, "malformed_body");
    // Invalid UTF-8.
    srv.post("/ehr")
        .body("application/json", b"{\"_type\": \"\xff\"}".to_vec())
        .send()
        .await
        .problem(400, "malformed_body");
}

/// Found by schemathesis: a NUL in a URL value reached PostgreSQL (which cannot hold it in text)
/// and answered 500.
#[tokio::test]
async fn nul_in_url_values_is_400() {
    let srv = crate::common::server_with_template().await;
    for target in [
        "/ehr?subject_id=ins01&subject_namespace=a%00b",
        "/ehr?subject_id=%00&subject_namespace=x",
        "/definition/template/adl1.4/a%00b",
    ] {
        srv.get(target).send().await.problem(400, "bad_request");
    }
    srv.delete("/admin/template/adl1.4/a%00b")
        .send()
        .await
        .problem(400, "bad_request");
    // As an AQL parameter too.
    let q =
        "SELECT%20c%2Fuid%2Fvalue%20FROM%20COMPOSITION%20c%20WHERE%20c%2Fname%2Fvalue%20%3D%20%24x";
    srv.get(&format!("/query/aql?q={q}&x=a%00"))
        .send()
        .await
        .problem(400, "bad_request");
}

#[tokio::test]
async fn oversized_bodies_are_413_and_odd_media_types_415() {
    let srv = server_with(Limits {
        small: 1024,
        ..Limits::default()
    })
    .await;
    let mut status = status_for("x");
    status["name"]["value"] = json!("n".repeat(2000));
    srv.post("/ehr")
        .json(&status)
        .send()
        .await
        .problem(413, "payload_too_large");
    srv.post("/ehr")
        .body("text/plain", "hello")
        .send()
        .await
        .problem(415, "unsupported_media_type");
    srv.post("/ehr")
        .body("application/x-www-form-urlencoded", "a=b")
        .send()
        .await
        .problem(415, "unsupported_media_type");
}
