//! The README's tours, run as printed: the "five-minute tour with curl" and the care plan end to
//! end. Each code block is taken from README.md, pointed at a test server (only the host, port
//! and base path change), and run by bash with `set -euo pipefail` in a directory where the
//! checkout's folders it reads are linked. Every curl answers the status its comment gives
//! (`# 201`, `# 200, FLAT`, …), in order.

use std::path::PathBuf;
use std::process::Command;

use crate::common::server;

/// The first `sh` code block of the README section headed `heading`.
fn section_block<'r>(readme: &'r str, heading: &str) -> &'r str {
    let section = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README has {heading}"));
    let start = section
        + readme[section..]
            .find("```sh\n")
            .expect("the section has a sh block")
        + "```sh\n".len();
    let end = start + readme[start..].find("```").expect("the block ends");
    &readme[start..end]
}

/// The statuses the block's comments give, one per curl command, in order.
fn expected_statuses(block: &str) -> Vec<u16> {
    block
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.rsplit_once(" # ").map(|(_, comment)| comment))
        .filter_map(|c| c.get(..3).and_then(|s| s.parse().ok()))
        .collect()
}

/// What running a README block gave: bash's output and each curl's status and request.
struct Ran {
    out: std::process::Output,
    /// (status, "METHOD /target") of every curl, in order.
    sent: Vec<(u16, String)>,
}

/// Runs a README code block with bash (`set -euo pipefail`) in a fresh directory where each
/// of `links` is the checkout's, with `edits` applied to its text (the server's address) and
/// the directory of the built `cdr` first on `PATH`; `after` looks at the directory before it
/// goes.
async fn run_block(
    block: &str,
    edits: &[(&str, String)],
    links: &[&str],
    after: impl FnOnce(&std::path::Path) + Send + 'static,
) -> Ran {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut script = block.to_owned();
    for (from, to) in edits {
        assert!(script.contains(from), "the block names {from}");
        script = script.replace(from, to);
    }
    let dir = std::env::temp_dir().join(format!("cdr-tour-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    for link in links {
        std::os::unix::fs::symlink(root.join(link).canonicalize().unwrap(), dir.join(link))
            .unwrap();
    }
    let prelude = "set -euo pipefail\n\
                   curl() { command curl --max-time 60 \
                   -w '%{stderr}STATUS %{http_code} %{method} %{url_effective}\\n' \"$@\"; }\n";
    let full = format!("{prelude}{script}");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_cdr"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = tokio::task::spawn_blocking(move || {
        let out = Command::new("bash")
            .arg("-c")
            .arg(&full)
            .current_dir(&dir)
            .env("PATH", path)
            .output()
            .expect("bash runs");
        after(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        out
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the block stopped ({}):\n{stderr}\n{stdout}",
        out.status
    );
    let sent = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("STATUS "))
        .map(|l| {
            let mut parts = l.trim().splitn(3, ' ');
            let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            let method = parts.next().unwrap_or_default();
            let url = parts.next().unwrap_or_default();
            // The request target as the server saw it: the URL without scheme and authority.
            let target = url
                .split_once("://")
                .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
                .unwrap_or(url);
            (status, format!("{method} {target}"))
        })
        .collect();
    Ran { out, sent }
}

/// The block of the README section headed `heading`, checked to give a status for every curl.
fn readme_block(heading: &str) -> (String, Vec<u16>) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let block = section_block(&readme, heading).to_owned();
    let expected = expected_statuses(&block);
    assert_eq!(
        expected.len(),
        block.matches("curl ").count(),
        "every curl command of the block says the status it expects"
    );
    (block, expected)
}

#[tokio::test]
async fn the_readme_tour_runs_as_printed() {
    let (block, expected) = readme_block("## A five-minute tour with curl");
    let srv = server().await;
    let addr = srv.addr.to_string();
    let port = addr.rsplit_once(':').map(|(_, p)| p).unwrap_or_default();
    // The tour's paths are relative to the checkout; what it writes (flat.json) stays here.
    let flat_written = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let written = flat_written.clone();
    let Ran { out, sent } = run_block(
        &block,
        &[
            ("127.0.0.1:8080", addr.clone()),
            ("localhost:8080", format!("localhost:{port}")),
        ],
        &["crates"],
        move |dir| {
            written.store(
                dir.join("flat.json").is_file(),
                std::sync::atomic::Ordering::SeqCst,
            )
        },
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        flat_written.load(std::sync::atomic::Ordering::SeqCst),
        "the tour writes the flat.json it posts"
    );
    let got: Vec<u16> = sent.iter().map(|(status, _)| *status).collect();
    assert_eq!(got, expected, "statuses of the tour's curls:\n{stdout}");

    // Every request of the tour under the base path (not `/health`) left its audit event, with
    // its outcome (compared as sets: a read's event, written by the audit writer, may take its
    // place in the trail after the next request's write).
    let trail = crate::common::audit_trail(&srv.store, None).await;
    let mut audited: Vec<(bool, String)> = trail
        .iter()
        .filter_map(|r| Some((r.event.success, r.event.resource.clone()?)))
        .filter(|(_, resource)| !resource.starts_with("cdr "))
        .collect();
    let mut wanted: Vec<(bool, String)> = sent
        .iter()
        .filter(|(_, resource)| resource.contains(" /openehr/v1/"))
        .map(|(status, resource)| ((200..300).contains(status), resource.clone()))
        .collect();
    audited.sort();
    wanted.sort();
    assert_eq!(audited, wanted, "the tour's audit trail");
    // What the steps answered, beyond their statuses: the slot's content in FLAT, the row of
    // the query bound by $ehr_id.
    assert!(stdout.contains("/any_event:0/device:0|raw"), "{stdout}");
    assert!(stdout.contains("\"systolic\""), "{stdout}");
}

/// The care plan end to end: `cdr serve` on a new store installs the shipped templates; the
/// block checks the archetypes, compiles the urgent care plan, finds the same OPT on the
/// server, posts the example FLAT care plan and finds its person among those not for CPR.
#[tokio::test]
async fn care_plan_tour_runs_as_printed() {
    let (block, expected) = readme_block("## Care plans");
    let db = crate::serve::database_url().await;
    let stderr = crate::serve::serve_and_stop_with("-TERM", &db, &[], |addr| async move {
        let Ran { out, sent } = run_block(
            &block,
            &[
                ("127.0.0.1:8080", addr.to_string()),
                ("/openehr/v1", "/api/v1".to_owned()),
            ],
            &["archetypes", "templates"],
            |_| {},
        )
        .await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let got: Vec<u16> = sent.iter().map(|(status, _)| *status).collect();
        assert_eq!(got, expected, "statuses of the block's curls:\n{stdout}");
        // The query's one row is the EHR the block made (its id is in the composition's
        // Location header, printed by `curl -si`).
        let result: serde_json::Value = serde_json::from_str(
            stdout
                .lines()
                .last()
                .expect("the query's answer is the last line"),
        )
        .expect("a RESULT_SET");
        let rows = result["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 1, "{result}");
        let ehr = rows[0][0].as_str().unwrap();
        assert!(
            stdout.contains(&format!("/api/v1/ehr/{ehr}/composition/")),
            "{stdout}"
        );
        assert_eq!(rows[0][1], "2026-11-20T15:00:00Z", "{result}");
    })
    .await;
    assert!(stderr.contains("first start"), "{stderr}");
}
