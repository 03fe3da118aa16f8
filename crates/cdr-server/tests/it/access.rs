//! Per-record access over HTTP: consent and grant endpoints, records the caller may not see
//! answering 404 as missing ones do, patients on their own record, break-glass and its review
//! list. The callers are set by the embedding test (an `Identify` hook reading a test header;
//! without it the caller is the local admin), as authentication would set them.

use std::sync::Arc;

use serde_json::{json, Value};

use cdr_server::http::Identify;
use cdr_store::Principal;

use crate::common::{server_identified, Server, BASE, COMPOSITION, OPT};

/// `x-test-caller: roles=clinician,reader;org=north;sub=dr-n;patient=nhs-1;teams=a,b`.
fn from_test_header(req: &actix_web::HttpRequest) -> Principal {
    let Some(spec) = req
        .headers()
        .get("x-test-caller")
        .and_then(|v| v.to_str().ok())
    else {
        return Principal::local();
    };
    let mut p = Principal::default();
    for part in spec.split(';') {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        match k {
            "roles" => p.roles = v.split(',').map(str::to_owned).collect(),
            "org" => p.organisation = Some(v.to_owned()),
            "sub" => p.subject = v.to_owned(),
            "patient" => p.patient_id = Some(v.to_owned()),
            "teams" => p.teams = v.split(',').map(str::to_owned).collect(),
            _ => panic!("unknown test caller part {part}"),
        }
    }
    p
}

async fn server() -> Server {
    let store = cdr_testkit::fresh_store().await;
    let srv = server_identified(store, Identify(Arc::new(from_test_header)));
    let res = srv.upload(OPT).await;
    assert_eq!(res.status, 201, "{}", res.text());
    srv
}

const NORTH: &str = "roles=clinician;org=north;sub=dr-n";
const SOUTH: &str = "roles=clinician;org=south;sub=dr-s";

/// An EHR of subject `subject` (namespace `nhs`) with the fixture composition: (EHR id,
/// version uid).
async fn patient_ehr(srv: &Server, subject: &str) -> (String, String) {
    let status = json!({
        "_type": "EHR_STATUS",
        "archetype_node_id": "openEHR-EHR-EHR_STATUS.generic.v1",
        "name": {"_type": "DV_TEXT", "value": "EHR Status"},
        "subject": {"_type": "PARTY_SELF", "external_ref": {"_type": "PARTY_REF",
            "id": {"_type": "GENERIC_ID", "value": subject, "scheme": "nhs"},
            "namespace": "nhs", "type": "PERSON"}},
        "is_queryable": true, "is_modifiable": true,
    });
    let res = srv.post("/ehr").json(&status).send().await;
    assert_eq!(res.status, 201, "{}", res.text());
    let ehr = res.etag();
    let uid = srv.composition(&ehr).await;
    (ehr, uid)
}

async fn withhold(srv: &Server, ehr: &str) {
    let res = srv
        .put(&format!("/ehr/{ehr}/consent"))
        .json(&json!({"state": "withheld"}))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
}

fn count_of(res: &crate::common::Resp) -> Value {
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()["rows"][0][0].clone()
}

#[tokio::test]
async fn consent_and_grants_decide_who_sees_a_record() {
    let srv = server().await;
    let (ehr, uid) = patient_ehr(&srv, "nhs-1").await;
    // Nothing recorded: the defaults, shared.
    let res = srv.get(&format!("/ehr/{ehr}/consent")).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["state"], "given");
    assert_eq!(body["recorded"], false);
    let res = srv
        .get(&format!("/ehr/{ehr}"))
        .header("x-test-caller", NORTH)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());

    // Withheld: a clinician without a grant meets a 404 exactly like a missing EHR's.
    withhold(&srv, &ehr).await;
    let res = srv.get(&format!("/ehr/{ehr}/consent")).send().await;
    let body = res.json();
    assert_eq!(body["state"], "withheld");
    assert_eq!(body["secondary_use"], false);
    assert_eq!(body["recorded_by"], "local");
    let missing = uuid::Uuid::new_v4().to_string();
    for path in [
        format!("/ehr/{ehr}"),
        format!("/ehr/{ehr}/composition/{uid}"),
        format!("/ehr/{ehr}/ehr_status"),
        format!("/ehr/{ehr}/versioned_ehr_status/revision_history"),
        format!("/ehr/{ehr}/consent"),
        format!("/ehr/{ehr}/grants"),
    ] {
        let res = srv.get(&path).header("x-test-caller", NORTH).send().await;
        let hidden = res.problem(404, "not_found");
        let res = srv
            .get(&path.replace(&ehr, &missing))
            .header("x-test-caller", NORTH)
            .send()
            .await;
        let absent = res.problem(404, "not_found");
        assert_eq!(
            hidden["detail"].as_str().unwrap().replace(&ehr, "X"),
            absent["detail"].as_str().unwrap().replace(&missing, "X"),
            "{path}"
        );
    }
    let aql = json!({"q": "SELECT COUNT(*) FROM EHR e CONTAINS COMPOSITION c"});
    let res = srv
        .post("/query/aql")
        .header("x-test-caller", NORTH)
        .json(&aql)
        .send()
        .await;
    assert_eq!(count_of(&res), json!(0));

    // A read grant to the organisation: readable, not writable (403); the other
    // organisation still sees nothing.
    let res = srv
        .post(&format!("/ehr/{ehr}/grants"))
        .json(&json!({"grantee_type": "organisation", "grantee": "north", "access": "read"}))
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let grant = res.json();
    assert_eq!(grant["grantee"], "north");
    let location = res.header("location").unwrap().to_owned();
    assert!(location.ends_with(&format!(
        "/ehr/{ehr}/grants/{}",
        grant["id"].as_str().unwrap()
    )));
    for path in [
        format!("/ehr/{ehr}"),
        format!("/ehr/{ehr}/composition/{uid}"),
    ] {
        let res = srv.get(&path).header("x-test-caller", NORTH).send().await;
        assert_eq!(res.status, 200, "{path}: {}", res.text());
        let res = srv.get(&path).header("x-test-caller", SOUTH).send().await;
        res.problem(404, "not_found");
    }
    let res = srv
        .post("/query/aql")
        .header("x-test-caller", NORTH)
        .json(&aql)
        .send()
        .await;
    assert_eq!(count_of(&res), json!(1));
    let res = srv
        .post(&format!("/ehr/{ehr}/composition"))
        .header("x-test-caller", NORTH)
        .json(&serde_json::from_str::<Value>(COMPOSITION).unwrap())
        .send()
        .await;
    res.problem(403, "access_denied");
    let res = srv
        .get(&format!("/ehr/{ehr}/grants"))
        .header("x-test-caller", NORTH)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["grants"].as_array().unwrap().len(), 1);
    // Managing grants and consent needs a write grant.
    let res = srv
        .put(&format!("/ehr/{ehr}/consent"))
        .header("x-test-caller", NORTH)
        .json(&json!({"state": "given"}))
        .send()
        .await;
    res.problem(403, "access_denied");
    let res = srv
        .post(&format!("/ehr/{ehr}/grants"))
        .header("x-test-caller", NORTH)
        .json(&json!({"grantee_type": "user", "grantee": "dr-n", "access": "write"}))
        .send()
        .await;
    res.problem(403, "access_denied");

    // Revoked: hidden again.
    let path = location.split(BASE).nth(1).unwrap().to_owned();
    let res = srv.delete(&path).send().await;
    assert_eq!(res.status, 204, "{}", res.text());
    let res = srv.delete(&path).send().await;
    res.problem(404, "not_found");
    let res = srv
        .get(&format!("/ehr/{ehr}"))
        .header("x-test-caller", NORTH)
        .send()
        .await;
    res.problem(404, "not_found");

    // Bad bodies: 400 naming the member, or the line and column.
    let res = srv
        .put(&format!("/ehr/{ehr}/consent"))
        .json(&json!({"state": "perhaps"}))
        .send()
        .await;
    let body = res.problem(400, "bad_request");
    assert!(
        body["detail"].as_str().unwrap().contains("\"state\""),
        "{body}"
    );
    let res = srv
        .post(&format!("/ehr/{ehr}/grants"))
        .json(
            &json!({"grantee_type": "user", "grantee": "x", "access": "read",
            "valid_from": "2030-01-01T00:00:00Z", "valid_until": "2029-01-01T00:00:00Z"}),
        )
        .send()
        .await;
    res.problem(400, "bad_request");
    let res = srv
        .put(&format!("/ehr/{ehr}/consent"))
        .body("application/json", "{\"state\": ")
        .send()
        .await;
    let body = res.problem(400, "malformed_body");
    assert_eq!(body["line"], 1, "{body}");
}

/// A grant to a team, made and listed over REST, is its members': they read and write the
/// record; a caller in other teams gets nothing from it.
#[tokio::test]
async fn a_grant_to_a_team_is_its_members() {
    let srv = server().await;
    let (ehr, uid) = patient_ehr(&srv, "nhs-1").await;
    withhold(&srv, &ehr).await;
    const STROKE: &str = "roles=clinician;sub=dr-t;teams=ward-9,stroke";
    const WARD: &str = "roles=clinician;sub=dr-u;teams=ward-9";
    let path = format!("/ehr/{ehr}/composition/{uid}");
    let res = srv.get(&path).header("x-test-caller", STROKE).send().await;
    res.problem(404, "not_found");
    let res = srv
        .post(&format!("/ehr/{ehr}/grants"))
        .json(&json!({"grantee_type": "team", "grantee": "stroke", "access": "write"}))
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let grant = res.json();
    assert_eq!(
        (&grant["grantee_type"], &grant["grantee"]),
        (&json!("team"), &json!("stroke"))
    );
    let res = srv.get(&path).header("x-test-caller", STROKE).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    let res = srv.get(&path).header("x-test-caller", WARD).send().await;
    res.problem(404, "not_found");
    let res = srv
        .post(&format!("/ehr/{ehr}/composition"))
        .header("x-test-caller", STROKE)
        .json(&serde_json::from_str::<Value>(COMPOSITION).unwrap())
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let aql = json!({"q": "SELECT COUNT(*) FROM EHR e CONTAINS COMPOSITION c"});
    for (caller, count) in [(STROKE, 2), (WARD, 0)] {
        let res = srv
            .post("/query/aql")
            .header("x-test-caller", caller)
            .json(&aql)
            .send()
            .await;
        assert_eq!(count_of(&res), json!(count), "{caller}");
    }
    let res = srv
        .get(&format!("/ehr/{ehr}/grants"))
        .header("x-test-caller", STROKE)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["grants"][0]["grantee_type"], "team");
    let res = srv
        .post(&format!("/ehr/{ehr}/grants"))
        .json(&json!({"grantee_type": "group", "grantee": "stroke", "access": "read"}))
        .send()
        .await;
    let body = res.problem(400, "bad_request");
    assert!(
        body["detail"].as_str().unwrap().contains("\"team\""),
        "{body}"
    );
}

#[tokio::test]
async fn a_clinicians_new_ehr_is_their_organisations_to_write() {
    let srv = server().await;
    let res = srv.post("/ehr").header("x-test-caller", NORTH).send().await;
    assert_eq!(res.status, 201, "{}", res.text());
    let ehr = res.etag();
    let res = srv
        .post(&format!("/ehr/{ehr}/composition"))
        .header("x-test-caller", NORTH)
        .json(&serde_json::from_str::<Value>(COMPOSITION).unwrap())
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let res = srv
        .put(&format!("/ehr/{ehr}/consent"))
        .header("x-test-caller", NORTH)
        .json(&json!({"state": "withheld", "note": "asked us not to share"}))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["recorded_by"], "dr-n");
    let res = srv
        .get(&format!("/ehr/{ehr}"))
        .header("x-test-caller", SOUTH)
        .send()
        .await;
    res.problem(404, "not_found");
    let res = srv
        .post("/ehr")
        .header("x-test-caller", "roles=reader;sub=r-1")
        .send()
        .await;
    res.problem(403, "access_denied");
}

#[tokio::test]
async fn a_patient_reads_their_own_record_only() {
    let srv = server().await;
    let (mine, _) = patient_ehr(&srv, "nhs-1").await;
    let (theirs, _) = patient_ehr(&srv, "nhs-2").await;
    let me = "roles=patient;sub=p-1;patient=nhs-1";
    let res = srv
        .get(&format!("/ehr/{mine}"))
        .header("x-test-caller", me)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let res = srv
        .get("/ehr?subject_id=nhs-1&subject_namespace=nhs")
        .header("x-test-caller", me)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    // Another's EHR and one that does not exist: the same refusal.
    let res = srv
        .get(&format!("/ehr/{theirs}"))
        .header("x-test-caller", me)
        .send()
        .await;
    res.problem(403, "access_denied");
    let other = res.json()["message"].clone();
    let res = srv
        .get(&format!("/ehr/{}", uuid::Uuid::new_v4()))
        .header("x-test-caller", me)
        .send()
        .await;
    res.problem(403, "access_denied");
    assert_eq!(res.json()["message"], other);
    let res = srv
        .get(&format!(
            "/ehr/{theirs}/composition/{}::x::1",
            uuid::Uuid::new_v4()
        ))
        .header("x-test-caller", me)
        .send()
        .await;
    res.problem(403, "access_denied");
    // On their own EHR, a version that does not exist is still 404.
    let res = srv
        .get(&format!(
            "/ehr/{mine}/composition/{}::x::1",
            uuid::Uuid::new_v4()
        ))
        .header("x-test-caller", me)
        .send()
        .await;
    res.problem(404, "not_found");
    let res = srv
        .get("/ehr?subject_id=nhs-2&subject_namespace=nhs")
        .header("x-test-caller", me)
        .send()
        .await;
    res.problem(404, "not_found");
    let res = srv
        .post("/query/aql")
        .header("x-test-caller", me)
        .json(&json!({"q": "SELECT e/ehr_id/value FROM EHR e"}))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["rows"], json!([[mine]]));
    // The patient records their own consent.
    let res = srv
        .put(&format!("/ehr/{mine}/consent"))
        .header("x-test-caller", me)
        .json(&json!({"state": "withdrawn"}))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["state"], "withdrawn");
}

#[tokio::test]
async fn break_glass_opens_a_withheld_record_and_is_listed_for_review() {
    let srv = server().await;
    let (ehr, uid) = patient_ehr(&srv, "nhs-1").await;
    withhold(&srv, &ehr).await;
    let path = format!("/ehr/{ehr}/composition/{uid}");
    let res = srv.get(&path).header("x-test-caller", SOUTH).send().await;
    res.problem(404, "not_found");
    let res = srv
        .get(&path)
        .header("x-test-caller", SOUTH)
        .header("openEHR-Break-Glass", "   ")
        .send()
        .await;
    res.problem(400, "bad_request");
    let res = srv
        .get(&path)
        .header("x-test-caller", SOUTH)
        .header("openEHR-Break-Glass", "anaphylaxis, unconscious")
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let res = srv.get("/admin/break_glass").send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    let list = res.json()["break_glass"].clone();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["ehr_id"], ehr);
    assert_eq!(list[0]["subject"], "dr-s");
    assert_eq!(list[0]["organisation"], "south");
    assert_eq!(list[0]["reason"], "anaphylaxis, unconscious");
    assert!(list[0]["valid_until"].as_str() > list[0]["valid_from"].as_str());
    // The read it opened is in the audit trail with its reason; the refused one too, without.
    srv.store.flush_audit().await.unwrap();
    let res = srv
        .get(&format!("/admin/audit?ehr_id={ehr}&user=dr-s&action=read"))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let events = res.json()["events"].clone();
    let reasons: Vec<(u64, Value)> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["status"].as_u64().unwrap(), e["break_glass"].clone()))
        .collect();
    assert!(
        reasons.contains(&(200, json!("anaphylaxis, unconscious"))),
        "{events}"
    );
    assert!(reasons.contains(&(404, Value::Null)), "{events}");
    let res = srv
        .get(&format!(
            "/admin/break_glass?ehr_id={}",
            uuid::Uuid::new_v4()
        ))
        .send()
        .await;
    assert_eq!(res.json()["break_glass"], json!([]));
    let res = srv.get("/admin/break_glass?since=yesterday").send().await;
    res.problem(400, "invalid_parameter");
    let res = srv
        .get("/admin/break_glass")
        .header("x-test-caller", SOUTH)
        .send()
        .await;
    res.problem(403, "access_denied");
}

/// Break-glass in AQL over HTTP: a query that binds one EHR itself (its EHR predicate, or a
/// top-level WHERE on its id with a literal or a parameter) opens a withheld record with a
/// reason; a population query with a reason still leaves it out. Each use is in the review
/// list, and in the audit trail as a query of that EHR with its reason.
#[tokio::test]
async fn break_glass_in_aql_opens_the_ehr_the_query_binds() {
    let srv = server().await;
    let (ehr, _) = patient_ehr(&srv, "nhs-1").await;
    withhold(&srv, &ehr).await;
    let (other, _) = patient_ehr(&srv, "nhs-2").await;
    let forms = [
        json!({"q": format!(
            "SELECT c/uid/value FROM EHR e[ehr_id/value='{ehr}'] CONTAINS COMPOSITION c")}),
        json!({"q": format!(
            "SELECT c/uid/value FROM EHR e CONTAINS COMPOSITION c WHERE e/ehr_id/value = '{ehr}'")}),
        json!({"q": "SELECT c/uid/value FROM EHR e CONTAINS COMPOSITION c WHERE e/ehr_id/value = $e",
               "query_parameters": {"e": ehr}}),
    ];
    let query = |caller: String, body: &Value, reason: Option<String>| {
        let mut req = srv
            .post("/query/aql")
            .header("x-test-caller", &caller)
            .json(body);
        if let Some(r) = &reason {
            req = req.header("openEHR-Break-Glass", r);
        }
        async move {
            let res = req.send().await;
            assert_eq!(res.status, 200, "{}", res.text());
            res.json()["rows"].as_array().unwrap().len()
        }
    };
    let population = json!({"q": "SELECT e/ehr_id/value FROM EHR e"});
    for (i, body) in forms.iter().enumerate() {
        let caller = format!("roles=clinician;org=south;sub=dr-{i}");
        let reason = format!("collapsed on ward {i}");
        assert_eq!(query(caller.clone(), body, None).await, 0, "{body}");
        assert_eq!(query(caller.clone(), body, Some(reason.clone())).await, 1);
        // The population with a reason: the other EHR only.
        let res = srv
            .post("/query/aql")
            .header("x-test-caller", &caller)
            .header("openEHR-Break-Glass", &reason)
            .json(&population)
            .send()
            .await;
        assert_eq!(res.json()["rows"], json!([[other]]), "{body}");
    }
    // A population query with a reason breaks nothing.
    let res = srv
        .post("/query/aql")
        .header("x-test-caller", "roles=clinician;org=south;sub=dr-p")
        .header("openEHR-Break-Glass", "looking around")
        .json(&population)
        .send()
        .await;
    assert_eq!(res.json()["rows"], json!([[other]]));

    let res = srv.get("/admin/break_glass").send().await;
    let got = crate::common::break_glass_uses(&res);
    let want: Vec<(String, String, String)> = (0..3)
        .map(|i| {
            (
                ehr.clone(),
                format!("dr-{i}"),
                format!("collapsed on ward {i}"),
            )
        })
        .collect();
    assert_eq!(got, want);
    srv.store.flush_audit().await.unwrap();
    let res = srv
        .get(&format!("/admin/audit?ehr_id={ehr}&action=query"))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let events = res.json()["events"].as_array().unwrap().clone();
    for (i, body) in forms.iter().enumerate() {
        let reason = format!("collapsed on ward {i}");
        assert!(
            events.iter().any(|e| e["subject"] == format!("dr-{i}")
                && e["break_glass"] == reason.as_str()
                && e["status"] == 200
                && e["query"] == body["q"]),
            "{i}: {events:?}"
        );
    }
    assert!(events.iter().all(|e| e["subject"] != "dr-p"), "{events:?}");
}
