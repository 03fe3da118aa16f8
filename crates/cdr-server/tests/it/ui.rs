//! The app's files under `/ui/`: served without credentials (they hold no data) and without
//! audit events, with headers that let the pages run their own scripts, loadable by another
//! origin's page (to embed `<cdr-form>`), and never from outside the folder; and the queries
//! and permission probes the clinician's app sends answer as it reads them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use cdr_server::http::auth::AuthConfig;
use cdr_server::http::auth_basic::hash_password;
use cdr_server::http::ServeOptions;

use crate::common::{
    audit_trail, request_to, server_on, server_with_options, test_options, Server,
};

#[tokio::test]
async fn the_app_files_are_served_to_anyone_unaudited() {
    // With Basic authentication on: no credentials are needed for the files.
    let srv = server_with_options(ServeOptions {
        auth: AuthConfig::Basic,
        ..test_options()
    })
    .await;
    let page = request_to(srv.addr, "GET", "/ui/").send().await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(page.text().contains("<html"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    assert_eq!(page.header("x-frame-options"), Some("SAMEORIGIN"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));

    let script = request_to(srv.addr, "GET", "/ui/cdr-form.js").send().await;
    assert_eq!(script.status, 200);
    assert!(script
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    assert!(script.text().contains("customElements.define('cdr-form'"));
    assert_eq!(script.header("access-control-allow-origin"), Some("*"));

    // The bare path and the app's own places (a deep link) are its page.
    for place in [
        "/ui",
        "/ui/ehr?subject_id=9990001234&subject_namespace=uk.nhs.nhs_number",
    ] {
        let res = request_to(srv.addr, "GET", place).send().await;
        assert_eq!(res.text(), page.text(), "{place}");
    }

    for missing in ["/ui/nothing.js", "/ui/..%2fCargo.toml", "/ui/.hidden"] {
        let res = request_to(srv.addr, "GET", missing).send().await;
        assert_eq!(res.status, 404, "{missing}: {}", res.text());
    }
    // What the app is told: the base path and how to sign in.
    let config = request_to(srv.addr, "GET", "/ui/config.json").send().await;
    assert_eq!(config.status, 200);
    assert_eq!(
        config.json(),
        serde_json::json!({"base": "/openehr/v1", "auth": "basic"})
    );
    // The API itself still asks who is calling.
    let api = request_to(srv.addr, "GET", "/openehr/v1/definition/template/adl1.4")
        .send()
        .await;
    assert_eq!(api.status, 401);
    // Only that refusal is in the trail.
    let trail = audit_trail(&srv.store, None).await;
    assert!(
        trail.iter().all(|r| !r
            .event
            .resource
            .as_deref()
            .unwrap_or_default()
            .contains("/ui")),
        "{trail:?}"
    );
}

#[tokio::test]
async fn a_ui_folder_replaces_the_built_in_files() {
    let dir = std::env::temp_dir().join(format!("cdr-ui-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<html>working copy</html>").unwrap();
    let srv = server_with_options(ServeOptions {
        ui_dir: Some(dir.clone()),
        ..test_options()
    })
    .await;
    let page = request_to(srv.addr, "GET", "/ui/").send().await;
    assert_eq!(page.text(), "<html>working copy</html>");
    let absent = request_to(srv.addr, "GET", "/ui/cdr-form.js").send().await;
    assert_eq!(absent.status, 404);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_app_is_told_how_to_sign_in_with_oidc() {
    let mut oidc = cdr_server::http::auth::OidcConfig::new(
        "https://id.example.org/realms/cdr",
        vec!["cdr-api".into()],
    );
    oidc.jwks_file = Some(std::env::temp_dir().join("no-such-jwks.json"));
    let srv = server_with_options(ServeOptions {
        auth: AuthConfig::Oidc(oidc),
        ui_client_id: Some("cdr-ui".into()),
        ..test_options()
    })
    .await;
    let config = request_to(srv.addr, "GET", "/ui/config.json").send().await;
    assert_eq!(
        config.json(),
        serde_json::json!({"base": "/openehr/v1", "auth": "oidc", "oidc": {
            "issuer": "https://id.example.org/realms/cdr", "client_id": "cdr-ui",
            "scope": "openid profile"}})
    );
}

/// A string constant of the app's `app-api.js` (`const NAME = '…' + '…';`), as it sends it.
fn app_constant(name: &str) -> String {
    let (_, js) = cdr_server::http::ui::FILES
        .iter()
        .find(|(n, _)| *n == "app-api.js")
        .expect("the app's API module");
    let start = js
        .find(&format!("const {name} = "))
        .unwrap_or_else(|| panic!("app-api.js has no {name}"));
    let rest = &js[start..];
    let end = rest.find(";\n").expect("the constant ends");
    rest[..end].split('\'').skip(1).step_by(2).collect()
}

const URGENT_FLAT: &str = include_str!("../../../../templates/urgent_care_plan/example.flat.json");
const SUPPORT_FLAT: &str =
    include_str!("../../../../templates/care_and_support_plan/example.flat.json");
const ECTP_FLAT: &str =
    include_str!("../../../../templates/emergency_care_and_treatment_plan/example.flat.json");
const FLAT: &str = "application/openehr.wt.flat+json";

/// The rows of the app's query `name` over `ehr`, as `caller`, sorted by their first column.
async fn app_query(srv: &Server, caller: &str, ehr: &str, name: &str) -> Vec<Value> {
    let res = srv
        .post("/query/aql")
        .header("Authorization", caller)
        .json(&json!({"q": app_constant(name), "query_parameters": {"ehr_id": ehr}}))
        .send()
        .await;
    assert_eq!(res.status, 200, "{name}: {}", res.text());
    let mut rows = res.json()["rows"].as_array().cloned().expect("rows");
    rows.sort_by_key(|r| r[0].as_str().map(str::to_owned));
    rows
}

/// A Basic authentication header.
fn basic(user: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{user} secret")))
}

#[tokio::test]
async fn the_apps_queries_and_permission_probes_answer_as_it_reads_them() {
    // Signed-in users as the app meets them: two clinicians of different organisations (the
    // EHR is north's), a reader, and an administrator who uploads the templates.
    let store = cdr_testkit::fresh_store().await;
    for (name, role, org) in [
        ("north", "clinician", "north"),
        ("south", "clinician", "south"),
        ("reader", "reader", "north"),
        ("admin", "admin", "north"),
    ] {
        let user = cdr_store::User {
            username: name.to_owned(),
            password_hash: hash_password(&format!("{name} secret")).unwrap(),
            full_name: None,
            roles: vec![role.to_owned()],
            organisation: Some(org.to_owned()),
            teams: Vec::new(),
            patient_id: None,
        };
        store.add_user(&user).await.unwrap();
    }
    let srv = server_on(
        store,
        ServeOptions {
            auth: AuthConfig::Basic,
            ..test_options()
        },
    );
    let (north, south, reader) = (basic("north"), basic("south"), basic("reader"));
    for model in cdr_server::models::default_models().expect("the care-plan models compile") {
        let res = srv
            .post("/definition/template/adl1.4")
            .header("Authorization", &basic("admin"))
            .body("application/xml", model.opt)
            .send()
            .await;
        assert_eq!(res.status, 201, "{}: {}", model.template_id, res.text());
    }
    let res = srv
        .post("/ehr")
        .header("Authorization", &north)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let ehr = res.etag();
    let mut uids = Vec::new();
    for (template, flat) in [
        ("cdr_urgent_care_plan.v0", URGENT_FLAT),
        ("cdr_care_and_support_plan.v0", SUPPORT_FLAT),
        ("cdr_emergency_care_and_treatment_plan.v0", ECTP_FLAT),
    ] {
        let res = srv
            .post(&format!("/ehr/{ehr}/composition?templateId={template}"))
            .header("Authorization", &north)
            .body(FLAT, flat)
            .send()
            .await;
        assert_eq!(res.status, 201, "{template}: {}", res.text());
        uids.push(res.etag());
    }
    // The urgent care plan is updated once: the list shows its version 2 only.
    let vo = uids[0].split("::").next().unwrap().to_owned();
    let res = srv
        .put(&format!(
            "/ehr/{ehr}/composition/{vo}?templateId=cdr_urgent_care_plan.v0"
        ))
        .header("Authorization", &north)
        .header("If-Match", &format!("\"{}\"", uids[0]))
        .body(FLAT, URGENT_FLAT)
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    uids[0] = res.etag();

    let find = |rows: &[Value], uid: &str| -> Value {
        rows.iter()
            .find(|r| r[0] == uid)
            .cloned()
            .unwrap_or_else(|| panic!("no row of {uid} in {rows:?}"))
    };

    // Every composition, its latest version: name, template, start time, committer, time.
    let plans = app_query(&srv, &north, &ehr, "PLANS_AQL").await;
    assert_eq!(plans.len(), 3, "{plans:?}");
    let urgent = find(&plans, &uids[0]);
    assert!(uids[0].ends_with("::2"), "{}", uids[0]);
    assert_eq!(urgent[1], "Urgent care plan");
    assert_eq!(urgent[2], "cdr_urgent_care_plan.v0");
    assert_eq!(urgent[3], "2026-11-20T14:30:00Z");
    assert!(urgent[4].is_string() && urgent[5].is_string(), "{urgent:?}");
    // The plan status of each (cdr_plan_agreement).
    let status = app_query(&srv, &north, &ehr, "STATUS_AQL").await;
    for uid in &uids {
        assert_eq!(find(&status, uid)[1], "Agreed", "{status:?}");
    }
    // The CPR decisions and preferred places.
    let decisions = app_query(&srv, &north, &ehr, "URGENT_AQL").await;
    let ucp: Vec<&Value> = decisions.iter().filter(|r| r[0] == uids[0]).collect();
    assert!(
        ucp.iter()
            .any(|r| r[1] == "Not for attempted CPR" && r[2] == "2026-11-20T15:00:00Z"),
        "{decisions:?}"
    );
    assert!(
        ucp.iter().any(|r| r[3] == "Home" && r[4] == "Home"),
        "{decisions:?}"
    );
    assert!(
        decisions
            .iter()
            .any(|r| r[0] == uids[2] && r[1] == "Not for attempted CPR"),
        "{decisions:?}"
    );
    assert!(!decisions.iter().any(|r| r[0] == uids[1]), "{decisions:?}");

    // Whether the caller's roles may write: an undecodable EHR is 403 for a reader, 400 for
    // a clinician (nothing is created).
    for (caller, status) in [(&reader, 403), (&north, 400)] {
        let res = srv
            .post("/ehr")
            .header("Authorization", caller)
            .body("application/json", "!")
            .send()
            .await;
        assert_eq!(res.status, status, "{caller}: {}", res.text());
    }
    // Whether they may write into this EHR: the template's example as a dry run is 200 for
    // the organisation that has the record, 403 for another that may only read it.
    let example = srv
        .get("/definition/template/adl1.4/cdr_urgent_care_plan.v0/example?format=FLAT")
        .header("Authorization", &north)
        .send()
        .await;
    assert_eq!(example.status, 200);
    for (caller, status) in [(&north, 200), (&south, 403)] {
        let res = srv
            .post(&format!(
                "/ehr/{ehr}/composition?templateId=cdr_urgent_care_plan.v0&dry_run=true"
            ))
            .header("Authorization", caller)
            .body(FLAT, example.text())
            .send()
            .await;
        assert_eq!(res.status, status, "{caller}: {}", res.text());
        let read = srv
            .get(&format!("/ehr/{ehr}/composition/{vo}"))
            .header("Authorization", caller)
            .send()
            .await;
        assert_eq!(read.status, 200, "{caller} reads the plan");
    }
    let plans_after = app_query(&srv, &north, &ehr, "PLANS_AQL").await;
    assert_eq!(plans_after, plans, "the probes stored nothing");
}
