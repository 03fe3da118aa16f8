//! ADMIN: physical deletion of an EHR.

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
