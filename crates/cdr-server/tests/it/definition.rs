//! DEFINITION: ADL 1.4 templates.

use crate::common::{server, server_with_template, BASE, OPT};

#[tokio::test]
async fn upload_list_get() {
    let srv = server().await;
    let res = srv.upload(OPT).await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert!(res.body.is_empty());
    assert!(res.header("location").unwrap().ends_with(&format!(
        "{BASE}/definition/template/adl1.4/cdr_test_vitals.v1"
    )));

    let res = srv.get("/definition/template/adl1.4").send().await;
    assert_eq!(res.status, 200);
    let list = res.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["template_id"], "cdr_test_vitals.v1");
    assert_eq!(
        list[0]["archetype_id"],
        "openEHR-EHR-COMPOSITION.encounter.v1"
    );
    assert!(list[0]["created_timestamp"].is_string());
    assert!(list[0]["concept"].is_string());

    let res = srv
        .get("/definition/template/adl1.4/cdr_test_vitals.v1")
        .send()
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("application/xml"));
    assert_eq!(res.text(), OPT);
}

#[tokio::test]
async fn duplicates_bad_opts_unknown_ids_and_formats() {
    let srv = server_with_template().await;
    srv.upload(OPT).await.problem(409, "conflict");
    srv.upload("<template><oops></template>")
        .await
        .problem(400, "bad_request");
    srv.post("/definition/template/adl1.4")
        .body("application/json", "{}")
        .send()
        .await
        .problem(415, "unsupported_media_type");
    srv.get("/definition/template/adl1.4/no%20such%20template")
        .send()
        .await
        .problem(404, "not_found");
    srv.get("/definition/template/adl1.4/cdr_test_vitals.v1")
        .header("Accept", "text/plain")
        .send()
        .await
        .problem(406, "not_acceptable");
    // With representation, the OPT comes back.
    let other = OPT.replace(">cdr_test_vitals.v1<", ">cdr test vitals copy<");
    let res = srv
        .post("/definition/template/adl1.4")
        .header("Prefer", "return=representation")
        .body("application/xml", other.clone())
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert_eq!(res.text(), other);
    assert!(res
        .header("location")
        .unwrap()
        .ends_with("/definition/template/adl1.4/cdr%20test%20vitals%20copy"));
    let res = srv
        .get("/definition/template/adl1.4/cdr%20test%20vitals%20copy")
        .send()
        .await;
    assert_eq!(res.status, 200);
}

/// The web template of an uploaded template, by `Accept`.
#[tokio::test]
async fn web_template() {
    let srv = server_with_template().await;
    for accept in [
        "application/openehr.wt+json",
        "application/json",
        "application/openehr.wt+json;q=0.9, application/xml;q=0.1",
    ] {
        let res = srv
            .get("/definition/template/adl1.4/cdr_test_vitals.v1")
            .header("Accept", accept)
            .send()
            .await;
        assert_eq!(res.status, 200, "{accept}: {}", res.text());
        let wt = res.json();
        assert_eq!(wt["templateId"], "cdr_test_vitals.v1", "{accept}");
        assert_eq!(wt["version"], "2.3");
        assert_eq!(wt["tree"]["rmType"], "COMPOSITION");
        assert_eq!(wt["tree"]["aqlPath"], "");
        assert!(wt["tree"]["children"]
            .as_array()
            .is_some_and(|c| !c.is_empty()));
    }
    let res = srv
        .get("/definition/template/adl1.4/cdr_test_vitals.v1")
        .header("Accept", "application/openehr.wt+json")
        .send()
        .await;
    assert_eq!(
        res.header("content-type"),
        Some("application/openehr.wt+json")
    );
    // Without Accept the OPT is still the answer.
    let res = srv
        .get("/definition/template/adl1.4/cdr_test_vitals.v1")
        .send()
        .await;
    assert_eq!(res.header("content-type"), Some("application/xml"));
    srv.get("/definition/template/adl1.4/absent")
        .header("Accept", "application/openehr.wt+json")
        .send()
        .await
        .problem(404, "not_found");
    // A web template is no upload format.
    srv.post("/definition/template/adl1.4")
        .body("application/openehr.wt+json", "{}")
        .send()
        .await
        .problem(415, "unsupported_media_type");
}
