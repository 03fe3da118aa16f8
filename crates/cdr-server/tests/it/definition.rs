//! DEFINITION: ADL 1.4 templates.

use crate::common::{server, server_with_template, Server, BASE, OPT};

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
    // Taken, by the same OPT or another one: EHRbase's words.
    let taken = "Operational template with this template ID already exists: cdr_test_vitals.v1";
    let body = srv.upload(OPT).await.problem(409, "conflict");
    assert_eq!(body["message"], taken);
    let changed = OPT.replacen("<concept>", "<concept>changed ", 1);
    let body = srv.upload(&changed).await.problem(409, "conflict");
    assert_eq!(body["message"], taken);
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

/// Commits `body` (of `content_type`) to `ehr` under `query`; asserts 201.
async fn commit(srv: &Server, ehr: &str, query: &str, content_type: &str, body: Vec<u8>) {
    let created = srv
        .post(&format!("/ehr/{ehr}/composition{query}"))
        .body(content_type, body)
        .send()
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
}

/// The example of the fixture template in each format: canonical JSON by default, XML, FLAT
/// and STRUCTURED by `Accept` or `format=`; each is accepted as a composition.
#[tokio::test]
async fn example_in_every_format_is_accepted() {
    let srv = server_with_template().await;
    let ehr = srv.ehr().await;
    let path = "/definition/template/adl1.4/cdr_test_vitals.v1/example";
    let res = srv.get(path).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("application/json"));
    let example = res.json();
    assert_eq!(example["_type"], "COMPOSITION");
    assert_eq!(
        example["archetype_details"]["template_id"]["value"],
        "cdr_test_vitals.v1"
    );
    commit(&srv, &ehr, "", "application/json", res.body.clone()).await;

    let xml = srv.get(&format!("{path}?format=XML")).send().await;
    assert_eq!(xml.status, 200);
    assert!(xml.text().contains("<composition"), "{}", xml.text());
    commit(&srv, &ehr, "", "application/xml", xml.body.clone()).await;

    let flat = srv
        .get(path)
        .header("Accept", "application/openehr.wt.flat+json")
        .send()
        .await;
    assert_eq!(flat.status, 200);
    assert!(flat
        .json()
        .as_object()
        .unwrap()
        .keys()
        .any(|k| k.contains('|')));
    let query = "?templateId=cdr_test_vitals.v1";
    let ct = "application/openehr.wt.flat+json";
    commit(&srv, &ehr, query, ct, flat.body.clone()).await;
    let structured = srv.get(&format!("{path}?format=STRUCTURED")).send().await;
    assert_eq!(structured.status, 200);
    assert!(
        structured.json()["encounter"].is_object(),
        "{}",
        structured.text()
    );
    let ct = "application/openehr.wt.structured+json";
    commit(&srv, &ehr, query, ct, structured.body.clone()).await;

    srv.get("/definition/template/adl1.4/no_such_template/example")
        .send()
        .await
        .problem(404, "not_found");
    srv.get(path)
        .header("Accept", "text/plain")
        .send()
        .await
        .problem(406, "not_acceptable");
    srv.get(&format!("{path}?format=PDF"))
        .send()
        .await
        .problem(406, "not_acceptable");
}

/// Every OPT of the corpus: uploaded, its example fetched and committed to an EHR (201).
#[tokio::test]
async fn corpus_examples_are_accepted() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata");
    let Ok(dirs) = std::fs::read_dir(&root) else {
        eprintln!(
            "corpus absent: {} not found; example test skipped",
            root.display()
        );
        return;
    };
    let mut opts: Vec<_> = dirs
        .flatten()
        .map(|d| d.path().join("template.opt"))
        .filter(|p| p.exists())
        .collect();
    opts.sort();
    let srv = server().await;
    let ehr = srv.ehr().await;
    let mut report = Vec::new();
    for opt in &opts {
        let text = std::fs::read_to_string(opt).expect("read OPT");
        let template = cdr_template::parse_opt(text.as_bytes()).expect("corpus OPT parses");
        let id = &template.template_id;
        let res = srv.upload(&text).await;
        assert_eq!(res.status, 201, "{}: {}", opt.display(), res.text());
        let encoded: String = id
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let example = srv
            .get(&format!("/definition/template/adl1.4/{encoded}/example"))
            .send()
            .await;
        assert_eq!(example.status, 200, "{id}: {}", example.text());
        let created = srv
            .post(&format!("/ehr/{ehr}/composition"))
            .body("application/json", example.body.clone())
            .send()
            .await;
        assert_eq!(created.status, 201, "{id}: {}", created.text());
        report.push(format!("201 {id}"));
    }
    eprintln!("{}", report.join("\n"));
    assert_eq!(report.len(), opts.len());
}

#[tokio::test]
async fn an_opt_upload_needs_an_xml_content_type_before_anything_else() {
    let srv = server().await;
    let other = OPT.replace(">cdr_test_vitals.v1<", ">cdr_test_vitals.other<");
    // No Content-Type at all is not read as XML.
    let body = srv
        .post("/definition/template/adl1.4")
        .untyped_body(other.clone())
        .send()
        .await
        .problem(415, "unsupported_media_type");
    assert!(
        body["detail"].as_str().unwrap().contains("application/xml"),
        "{body}"
    );
    // 415 comes before 406: the body's type is decided first.
    srv.post("/definition/template/adl1.4")
        .header("Accept", "text/plain")
        .header("Prefer", "return=representation")
        .body("text/plain", other.clone())
        .send()
        .await
        .problem(415, "unsupported_media_type");
    srv.get("/definition/template/adl1.4/cdr_test_vitals.other")
        .send()
        .await
        .problem(404, "not_found");
    // text/xml is XML.
    let res = srv
        .post("/definition/template/adl1.4")
        .body("text/xml; charset=utf-8", other)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
}
