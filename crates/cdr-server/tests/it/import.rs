//! `cdr import`: composition files loaded into the store in parallel, each refused one reported
//! with why, and a summary.

use std::process::Command;

use crate::common::{COMPOSITION, OPT};

#[tokio::test]
async fn cdr_import_loads_files_and_reports_the_refused() {
    let pg = cdr_testkit::fresh_database().await;
    let store = cdr_store::Store::connect(pg.clone(), &cdr_testkit::config(), None)
        .await
        .unwrap();
    let admin = cdr_store::Principal::local();
    store.put_template(&admin, OPT).await.unwrap();
    let ehr = store
        .create_ehr(&admin, None, None, Default::default())
        .await
        .unwrap()
        .ehr_id;
    let url = crate::common::database_url_of(&pg);
    let dir = std::env::temp_dir().join(format!("cdr-import-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("more")).unwrap();
    for i in 0..5 {
        std::fs::write(dir.join(format!("ok{i}.json")), COMPOSITION).unwrap();
    }
    std::fs::write(dir.join("more/also.json"), COMPOSITION).unwrap();
    let invalid = COMPOSITION.replace("\"cdr_test_vitals.v1\"", "\"no_such_template.v1\"");
    std::fs::write(dir.join("bad.json"), invalid).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a composition").unwrap();
    let import = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_cdr"))
            .arg("import")
            .args(args)
            .env("DATABASE_URL", &url)
            .output()
            .unwrap()
    };
    let out = import(&[
        "--ehr-id",
        &ehr.to_string(),
        "--jobs",
        "3",
        dir.to_str().unwrap(),
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("6 imported, 1 refused, of 7 files"),
        "{stdout}{stderr}"
    );
    assert!(
        stderr.contains("bad.json: refused:") && !stderr.contains("ok0.json"),
        "{stderr}"
    );
    let listed = store
        .query(
            &admin,
            &cdr_store::aql::QueryRequest {
                aql: "SELECT c/uid/value FROM EHR e CONTAINS COMPOSITION c",
                ehr_id: Some(ehr),
                ..Default::default()
            },
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(listed.rows.len(), 6);

    // Without --ehr-id: a new EHR per file; all good: exit 0.
    let out = import(&[
        dir.join("ok0.json").to_str().unwrap(),
        dir.join("ok1.json").to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ehrs = store
        .query(
            &admin,
            &cdr_store::aql::QueryRequest {
                aql: "SELECT e/ehr_id/value FROM EHR e",
                ..Default::default()
            },
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(ehrs.rows.len(), 3);
    // Usage errors.
    assert_eq!(import(&[]).status.code(), Some(2));
    assert_eq!(
        import(&["--format", "flat", dir.to_str().unwrap()])
            .status
            .code(),
        Some(2)
    );
    let _ = std::fs::remove_dir_all(dir);
}
