//! ADMIN: physical deletion of an EHR, of a composition, of a directory, and of templates no
//! composition uses; EHRbase's template admin API; the contribution delete it does not offer.

use crate::common::server_with_template;

async fn rows(srv: &crate::common::Server, table: &str, ehr: &str) -> i64 {
    let ehr = uuid::Uuid::parse_str(ehr).unwrap();
    let client = srv.store.pool().get().await.unwrap();
    // The table name comes from the test's own list, never from input.
    let sql = format!("SELECT count(*) FROM {table} WHERE ehr_id = $1");
    client.query_one(&sql, &[&ehr]).await.unwrap().get(0)
}

const TABLES: &[&str] = &[
    "ehr",
    "ehr_subject",
    "contribution",
    "versioned_object",
    "object_version",
    "node",
    "leaf",
];

#[tokio::test]
async fn delete_ehr_removes_everything_and_only_that_ehr() {
    let srv = server_with_template().await;
    let status = crate::ehr::status_for("gone");
    let ehr = srv.post("/ehr").json(&status).send().await.etag();
    let kept = srv.ehr().await;
    srv.composition(&ehr).await;
    srv.composition(&kept).await;
    assert!(rows(&srv, "leaf", &ehr).await > 0);
    assert_eq!(rows(&srv, "ehr_subject", &ehr).await, 1);

    let res = srv.delete(&format!("/admin/ehr/{ehr}")).send().await;
    assert_eq!(res.status, 204, "{}", res.text());
    for table in TABLES {
        assert_eq!(rows(&srv, table, &ehr).await, 0, "{table}");
    }
    assert!(rows(&srv, "object_version", &kept).await >= 2);
    srv.get(&format!("/ehr/{ehr}"))
        .send()
        .await
        .problem(404, "not_found");
    srv.get("/ehr?subject_id=gone&subject_namespace=examples")
        .send()
        .await
        .problem(404, "not_found");
    srv.delete(&format!("/admin/ehr/{ehr}"))
        .send()
        .await
        .problem(404, "not_found");
    let res = srv.get(&format!("/ehr/{kept}")).send().await;
    assert_eq!(res.status, 200);
    // The subject is free again.
    let res = srv.post("/ehr").json(&status).send().await;
    assert_eq!(res.status, 201, "{}", res.text());
}

#[tokio::test]
async fn delete_composition_physically_keeps_the_ehr() {
    let srv = server_with_template().await;
    let (ehr, _, vo) = srv.ehr_with_composition().await;
    let kept = srv.composition(&ehr).await;
    let res = srv
        .delete(&format!("/admin/ehr/{ehr}/composition/{vo}"))
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    assert!(res.body.is_empty());
    srv.get(&format!("/ehr/{ehr}/composition/{vo}"))
        .send()
        .await
        .problem(404, "not_found");
    srv.get(&format!("/ehr/{ehr}/versioned_composition/{vo}"))
        .send()
        .await
        .problem(404, "not_found");
    assert_eq!(
        srv.get(&format!("/ehr/{ehr}/composition/{kept}"))
            .send()
            .await
            .status,
        200
    );
    assert_eq!(srv.get(&format!("/ehr/{ehr}")).send().await.status, 200);
    // Gone, an unknown EHR, ids that are not UUIDs.
    srv.delete(&format!("/admin/ehr/{ehr}/composition/{vo}"))
        .send()
        .await
        .problem(404, "not_found");
    srv.delete(&format!(
        "/admin/ehr/{}/composition/{vo}",
        uuid::Uuid::new_v4()
    ))
    .send()
    .await
    .problem(404, "not_found");
    srv.delete(&format!("/admin/ehr/{ehr}/composition/{kept}"))
        .send()
        .await
        .problem(404, "not_found");
    srv.delete(&format!("/admin/ehr/nope/composition/{vo}"))
        .send()
        .await
        .problem(404, "not_found");
}

#[tokio::test]
async fn delete_template_only_when_no_composition_uses_it() {
    let srv = server_with_template().await;
    let (ehr, _, vo) = srv.ehr_with_composition().await;
    let path = "/admin/template/adl1.4/cdr_test_vitals.v1";
    let p = srv.delete(path).send().await.problem(422, "in_use");
    assert!(
        p["detail"].as_str().unwrap().contains("cdr_test_vitals.v1"),
        "{p}"
    );
    let res = srv
        .delete(&format!("/admin/ehr/{ehr}/composition/{vo}"))
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    let res = srv.delete(path).send().await;
    assert_eq!(res.status, 204, "{}", res.text());
    srv.get("/definition/template/adl1.4/cdr_test_vitals.v1")
        .send()
        .await
        .problem(404, "not_found");
    srv.delete(path).send().await.problem(404, "not_found");
    srv.delete("/admin/template/adl1.4/no%20such%20template")
        .send()
        .await
        .problem(404, "not_found");
    // Commits now name an unknown template; uploading it again works.
    srv.post(&format!("/ehr/{ehr}/composition"))
        .body("application/json", crate::common::COMPOSITION)
        .send()
        .await
        .problem(422, "validation_failed");
    assert_eq!(srv.upload(crate::common::OPT).await.status, 201);
}

/// The fixture OPT under another template id.
fn opt_named(id: &str) -> String {
    crate::common::OPT.replacen(
        "<value>cdr_test_vitals.v1</value>",
        &format!("<value>{id}</value>"),
        1,
    )
}

/// Asserts EHRbase's refusal to `verb` the fixture template, used by the composition `vo`.
fn refused_in_use(res: crate::common::Resp, verb: &str, vo: &str) {
    let body = res.problem(422, "in_use");
    let expected = format!(
        "Cannot {verb} template cdr_test_vitals.v1 since it is used by at least one composition"
    );
    assert_eq!(body["message"], expected);
    assert_eq!(body["used_by"], serde_json::json!([vo]));
}

#[tokio::test]
async fn ehrbase_template_admin_replace_and_delete() {
    let srv = server_with_template().await;
    let spare = opt_named("cdr_spare.v1");
    assert_eq!(srv.upload(&spare).await.status, 201);
    let (ehr, _, vo) = srv.ehr_with_composition().await;

    // Replacing: an unused template takes the new OPT (its parsed form too).
    let renamed = spare.replacen("<concept>", "<concept>renamed ", 1);
    let res = srv
        .put("/admin/template/cdr_spare.v1")
        .body("application/xml", renamed.clone())
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("application/xml"));
    assert_eq!(res.text(), renamed);
    let res = srv
        .get("/definition/template/adl1.4/cdr_spare.v1")
        .send()
        .await;
    assert_eq!(res.text(), renamed);
    let list = srv.get("/definition/template/adl1.4").send().await.json();
    let spare_meta = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["template_id"] == "cdr_spare.v1")
        .unwrap();
    assert!(
        spare_meta["concept"]
            .as_str()
            .unwrap()
            .starts_with("renamed "),
        "{list}"
    );
    // `Prefer: return=minimal`: 200 without a body.
    let res = srv
        .put("/admin/template/cdr_spare.v1")
        .header("Prefer", "return=minimal")
        .body("application/xml", renamed.clone())
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res.body.is_empty(), "{}", res.text());
    assert_eq!(res.etag(), "cdr_spare.v1");
    // … but not an unknown one (EHRbase's words), another template's OPT, no OPT, or not XML;
    // the body is judged before the template is looked up.
    let body = srv
        .put("/admin/template/no_such.v1")
        .body("application/xml", opt_named("no_such.v1"))
        .send()
        .await
        .problem(404, "not_found");
    assert_eq!(
        body["message"],
        "Template with id no_such.v1 does not exist"
    );
    assert_eq!(body["error"], "Not Found");
    srv.put("/admin/template/cdr_spare.v1")
        .body("application/xml", opt_named("cdr_other.v1"))
        .send()
        .await
        .problem(400, "bad_request");
    srv.put("/admin/template/cdr_spare.v1")
        .body("application/xml", "")
        .send()
        .await
        .problem(400, "bad_request");
    for content_type in ["application/json", "application/xml"] {
        for id in ["cdr_spare.v1", "test"] {
            srv.put(&format!("/admin/template/{id}"))
                .body(content_type, r#"{"foo": "bar"}"#)
                .send()
                .await
                .problem(400, "bad_request");
        }
    }
    // … nor one that compositions were committed with: EHRbase's words, the compositions named.
    let res = srv
        .put("/admin/template/cdr_test_vitals.v1")
        .body("application/xml", crate::common::OPT)
        .send()
        .await;
    refused_in_use(res, "update", &vo);

    // Deleting one: refused while used, 200 {"deleted": 1} when not, 404 when unknown.
    let res = srv
        .delete("/admin/template/cdr_test_vitals.v1")
        .send()
        .await;
    refused_in_use(res, "delete", &vo);
    let res = srv.delete("/admin/template/cdr_spare.v1").send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json(), serde_json::json!({"deleted": 1}));
    for path in [
        "/admin/template/cdr_spare.v1",
        "/admin/template/adl1.4/cdr_spare.v1",
    ] {
        let body = srv.delete(path).send().await.problem(404, "not_found");
        assert_eq!(
            body["message"],
            "Operational template with id cdr_spare.v1 not found."
        );
    }

    // Deleting all: nothing while any is used, naming the used ones.
    assert_eq!(srv.upload(&spare).await.status, 201);
    let res = srv.delete("/admin/template/all").send().await;
    refused_in_use(res, "delete", &vo);
    assert_eq!(
        srv.get("/definition/template/adl1.4")
            .send()
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let res = srv
        .delete(&format!("/admin/ehr/{ehr}/composition/{vo}"))
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    let res = srv.delete("/admin/template/all").send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json(), serde_json::json!({"deleted": 2}));
    let res = srv.delete("/admin/template/all").send().await;
    assert_eq!(res.json(), serde_json::json!({"deleted": 0}));
    assert!(srv
        .get("/definition/template/adl1.4")
        .send()
        .await
        .json()
        .as_array()
        .unwrap()
        .is_empty());
}

/// EHRbase's `DELETE /admin/ehr/{ehr_id}/directory/{directory_id}`: the directory and every
/// version of it go; the EHR stays and may get a new one. Only the EHR's directory is found.
#[tokio::test]
async fn delete_directory_physically() {
    let srv = server_with_template().await;
    let (ehr, _, vo) = srv.ehr_with_composition().await;
    let folder = serde_json::json!({"_type": "FOLDER",
        "archetype_node_id": "openEHR-EHR-FOLDER.generic.v1", "name": {"value": "root"}});
    let dir = format!("/ehr/{ehr}/directory");
    let v1 = srv.post(&dir).json(&folder).send().await.etag();
    let res = srv
        .put(&dir)
        .header("If-Match", &v1)
        .json(&folder)
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    let dir_id = v1.split("::").next().unwrap().to_owned();
    let before = rows(&srv, "object_version", &ehr).await;

    // Not the directory: a composition's id, an unknown id, a malformed one, an unknown EHR.
    for target in [
        format!("/admin/ehr/{ehr}/directory/{vo}"),
        format!("/admin/ehr/{ehr}/directory/{}", uuid::Uuid::new_v4()),
        format!("/admin/ehr/{ehr}/directory/{v1}"),
        format!("/admin/ehr/{}/directory/{dir_id}", uuid::Uuid::new_v4()),
    ] {
        srv.delete(&target).send().await.problem(404, "not_found");
    }
    assert_eq!(rows(&srv, "object_version", &ehr).await, before);

    let res = srv
        .delete(&format!("/admin/ehr/{ehr}/directory/{dir_id}"))
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    assert!(res.body.is_empty());
    assert_eq!(rows(&srv, "object_version", &ehr).await, before - 2);
    srv.get(&dir).send().await.problem(404, "not_found");
    srv.get(&format!("{dir}/{v1}"))
        .send()
        .await
        .problem(404, "not_found");
    srv.delete(&format!("/admin/ehr/{ehr}/directory/{dir_id}"))
        .send()
        .await
        .problem(404, "not_found");
    // The composition stays; a new directory can be made.
    let res = srv
        .get(&format!("/ehr/{ehr}/composition/{vo}"))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let res = srv.post(&dir).json(&folder).send().await;
    assert_eq!(res.status, 201, "{}", res.text());
}

/// EHRbase's `DELETE /admin/ehr/{ehr_id}/contribution/{contribution_uid}` is not offered: 501,
/// saying why (a 501's detail is for the client, unlike a 500's).
#[tokio::test]
async fn delete_contribution_is_not_implemented() {
    let srv = server_with_template().await;
    let ehr = srv.ehr().await;
    let contribution = uuid::Uuid::new_v4();
    let res = srv
        .delete(&format!("/admin/ehr/{ehr}/contribution/{contribution}"))
        .send()
        .await;
    let body = res.problem(501, "not_implemented");
    assert_eq!(body["error"], "Not Implemented");
    assert!(
        body["message"].as_str().unwrap().contains("contribution"),
        "{body}"
    );
    let res = srv
        .delete(&format!("/admin/ehr/{ehr}/contribution/{contribution}"))
        .header("Accept", "application/xml")
        .send()
        .await;
    assert_eq!(res.status, 501);
    assert!(
        res.text().contains("<error>Not Implemented</error>"),
        "{}",
        res.text()
    );
}
