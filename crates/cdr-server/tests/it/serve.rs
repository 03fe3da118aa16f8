//! The `cdr serve` binary: options, health, a clean stop on SIGTERM and SIGINT, and models
//! compiled from their sources at start (`--models`), and the care-plan models cdr ships.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio_postgres::config::Host;

use crate::common::request_to;

/// `DATABASE_URL` (key-value form) of a fresh test database.
pub(crate) async fn database_url() -> String {
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
    serve_and_stop_with(signal, &database_url().await, &[], |_| async {}).await;
}

/// The address a starting `cdr serve` listens on, from its first line of output ("cdr: serving
/// the openEHR REST API on http://127.0.0.1:PORT/BASE (system id …)"), and that line.
pub(crate) fn listening(
    child: &mut std::process::Child,
    base: &str,
) -> (std::net::SocketAddr, String) {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    let addr = url
        .strip_prefix("http://")
        .and_then(|u| u.strip_suffix(base))
        .unwrap_or_else(|| panic!("no {base} URL in {line:?}"))
        .parse()
        .unwrap();
    (addr, line)
}

/// Starts `cdr serve` (with `extra` arguments), checks it answers, runs `more` against its
/// address, then stops it with `signal` and checks it stopped cleanly; returns its stderr.
pub(crate) async fn serve_and_stop_with<F, Fut>(
    signal: &str,
    db: &str,
    extra: &[&str],
    more: F,
) -> String
where
    F: FnOnce(std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdr"))
        .args(["serve", "--bind", "127.0.0.1:0", "--base-path", "/api/v1/"])
        .args(extra)
        .env("DATABASE_URL", db)
        .env("CDR_SYSTEM_ID", "serve.test")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cdr serve starts");
    let (addr, line) = listening(&mut child, "/api/v1");
    assert!(line.contains("system id serve.test"), "{line}");

    let res = request_to(addr, "GET", "/health").send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    let res = request_to(addr, "POST", "/api/v1/ehr").send().await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert!(res.header("location").unwrap().contains("/api/v1/ehr/"));
    more(addr).await;

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
    stderr
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
    assert!(String::from_utf8_lossy(&out.stderr).contains("'--port'"));
}

/// The compiler fixtures of cdr-template (archetypes one level down, the OET at the top),
/// copied into a new directory; `edit` may change the OET.
fn models_dir(name: &str, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cdr-template/tests/fixtures/compile");
    let dir = std::env::temp_dir().join(format!("cdr-models-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("archetypes")).unwrap();
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(e.path()).unwrap();
        if file.ends_with(".adl") {
            std::fs::write(dir.join("archetypes").join(file), text).unwrap();
        } else {
            std::fs::write(dir.join(file), edit(text)).unwrap();
        }
    }
    dir
}

#[tokio::test]
async fn serve_compiles_the_models_and_serves_them_as_templates() {
    let dir = models_dir("ok", |t| t);
    let stderr = serve_and_stop_with(
        "-TERM",
        &database_url().await,
        &["--models", &dir.display().to_string()],
        |addr| async move {
            // Beside the care-plan templates cdr ships.
            let mut expected = vec!["cdr visit"];
            expected.extend(SHIPPED);
            assert_eq!(listed_templates(addr).await, expected);
            // Its example composition commits: the compiled template validates it.
            commit_example(addr).await;
        },
    )
    .await;
    assert!(
        stderr.contains("1 templates from") && stderr.contains("cdr visit"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn serve_stops_listing_every_model_error() {
    let dir = models_dir("bad", |t| {
        t.replace("cdr_device.v1\"", "cdr_missing.v1\"")
            .replace("items[at0010]\" max=\"0\"", "items[at0099]\" max=\"0\"")
    });
    let out = Command::new(env!("CARGO_BIN_EXE_cdr"))
        .args(["serve", "--bind", "127.0.0.1:0", "--models"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let oet = dir.join("visit.oet").display().to_string();
    let text = std::fs::read_to_string(dir.join("visit.oet")).unwrap();
    let line = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    assert!(
        stderr.contains(&format!("{oet}:{}: rule ", line("at0099")))
            && stderr.contains(&format!(
                "{oet}:{}: archetype openEHR-EHR-CLUSTER.cdr_missing.v1 not found",
                line("cdr_missing")
            )),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Commits the example composition of the template `cdr visit` into a new EHR.
async fn commit_example(addr: std::net::SocketAddr) {
    let example = request_to(
        addr,
        "GET",
        "/api/v1/definition/template/adl1.4/cdr%20visit/example",
    )
    .send()
    .await;
    assert_eq!(example.status, 200, "{}", example.text());
    let ehr = request_to(addr, "POST", "/api/v1/ehr").send().await.etag();
    let res = request_to(addr, "POST", &format!("/api/v1/ehr/{ehr}/composition"))
        .body("application/json", example.body.clone())
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
}

#[tokio::test]
async fn serve_replaces_a_changed_model_unless_compositions_use_it() {
    let db = database_url().await;
    let first = models_dir("v1", |t| t);
    let changed = models_dir("v2", |t| t.replace("max=\"2\"", "max=\"3\""));
    let (first, changed) = (first.display().to_string(), changed.display().to_string());
    let nothing = |_| async {};
    let stderr = serve_and_stop_with("-TERM", &db, &["--models", &first], nothing).await;
    assert!(stderr.contains("(1 new or changed)"), "{stderr}");
    let stderr = serve_and_stop_with("-TERM", &db, &["--models", &first], nothing).await;
    assert!(stderr.contains("(0 new or changed)"), "{stderr}");
    // Changed and not yet used: replaced; then a composition is committed with it.
    let stderr = serve_and_stop_with("-TERM", &db, &["--models", &changed], |addr| async move {
        let opt = request_to(
            addr,
            "GET",
            "/api/v1/definition/template/adl1.4/cdr%20visit",
        )
        .send()
        .await;
        assert!(opt.text().contains("<upper>3</upper>"), "{}", opt.text());
        commit_example(addr).await;
    })
    .await;
    assert!(stderr.contains("(1 new or changed)"), "{stderr}");
    // Changed back while compositions use it: the start stops, saying why.
    let out = Command::new(env!("CARGO_BIN_EXE_cdr"))
        .args(["serve", "--bind", "127.0.0.1:0", "--models", &first])
        .env("DATABASE_URL", &db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot install the models") && stderr.contains("cdr visit"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(first);
    let _ = std::fs::remove_dir_all(changed);
}

/// The ids of the templates the server lists.
async fn listed_templates(addr: std::net::SocketAddr) -> Vec<String> {
    let res = request_to(addr, "GET", "/api/v1/definition/template/adl1.4")
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let list: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
    let mut ids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["template_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

const SHIPPED: [&str; 3] = [
    "cdr_care_and_support_plan.v0",
    "cdr_emergency_care_and_treatment_plan.v0",
    "cdr_urgent_care_plan.v0",
];

#[tokio::test]
async fn serve_installs_the_shipped_models_on_first_start_only() {
    let db = database_url().await;
    // First start: the three care-plan templates, and a composition of one commits.
    let stderr = serve_and_stop_with("-TERM", &db, &[], |addr| async move {
        assert_eq!(listed_templates(addr).await, SHIPPED);
        let example = request_to(
            addr,
            "GET",
            "/api/v1/definition/template/adl1.4/cdr_urgent_care_plan.v0/example",
        )
        .send()
        .await;
        assert_eq!(example.status, 200, "{}", example.text());
        // One removed by the administrator stays removed.
        let res = request_to(
            addr,
            "DELETE",
            "/api/v1/admin/template/adl1.4/cdr_care_and_support_plan.v0",
        )
        .send()
        .await;
        assert!(res.status == 200 || res.status == 204, "{}", res.text());
    })
    .await;
    assert!(
        stderr.contains("first start: the care-plan templates cdr ships")
            && stderr.contains("cdr_urgent_care_plan.v0"),
        "{stderr}"
    );
    let stderr = serve_and_stop_with("-TERM", &db, &[], |addr| async move {
        assert_eq!(
            listed_templates(addr).await,
            [SHIPPED[1], SHIPPED[2]],
            "a later start brings nothing back"
        );
    })
    .await;
    assert!(!stderr.contains("first start"), "{stderr}");
}

#[tokio::test]
async fn serve_without_the_default_models_starts_empty() {
    let db = database_url().await;
    serve_and_stop_with("-TERM", &db, &["--no-default-models"], |addr| async move {
        assert!(listed_templates(addr).await.is_empty());
    })
    .await;
    // Without them the first time, the store never had them: they come with the next start.
    serve_and_stop_with("-TERM", &db, &[], |addr| async move {
        assert_eq!(listed_templates(addr).await, SHIPPED);
    })
    .await;
}

/// `--log-format json`: one JSON line per request on standard error (method, path, status,
/// duration, request id), and AQL queries slower than `--slow-query-ms`.
#[tokio::test]
async fn serve_logs_each_request_as_json() {
    let db = database_url().await;
    let stderr = serve_and_stop_with(
        "-TERM",
        &db,
        &[
            "--log-format",
            "json",
            "--slow-query-ms",
            "0",
            "--no-default-models",
        ],
        |addr| async move {
            let res = request_to(addr, "POST", "/api/v1/query/aql")
                .header("X-Request-Id", "tour-7")
                .json(&serde_json::json!({"q": "SELECT e/ehr_id/value FROM EHR e"}))
                .send()
                .await;
            assert_eq!(res.status, 200, "{}", res.text());
            // The slow-query line waits for the plan, read after the answer was sent.
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        },
    )
    .await;
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let request = lines
        .iter()
        .find(|l| l["target"] == "cdr::request" && l["request_id"] == "tour-7")
        .unwrap_or_else(|| panic!("no request line in {stderr}"));
    assert_eq!(request["method"], "POST");
    assert_eq!(request["path"], "/api/v1/query/aql");
    assert_eq!(request["status"], 200);
    assert!(request["duration_ms"].as_f64().is_some(), "{request}");
    let slow = lines
        .iter()
        .find(|l| l["target"] == "cdr::aql")
        .unwrap_or_else(|| panic!("no slow query line in {stderr}"));
    assert_eq!(slow["request_id"], "tour-7");
    assert_eq!(slow["query"], "SELECT e/ehr_id/value FROM EHR e");
    // With PostgreSQL's planning time and the outline of its plan.
    assert!(slow["planning_ms"].as_f64().is_some(), "{slow}");
    let plan = slow["plan"].as_str().unwrap_or_default();
    assert!(plan.contains("Scan"), "{slow}");
}

/// Starts `cdr serve` on its own managed PostgreSQL under `data_dir`; its address and process.
fn serve_managed(data_dir: &std::path::Path) -> (std::net::SocketAddr, std::process::Child) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdr"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--no-default-models",
            "--data-dir",
        ])
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cdr serve starts");
    let (addr, _) = listening(&mut child, "/openehr/v1");
    (addr, child)
}

fn stop(mut child: std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// `cdr backup` while `cdr serve` runs on the data directory, then `cdr restore` into a new one:
/// the restored server has what was committed before the backup, not what came after.
#[tokio::test]
async fn backup_while_serving_and_restore() {
    let root = std::env::temp_dir().join(format!("cdr-backup-{}", uuid::Uuid::new_v4()));
    let (live, copy, restored) = (root.join("live"), root.join("copy"), root.join("restored"));
    let (addr, server) = serve_managed(&live);
    let before = request_to(addr, "POST", "/openehr/v1/ehr").send().await;
    assert_eq!(before.status, 201, "{}", before.text());
    let cdr = |args: &[&std::ffi::OsStr]| {
        Command::new(env!("CARGO_BIN_EXE_cdr"))
            .args(args)
            .env_remove("DATABASE_URL")
            .output()
            .unwrap()
    };
    let out = cdr(&[
        "backup".as_ref(),
        "--data-dir".as_ref(),
        live.as_os_str(),
        copy.as_os_str(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = request_to(addr, "POST", "/openehr/v1/ehr").send().await;
    assert_eq!(after.status, 201, "the server went on serving");
    stop(server);
    // A second backup into the same directory is refused.
    let again = cdr(&[
        "backup".as_ref(),
        "--data-dir".as_ref(),
        live.as_os_str(),
        copy.as_os_str(),
    ]);
    assert_eq!(again.status.code(), Some(1));

    let out = cdr(&[
        "restore".as_ref(),
        "--data-dir".as_ref(),
        restored.as_os_str(),
        copy.as_os_str(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (addr, server) = serve_managed(&restored);
    let found = |ehr: String| async move {
        request_to(addr, "GET", &format!("/openehr/v1/ehr/{ehr}"))
            .send()
            .await
            .status
    };
    assert_eq!(found(before.etag()).await, 200);
    assert_eq!(found(after.etag()).await, 404);
    stop(server);
    let _ = std::fs::remove_dir_all(root);
}
