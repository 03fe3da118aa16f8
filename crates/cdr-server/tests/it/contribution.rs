//! CONTRIBUTION: several versions at once, all or nothing.

use serde_json::{json, Value};

use crate::common::{composition_with, server_with_template, COMPOSITION};

fn coded(code: &str, value: &str) -> Value {
    json!({"value": value, "defining_code": {"terminology_id": {"value": "openehr"}, "code_string": code}})
}

fn version(change: (&str, &str), preceding: Option<&str>, data: Option<Value>) -> Value {
    let mut v = json!({
        "_type": "ORIGINAL_VERSION",
        "lifecycle_state": coded("532", "complete"),
        "commit_audit": {
            "change_type": coded(change.0, change.1),
            "committer": {"_type": "PARTY_IDENTIFIED", "name": "Dr X"},
        },
    });
    if let Some(p) = preceding {
        v["preceding_version_uid"] = json!({"value": p});
    }
    if let Some(d) = data {
        v["data"] = d;
    }
    v
}

fn contribution(versions: Vec<Value>) -> Value {
    json!({
        "audit": {
            "change_type": coded("251", "modification"),
            "committer": {"_type": "PARTY_IDENTIFIED", "name": "Dr X"},
            "description": {"value": "ward round"},
        },
        "versions": versions,
    })
}

fn composition() -> Value {
    serde_json::from_str(COMPOSITION).unwrap()
}

#[tokio::test]
async fn commit_several_versions_and_read_the_contribution() {
    let srv = server_with_template().await;
    let (ehr, v1, vo) = srv.ehr_with_composition().await;
    let body = contribution(vec![
        version(("249", "creation"), None, Some(composition())),
        version(("251", "modification"), Some(&v1), Some(composition())),
    ]);
    let res = srv
        .post(&format!("/ehr/{ehr}/contribution"))
        .header("Prefer", "return=representation")
        .json(&body)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let uid = res.etag();
    assert!(res
        .header("location")
        .unwrap()
        .ends_with(&format!("/ehr/{ehr}/contribution/{uid}")));
    let got = res.json();
    assert_eq!(got["uid"]["value"], uid);
    assert_eq!(got["versions"].as_array().unwrap().len(), 2);
    assert_eq!(got["audit"]["description"]["value"], "ward round");

    let res = srv
        .get(&format!("/ehr/{ehr}/contribution/{uid}"))
        .send()
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json(), got);
    let res = srv
        .get(&format!("/ehr/{ehr}/contribution/{uid}"))
        .header("Accept", "application/xml")
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res.text().contains("<contribution"));
    let res = srv
        .get(&format!("/ehr/{ehr}/composition/{vo}"))
        .send()
        .await;
    assert_eq!(res.etag(), format!("{vo}::test.cdr::2"));

    // A deletion in a contribution carries no data.
    let body = contribution(vec![version(
        ("523", "deleted"),
        Some(&format!("{vo}::test.cdr::2")),
        None,
    )]);
    let res = srv
        .post(&format!("/ehr/{ehr}/contribution"))
        .json(&body)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert!(res.body.is_empty());
    srv.get(&format!("/ehr/{ehr}/composition/{vo}"))
        .send()
        .await
        .problem(404, "not_found");

    srv.get(&format!("/ehr/{ehr}/contribution/{}", uuid::Uuid::new_v4()))
        .send()
        .await
        .problem(404, "not_found");
}

#[tokio::test]
async fn bad_contributions_commit_nothing() {
    let srv = server_with_template().await;
    let (ehr, v1, vo) = srv.ehr_with_composition().await;
    let post = |body: Value| {
        srv.post(&format!("/ehr/{ehr}/contribution"))
            .json(&body)
            .send()
    };
    // No version at all: EHRbase's words; no list at all: ours.
    let body = post(contribution(vec![])).await.problem(400, "bad_request");
    assert_eq!(
        body["message"],
        "Invalid Contribution, must have at least one Version object."
    );
    let mut no_list = contribution(vec![]);
    no_list.as_object_mut().unwrap().remove("versions");
    let body = post(no_list).await.problem(400, "bad_request");
    assert!(
        body["message"].as_str().unwrap().contains("versions"),
        "{body}"
    );
    // A new object marked as a modification.
    post(contribution(vec![version(
        ("251", "modification"),
        None,
        Some(composition()),
    )]))
    .await
    .problem(400, "bad_request");
    // One invalid version fails them all, with its issues.
    let invalid = composition_with(|c| {
        c.as_object_mut().unwrap().remove("language");
    });
    let body = post(contribution(vec![
        version(("251", "modification"), Some(&v1), Some(composition())),
        version(("249", "creation"), None, Some(invalid)),
    ]))
    .await
    .problem(422, "validation_failed");
    assert_eq!(body["issues"][0]["path"], "/language", "{body}");
    let res = srv
        .get(&format!("/ehr/{ehr}/composition/{vo}"))
        .send()
        .await;
    assert_eq!(res.etag(), v1, "nothing was committed");
    // A stale preceding version.
    post(contribution(vec![version(
        ("251", "modification"),
        Some(&format!("{vo}::test.cdr::5")),
        Some(composition()),
    )]))
    .await
    .problem(412, "version_conflict");
    // Shapes: unknown attributes, missing audit, empty versions, not JSON, XML.
    let mut odd = contribution(vec![]);
    odd["colour"] = json!("blue");
    post(odd).await.problem(400, "bad_request");
    post(json!({"versions": [version(("249", "creation"), None, Some(composition()))]}))
        .await
        .problem(400, "bad_request");
    post(contribution(vec![])).await.problem(400, "bad_request");
    let mut no_type = composition();
    no_type.as_object_mut().unwrap().remove("_type");
    post(contribution(vec![version(
        ("249", "creation"),
        None,
        Some(no_type),
    )]))
    .await
    .problem(400, "malformed_body");
    srv.post(&format!("/ehr/{ehr}/contribution"))
        .body("application/json", "{\"audit\": ")
        .send()
        .await
        .problem(400, "malformed_body");
    srv.post(&format!("/ehr/{ehr}/contribution"))
        .body("application/xml", "<contribution/>")
        .send()
        .await
        .problem(415, "unsupported_media_type");
    srv.post(&format!("/ehr/{}/contribution", uuid::Uuid::new_v4()))
        .json(&contribution(vec![version(
            ("249", "creation"),
            None,
            Some(composition()),
        )]))
        .send()
        .await
        .problem(404, "not_found");
}

#[tokio::test]
async fn versions_may_carry_a_uid_and_deletions_data() {
    let srv = server_with_template().await;
    let (ehr, v1, vo) = srv.ehr_with_composition().await;
    // The version names itself: the server assigns its own uid.
    let mut update = version(("251", "modification"), Some(&v1), Some(composition()));
    update["uid"] = json!({"value": format!("{vo}::elsewhere::7")});
    let res = srv
        .post(&format!("/ehr/{ehr}/contribution"))
        .json(&contribution(vec![update]))
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let v2 = format!("{vo}::test.cdr::2");
    let res = srv
        .get(&format!("/ehr/{ehr}/composition/{vo}"))
        .send()
        .await;
    assert_eq!(res.etag(), v2);

    // A deletion that still carries the composition: the data is not read.
    let mut deletion = version(("523", "deleted"), Some(&v2), Some(composition()));
    deletion["uid"] = json!({"value": format!("{vo}::test.cdr::3")});
    let res = srv
        .post(&format!("/ehr/{ehr}/contribution"))
        .json(&contribution(vec![deletion]))
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let res = srv
        .get(&format!("/ehr/{ehr}/composition/{vo}::test.cdr::3"))
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
}

/// The objects of `value` (itself included) that lack `_type`, by JSON pointer.
fn untyped(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            if !members.get("_type").is_some_and(Value::is_string) {
                out.push(at.clone());
            }
            for (k, v) in members {
                untyped(v, format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                untyped(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// What cdr assembles itself — EHR, VERSIONED_*, REVISION_HISTORY, ORIGINAL_VERSION,
/// CONTRIBUTION, with their references, audits and attestations — carries `_type` on every
/// object, as the RM encoder writes canonical JSON (`JsonConfig::CANONICAL`); the XML forms
/// type their references as the RM writer does.
#[tokio::test]
async fn assembled_resources_carry_type_on_every_object() {
    let srv = server_with_template().await;
    let res = srv
        .post("/ehr")
        .header("Prefer", "return=representation")
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let ehr = res.etag();
    let mut resources = vec![("POST /ehr".to_owned(), res.json())];

    // A contribution whose committer and attestation leave out every `_type` they may.
    let committer = json!({"_type": "PARTY_IDENTIFIED", "name": "Dr X", "external_ref": {
        "id": {"_type": "GENERIC_ID", "value": "77", "scheme": "staff"},
        "namespace": "hospital", "type": "PERSON"}});
    let attestation = json!({
        "system_id": "elsewhere", "committer": committer,
        "time_committed": {"value": "2024-05-06T07:08:09Z"},
        "change_type": coded("249", "creation"), "reason": {"value": "signed"},
        "is_pending": false,
    });
    let mut v = version(("249", "creation"), None, Some(composition()));
    v["commit_audit"]["committer"] = committer.clone();
    v["attestations"] = json!([attestation]);
    let res = srv
        .post(&format!("/ehr/{ehr}/contribution"))
        .header("Prefer", "return=representation")
        .json(&contribution(vec![v]))
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let contribution_uid = res.etag();
    let created = res.json();
    let version_uid = created["versions"][0]["id"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let vo = version_uid.split("::").next().unwrap().to_owned();
    resources.push(("POST contribution".to_owned(), created));

    for path in [
        format!("/ehr/{ehr}"),
        format!("/ehr/{ehr}/contribution/{contribution_uid}"),
        format!("/ehr/{ehr}/versioned_composition/{vo}"),
        format!("/ehr/{ehr}/versioned_composition/{vo}/revision_history"),
        format!("/ehr/{ehr}/versioned_composition/{vo}/version"),
        format!("/ehr/{ehr}/versioned_composition/{vo}/version/{version_uid}"),
        format!("/ehr/{ehr}/versioned_ehr_status"),
        format!("/ehr/{ehr}/versioned_ehr_status/revision_history"),
        format!("/ehr/{ehr}/versioned_ehr_status/version"),
    ] {
        let res = srv.get(&path).send().await;
        assert_eq!(res.status, 200, "{path}: {}", res.text());
        resources.push((path, res.json()));
    }
    for (what, value) in &resources {
        let mut missing = Vec::new();
        untyped(value, String::new(), &mut missing);
        assert!(
            missing.is_empty(),
            "{what}: no _type at {missing:?} in {value}"
        );
    }
    let status_version = &resources[resources.len() - 1].1;
    assert_eq!(status_version["contribution"]["_type"], "OBJECT_REF");
    let original = &resources[resources.len() - 4].1;
    assert_eq!(original["attestations"][0]["_type"], "ATTESTATION");
    assert_eq!(original["attestations"][0]["reason"]["_type"], "DV_TEXT");
    assert_eq!(
        original["commit_audit"]["committer"]["external_ref"]["_type"],
        "PARTY_REF"
    );

    // XML: references typed by the RM writer; the EHR's members are their declared types, so
    // only their ids carry `xsi:type` (EHRbase's clients look for a bare `<ehr_status>`); the
    // ORIGINAL_VERSION with its attestation reads back.
    let xml = |path: String| {
        let srv = &srv;
        async move {
            let res = srv
                .get(&path)
                .header("Accept", "application/xml")
                .send()
                .await;
            assert_eq!(res.status, 200, "{path}: {}", res.text());
            res.text()
        }
    };
    let text = xml(format!("/ehr/{ehr}")).await;
    assert!(
        text.contains("<ehr_status><id xsi:type=\"OBJECT_VERSION_ID\">"),
        "{text}"
    );
    assert!(
        text.contains("<ehr_access><id xsi:type=\"OBJECT_VERSION_ID\">"),
        "{text}"
    );
    let text = xml(format!("/ehr/{ehr}/versioned_composition/{vo}")).await;
    assert!(
        text.contains("<owner_id xsi:type=\"OBJECT_REF\">"),
        "{text}"
    );
    let text = xml(format!("/ehr/{ehr}/contribution/{contribution_uid}")).await;
    assert!(
        text.contains("<versions xsi:type=\"OBJECT_REF\">"),
        "{text}"
    );
    let text = xml(format!("/ehr/{ehr}/versioned_composition/{vo}/version")).await;
    assert!(text.contains("<attestations>"), "{text}");
    assert!(text.contains("<reason xsi:type=\"DV_TEXT\">"), "{text}");

    // An attestation that is not an ATTESTATION is a malformed body, named by its place.
    let mut v = version(("249", "creation"), None, Some(composition()));
    v["attestations"] = json!([{"junk": 1}]);
    let body = srv
        .post(&format!("/ehr/{ehr}/contribution"))
        .json(&contribution(vec![v]))
        .send()
        .await
        .problem(400, "malformed_body");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("versions[0].attestations"),
        "{body}"
    );
}
