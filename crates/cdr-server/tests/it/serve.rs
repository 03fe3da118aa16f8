//! The `cdr serve` binary: options, health, and a clean stop on SIGTERM and SIGINT.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio_postgres::config::Host;

use crate::common::request_to;

/// `DATABASE_URL` (key-value form) of a fresh test database.
async fn database_url() -> String {
    let pg = cdr_testkit::fresh_database().await;
    let host = match &pg.get_hosts()[0] {
        Host::Unix(path) => path.display().to_string(),
        Host::Tcp(name) => name.clone(),
    };
    format!(
        "host={host} port={} user={} dbname={}",
        pg.get_ports()[0],
        pg.get_user().unwrap_or("cdr"),
        pg.get_dbname().unwrap_or("cdr")
    )
}

async fn serve_and_stop(signal: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdr"))
        .args(["serve", "--bind", "127.0.0.1:0", "--base-path", "/api/v1/"])
        .env("DATABASE_URL", database_url().await)
        .env("CDR_SYSTEM_ID", "serve.test")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cdr serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // "cdr: serving the openEHR REST API on http://127.0.0.1:PORT/api/v1 (system id …)"
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    assert!(url.ends_with("/api/v1"), "{line}");
    assert!(line.contains("system id serve.test"), "{line}");
    let addr = url["http://".len()..url.len() - "/api/v1".len()]
        .parse()
        .unwrap();

    let res = request_to(addr, "GET", "/health").send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    let res = request_to(addr, "POST", "/api/v1/ehr").send().await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert!(res.header("location").unwrap().contains("/api/v1/ehr/"));

    let killed = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "cdr serve did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(stderr.contains("stopping"), "{stderr}");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn serve_answers_and_stops_cleanly_on_sigterm() {
    serve_and_stop("-TERM").await;
}

#[tokio::test]
async fn serve_stops_cleanly_on_sigint() {
    serve_and_stop("-INT").await;
}

#[test]
fn serve_refuses_bad_options() {
    let out = Command::new(env!("CARGO_BIN_EXE_cdr"))
        .args(["serve", "--port", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown option `--port`"));
}
