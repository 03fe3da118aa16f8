//! The audit of every request: one event each (a write's in its own transaction), what it
//! records, the audit trail's REST views, the 401/403 hook, and `cdr audit verify`.

use std::process::Command;

use serde_json::{json, Value};

use crate::common::{request_to, server, server_with_template, Resp, Server, BASE, COMPOSITION};

/// What one event must say: action, HTTP status (none for a write's own event, committed before
/// the answer), outcome, request, EHR and versions.
type Expected = (
    &'static str,
    Option<u16>,
    &'static str,
    String,
    Option<String>,
    Vec<String>,
);

/// The version (or object) a response names: its ETag.
fn etag(res: &Resp) -> Vec<String> {
    res.header("etag")
        .map(|e| e.trim_matches('"').to_owned())
        .into_iter()
        .collect()
}

/// The ETag of a response, else the object its path names.
fn named(res: &Resp, path_id: &str) -> Vec<String> {
    match etag(res) {
        e if e.is_empty() => vec![path_id.to_owned()],
        e => e,
    }
}

/// Every event, oldest first (by time, then number), through `GET /admin/audit`.
async fn trail(srv: &Server) -> Vec<Value> {
    srv.store.flush_audit().await.unwrap();
    let res = srv.get("/admin/audit?limit=1000").send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    let mut events = res.json()["events"].as_array().unwrap().clone();
    events.sort_by(|a, b| {
        (a["time"].as_str(), a["seq"].as_i64()).cmp(&(b["time"].as_str(), b["seq"].as_i64()))
    });
    events
}

fn seen(e: &Value) -> Expected {
    let status = e["status"].as_u64().map(|s| s as u16);
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    let action: &'static str = match e["action"].as_str().unwrap() {
        "read" => "read",
        "create" => "create",
        "update" => "update",
        "delete" => "delete",
        "query" => "query",
        "denied" => "denied",
        "login_failure" => "login_failure",
        other => panic!("unexpected action {other}"),
    };
    let outcome = if e["outcome"] == "success" {
        "success"
    } else {
        "failure"
    };
    (
        action,
        status,
        outcome,
        e["resource"].as_str().unwrap().to_owned(),
        e["ehr_id"].as_str().map(str::to_owned),
        strings(&e["versions"]),
    )
}

#[tokio::test]
async fn every_request_leaves_the_event_it_should() {
    let srv = server().await;
    let mut expected: Vec<Expected> = Vec::new();
    let b = |path: &str| format!("{BASE}{path}");
    let mut expect = |action, status: Option<u16>, resource: String, ehr: Option<&String>, v| {
        let outcome = if status.is_some_and(|s| s >= 400) {
            "failure"
        } else {
            "success"
        };
        expected.push((action, status, outcome, resource, ehr.cloned(), v));
    };

    // A template: its event commits with it, naming the template.
    let res = srv.upload(crate::common::OPT).await;
    assert_eq!(res.status, 201);
    expect(
        "create",
        None,
        format!("POST {}", b("/definition/template/adl1.4")),
        None,
        etag(&res),
    );
    // An EHR: its event commits with it, naming its EHR_STATUS version.
    let res = srv
        .post("/ehr")
        .header("Prefer", "return=representation")
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let ehr = res.etag();
    let status_uid = res.json()["ehr_status"]["id"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    expect(
        "create",
        None,
        format!("POST {}", b("/ehr")),
        Some(&ehr),
        vec![status_uid],
    );
    let res = srv.get(&format!("/ehr/{ehr}")).send().await;
    assert_eq!(res.status, 200);
    expect(
        "read",
        Some(200),
        format!("GET {}", b(&format!("/ehr/{ehr}"))),
        Some(&ehr),
        etag(&res),
    );
    // A composition: create, read, update, a stale update, history, delete, read after it.
    let v1 = srv.composition(&ehr).await;
    let vo = v1.split("::").next().unwrap().to_owned();
    expect(
        "create",
        None,
        format!("POST {}", b(&format!("/ehr/{ehr}/composition"))),
        Some(&ehr),
        vec![v1.clone()],
    );
    let res = srv
        .get(&format!("/ehr/{ehr}/composition/{v1}"))
        .send()
        .await;
    assert_eq!(res.status, 200);
    expect(
        "read",
        Some(200),
        format!("GET {}", b(&format!("/ehr/{ehr}/composition/{v1}"))),
        Some(&ehr),
        vec![v1.clone()],
    );
    let composition: Value = serde_json::from_str(COMPOSITION).unwrap();
    let res = srv
        .put(&format!("/ehr/{ehr}/composition/{vo}"))
        .header("If-Match", &v1)
        .json(&composition)
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    let v2 = res.etag();
    expect(
        "update",
        None,
        format!("PUT {}", b(&format!("/ehr/{ehr}/composition/{vo}"))),
        Some(&ehr),
        vec![v2.clone()],
    );
    let res = srv
        .put(&format!("/ehr/{ehr}/composition/{vo}"))
        .header("If-Match", &v1)
        .json(&composition)
        .send()
        .await;
    res.problem(412, "version_conflict");
    expect(
        "update",
        Some(412),
        format!("PUT {}", b(&format!("/ehr/{ehr}/composition/{vo}"))),
        Some(&ehr),
        vec![v2.clone()],
    );
    let history = format!("/ehr/{ehr}/versioned_composition/{vo}/revision_history");
    let res = srv.get(&history).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    expect(
        "read",
        Some(200),
        format!("GET {}", b(&history)),
        Some(&ehr),
        vec![vo.clone()],
    );
    let res = srv
        .delete(&format!("/ehr/{ehr}/composition/{v2}"))
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    expect(
        "delete",
        None,
        format!("DELETE {}", b(&format!("/ehr/{ehr}/composition/{v2}"))),
        Some(&ehr),
        vec![format!("{vo}::test.cdr::3")],
    );
    let res = srv
        .get(&format!("/ehr/{ehr}/composition/{vo}"))
        .send()
        .await;
    res.problem(404, "not_found");
    expect(
        "read",
        Some(404),
        format!("GET {}", b(&format!("/ehr/{ehr}/composition/{vo}"))),
        Some(&ehr),
        vec![vo.clone()],
    );
    // AQL, ad hoc and stored: the query text and its parameters.
    let aql = "SELECT c/uid/value FROM EHR e CONTAINS COMPOSITION c WHERE c/name/value != $name";
    let res = srv
        .post("/query/aql")
        .json(&json!({"q": aql, "ehr_id": ehr, "query_parameters": {"name": "x"}}))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    expect(
        "query",
        Some(200),
        format!("POST {}", b("/query/aql")),
        Some(&ehr),
        vec![],
    );
    let stored = "SELECT e/ehr_id/value FROM EHR e";
    let res = srv
        .put("/definition/query/org.test::ehrs")
        .body("text/plain", stored)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    expect(
        "create",
        None,
        format!("PUT {}", b("/definition/query/org.test::ehrs")),
        None,
        vec!["org.test::ehrs/1.0.0".to_owned()],
    );
    let res = srv.get("/query/org.test::ehrs").send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    expect(
        "query",
        Some(200),
        format!("GET {}", b("/query/org.test::ehrs")),
        None,
        vec![],
    );
    // The directory.
    let folder = json!({"_type": "FOLDER", "archetype_node_id": "openEHR-EHR-FOLDER.generic.v1",
                        "name": {"_type": "DV_TEXT", "value": "root"}});
    let res = srv
        .post(&format!("/ehr/{ehr}/directory"))
        .json(&folder)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let d1 = res.etag();
    expect(
        "create",
        None,
        format!("POST {}", b(&format!("/ehr/{ehr}/directory"))),
        Some(&ehr),
        vec![d1.clone()],
    );
    let res = srv.get(&format!("/ehr/{ehr}/directory")).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    expect(
        "read",
        Some(200),
        format!("GET {}", b(&format!("/ehr/{ehr}/directory"))),
        Some(&ehr),
        vec![d1],
    );
    // A contribution of two new compositions, then read back.
    let version = json!({
        "_type": "ORIGINAL_VERSION",
        "lifecycle_state": {"value": "complete", "defining_code":
            {"terminology_id": {"value": "openehr"}, "code_string": "532"}},
        "commit_audit": {
            "change_type": {"value": "creation", "defining_code":
                {"terminology_id": {"value": "openehr"}, "code_string": "249"}},
            "committer": {"_type": "PARTY_IDENTIFIED", "name": "Dr X"},
        },
        "data": composition,
    });
    let res = srv
        .post(&format!("/ehr/{ehr}/contribution"))
        .header("Prefer", "return=representation")
        .json(
            &json!({"audit": {"change_type": {"value": "creation", "defining_code":
            {"terminology_id": {"value": "openehr"}, "code_string": "249"}},
            "committer": {"_type": "PARTY_IDENTIFIED", "name": "Dr X"}},
            "versions": [version.clone(), version]}),
        )
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let contribution = res.etag();
    let mut committed: Vec<String> = res.json()["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"]["value"].as_str().unwrap().to_owned())
        .collect();
    committed.sort();
    expect(
        "create",
        None,
        format!("POST {}", b(&format!("/ehr/{ehr}/contribution"))),
        Some(&ehr),
        committed,
    );
    let res = srv
        .get(&format!("/ehr/{ehr}/contribution/{contribution}"))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    expect(
        "read",
        Some(200),
        format!(
            "GET {}",
            b(&format!("/ehr/{ehr}/contribution/{contribution}"))
        ),
        Some(&ehr),
        named(&res, &contribution),
    );
    // Requests that name nothing that exists are recorded too.
    let res = srv.get("/no/such/route").send().await;
    res.problem(404, "route_not_found");
    expect(
        "read",
        Some(404),
        format!("GET {}", b("/no/such/route")),
        None,
        vec![],
    );
    // The admin delete: in its own transaction.
    let res = srv.delete(&format!("/admin/ehr/{ehr}")).send().await;
    assert_eq!(res.status, 204, "{}", res.text());
    expect(
        "delete",
        None,
        format!("DELETE {}", b(&format!("/admin/ehr/{ehr}"))),
        Some(&ehr),
        vec![],
    );
    // Not audited: what describes the server.
    assert_eq!(srv.get("/").send().await.status, 200);
    assert_eq!(srv.raw("GET", "/health").send().await.status, 200);

    let events = trail(&srv).await;
    let mut got: Vec<Expected> = events.iter().map(seen).collect();
    // A contribution's versions in a stable order.
    for g in &mut got {
        g.5.sort();
    }
    assert_eq!(got, expected);
    // Who and from where, on every event; the queries' text and parameters.
    for e in &events {
        assert_eq!(e["subject"], "local", "{e}");
        assert_eq!(e["roles"], json!(["admin"]), "{e}");
        assert_eq!(e["address"], "127.0.0.1", "{e}");
    }
    let queries: Vec<&Value> = events.iter().filter(|e| e["action"] == "query").collect();
    assert_eq!(queries[0]["query"], aql);
    assert_eq!(queries[0]["query_parameters"]["name"], "x");
    assert_eq!(queries[1]["query"], stored);
    // The listing itself was recorded afterwards.
    let last = trail(&srv).await.pop().unwrap();
    assert_eq!(
        (last["action"].as_str(), last["resource"].as_str()),
        (
            Some("read"),
            Some(format!("GET {BASE}/admin/audit?limit=1000").as_str())
        )
    );
}

/// Template changes (upload, replace, delete, delete all) and stored-query changes (store,
/// delete) commit their event in their own transaction: each leaves exactly one event, with
/// its action and object and no HTTP status (the request is not recorded again); a refused
/// change leaves only the request's failure.
#[tokio::test]
async fn template_and_stored_query_changes_commit_their_event() {
    let srv = server().await;
    let b = |path: &str| format!("{BASE}{path}");
    let mut expected: Vec<Expected> = Vec::new();
    let mut expect = |action, status: Option<u16>, resource: String, object: Option<&str>| {
        let outcome = match status {
            Some(s) if s >= 400 => "failure",
            _ => "success",
        };
        let versions = object.map(str::to_owned).into_iter().collect();
        expected.push((action, status, outcome, resource, None, versions));
    };
    let upload = format!("POST {}", b("/definition/template/adl1.4"));
    let res = srv.upload(crate::common::OPT).await;
    assert_eq!(res.status, 201, "{}", res.text());
    let id = res.etag();
    expect("create", None, upload.clone(), Some(&id));
    // The same OPT again, and another OPT under the same id: refused, nothing changed.
    let res = srv.upload(crate::common::OPT).await;
    res.problem(409, "conflict");
    expect("create", Some(409), upload.clone(), None);
    let other = crate::common::OPT.replacen("<concept>", "<concept>x", 1);
    assert_ne!(other, crate::common::OPT);
    let res = srv.upload(&other).await;
    assert_eq!(res.status, 409, "{}", res.text());
    expect("create", Some(409), upload.clone(), None);
    let res = srv
        .put(&format!("/admin/template/{id}"))
        .body("application/xml", crate::common::OPT)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    expect(
        "update",
        None,
        format!("PUT {}", b(&format!("/admin/template/{id}"))),
        Some(&id),
    );
    let res = srv
        .put("/definition/query/org.test::q")
        .body("text/plain", "SELECT e/ehr_id/value FROM EHR e")
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    expect(
        "create",
        None,
        format!("PUT {}", b("/definition/query/org.test::q")),
        Some("org.test::q/1.0.0"),
    );
    let res = srv
        .put("/definition/query/org.test::q/1.0.0")
        .body("text/plain", "SELECT e/ehr_id/value FROM EHR e")
        .send()
        .await;
    assert_eq!(res.status, 409, "{}", res.text());
    expect(
        "update",
        Some(409),
        format!("PUT {}", b("/definition/query/org.test::q/1.0.0")),
        None,
    );
    let res = srv.delete("/admin/query/org.test::q/1.0.0").send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    expect(
        "delete",
        None,
        format!("DELETE {}", b("/admin/query/org.test::q/1.0.0")),
        Some("org.test::q/1.0.0"),
    );
    let res = srv.delete("/admin/query/org.test::q/1.0.0").send().await;
    res.problem(404, "not_found");
    expect(
        "delete",
        Some(404),
        format!("DELETE {}", b("/admin/query/org.test::q/1.0.0")),
        None,
    );
    let path = format!("/admin/template/adl1.4/{id}");
    let res = srv.delete(&path).send().await;
    assert_eq!(res.status, 204, "{}", res.text());
    expect("delete", None, format!("DELETE {}", b(&path)), Some(&id));
    let res = srv.delete(&path).send().await;
    res.problem(404, "not_found");
    expect("delete", Some(404), format!("DELETE {}", b(&path)), None);
    let res = srv.upload(crate::common::OPT).await;
    assert_eq!(res.status, 201, "{}", res.text());
    expect("create", None, upload, Some(&id));
    let res = srv.delete("/admin/template/all").send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["deleted"], 1);
    expect(
        "delete",
        None,
        format!("DELETE {}", b("/admin/template/all")),
        Some(&id),
    );

    let events = trail(&srv).await;
    let got: Vec<Expected> = events.iter().map(seen).collect();
    assert_eq!(got, expected);
    for e in &events {
        assert_eq!(
            (&e["subject"], &e["address"]),
            (&json!("local"), &json!("127.0.0.1")),
            "{e}"
        );
    }
}

#[tokio::test]
async fn the_access_log_shows_who_looked_and_pages() {
    let srv = server_with_template().await;
    let (ehr, v1, _) = srv.ehr_with_composition().await;
    let other = srv.ehr().await;
    for _ in 0..3 {
        let res = srv
            .get(&format!("/ehr/{ehr}/composition/{v1}"))
            .header("X-Forwarded-For", "203.0.113.9, 10.0.0.1")
            .send()
            .await;
        assert_eq!(res.status, 200);
    }
    srv.get(&format!("/ehr/{other}")).send().await;
    srv.store.flush_audit().await.unwrap();

    let log = format!("/ehr/{ehr}/access_log");
    let res = srv.get(&log).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    let events = body["events"].as_array().unwrap();
    // Newest first: three reads, the composition's and the EHR's creation; nothing of the
    // other EHR.
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["read", "read", "read", "create", "create"]);
    assert!(events.iter().all(|e| e["ehr_id"] == ehr.as_str()));
    assert_eq!(events[0]["address"], "203.0.113.9 via 127.0.0.1");
    assert_eq!(events[0]["versions"], json!([v1]));
    assert_eq!(body["next"], Value::Null);

    // Filters and pages: reading the log was a read of the EHR too (recorded after its answer).
    srv.store.flush_audit().await.unwrap();
    let res = srv.get(&format!("{log}?action=read&limit=3")).send().await;
    let page = res.json();
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["resource"], format!("GET {BASE}{log}"));
    let next = page["next"].as_str().expect("a next page");
    let next = &next[next.find(BASE).unwrap() + BASE.len()..];
    let res = srv.get(next).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    let rest = res.json();
    assert_eq!(rest["events"].as_array().unwrap().len(), 1);
    assert_eq!(rest["events"][0]["versions"], json!([v1]));
    assert_eq!(rest["next"], Value::Null);
    let res = srv
        .get(&format!("/admin/audit?ehr_id={other}&action=read"))
        .send()
        .await;
    assert_eq!(res.json()["events"].as_array().unwrap().len(), 1);
    let res = srv
        .get("/admin/audit?user=nobody&from=2020-01-01T00:00:00Z")
        .send()
        .await;
    assert_eq!(res.json()["events"], json!([]));

    // Bad parameters say which; an unknown EHR is 404.
    for (query, name) in [
        ("action=peek", "action"),
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("from=yesterday", "from"),
        ("before=x", "before"),
    ] {
        let p = srv
            .get(&format!("{log}?{query}"))
            .send()
            .await
            .problem(400, "invalid_parameter");
        assert!(
            p["detail"].as_str().unwrap().contains(&format!("'{name}'")),
            "{p}"
        );
    }
    srv.get("/admin/audit?ehr_id=nope")
        .send()
        .await
        .problem(400, "invalid_parameter");
    srv.get(&format!("/ehr/{}/access_log", uuid::Uuid::new_v4()))
        .send()
        .await
        .problem(404, "not_found");
}

/// The hook for authentication: a 401 or 403 from any layer inside the audit middleware is
/// recorded as a login failure or a refusal.
#[tokio::test]
async fn refusals_are_recorded_as_login_failures_and_denials() {
    use actix_web::{web, App, HttpResponse, HttpServer};
    use cdr_server::http::auth::{AuthConfig, Authenticator};
    use cdr_server::http::transport::Transport;
    use cdr_server::http::{audit, AppState, Limits};

    let store = cdr_testkit::fresh_store().await;
    let metrics = std::sync::Arc::new(cdr_server::http::observe::Metrics::new(
        std::time::Duration::from_secs(1),
    ));
    let state = web::Data::new(AppState {
        auth: std::sync::Arc::new(Authenticator::new(&AuthConfig::None, &store)),
        transport: Transport::new(false, &[]),
        store: store.clone(),
        base: BASE.into(),
        limits: Limits::default(),
        identify: None,
        care_plans: Default::default(),
        metrics: metrics.clone(),
        events: cdr_server::http::webhook::start(store.clone(), metrics),
    });
    let ehr = uuid::Uuid::new_v4();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(actix_web::middleware::from_fn(audit::audit_requests))
            .route(
                "/openehr/v1/ehr/{ehr_id}",
                web::get().to(|| async { HttpResponse::Forbidden().finish() }),
            )
            .route(
                "/openehr/v1/ehr",
                web::post().to(|| async { HttpResponse::Unauthorized().finish() }),
            )
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    let running = server.run();
    let handle = running.handle();
    tokio::spawn(running);

    let res = request_to(addr, "GET", &format!("{BASE}/ehr/{ehr}"))
        .send()
        .await;
    assert_eq!(res.status, 403);
    let res = request_to(addr, "POST", &format!("{BASE}/ehr"))
        .send()
        .await;
    assert_eq!(res.status, 401);
    handle.stop(true).await;
    store.flush_audit().await.unwrap();
    let mut events = store
        .audit_events(
            &cdr_store::Principal::local(),
            &cdr_store::AuditFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    events.sort_by_key(|r| r.event.at);
    let got: Vec<_> = events
        .iter()
        .map(|r| {
            (
                r.event.action.as_str(),
                r.event.success,
                r.event.status,
                r.event.subject.as_str(),
                r.event.ehr_id,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("denied", false, Some(403), "local", Some(ehr)),
            ("login_failure", false, Some(401), "anonymous", None),
        ]
    );
    assert!(events
        .iter()
        .all(|r| r.event.address.as_deref() == Some("127.0.0.1")));
}

/// `cdr audit verify` on a database: the chain holds, then a row changed by hand is named.
#[tokio::test]
async fn cdr_audit_verify_names_the_changed_event() {
    let pg = cdr_testkit::fresh_database().await;
    let store = cdr_store::Store::connect(pg.clone(), &cdr_testkit::config(), None)
        .await
        .unwrap();
    let caller = cdr_store::Principal::local();
    for _ in 0..3 {
        store
            .create_ehr(&caller, None, None, Default::default())
            .await
            .unwrap();
    }
    // Sealed first: transactions of other tests on the shared cluster can hold sealing back.
    let started = std::time::Instant::now();
    let mut sealed = 0;
    while sealed < 3 {
        sealed += store.seal_audit().await.unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let url = crate::common::database_url_of(&pg);
    let verify = || {
        Command::new(env!("CARGO_BIN_EXE_cdr"))
            .args(["audit", "verify"])
            .env("DATABASE_URL", &url)
            .output()
            .unwrap()
    };
    let out = verify();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("the chain holds: 3 events checked"),
        "{stdout}"
    );

    let (admin, conn) = pg.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let seq: i64 = admin
        .query_one("SELECT min(seq) + 1 FROM audit_event", &[])
        .await
        .unwrap()
        .get(0);
    admin
        .batch_execute("SET session_replication_role = replica")
        .await
        .unwrap();
    admin
        .execute(
            "UPDATE audit_event SET at = at - interval '1 day' WHERE seq = $1",
            &[&seq],
        )
        .await
        .unwrap();
    let out = verify();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("audit event {seq} (chain position 2) was changed")),
        "{stderr}"
    );
}

/// `cdr aql` on a database leaves a query event with its text, parameters and outcome, like a
/// query sent over HTTP; a query that fails is recorded as a failure.
#[tokio::test]
async fn cdr_aql_leaves_a_query_event() {
    let pg = cdr_testkit::fresh_database().await;
    let store = cdr_store::Store::connect(pg.clone(), &cdr_testkit::config(), None)
        .await
        .unwrap();
    let ehr = store
        .create_ehr(
            &cdr_store::Principal::local(),
            None,
            None,
            Default::default(),
        )
        .await
        .unwrap()
        .ehr_id;
    let url = crate::common::database_url_of(&pg);
    let aql = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_cdr"))
            .arg("aql")
            .args(args)
            .env("DATABASE_URL", &url)
            .env("USER", "ops-anna")
            .output()
            .unwrap()
    };
    let ok = "SELECT e/ehr_id/value FROM EHR e WHERE e/ehr_id/value = $id";
    let out = aql(&["--param", &format!("id={ehr}"), ok]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = "SELECT x FROM NOWHERE";
    assert_ne!(aql(&[bad]).status.code(), Some(0));

    let events = crate::common::audit_trail(&store, Some(cdr_store::AuditAction::Query)).await;
    let seen: Vec<_> = events
        .iter()
        .map(|r| {
            (
                r.event.query.clone().unwrap_or_default(),
                r.event.query_params.clone().unwrap_or_default(),
                r.event.success,
                r.event.name.clone().unwrap_or_default(),
                r.event.resource.clone().unwrap_or_default(),
            )
        })
        .collect();
    let name = "cdr aql (ops-anna)".to_owned();
    assert_eq!(
        seen,
        [
            (
                ok.to_owned(),
                json!({ "id": ehr.to_string() }).to_string(),
                true,
                name.clone(),
                "cdr aql".to_owned()
            ),
            (
                bad.to_owned(),
                "{}".to_owned(),
                false,
                name,
                "cdr aql".to_owned()
            ),
        ]
    );
}
