//! Health, capabilities, unknown routes and methods, panics, graceful stop.

use actix_web::{web, App, HttpServer};

use crate::common::{server, BASE};
use cdr_server::http::{panic::catch_panics, routes::ROUTES};

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
    assert_eq!(body["routes"].as_array().unwrap().len(), ROUTES.len());
    assert_eq!(body["routes"][1]["path"], format!("{BASE}/ehr"));
    for (method, target) in [("GET", BASE), ("OPTIONS", "/openehr/v1/")] {
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
    srv.delete("/ehr")
        .send()
        .await
        .problem(405, "method_not_allowed");
    srv.req("PATCH", "/definition/template/adl1.4")
        .send()
        .await
        .problem(405, "method_not_allowed");
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
