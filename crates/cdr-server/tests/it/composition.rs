//! COMPOSITION and VERSIONED_COMPOSITION.

use serde_json::{json, Value};

use crate::common::{
    composition_not_flat, composition_with, composition_without_slot, server_with_template, Req,
    Resp, Server, COMPOSITION,
};

#[tokio::test]
async fn create_and_get_in_json_and_xml() {
    let srv = server_with_template().await;
    let ehr = srv.ehr().await;
    let res = srv
        .post(&format!("/ehr/{ehr}/composition"))
        .header("Prefer", "return=representation")
        .body("application/json", COMPOSITION)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let uid = res.etag();
    assert!(uid.ends_with("::test.cdr::1"), "{uid}");
    assert!(res
        .header("location")
        .unwrap()
        .ends_with(&format!("/ehr/{ehr}/composition/{uid}")));
    assert!(res.header("last-modified").is_some());
    assert_eq!(res.json()["uid"]["value"], uid);
    let vo = uid.split("::").next().unwrap();

    for id in [vo, uid.as_str()] {
        let res = srv
            .get(&format!("/ehr/{ehr}/composition/{id}"))
            .send()
            .await;
        assert_eq!(res.status, 200, "{}", res.text());
        assert_eq!(res.etag(), uid);
        let body = res.json();
        assert_eq!(body["_type"], "COMPOSITION");
        assert_eq!(body["uid"]["value"], uid);
    }

    // XML out.
    let res = srv
        .get(&format!("/ehr/{ehr}/composition/{vo}"))
        .header("Accept", "application/xml")
        .send()
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("application/xml"));
    let xml = res.text();
    assert!(xml.contains("<composition") && xml.contains(&uid), "{xml}");
    let res = srv
        .get(&format!("/ehr/{ehr}/composition/{vo}?format=XML"))
        .send()
        .await;
    assert_eq!(res.header("content-type"), Some("application/xml"));

    // XML in: the XML just read back, committed as a new composition.
    let xml_in = xml.replace(&uid, &format!("{}::test.cdr::1", uuid::Uuid::new_v4()));
    let res = srv
        .post(&format!("/ehr/{ehr}/composition"))
        .header("Accept", "application/xml")
        .header("Prefer", "return=representation")
        .body("application/xml", xml_in)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("application/xml"));

    // Unsupported formats.
    srv.get(&format!("/ehr/{ehr}/composition/{vo}"))
        .header("Accept", "text/plain")
        .send()
        .await
        .problem(406, "not_acceptable");
    srv.get(&format!("/ehr/{ehr}/composition/{vo}?format=TDD"))
        .send()
        .await
        .problem(406, "not_acceptable");
    srv.post(&format!("/ehr/{ehr}/composition"))
        .body("text/plain", COMPOSITION)
        .send()
        .await
        .problem(415, "unsupported_media_type");
    // A body cdr cannot read is refused before an answer it cannot write (as EHRbase), on
    // every write with a body.
    let tdd = "application/openehr.tds2+xml";
    let status_v1 = srv
        .get(&format!("/ehr/{ehr}/ehr_status"))
        .send()
        .await
        .etag();
    for (method, path, if_match) in [
        ("POST", format!("/ehr/{ehr}/composition"), None),
        (
            "PUT",
            format!("/ehr/{ehr}/composition/{vo}"),
            Some(uid.clone()),
        ),
        ("PUT", format!("/ehr/{ehr}/ehr_status"), Some(status_v1)),
        ("POST", format!("/ehr/{ehr}/directory"), None),
        ("POST", format!("/ehr/{ehr}/contribution"), None),
    ] {
        let mut req = srv
            .req(method, &path)
            .header("Accept", tdd)
            .header("Prefer", "return=representation");
        if let Some(v) = if_match {
            req = req.header("If-Match", &v);
        }
        // (As XML: the client accepts only an XML type.)
        let res = req.body(tdd, "<composition/>").send().await;
        assert_eq!(res.status, 415, "{method} {path}: {}", res.text());
        assert!(res.text().contains("<code>unsupported_media_type</code>"));
    }
}

#[tokio::test]
async fn invalid_compositions_list_every_issue() {
    let srv = server_with_template().await;
    let ehr = srv.ehr().await;
    let bad = composition_with(|c| {
        let c = c.as_object_mut().unwrap();
        c.remove("language");
        c.remove("territory");
    });
    let res = srv
        .post(&format!("/ehr/{ehr}/composition"))
        .json(&bad)
        .send()
        .await;
    let body = res.problem(422, "validation_failed");
    let issues = body["issues"].as_array().unwrap();
    assert!(issues.len() >= 2, "{body}");
    let paths: Vec<_> = issues.iter().map(|i| i["path"].as_str().unwrap()).collect();
    assert!(
        paths.contains(&"/language") && paths.contains(&"/territory"),
        "{paths:?}"
    );
    for i in issues {
        assert!(
            i["constraint"].is_string() && i["message"].is_string(),
            "{i}"
        );
    }
    // The members of ITS-REST's Error beside the problem's: one line per issue.
    assert_eq!(body["message"], body["detail"]);
    assert_eq!(body["error"], "Unprocessable Entity");
    let lines: Vec<String> = issues
        .iter()
        .map(|i| {
            format!(
                "{}: {}",
                i["path"].as_str().unwrap(),
                i["message"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(body["validationErrors"], json!(lines));

    // An unknown template is a validation issue too.
    let other = composition_with(|c| {
        c["archetype_details"]["template_id"]["value"] = json!("nope.v0");
    });
    let body = srv
        .post(&format!("/ehr/{ehr}/composition"))
        .json(&other)
        .send()
        .await
        .problem(422, "validation_failed");
    assert_eq!(body["issues"][0]["actual"], "nope.v0");

    // Not a composition at all.
    srv.post(&format!("/ehr/{ehr}/composition"))
        .json(&json!({"_type": "COMPOSITION", "name": 1}))
        .send()
        .await
        .problem(400, "malformed_body");
    // Unknown EHR.
    let unknown = uuid::Uuid::new_v4();
    srv.post(&format!("/ehr/{unknown}/composition"))
        .body("application/json", COMPOSITION)
        .send()
        .await
        .problem(404, "not_found");
    srv.get(&format!("/ehr/{ehr}/composition/{unknown}"))
        .send()
        .await
        .problem(404, "not_found");
    srv.get(&format!("/ehr/{ehr}/composition/{unknown}::test.cdr::1"))
        .send()
        .await
        .problem(404, "not_found");
    // A malformed id names nothing when reading (404, the one error listed); a write keeps
    // the 400 the specification lists for it.
    srv.get(&format!("/ehr/{ehr}/composition/xyz"))
        .send()
        .await
        .problem(404, "not_found");
    srv.put(&format!("/ehr/{ehr}/composition/xyz"))
        .header("If-Match", &format!("{unknown}::test.cdr::1"))
        .body("application/json", COMPOSITION)
        .send()
        .await
        .problem(400, "invalid_id");
}

#[tokio::test]
async fn update_with_if_match_and_412_naming_the_latest() {
    let srv = server_with_template().await;
    let (ehr, v1, vo) = srv.ehr_with_composition().await;
    let path = format!("/ehr/{ehr}/composition/{vo}");

    let res = srv
        .put(&path)
        .header("If-Match", &format!("\"{v1}\""))
        .header("openEHR-AUDIT_DETAILS.committer", "name=\"Dr Who\"")
        .header("openEHR-AUDIT_DETAILS.description", "value=\"fix\"")
        .header("openEHR-VERSION.lifecycle_state", "code_string=\"553\"")
        .body("application/json", COMPOSITION)
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    let v2 = res.etag();
    assert_eq!(v2, format!("{vo}::test.cdr::2"));
    assert!(res.header("location").unwrap().ends_with(&v2));

    // The audit headers went into the version.
    let res = srv
        .get(&format!(
            "/ehr/{ehr}/versioned_composition/{vo}/version/{v2}"
        ))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let version = res.json();
    assert_eq!(version["commit_audit"]["committer"]["name"], "Dr Who");
    assert_eq!(version["commit_audit"]["description"]["value"], "fix");
    assert_eq!(
        version["lifecycle_state"]["defining_code"]["code_string"],
        "553"
    );
    assert_eq!(version["preceding_version_uid"]["value"], v1);

    // A stale If-Match: 412 with the latest version in ETag and Location.
    let res = srv
        .put(&path)
        .header("If-Match", &format!("\"{v1}\""))
        .body("application/json", COMPOSITION)
        .send()
        .await;
    let body = res.problem(412, "version_conflict");
    assert_eq!(res.etag(), v2);
    assert!(res
        .header("location")
        .unwrap()
        .ends_with(&format!("/composition/{v2}")));
    assert_eq!(body["latest_version_uid"], v2);

    // If-Match naming another object is stale too.
    let other = uuid::Uuid::new_v4();
    let res = srv
        .put(&path)
        .header("If-Match", &format!("\"{other}::test.cdr::1\""))
        .body("application/json", COMPOSITION)
        .send()
        .await;
    res.problem(412, "version_conflict");
    assert_eq!(res.etag(), v2);

    // A weak validator never matches (RFC 9110 §13.1.1; openEHR ETags are strong): 400.
    for weak in [format!("W/\"{v2}\""), format!("W/{v2}")] {
        let body = srv
            .put(&path)
            .header("If-Match", &weak)
            .body("application/json", COMPOSITION)
            .send()
            .await
            .problem(400, "invalid_header");
        assert!(body["detail"].as_str().unwrap().contains("weak"), "{body}");
    }

    // Representation, the bare (unquoted) ETag form, and the 1.1.0 audit header form.
    let res = srv
        .put(&path)
        .header("If-Match", &v2)
        .header("Prefer", "return=representation")
        .header(
            "openehr-audit-details",
            "committer.name=\"Dr X\", description=\"again\"",
        )
        .body("application/json", COMPOSITION)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["uid"]["value"], format!("{vo}::test.cdr::3"));

    // Missing or malformed preconditions and headers.
    srv.put(&path)
        .body("application/json", COMPOSITION)
        .send()
        .await
        .problem(400, "invalid_header");
    srv.put(&path)
        .header("If-Match", "\"nonsense\"")
        .body("application/json", COMPOSITION)
        .send()
        .await
        .problem(400, "invalid_header");
    srv.put(&path)
        .header("If-Match", &format!("\"{vo}::test.cdr::3\""))
        .header("openEHR-VERSION.lifecycle_state", "code_string=\"999\"")
        .body("application/json", COMPOSITION)
        .send()
        .await
        .problem(400, "invalid_header");
}

/// The version of `vo` as an ORIGINAL_VERSION.
async fn original_version(srv: &Server, ehr: &str, vo: &str, uid: &str) -> Value {
    let res = srv
        .get(&format!(
            "/ehr/{ehr}/versioned_composition/{vo}/version/{uid}"
        ))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

#[tokio::test]
async fn version_headers_with_bare_values_and_unknown_attributes() {
    let srv = server_with_template().await;
    let ehr = srv.ehr().await;

    // The dotted header name with a bare value, as EHRbase's clients send it.
    let res = srv
        .post(&format!("/ehr/{ehr}/composition"))
        .header("openEHR-VERSION.lifecycle_state", "incomplete")
        .header("openEHR-AUDIT_DETAILS.description", "first draft")
        .body("application/json", COMPOSITION)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let v1 = res.etag();
    let vo = v1.split("::").next().unwrap().to_owned();
    let version = original_version(&srv, &ehr, &vo, &v1).await;
    assert_eq!(
        version["lifecycle_state"]["defining_code"]["code_string"],
        "553"
    );
    assert_eq!(
        version["commit_audit"]["description"]["value"],
        "first draft"
    );

    // Codes as bare values; attributes cdr does not know are ignored, not refused.
    let res = srv
        .put(&format!("/ehr/{ehr}/composition/{vo}"))
        .header("If-Match", &format!("\"{v1}\""))
        .header("openEHR-VERSION.lifecycle_state", "532")
        .header("openEHR-AUDIT_DETAILS.change_type", "amendment")
        .header(
            "openEHR-AUDIT_DETAILS.committer",
            "name=\"Dr Who\", shoe_size=\"44\"",
        )
        .header("openEHR-AUDIT_DETAILS.system_id", "elsewhere")
        .header("openehr-version", "signature.value=\"x\"")
        .body("application/json", COMPOSITION)
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    let v2 = res.etag();
    let version = original_version(&srv, &ehr, &vo, &v2).await;
    assert_eq!(
        version["lifecycle_state"]["defining_code"]["code_string"],
        "532"
    );
    assert_eq!(
        version["commit_audit"]["change_type"]["defining_code"]["code_string"],
        "250"
    );
    assert_eq!(version["commit_audit"]["committer"]["name"], "Dr Who");
    assert_eq!(version["commit_audit"]["system_id"], "test.cdr");

    // A known attribute with a value that does not fit stays a 400, in every form.
    for (name, value, attribute) in [
        (
            "openEHR-VERSION.lifecycle_state",
            "finished",
            "lifecycle_state",
        ),
        (
            "openEHR-VERSION.lifecycle_state",
            "code_string=\"999\"",
            "lifecycle_state",
        ),
        (
            "openehr-version",
            "lifecycle_state.code_string=\"999\"",
            "lifecycle_state",
        ),
        (
            "openEHR-AUDIT_DETAILS.change_type",
            "sometimes",
            "change_type",
        ),
    ] {
        let body = srv
            .put(&format!("/ehr/{ehr}/composition/{vo}"))
            .header("If-Match", &format!("\"{v2}\""))
            .header(name, value)
            .body("application/json", COMPOSITION)
            .send()
            .await
            .problem(400, "invalid_header");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.starts_with(attribute), "{detail}");
    }
}

#[tokio::test]
async fn delete_then_gets_follow_the_deletion() {
    let srv = server_with_template().await;
    let (ehr, v1, vo) = srv.ehr_with_composition().await;
    let path = format!("/ehr/{ehr}/composition/{vo}");
    let before_delete = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    // A stale If-Match on delete is 412 as well.
    let res = srv
        .delete(&path)
        .header("If-Match", &format!("\"{vo}::test.cdr::7\""))
        .send()
        .await;
    res.problem(412, "version_conflict");

    let res = srv
        .delete(&path)
        .header("If-Match", &format!("\"{v1}\""))
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    let deletion = res.etag();
    assert_eq!(deletion, format!("{vo}::test.cdr::2"));

    // Latest by object id: 404 (as EHRbase); the deletion version itself: 204.
    srv.get(&path).send().await.problem(404, "not_found");
    let res = srv
        .get(&format!("/ehr/{ehr}/composition/{deletion}"))
        .send()
        .await;
    assert_eq!(res.status, 204);
    assert_eq!(res.etag(), deletion);
    // The old version still reads, by uid and at a time before the deletion.
    let res = srv
        .get(&format!("/ehr/{ehr}/composition/{v1}"))
        .send()
        .await;
    assert_eq!(res.status, 200);
    let res = srv
        .get(&format!("{path}?version_at_time={before_delete}"))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.etag(), v1);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let res = srv
        .get(&format!("{path}?version_at_time={now}"))
        .send()
        .await;
    assert_eq!(res.status, 204);
    srv.get(&format!("{path}?version_at_time=2000-01-01T00:00:00Z"))
        .send()
        .await
        .problem(404, "not_found");
    srv.get(&format!("{path}?version_at_time=last%20tuesday"))
        .send()
        .await
        .problem(400, "invalid_parameter");

    // Updating or deleting a deleted composition is a conflict.
    srv.put(&path)
        .header("If-Match", &format!("\"{deletion}\""))
        .body("application/json", COMPOSITION)
        .send()
        .await
        .problem(409, "object_deleted");
    // ITS-REST 1.0.3 form: the version uid in the path, no If-Match.
    srv.delete(&format!("/ehr/{ehr}/composition/{deletion}"))
        .send()
        .await
        .problem(409, "object_deleted");
}

#[tokio::test]
async fn versioned_composition_endpoints() {
    let srv = server_with_template().await;
    let (ehr, v1, vo) = srv.ehr_with_composition().await;
    let res = srv
        .put(&format!("/ehr/{ehr}/composition/{vo}"))
        .header("If-Match", &v1)
        .body("application/json", COMPOSITION)
        .send()
        .await;
    let v2 = res.etag();
    let base = format!("/ehr/{ehr}/versioned_composition/{vo}");

    let res = srv.get(&base).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["_type"], "VERSIONED_COMPOSITION");
    assert_eq!(body["uid"]["value"], vo);
    assert_eq!(body["owner_id"]["id"]["value"], ehr);

    let res = srv.get(&format!("{base}/revision_history")).send().await;
    let items = res.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["version_id"]["value"], v1);
    assert_eq!(
        items[1]["audits"][0]["change_type"]["defining_code"]["code_string"],
        "251"
    );

    let res = srv.get(&format!("{base}/version")).send().await;
    assert_eq!(res.status, 200);
    assert_eq!(res.etag(), v2);
    assert!(res
        .header("location")
        .unwrap()
        .ends_with(&format!("{base}/version/{v2}")));
    let version = res.json();
    assert_eq!(version["_type"], "ORIGINAL_VERSION");
    assert_eq!(version["data"]["_type"], "COMPOSITION");

    let t = chrono::Utc::now() - chrono::Duration::days(1);
    let res = srv
        .get(&format!(
            "{base}/version?version_at_time={}",
            t.format("%Y-%m-%dT%H:%M:%S")
        ))
        .send()
        .await;
    res.problem(404, "not_found");

    let res = srv.get(&format!("{base}/version/{v1}")).send().await;
    assert_eq!(res.json()["uid"]["value"], v1);
    let res = srv
        .get(&format!("{base}/version/{v1}"))
        .header("Accept", "application/xml")
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res.text().contains("<version"), "{}", res.text());
    let res = srv
        .get(&format!("{base}/revision_history"))
        .header("Accept", "application/xml")
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());

    // A version of another object, an unknown object, an unknown EHR.
    let other = uuid::Uuid::new_v4();
    srv.get(&format!("{base}/version/{other}::test.cdr::1"))
        .send()
        .await
        .problem(404, "not_found");
    srv.get(&format!("/ehr/{ehr}/versioned_composition/{other}"))
        .send()
        .await
        .problem(404, "not_found");
    let body = srv
        .get(&format!(
            "/ehr/{other}/versioned_composition/{vo}/revision_history"
        ))
        .send()
        .await
        .problem(404, "not_found");
    assert!(body["detail"].as_str().unwrap().contains("EHR"), "{body}");
}

/// Every write to an EHR whose EHR_STATUS is not modifiable is 409, and says "does not allow
/// modification" in `message` (or the XML `<message>`), the words EHRbase's clients look for.
#[tokio::test]
async fn ehr_that_is_not_modifiable_refuses_content() {
    let srv = server_with_template().await;
    let mut status = crate::ehr::status_for("frozen");
    status["is_modifiable"] = json!(false);
    let frozen = srv.post("/ehr").json(&status).send().await.etag();
    let body = srv
        .post(&format!("/ehr/{frozen}/composition"))
        .body("application/json", COMPOSITION)
        .send()
        .await
        .problem(409, "conflict");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("does not allow modification"));

    // An EHR with content, frozen afterwards: each write path refuses.
    let (ehr, v1, vo) = srv.ehr_with_composition().await;
    let composition = format!("/ehr/{ehr}/composition");
    let xml = srv
        .get(&format!("{composition}/{v1}"))
        .header("Accept", "application/xml")
        .send()
        .await
        .text();
    let flat = srv
        .post(&format!("{composition}?templateId=cdr_test_vitals.v1"))
        .header("Prefer", "return=representation")
        .header("Accept", "application/openehr.wt.flat+json")
        .json(&composition_without_slot())
        .send()
        .await
        .json();
    let flat: serde_json::Map<String, Value> = flat
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.ends_with("/_uid"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let dir = srv
        .post(&format!("/ehr/{ehr}/directory"))
        .json(
            &json!({"_type": "FOLDER", "archetype_node_id": "openEHR-EHR-FOLDER.generic.v1",
                      "name": {"value": "root"}}),
        )
        .send()
        .await;
    assert_eq!(dir.status, 201, "{}", dir.text());
    let dir_v1 = dir.etag();
    let current = srv.get(&format!("/ehr/{ehr}/ehr_status")).send().await;
    let mut frozen_status = current.json();
    frozen_status["is_modifiable"] = json!(false);
    let res = srv
        .put(&format!("/ehr/{ehr}/ehr_status"))
        .header("If-Match", &current.etag())
        .json(&frozen_status)
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());

    let coded = |code: &str, value: &str| json!({"value": value, "defining_code": {"terminology_id": {"value": "openehr"}, "code_string": code}});
    let contribution = json!({
        "audit": {"change_type": coded("249", "creation"),
                  "committer": {"_type": "PARTY_IDENTIFIED", "name": "Dr X"}},
        "versions": [{"_type": "ORIGINAL_VERSION", "lifecycle_state": coded("532", "complete"),
                      "commit_audit": {"change_type": coded("249", "creation"),
                                       "committer": {"_type": "PARTY_IDENTIFIED", "name": "Dr X"}},
                      "data": serde_json::from_str::<Value>(COMPOSITION).unwrap()}],
    });
    let folder = json!({"_type": "FOLDER", "archetype_node_id": "openEHR-EHR-FOLDER.generic.v1",
                        "name": {"value": "renamed"}});
    let writes = [
        (
            "POST composition JSON",
            srv.post(&composition).body("application/json", COMPOSITION),
        ),
        (
            "POST composition dry run",
            srv.post(&format!("{composition}?dry_run=true"))
                .body("application/json", COMPOSITION),
        ),
        (
            "POST composition FLAT",
            srv.post(&format!("{composition}?templateId=cdr_test_vitals.v1"))
                .body(FLAT, Value::Object(flat).to_string()),
        ),
        (
            "PUT composition",
            srv.put(&format!("{composition}/{vo}"))
                .header("If-Match", &v1)
                .body("application/json", COMPOSITION),
        ),
        (
            "DELETE composition",
            srv.delete(&format!("{composition}/{vo}"))
                .header("If-Match", &v1),
        ),
        (
            "POST contribution",
            srv.post(&format!("/ehr/{ehr}/contribution"))
                .json(&contribution),
        ),
        (
            "POST directory",
            srv.post(&format!("/ehr/{frozen}/directory")).json(&folder),
        ),
        (
            "PUT directory",
            srv.put(&format!("/ehr/{ehr}/directory"))
                .header("If-Match", &dir_v1)
                .json(&folder),
        ),
        (
            "DELETE directory",
            srv.delete(&format!("/ehr/{ehr}/directory"))
                .header("If-Match", &dir_v1),
        ),
    ];
    for (what, req) in writes {
        let body = req.send().await.problem(409, "conflict");
        for member in ["message", "detail"] {
            let text = body[member].as_str().unwrap_or_default();
            assert!(
                text.contains("does not allow modification"),
                "{what}: {body}"
            );
        }
    }
    let res = srv
        .post(&composition)
        .header("Accept", "application/xml")
        .body("application/xml", xml)
        .send()
        .await;
    assert_eq!(res.status, 409, "{}", res.text());
    assert!(
        res.text().contains("<message>EHR ") && res.text().contains("does not allow modification"),
        "{}",
        res.text()
    );
    // The EHR_STATUS itself stays writable: that is how an EHR is opened again.
    let current = srv.get(&format!("/ehr/{ehr}/ehr_status")).send().await;
    let res = srv
        .put(&format!("/ehr/{ehr}/ehr_status"))
        .header("If-Match", &current.etag())
        .json(&status_for_open(current.json()))
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    srv.composition(&ehr).await;
}

fn status_for_open(mut status: Value) -> Value {
    status["is_modifiable"] = json!(true);
    status
}

/// FLAT in (with `templateId`) and out (by `Accept` or `format=FLAT`), through the template.
#[tokio::test]
async fn flat_in_and_out() {
    let srv = server_with_template().await;
    let ehr = srv.ehr().await;
    let without_slot = composition_without_slot();
    let res = srv
        .post(&format!("/ehr/{ehr}/composition"))
        .json(&without_slot)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let uid = res.etag();
    let res = srv
        .get(&format!("/ehr/{ehr}/composition/{uid}"))
        .header("Accept", "application/openehr.wt.flat+json")
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.header("content-type"),
        Some("application/openehr.wt.flat+json")
    );
    let flat = res.json();
    let systolic = flat
        .as_object()
        .expect("FLAT is an object")
        .iter()
        .find(|(k, _)| k.ends_with("/systolic|magnitude"))
        .map(|(_, v)| v.clone());
    assert_eq!(systolic, Some(json!(120.0)), "{flat}");
    let same = srv
        .get(&format!("/ehr/{ehr}/composition/{uid}?format=FLAT"))
        .send()
        .await;
    assert_eq!(same.json(), flat);

    // FLAT in: what came out, committed again, answers the same FLAT.
    let mut again = flat.clone();
    let map = again.as_object_mut().expect("object");
    map.retain(|k, _| !k.ends_with("/_uid"));
    let post = srv.post(&format!("/ehr/{ehr}/composition{WITH_TEMPLATE}"));
    let res = represented(post, FLAT, &again).await;
    assert_eq!(res.status, 201, "{}", res.text());
    let mut back = res.json();
    let back_map = back.as_object_mut().expect("object");
    back_map.retain(|k, _| !k.ends_with("/_uid"));
    assert_eq!(back, again);
    // EHRbase's form: format=FLAT with a JSON body and the template in a header.
    let res = srv
        .post(&format!("/ehr/{ehr}/composition?format=FLAT"))
        .header("openEHR-TEMPLATE_ID", "cdr_test_vitals.v1")
        .body("application/json", again.to_string())
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());

    // Errors: no template, an unknown key (named), a composition FLAT cannot say.
    srv.post(&format!("/ehr/{ehr}/composition"))
        .body("application/openehr.wt.flat+json", again.to_string())
        .send()
        .await
        .problem(400, "invalid_parameter");
    let mut unknown = again.clone();
    unknown["encounter/no_such_node|magnitude"] = json!(1);
    let problem = srv
        .post(&format!(
            "/ehr/{ehr}/composition?templateId=cdr_test_vitals.v1"
        ))
        .body("application/openehr.wt.flat+json", unknown.to_string())
        .send()
        .await
        .problem(422, "invalid_flat");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("encounter/no_such_node|magnitude"),
        "{problem}"
    );
    // The content of a slot the template leaves unfilled goes whole, as canonical JSON.
    let with_slot = srv.composition(&ehr).await;
    let res = srv
        .get(&format!("/ehr/{ehr}/composition/{with_slot}"))
        .header("Accept", "application/openehr.wt.flat+json")
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let raw = res.json()["encounter/test_vitals/any_event:0/device:0|raw"].clone();
    let device: Value = serde_json::from_str(raw.as_str().unwrap_or_default()).expect("JSON");
    assert_eq!(device["archetype_node_id"], "openEHR-EHR-CLUSTER.device.v1");
    let odd = srv.composition_json(&ehr, &composition_not_flat()).await;
    srv.get(&format!("/ehr/{ehr}/composition/{odd}"))
        .header("Accept", "application/openehr.wt.flat+json")
        .send()
        .await
        .problem(406, "not_representable");
}

/// STRUCTURED in and out, as FLAT: by `Accept`/`Content-Type`
/// `application/openehr.wt.structured+json` or `format=STRUCTURED`, on POST, PUT and GET.
#[tokio::test]
async fn structured_in_and_out() {
    const STRUCTURED: &str = "application/openehr.wt.structured+json";
    let srv = server_with_template().await;
    let ehr = srv.ehr().await;
    let without_slot = composition_without_slot();
    let uid = srv
        .post(&format!("/ehr/{ehr}/composition"))
        .json(&without_slot)
        .send()
        .await
        .etag();
    let res = srv
        .get(&format!("/ehr/{ehr}/composition/{uid}"))
        .header("Accept", STRUCTURED)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("content-type"), Some(STRUCTURED));
    let structured = res.json();
    let event = &structured["encounter"]["test_vitals"][0]["any_event"][0];
    assert_eq!(
        event["systolic"][0]["|magnitude"],
        json!(120.0),
        "{structured}"
    );
    let same = srv
        .get(&format!("/ehr/{ehr}/composition/{uid}?format=STRUCTURED"))
        .send()
        .await;
    assert_eq!(same.json(), structured);

    // In again (without its uid), answered as STRUCTURED: the same data.
    let mut again = structured.clone();
    again["encounter"].as_object_mut().unwrap().remove("_uid");
    let post = srv.post(&format!("/ehr/{ehr}/composition{WITH_TEMPLATE}"));
    let res = represented(post, STRUCTURED, &again).await;
    assert_eq!(res.status, 201, "{}", res.text());
    let created = res.etag();
    let mut back = res.json();
    back["encounter"].as_object_mut().unwrap().remove("_uid");
    assert_eq!(back, again);
    // PUT as STRUCTURED with EHRbase's parameters: a changed systolic comes back.
    let mut changed = again.clone();
    changed["encounter"]["test_vitals"][0]["any_event"][0]["systolic"][0]["|magnitude"] =
        json!(130);
    let object = created.split("::").next().unwrap();
    let res = srv
        .put(&format!(
            "/ehr/{ehr}/composition/{object}?format=STRUCTURED"
        ))
        .header("If-Match", &format!("\"{created}\""))
        .header("openEHR-TEMPLATE_ID", "cdr_test_vitals.v1")
        .header("Prefer", "return=representation")
        .body("application/json", changed.to_string())
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json()["encounter"]["test_vitals"][0]["any_event"][0]["systolic"][0]["|magnitude"],
        json!(130.0)
    );

    // Errors: an unknown key (named), a body that is not an object, no template, and a
    // composition STRUCTURED cannot say.
    let mut unknown = again.clone();
    unknown["encounter"]["no_such_node"] = json!([{"|magnitude": 1}]);
    let problem = srv
        .post(&format!(
            "/ehr/{ehr}/composition?templateId=cdr_test_vitals.v1"
        ))
        .body(STRUCTURED, unknown.to_string())
        .send()
        .await
        .problem(422, "invalid_structured");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("encounter/no_such_node|magnitude: unknown path"),
        "{problem}"
    );
    srv.post(&format!(
        "/ehr/{ehr}/composition?templateId=cdr_test_vitals.v1"
    ))
    .body(STRUCTURED, "[1, 2]")
    .send()
    .await
    .problem(422, "invalid_structured");
    srv.post(&format!("/ehr/{ehr}/composition"))
        .body(STRUCTURED, again.to_string())
        .send()
        .await
        .problem(400, "invalid_parameter");
    let with_slot = srv.composition(&ehr).await;
    let res = srv
        .get(&format!(
            "/ehr/{ehr}/composition/{with_slot}?format=STRUCTURED"
        ))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(
        res.json()["encounter"]["test_vitals"][0]["any_event"][0]["device"][0]["|raw"].is_string(),
        "{}",
        res.text()
    );
    let odd = srv.composition_json(&ehr, &composition_not_flat()).await;
    srv.get(&format!("/ehr/{ehr}/composition/{odd}?format=STRUCTURED"))
        .send()
        .await
        .problem(406, "not_representable");
}

/// The compositions stored in `ehr` (their uids, by AQL).
async fn stored(srv: &Server, ehr: &str) -> Vec<Value> {
    let q = json!({"q": "SELECT c/uid/value FROM EHR e CONTAINS COMPOSITION c",
                   "query_parameters": {"ehr_id": ehr}});
    let res = srv.post("/query/aql").json(&q).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()["rows"].as_array().cloned().unwrap_or_default()
}

const FLAT: &str = "application/openehr.wt.flat+json";
const STRUCTURED_TYPE: &str = "application/openehr.wt.structured+json";
const WITH_TEMPLATE: &str = "?templateId=cdr_test_vitals.v1";
/// The FLAT key of the fixture's systolic unit.
const SYSTOLIC_UNIT: &str = "encounter/test_vitals/any_event:0/systolic|unit";

/// The fixture template's example in `format` (`FLAT`, `STRUCTURED`, `JSON`).
async fn example(srv: &Server, format: &str) -> Value {
    let path = format!("/definition/template/adl1.4/cdr_test_vitals.v1/example?format={format}");
    let res = srv.get(&path).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

/// The FLAT example with a unit the template does not allow.
async fn flat_with_bad_unit(srv: &Server) -> (Value, Value) {
    let flat = example(srv, "FLAT").await;
    let mut bad = flat.clone();
    bad[SYSTOLIC_UNIT] = json!("kg");
    (flat, bad)
}

/// Sends `body` as `media`, asking for the composition back in the same media type.
async fn represented(req: Req, media: &str, body: &Value) -> Resp {
    req.header("Prefer", "return=representation")
        .header("Accept", media)
        .body(media, body.to_string())
        .send()
        .await
}

/// Sends `flat` as FLAT asking for FLAT back: a dry run answers it unchanged.
async fn answers_flat(req: Req, flat: &Value) {
    let res = represented(req, FLAT, flat).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(&res.json(), flat);
}

/// Posts `body` to `ehr` (under `query`) and returns the 422 problem.
async fn refused(srv: &Server, ehr: &str, query: &str, content_type: &str, body: &Value) -> Value {
    srv.post(&format!("/ehr/{ehr}/composition{query}"))
        .body(content_type, body.to_string())
        .send()
        .await
        .problem(422, "validation_failed")
}

/// Issues of a FLAT or STRUCTURED composition carry its FLAT path and web template node beside
/// the canonical path; those of canonical compositions do not.
#[tokio::test]
async fn issues_name_the_flat_path() {
    let srv = server_with_template().await;
    let ehr = srv.ehr().await;
    let (flat, bad) = flat_with_bad_unit(&srv).await;
    let problem = refused(&srv, &ehr, WITH_TEMPLATE, FLAT, &bad).await;
    let issue = &problem["issues"][0];
    assert_eq!(issue["constraint"], "unit_not_allowed", "{problem}");
    assert_eq!(issue["flat_path"], SYSTOLIC_UNIT);
    assert_eq!(issue["web_template_id"], "systolic");
    let path = issue["path"].as_str().unwrap_or_default();
    assert!(path.ends_with("/value/units"), "{issue}");

    // The same through STRUCTURED, and on PUT.
    let mut bad_s = example(&srv, "STRUCTURED").await;
    bad_s["encounter"]["test_vitals"][0]["any_event"][0]["systolic"][0]["|unit"] = json!("kg");
    let problem = refused(&srv, &ehr, WITH_TEMPLATE, STRUCTURED_TYPE, &bad_s).await;
    assert_eq!(problem["issues"][0]["flat_path"], SYSTOLIC_UNIT);
    let created = srv
        .post(&format!("/ehr/{ehr}/composition{WITH_TEMPLATE}"))
        .body(FLAT, flat.to_string())
        .send()
        .await
        .etag();
    let object = created.split("::").next().unwrap();
    let problem = srv
        .put(&format!("/ehr/{ehr}/composition/{object}{WITH_TEMPLATE}"))
        .header("If-Match", &format!("\"{created}\""))
        .body(FLAT, bad.to_string())
        .send()
        .await
        .problem(422, "validation_failed");
    assert_eq!(problem["issues"][0]["web_template_id"], "systolic");

    // Canonical JSON: its own paths only.
    let mut bad_c = example(&srv, "JSON").await;
    bad_c["content"][0]["data"]["events"][0]["data"]["items"][0]["value"]["units"] = json!("kg");
    let problem = refused(&srv, &ehr, "", "application/json", &bad_c).await;
    assert!(problem["issues"][0].get("flat_path").is_none(), "{problem}");
}

/// `dry_run=true`: validated in any format, answered 200 (the representation per `Prefer`) or
/// refused with the same 422, never stored.
#[tokio::test]
async fn dry_run_validates_without_storing() {
    let srv = server_with_template().await;
    let ehr = srv.ehr().await;
    let res = srv
        .post(&format!("/ehr/{ehr}/composition?dry_run=true"))
        .body("application/json", COMPOSITION)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res.body.is_empty());
    assert!(res.header("etag").is_none() && res.header("location").is_none());
    let res = srv
        .post(&format!("/ehr/{ehr}/composition?dry_run=true"))
        .header("Prefer", "return=representation")
        .header("Accept", "application/xml")
        .body("application/json", COMPOSITION)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res.text().contains("<composition"), "{}", res.text());

    // FLAT in, FLAT out; and a FLAT that does not validate: the 422 a commit would answer.
    let (flat, bad) = flat_with_bad_unit(&srv).await;
    let dry = format!("{WITH_TEMPLATE}&dry_run=true");
    let post = srv.post(&format!("/ehr/{ehr}/composition{dry}"));
    answers_flat(post, &flat).await;
    let problem = refused(&srv, &ehr, &dry, FLAT, &bad).await;
    assert_eq!(problem["issues"][0]["flat_path"], SYSTOLIC_UNIT);
    assert!(stored(&srv, &ehr).await.is_empty());

    // An unknown EHR, a bad parameter value; dry_run=false commits.
    let nobody = uuid::Uuid::new_v4();
    srv.post(&format!("/ehr/{nobody}/composition?dry_run=true"))
        .body("application/json", COMPOSITION)
        .send()
        .await
        .problem(404, "not_found");
    srv.post(&format!("/ehr/{ehr}/composition?dry_run=maybe"))
        .body("application/json", COMPOSITION)
        .send()
        .await
        .problem(400, "invalid_parameter");
    let res = srv
        .post(&format!("/ehr/{ehr}/composition?dry_run=false"))
        .body("application/json", COMPOSITION)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert_eq!(stored(&srv, &ehr).await.len(), 1);
}

/// `PUT …?dry_run=true`: checked as the update would be (the same 422, 404 and 412), answered
/// 200 as the POST dry run answers, never stored.
#[tokio::test]
async fn dry_run_on_update_checks_without_storing() {
    let srv = server_with_template().await;
    let (ehr, v1, vo) = srv.ehr_with_composition().await;
    let path = format!("/ehr/{ehr}/composition/{vo}");
    let latest = || async { srv.get(&path).send().await.etag() };
    // A PUT at `at` (path and query) on top of `version`; `put_json` sends the fixture.
    let put = |at: &str, version: &str| srv.put(at).header("If-Match", &format!("\"{version}\""));
    let put_json = |at: &str, version: &str| put(at, version).body("application/json", COMPOSITION);

    let res = put_json(&format!("{path}?dry_run=true"), &v1).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res.body.is_empty());
    assert!(res.header("etag").is_none() && res.header("location").is_none());
    assert_eq!(latest().await, v1);

    // FLAT in, FLAT out; a FLAT that does not validate: the 422 the update would answer.
    let (flat, bad) = flat_with_bad_unit(&srv).await;
    let dry = format!("{path}{WITH_TEMPLATE}&dry_run=true");
    answers_flat(put(&dry, &v1), &flat).await;
    let problem = put(&dry, &v1)
        .body(FLAT, bad.to_string())
        .send()
        .await
        .problem(422, "validation_failed");
    assert_eq!(problem["issues"][0]["flat_path"], SYSTOLIC_UNIT);
    assert_eq!(latest().await, v1);

    // A stale If-Match (after a real update) is 412 naming the latest; an unknown composition 404.
    let res = put_json(&path, &v1).send().await;
    assert_eq!(res.status, 204, "{}", res.text());
    let v2 = res.etag();
    let res = put_json(&format!("{path}?dry_run=true"), &v1).send().await;
    let body = res.problem(412, "version_conflict");
    assert_eq!(body["latest_version_uid"], v2);
    assert_eq!(res.etag(), v2);
    let nobody = uuid::Uuid::new_v4();
    put_json(
        &format!("/ehr/{ehr}/composition/{nobody}?dry_run=true"),
        &format!("{nobody}::test.cdr::1"),
    )
    .send()
    .await
    .problem(404, "not_found");
    put_json(&format!("{path}?dry_run=maybe"), &v2)
        .send()
        .await
        .problem(400, "invalid_parameter");
    assert_eq!(latest().await, v2);
    assert_eq!(stored(&srv, &ehr).await.len(), 1);
}

#[tokio::test]
async fn an_update_may_not_change_the_template() {
    let srv = server_with_template().await;
    let (ehr, v1, vo) = srv.ehr_with_composition().await;
    // The same template under another id: the composition is valid against both.
    let twin = crate::common::OPT.replacen(
        "<value>cdr_test_vitals.v1</value>",
        "<value>cdr_test_vitals.twin</value>",
        1,
    );
    let res = srv.upload(&twin).await;
    assert_eq!(res.status, 201, "{}", res.text());
    let moved = composition_with(|c| {
        c["archetype_details"]["template_id"]["value"] = json!("cdr_test_vitals.twin");
    });
    let res = srv
        .post(&format!("/ehr/{ehr}/composition"))
        .json(&moved)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());

    let body = srv
        .put(&format!("/ehr/{ehr}/composition/{vo}"))
        .header("If-Match", &format!("\"{v1}\""))
        .json(&moved)
        .send()
        .await
        .problem(400, "bad_request");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("cdr_test_vitals.v1") && detail.contains("cdr_test_vitals.twin"),
        "{detail}"
    );
    let res = srv
        .get(&format!("/ehr/{ehr}/composition/{vo}"))
        .send()
        .await;
    assert_eq!(res.etag(), v1, "nothing was committed");
}
