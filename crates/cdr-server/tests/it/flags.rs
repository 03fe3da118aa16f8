//! Care-plan flags: `GET /flags` for one subject and `POST /flags` for many, from the EHRs'
//! current care-plan compositions (the shipped care-plan templates, and templates named as
//! such), only what the caller may see.

use serde_json::{json, Value};

use cdr_server::http::ServeOptions;

use crate::common::{server_with_options, test_options, Server, COMPOSITION, OPT};
use crate::ehr::status_for;

/// A server with the care-plan templates cdr ships and the fixture template, which
/// `--flag-template` names a care plan too.
async fn flag_server() -> Server {
    let srv = server_with_options(ServeOptions {
        flag_templates: vec!["cdr_test_vitals.v1".into()],
        ..test_options()
    })
    .await;
    cdr_server::models::install_defaults(&srv.store, &cdr_store::Principal::local())
        .await
        .unwrap();
    assert_eq!(srv.upload(OPT).await.status, 201);
    srv
}

fn example_plan() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../templates/urgent_care_plan/example.flat.json");
    std::fs::read_to_string(path).unwrap()
}

async fn post_plan(srv: &Server, ehr: &str) -> String {
    let res = srv
        .post(&format!(
            "/ehr/{ehr}/composition?templateId=cdr_urgent_care_plan.v0"
        ))
        .body("application/openehr.wt.flat+json", example_plan())
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    res.etag()
}

#[tokio::test]
async fn flags_name_the_care_plans_of_each_subject() {
    let srv = flag_server().await;
    // ucp01: an urgent care plan, updated once; ucp02: an EHR with only a non-care-plan
    // composition… of a template named a care plan by the server's options; ucp03: an EHR
    // without compositions; ucp04: no EHR.
    let ehr1 = srv
        .post("/ehr")
        .json(&status_for("ucp01"))
        .send()
        .await
        .etag();
    let v1 = post_plan(&srv, &ehr1).await;
    let vo = v1.split("::").next().unwrap().to_owned();
    let res = srv
        .put(&format!(
            "/ehr/{ehr1}/composition/{vo}?templateId=cdr_urgent_care_plan.v0"
        ))
        .header("If-Match", &format!("\"{v1}\""))
        .body("application/openehr.wt.flat+json", example_plan())
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    let v2 = res.etag();
    let ehr2 = srv
        .post("/ehr")
        .json(&status_for("ucp02"))
        .send()
        .await
        .etag();
    let res = srv
        .post(&format!("/ehr/{ehr2}/composition"))
        .body("application/json", COMPOSITION)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let ehr3 = srv
        .post("/ehr")
        .json(&status_for("ucp03"))
        .send()
        .await
        .etag();

    let res = srv
        .get("/flags?subject_id=ucp01&subject_namespace=examples")
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let one = res.json();
    assert_eq!(one["ehr_id"], json!(ehr1));
    assert_eq!(one["has_care_plan"], json!(true));
    let plans = one["care_plans"].as_array().unwrap();
    assert_eq!(plans.len(), 1, "{one}");
    assert_eq!(plans[0]["uid"], json!(v2), "the current version");
    assert_eq!(plans[0]["template_id"], json!("cdr_urgent_care_plan.v0"));
    assert_eq!(plans[0]["status"], json!("complete"));
    assert!(plans[0]["last_changed"].as_str().unwrap().starts_with("20"));
    assert!(plans[0]["name"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .contains("urgent care plan"));

    let ids = json!(["ucp04", "ucp03", "ucp02", "ucp01"]);
    let res = srv
        .post("/flags")
        .json(&json!({"subject_namespace": "examples", "subject_ids": ids}))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let flags = res.json()["flags"].as_array().unwrap().clone();
    let summary: Vec<(Value, Value, usize)> = flags
        .iter()
        .map(|f| {
            (
                f["subject_id"].clone(),
                f["ehr_id"].clone(),
                f["care_plans"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (json!("ucp04"), Value::Null, 0),
            (json!("ucp03"), json!(ehr3), 0),
            (json!("ucp02"), json!(ehr2), 1),
            (json!("ucp01"), json!(ehr1), 1),
        ]
    );
    assert_eq!(
        flags[2]["care_plans"][0]["template_id"],
        json!("cdr_test_vitals.v1")
    );

    // A deleted plan is no longer flagged.
    let res = srv
        .delete(&format!("/ehr/{ehr1}/composition/{v2}"))
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    let res = srv
        .get("/flags?subject_id=ucp01&subject_namespace=examples")
        .send()
        .await;
    assert_eq!(res.json()["care_plans"], json!([]));
}

#[tokio::test]
async fn flag_requests_are_checked() {
    let srv = flag_server().await;
    let too_many: Vec<String> = (0..1001).map(|i| format!("s{i}")).collect();
    for (body, fragment) in [
        (json!({"subject_ids": ["a"]}), "subject_namespace"),
        (
            json!({"subject_namespace": "x", "subject_ids": "a"}),
            "subject_ids",
        ),
        (
            json!({"subject_namespace": "x", "subject_ids": ["a", 7]}),
            "subject_ids[1]",
        ),
        (
            json!({"subject_namespace": "x", "subject_ids": too_many}),
            "at most 1000",
        ),
    ] {
        let res = srv.post("/flags").json(&body).send().await;
        assert_eq!(res.status, 400, "{body}: {}", res.text());
        assert!(res.text().contains(fragment), "{fragment}: {}", res.text());
    }
    let res = srv.get("/flags?subject_id=x").send().await;
    assert_eq!(res.status, 400, "{}", res.text());
}
