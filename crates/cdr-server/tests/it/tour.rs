//! The README's "five-minute tour with curl", run as printed: its code block is taken from
//! README.md, pointed at a test server (only the host and port change), and run by bash with
//! `set -euo pipefail` in a directory where `crates/` is the checkout's. Every curl answers the
//! status its comment gives (`# 201`, `# 200, FLAT`, …), in order.

use std::path::PathBuf;
use std::process::Command;

use crate::common::server;

/// The tour's code block.
fn tour_block(readme: &str) -> &str {
    let section = readme
        .find("## A five-minute tour with curl")
        .expect("README has the tour");
    let start = section
        + readme[section..]
            .find("```sh\n")
            .expect("the tour has a sh block")
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

#[tokio::test]
async fn the_readme_tour_runs_as_printed() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let block = tour_block(&readme);
    let expected = expected_statuses(block);
    let curls = block.matches("curl ").count();
    assert_eq!(
        expected.len(),
        curls,
        "every curl command of the tour says the status it expects"
    );

    let srv = server().await;
    let addr = srv.addr.to_string();
    assert!(block.contains("127.0.0.1:8080") && block.contains("localhost:8080"));
    let port = addr.rsplit_once(':').map(|(_, p)| p).unwrap_or_default();
    let script = block
        .replace("127.0.0.1:8080", &addr)
        .replace("localhost:8080", &format!("localhost:{port}"));

    // The tour's paths are relative to the checkout; what it writes (flat.json) stays here.
    let dir = std::env::temp_dir().join(format!("cdr-tour-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(
        root.join("crates").canonicalize().unwrap(),
        dir.join("crates"),
    )
    .unwrap();
    let prelude = "set -euo pipefail\n\
                   curl() { command curl --max-time 60 \
                   -w '%{stderr}STATUS %{http_code} %{method} %{url_effective}\\n' \"$@\"; }\n";
    let full = format!("{prelude}{script}");
    let cwd = dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .arg("-c")
            .arg(&full)
            .current_dir(&cwd)
            .output()
            .expect("bash runs")
    })
    .await
    .unwrap();
    let flat_written = dir.join("flat.json").is_file();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the tour stopped ({}):\n{stderr}\n{stdout}",
        out.status
    );
    assert!(flat_written, "the tour writes the flat.json it posts");
    let sent: Vec<(u16, String)> = stderr
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
