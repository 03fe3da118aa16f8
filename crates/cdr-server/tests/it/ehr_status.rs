//! EHR_STATUS and VERSIONED_EHR_STATUS.

use serde_json::json;

use crate::common::{server, unknown_version};
use crate::ehr::status_for;

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[tokio::test]
async fn get_update_with_if_match_and_read_history() {
    let srv = server().await;
    let ehr = srv.post("/ehr").json(&status_for("p1")).send().await.etag();
    let res = srv.get(&format!("/ehr/{ehr}/ehr_status")).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    let v1 = res.etag();
    assert!(v1.ends_with("::test.cdr::1"));
    assert!(res
        .header("location")
        .unwrap()
        .ends_with(&format!("/ehr/{ehr}/ehr_status/{v1}")));
    assert_eq!(res.json()["subject"]["external_ref"]["id"]["value"], "p1");
    let between = now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    // Update: minimal (204) then representation (200).
    let mut changed = status_for("p1");
    changed["is_queryable"] = json!(false);
    let res = srv
        .put(&format!("/ehr/{ehr}/ehr_status"))
        .header("If-Match", &format!("\"{v1}\""))
        .json(&changed)
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    let v2 = res.etag();
    assert!(v2.ends_with("::2"));
    let res = srv
        .put(&format!("/ehr/{ehr}/ehr_status"))
        .header("If-Match", &format!("\"{v2}\""))
        .header("Prefer", "return=representation")
        .header("Accept", "application/xml")
        .json(&changed)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("application/xml"));
    assert!(
        res.text().contains("<is_queryable>false</is_queryable>"),
        "{}",
        res.text()
    );
    let v3 = res.etag();

    // Stale: 412 with the latest.
    let res = srv
        .put(&format!("/ehr/{ehr}/ehr_status"))
        .header("If-Match", &format!("\"{v1}\""))
        .json(&changed)
        .send()
        .await;
    res.problem(412, "version_conflict");
    assert_eq!(res.etag(), v3);
    assert!(res
        .header("location")
        .unwrap()
        .ends_with(&format!("/ehr_status/{v3}")));
    srv.put(&format!("/ehr/{ehr}/ehr_status"))
        .json(&changed)
        .send()
        .await
        .problem(400, "invalid_header");

    // At a time, by version uid, and the EHR names the latest status.
    let res = srv
        .get(&format!("/ehr/{ehr}/ehr_status?version_at_time={between}"))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.etag(), v1);
    assert_eq!(res.json()["is_queryable"], true);
    let res = srv.get(&format!("/ehr/{ehr}/ehr_status/{v2}")).send().await;
    assert_eq!(res.etag(), v2);
    assert_eq!(res.json()["is_queryable"], false);
    let res = srv.get(&format!("/ehr/{ehr}")).send().await;
    assert_eq!(res.json()["ehr_status"]["id"]["value"], v3);
    srv.get(&format!(
        "/ehr/{ehr}/ehr_status?version_at_time=1999-01-01T00:00:00Z"
    ))
    .send()
    .await
    .problem(404, "not_found");
    srv.get(&format!("/ehr/{ehr}/ehr_status?version_at_time=soon"))
        .send()
        .await
        .problem(400, "invalid_parameter");
    srv.get(&format!("/ehr/{ehr}/ehr_status/{}", unknown_version()))
        .send()
        .await
        .problem(404, "not_found");
    srv.get(&format!("/ehr/{}/ehr_status", uuid::Uuid::new_v4()))
        .send()
        .await
        .problem(404, "not_found");

    // VERSIONED_EHR_STATUS.
    let vo = v1.split("::").next().unwrap();
    let res = srv
        .get(&format!("/ehr/{ehr}/versioned_ehr_status"))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["_type"], "VERSIONED_EHR_STATUS");
    assert_eq!(res.json()["uid"]["value"], vo);
    let res = srv
        .get(&format!("/ehr/{ehr}/versioned_ehr_status/revision_history"))
        .send()
        .await;
    let items = res.json()["items"].as_array().unwrap().clone();
    let ids: Vec<_> = items
        .iter()
        .map(|i| i["version_id"]["value"].clone())
        .collect();
    assert_eq!(ids, vec![json!(v1), json!(v2), json!(v3)]);
    let res = srv
        .get(&format!("/ehr/{ehr}/versioned_ehr_status/version"))
        .send()
        .await;
    assert_eq!(res.etag(), v3);
    assert_eq!(res.json()["data"]["_type"], "EHR_STATUS");
    let res = srv
        .get(&format!(
            "/ehr/{ehr}/versioned_ehr_status/version?version_at_time={between}"
        ))
        .send()
        .await;
    assert_eq!(res.etag(), v1);
    let res = srv
        .get(&format!("/ehr/{ehr}/versioned_ehr_status/version/{v2}"))
        .send()
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["uid"]["value"], v2);
    assert_eq!(res.json()["preceding_version_uid"]["value"], v1);
    let path = format!("/ehr/{ehr}/versioned_ehr_status/version/");
    srv.get(&format!("{path}{}", unknown_version()))
        .send()
        .await
        .problem(404, "not_found");
}

#[tokio::test]
async fn a_status_may_not_take_another_ehrs_subject() {
    let srv = server().await;
    srv.post("/ehr").json(&status_for("taken")).send().await;
    let ehr = srv.ehr().await;
    let v1 = srv
        .get(&format!("/ehr/{ehr}/ehr_status"))
        .send()
        .await
        .etag();
    srv.put(&format!("/ehr/{ehr}/ehr_status"))
        .header("If-Match", &v1)
        .json(&status_for("taken"))
        .send()
        .await
        .problem(409, "conflict");
}

#[tokio::test]
async fn a_uid_in_the_new_ehr_status_is_ignored() {
    let srv = server().await;
    let ehr = srv.post("/ehr").json(&status_for("p9")).send().await.etag();
    let v1 = srv
        .get(&format!("/ehr/{ehr}/ehr_status"))
        .send()
        .await
        .etag();
    let vo = v1.split("::").next().unwrap().to_owned();
    // Naming another object, then naming the version it replaces (an older one).
    let mut v = v1;
    for (n, uid) in [unknown_version(), v.clone()].into_iter().enumerate() {
        let mut status = status_for("p9");
        status["uid"] = json!({"_type": "OBJECT_VERSION_ID", "value": uid});
        let res = srv
            .put(&format!("/ehr/{ehr}/ehr_status"))
            .header("If-Match", &format!("\"{v}\""))
            .header("Prefer", "return=representation")
            .json(&status)
            .send()
            .await;
        assert_eq!(res.status, 200, "{}", res.text());
        v = res.etag();
        assert_eq!(v, format!("{vo}::test.cdr::{}", n + 2));
        assert_eq!(res.json()["uid"]["value"], v);
    }
}

#[tokio::test]
async fn ehr_status_without_its_flags_or_with_an_empty_namespace_is_400() {
    let srv = server().await;
    for flag in ["is_modifiable", "is_queryable"] {
        let mut status = status_for("p10");
        status.as_object_mut().unwrap().remove(flag);
        let body = srv
            .post("/ehr")
            .json(&status)
            .send()
            .await
            .problem(400, "malformed_content");
        assert_eq!(body["issues"][0]["path"], format!("/{flag}"), "{body}");
    }
    let mut status = status_for("p10");
    status["subject"]["external_ref"]["namespace"] = json!("");
    let body = srv
        .post("/ehr")
        .json(&status)
        .send()
        .await
        .problem(400, "bad_request");
    assert!(
        body["detail"].as_str().unwrap().contains("namespace"),
        "{body}"
    );

    // The same on an update.
    let ehr = srv
        .post("/ehr")
        .json(&status_for("p10"))
        .send()
        .await
        .etag();
    let v1 = srv
        .get(&format!("/ehr/{ehr}/ehr_status"))
        .send()
        .await
        .etag();
    srv.put(&format!("/ehr/{ehr}/ehr_status"))
        .header("If-Match", &format!("\"{v1}\""))
        .json(&status)
        .send()
        .await
        .problem(400, "bad_request");
}

/// An EHR_STATUS sent without `archetype_node_id` and `name` (as EHRbase's clients send it) is
/// stored with those of the default EHR_STATUS, on creation and on update.
#[tokio::test]
async fn ehr_status_without_node_id_and_name_gets_the_defaults() {
    let srv = server().await;
    let mut status = status_for("p11");
    let fields = status.as_object_mut().unwrap();
    fields.remove("archetype_node_id");
    fields.remove("name");
    let res = srv.post("/ehr").json(&status).send().await;
    assert_eq!(res.status, 201, "{}", res.text());
    let ehr = res.etag();
    let res = srv.get(&format!("/ehr/{ehr}/ehr_status")).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    let stored = res.json();
    assert_eq!(
        stored["archetype_node_id"], "openEHR-EHR-EHR_STATUS.generic.v1",
        "{stored}"
    );
    assert_eq!(stored["name"]["value"], "EHR Status", "{stored}");
    let mut update = status.clone();
    update["is_queryable"] = json!(false);
    let res = srv
        .put(&format!("/ehr/{ehr}/ehr_status"))
        .header("If-Match", &format!("\"{}\"", res.etag()))
        .header("Prefer", "return=representation")
        .json(&update)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["name"]["value"], "EHR Status", "{}", res.text());
}

/// `If-Match` on every versioned write (EHR_STATUS, directory, composition): a weak validator
/// is 400 even when it names the latest version (openEHR ETags are strong, and RFC 9110 never
/// matches a weak tag in `If-Match`); the path is judged first, so an unknown EHR or
/// composition is 404 before a missing or malformed header is 400 (as EHRbase answers).
#[tokio::test]
async fn if_match_is_strong_and_judged_after_the_path() {
    let srv = crate::common::server_with_template().await;
    let (ehr, v1, vo) = srv.ehr_with_composition().await;
    let folder = json!({"_type": "FOLDER", "archetype_node_id": "openEHR-EHR-FOLDER.generic.v1",
                        "name": {"value": "root"}});
    let dir = srv
        .post(&format!("/ehr/{ehr}/directory"))
        .json(&folder)
        .send()
        .await;
    assert_eq!(dir.status, 201, "{}", dir.text());
    let dir_v1 = dir.etag();
    let res = srv.get(&format!("/ehr/{ehr}/ehr_status")).send().await;
    let status = res.json();
    let status_v1 = res.etag();
    let composition = crate::common::COMPOSITION;
    let unknown_ehr = uuid::Uuid::new_v4();
    let unknown_vo = uuid::Uuid::new_v4();

    // (method, path below the EHR, body, the latest version uid)
    let writes = [
        (
            "PUT",
            "ehr_status".to_owned(),
            Some(status.clone()),
            status_v1.clone(),
        ),
        (
            "PUT",
            "directory".to_owned(),
            Some(folder.clone()),
            dir_v1.clone(),
        ),
        ("DELETE", "directory".to_owned(), None, dir_v1.clone()),
        (
            "PUT",
            format!("composition/{vo}"),
            Some(serde_json::from_str(composition).unwrap()),
            v1.clone(),
        ),
        ("DELETE", format!("composition/{vo}"), None, v1.clone()),
    ];
    for (method, below, body, latest) in &writes {
        let send = |ehr: String, if_match: Option<String>| {
            let mut req = srv.req(method, &format!("/ehr/{ehr}/{below}"));
            if let Some(v) = if_match {
                req = req.header("If-Match", &v);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            req.send()
        };
        let what = format!("{method} {below}");
        // Weak, quoted or not: 400, though it names the latest version.
        for weak in [format!("W/\"{latest}\""), format!("W/{latest}")] {
            send(ehr.clone(), Some(weak))
                .await
                .problem(400, "invalid_header");
        }
        // A bare UUID is no version uid: 400 on a known EHR, 404 on an unknown one.
        let bare = unknown_ehr.to_string();
        send(ehr.clone(), Some(bare.clone()))
            .await
            .problem(400, "invalid_header");
        let body = send(unknown_ehr.to_string(), Some(bare))
            .await
            .problem(404, "not_found");
        assert!(
            body["detail"].as_str().unwrap().contains("EHR"),
            "{what}: {body}"
        );
        send(unknown_ehr.to_string(), None)
            .await
            .problem(404, "not_found");
    }
    // An unknown composition in a known EHR: 404 before the header too.
    for method in ["PUT", "DELETE"] {
        let mut req = srv
            .req(method, &format!("/ehr/{ehr}/composition/{unknown_vo}"))
            .header("If-Match", "nonsense");
        if method == "PUT" {
            req = req.body("application/json", composition);
        }
        let body = req.send().await.problem(404, "not_found");
        assert!(
            body["detail"].as_str().unwrap().contains("composition"),
            "{body}"
        );
    }
    // Nothing was written.
    let res = srv.get(&format!("/ehr/{ehr}/ehr_status")).send().await;
    assert_eq!(res.etag(), status_v1);
    let res = srv
        .get(&format!("/ehr/{ehr}/composition/{vo}"))
        .send()
        .await;
    assert_eq!(res.etag(), v1);
}

/// A version uid or object id in the path that does not parse names nothing: 404 on every
/// read whose only listed error is 404 (not 400 `invalid_id`).
#[tokio::test]
async fn malformed_ids_in_read_paths_are_not_found() {
    let srv = crate::common::server_with_template().await;
    let (ehr, _, vo) = srv.ehr_with_composition().await;
    for path in [
        format!("/ehr/{ehr}/composition/abc"),
        format!("/ehr/{ehr}/composition/{vo}::x::0"),
        format!("/ehr/{ehr}/composition/{vo}::"),
        format!("/ehr/{ehr}/ehr_status/abc"),
        format!("/ehr/{ehr}/ehr_status/{vo}::x"),
        format!("/ehr/{ehr}/directory/abc"),
        format!("/ehr/{ehr}/contribution/abc"),
        format!("/ehr/{ehr}/versioned_composition/abc"),
        format!("/ehr/{ehr}/versioned_composition/{vo}/version/abc"),
        format!("/ehr/{ehr}/versioned_composition/{vo}/version/{vo}::x::0"),
        format!("/ehr/{ehr}/versioned_ehr_status/version/abc"),
    ] {
        let body = srv.get(&path).send().await.problem(404, "not_found");
        assert!(
            body["detail"].as_str().unwrap().contains("not found"),
            "{path}: {body}"
        );
    }
}
