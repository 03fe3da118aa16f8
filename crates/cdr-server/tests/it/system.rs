//! Health, capabilities, unknown routes and methods, panics, graceful stop.

use actix_web::{web, App, HttpServer};

use crate::common::{server, BASE};
use cdr_server::http::{panic::catch_panics, routes::ENDPOINTS};

#[tokio::test]
async fn health_answers_once_the_database_is_reachable() {
    let srv = server().await;
    let res = srv.raw("GET", "/health").send().await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["status"], "ok");
}

#[tokio::test]
async fn capabilities_list_every_route() {
    let srv = server().await;
    let res = srv.get("/").send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["solution"], "cdr");
    assert_eq!(body["restapi_specs_version"], "1.0.3");
    assert_eq!(body["system_id"], "test.cdr");
    assert_eq!(body["routes"].as_array().unwrap().len(), ENDPOINTS.len());
    assert!(body["routes"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!({"method": "POST", "path": format!("{BASE}/ehr")})));
    for (method, target) in [
        ("GET", BASE),
        ("OPTIONS", "/openehr/v1/"),
        ("GET", "/openehr/v1//"),
    ] {
        let res = srv.raw(method, target).send().await;
        assert_eq!(res.status, 200, "{method} {target}");
        assert_eq!(res.json(), body);
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let srv = server().await;
    srv.get("/nothing/here")
        .send()
        .await
        .problem(404, "route_not_found");
    srv.raw("GET", "/elsewhere")
        .send()
        .await
        .problem(404, "route_not_found");
    // A trailing slash does not make an unknown path known.
    let p = srv
        .get("/nothing/here/")
        .send()
        .await
        .problem(404, "route_not_found");
    assert_eq!(
        p["detail"],
        format!("there is no resource at {BASE}/nothing/here")
    );
    srv.delete("/admin/template/")
        .send()
        .await
        .problem(404, "route_not_found");
    // A 405 says what is allowed (RFC 9110; found by schemathesis).
    let res = srv.delete("/ehr").send().await;
    res.problem(405, "method_not_allowed");
    assert_eq!(res.header("allow"), Some("POST, GET"));
    let res = srv.req("TRACE", "/query/org.x::q/1").send().await;
    res.problem(405, "method_not_allowed");
    assert_eq!(res.header("allow"), Some("GET, POST"));
    srv.req("PATCH", "/definition/template/adl1.4")
        .send()
        .await
        .problem(405, "method_not_allowed");
    let res = srv.raw("POST", "/health").send().await;
    assert_eq!(res.header("allow"), Some("GET"));
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_worker_survives() {
    async fn boom() -> &'static str {
        panic!("boom")
    }
    let server = HttpServer::new(|| {
        App::new()
            .wrap(actix_web::middleware::from_fn(catch_panics))
            .route("/boom", web::get().to(boom))
            .route("/ok", web::get().to(|| async { "fine" }))
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    for _ in 0..2 {
        let res = crate::common::request_to(addr, "GET", "/boom").send().await;
        res.problem(500, "internal_error");
        // The cause stays in the server log.
        assert!(!res.text().contains("boom"));
    }
    let res = crate::common::request_to(addr, "GET", "/ok").send().await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "fine");
    handle.stop(true).await;
}

#[tokio::test]
async fn graceful_stop_finishes_and_then_refuses_connections() {
    let srv = server().await;
    assert_eq!(srv.raw("GET", "/health").send().await.status, 200);
    srv.handle.stop(true).await;
    srv.stopped.await.unwrap().unwrap();
    assert!(tokio::net::TcpStream::connect(srv.addr).await.is_err());
}

#[tokio::test]
async fn openapi_lists_exactly_the_routes_the_router_serves() {
    let srv = server().await;
    let res = srv.get("/openapi.json").send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    let doc = res.json();
    assert_eq!(doc["openapi"], "3.0.3");
    assert_eq!(doc["servers"][0]["url"], BASE);
    let mut listed: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            listed.push((method.to_ascii_uppercase(), path.clone()));
            let params = op["parameters"].as_array().unwrap();
            assert_eq!(params.len(), path.matches('{').count(), "{path}");
        }
    }
    listed.sort();
    let mut table: Vec<(String, String)> = ENDPOINTS
        .iter()
        .map(|e| (e.method.to_owned(), e.path.to_owned()))
        .collect();
    table.sort();
    assert_eq!(listed, table);
    // Every listed route is served: with dummy parameters it may be 400 or 404 (not found), but
    // never "no such route" or "method not allowed".
    for (method, path) in &listed {
        let concrete = path
            .replace("{ehr_id}", &uuid::Uuid::new_v4().to_string())
            .replace("{template_id}", "t")
            .replace('{', "x")
            .replace('}', "");
        // With a trailing slash too, as EHRbase's clients build their URLs.
        for target in [concrete.clone(), format!("{concrete}/")] {
            let mut req = srv.req(method, &target);
            if path == "/events" {
                // The event stream does not end; asked for as JSON it is refused (406).
                req = req.header("Accept", "application/json");
            }
            let res = req.send().await;
            let served = match res.body.is_empty() {
                true => res.status < 400,
                false => !["route_not_found", "method_not_allowed"]
                    .contains(&res.json()["code"].as_str().unwrap_or_default()),
            };
            assert!(served, "{method} {target}: {}", res.text());
        }
    }
    // And a method the table lacks is refused.
    srv.req("PATCH", "/ehr")
        .send()
        .await
        .problem(405, "method_not_allowed");
}

#[tokio::test]
async fn graceful_stop_lets_a_request_in_flight_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = server().await;
    let body = crate::ehr::status_for("in-flight").to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut conn = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let head = format!(
        "POST {BASE}/ehr HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(first.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let handle = srv.handle.clone();
    let stopping = tokio::spawn(async move { handle.stop(true).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!stopping.is_finished(), "the stop waits for the request");
    assert!(tokio::net::TcpStream::connect(srv.addr).await.is_err());

    conn.write_all(rest.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 201"), "{text}");
    stopping.await.unwrap();
    srv.stopped.await.unwrap().unwrap();
}

/// EHRbase's Java client ends collection paths with a slash (`POST …/ehr/`,
/// `…/composition/`, `…/query/aql/`, `…/definition/template/adl1.4/`): each is the route
/// without it.
#[tokio::test]
async fn a_trailing_slash_addresses_the_same_route() {
    let srv = server().await;
    let opt = crate::common::OPT;
    let res = srv
        .post("/definition/template/adl1.4/")
        .body("application/xml; charset=ISO-8859-1", opt)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let list = srv.get("/definition/template/adl1.4/").send().await;
    assert_eq!(list.status, 200, "{}", list.text());
    assert_eq!(list.json()[0]["template_id"], "cdr_test_vitals.v1");

    let res = srv
        .post("/ehr/")
        .header("Accept", "application/json")
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let ehr = res.etag();
    assert_eq!(
        res.header("location"),
        Some(format!("http://{}{BASE}/ehr/{ehr}", srv.addr).as_str())
    );
    let res = srv
        .post(&format!("/ehr/{ehr}/composition/"))
        .body(
            "application/json; charset=UTF-8",
            crate::common::COMPOSITION,
        )
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let res = srv.get(&format!("/ehr/{ehr}/")).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["ehr_id"]["value"], ehr.as_str());
    srv.get(&format!("/ehr/{ehr}/directory/"))
        .send()
        .await
        .problem(404, "not_found");

    let res = srv
        .post("/query/aql/")
        .json(&serde_json::json!({"q": "SELECT e/ehr_id/value FROM EHR e"}))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["rows"], serde_json::json!([[ehr]]));
    let doc = srv.get("/openapi.json").send().await.json();
    assert_eq!(srv.get("/openapi.json/").send().await.json(), doc);
}

/// With PostgreSQL gone, the server stays alive (`/health` 200) but is not ready: `/ready` and
/// the API answer 503 with `Retry-After`; once PostgreSQL is back it recovers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_database_503_with_retry_after_then_recovery() {
    let (cluster, _watchdog) = cdr_testkit::private_cluster(true);
    cdr_store::create_database(&cluster, "cdr").await.unwrap();
    let store = cdr_store::Store::connect(cluster.pg_config("cdr"), &cdr_testkit::config(), None)
        .await
        .unwrap();
    let srv = crate::common::server_on(store, crate::common::test_options());
    let ready = srv.raw("GET", "/ready").send().await;
    assert_eq!(ready.status, 200, "{}", ready.text());
    assert_eq!(srv.post("/ehr").send().await.status, 201);

    let c = std::sync::Arc::new(cluster);
    let k = c.clone();
    tokio::task::spawn_blocking(move || k.kill().expect("SIGKILL the postmaster"))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(srv.raw("GET", "/health").send().await.status, 200);
    for res in [
        srv.raw("GET", "/ready").send().await,
        srv.post("/ehr").send().await,
    ] {
        assert_eq!(res.status, 503, "{}", res.text());
        assert_eq!(res.header("retry-after"), Some("5"));
        assert_eq!(res.json()["code"], "database_unavailable", "{}", res.text());
    }

    let r = c.clone();
    tokio::task::spawn_blocking(move || r.restart().expect("restart"))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let res = srv.post("/ehr").send().await;
        if res.status == 201 {
            break;
        }
        assert_eq!(res.status, 503, "{}", res.text());
        assert!(std::time::Instant::now() < deadline, "no recovery");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(srv.raw("GET", "/ready").send().await.status, 200);
}

/// `GET /metrics`: requests by route pattern, method and status, latency histograms, commits
/// and queries by outcome, the pool, and whether PostgreSQL answers; without credentials.
/// Every answer carries its request id (the client's, when sane).
#[tokio::test]
async fn metrics_and_request_ids() {
    let srv = crate::common::server_with_options(cdr_server::http::ServeOptions {
        auth: cdr_server::http::auth::AuthConfig::Basic,
        ..crate::common::test_options()
    })
    .await;
    // Unauthenticated calls count too (401).
    for _ in 0..3 {
        assert_eq!(srv.post("/ehr").send().await.status, 401);
    }
    let res = srv
        .raw("GET", "/health")
        .header("X-Request-Id", "trace-42.a_b")
        .send()
        .await;
    assert_eq!(res.header("x-request-id"), Some("trace-42.a_b"));
    let res = srv
        .raw("GET", "/health")
        .header("X-Request-Id", "no spaces allowed")
        .send()
        .await;
    let made = res.header("x-request-id").unwrap();
    assert!(
        made.len() == 32 && made.chars().all(|c| c.is_ascii_hexdigit()),
        "{made}"
    );

    let res = srv.raw("GET", "/metrics").send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    let text = res.text();
    for line in [
        "cdr_http_requests_total{method=\"POST\",route=\"/openehr/v1/ehr\",status=\"401\"} 3",
        "cdr_commits_total{outcome=\"failure\"} 3",
        "cdr_database_up 1",
        "cdr_db_pool_connections{state=\"max\"}",
        "cdr_http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\",le=\"0.5\"} 2",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
}

/// With `ServeOptions::observe` off (`cdr bench observe`'s quiet server) requests are
/// neither counted nor timed, and still get their request id.
#[tokio::test]
async fn a_server_without_observation_counts_nothing() {
    let srv = crate::common::server_with_options(cdr_server::http::ServeOptions {
        observe: false,
        ..crate::common::test_options()
    })
    .await;
    let res = srv.post("/ehr").send().await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert!(res.header("x-request-id").is_some());
    let text = srv.raw("GET", "/metrics").send().await.text();
    assert!(text.contains("cdr_database_up 1"), "{text}");
    for counted in [
        "cdr_http_requests_total{",
        "cdr_commits_total{",
        "cdr_http_request_duration_seconds_bucket{",
    ] {
        assert!(!text.contains(counted), "{counted}\n{text}");
    }
}

/// Commits over HTTP while PostgreSQL is stopped and started again under them: every answer is
/// 201 or 503 (never a 500), every acknowledged composition is there afterwards, and the
/// server commits again by itself once the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commits_under_a_database_restart_lose_nothing_acknowledged() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let (cluster, _watchdog) = cdr_testkit::private_cluster(true);
    cdr_store::create_database(&cluster, "cdr").await.unwrap();
    let store = cdr_store::Store::connect(cluster.pg_config("cdr"), &cdr_testkit::config(), None)
        .await
        .unwrap();
    let srv = Arc::new(crate::common::server_on(
        store.clone(),
        crate::common::test_options(),
    ));
    assert_eq!(srv.upload(crate::common::OPT).await.status, 201);
    let ehr = srv.ehr().await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let statuses = Arc::new(Mutex::new(Vec::<u16>::new()));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (srv, stop, acked, statuses, ehr) = (
            srv.clone(),
            stop.clone(),
            acked.clone(),
            statuses.clone(),
            ehr.clone(),
        );
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let res = srv
                    .post(&format!("/ehr/{ehr}/composition"))
                    .body("application/json", crate::common::COMPOSITION)
                    .send()
                    .await;
                if res.status == 201 {
                    acked.lock().unwrap().push(res.etag());
                }
                statuses.lock().unwrap().push(res.status);
            }
        }));
    }
    let c = Arc::new(cluster);
    for _ in 0..2 {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let k = c.clone();
        tokio::task::spawn_blocking(move || {
            k.stop().expect("stop PostgreSQL");
            std::thread::sleep(std::time::Duration::from_millis(500));
            k.restart().expect("start it again");
        })
        .await
        .unwrap();
    }
    // Commits succeed again after the last restart.
    let seen = acked.lock().unwrap().len();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while acked.lock().unwrap().len() < seen + 20 {
        assert!(std::time::Instant::now() < deadline, "no recovery");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let statuses = statuses.lock().unwrap().clone();
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 503),
        "{:?}",
        statuses.iter().filter(|s| **s != 201).collect::<Vec<_>>()
    );
    assert!(statuses.contains(&503), "the restarts refused no commit");
    let acked = acked.lock().unwrap().clone();
    for uid in &acked {
        let vo = uid.split("::").next().unwrap();
        let res = srv
            .get(&format!("/ehr/{ehr}/composition/{vo}"))
            .send()
            .await;
        assert_eq!(res.status, 200, "acknowledged {uid} lost");
    }
    let rows = store
        .query(
            &cdr_store::Principal::local(),
            &cdr_store::aql::QueryRequest {
                aql: "SELECT c/uid/value FROM EHR e CONTAINS COMPOSITION c",
                ehr_id: Some(ehr.parse().unwrap()),
                ..Default::default()
            },
            &cdr_store::aql::QueryLimits {
                max_rows: None,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .rows
        .len();
    // A commit whose answer was lost with the connection may be stored without a 201.
    assert!(
        rows >= acked.len(),
        "{rows} stored, {} acknowledged",
        acked.len()
    );
}
