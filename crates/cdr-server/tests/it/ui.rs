//! The app's files under `/ui/`: served without credentials (they hold no data) and without
//! audit events, with headers that let the pages run their own scripts, loadable by another
//! origin's page (to embed `<cdr-form>`), and never from outside the folder.

use cdr_server::http::auth::AuthConfig;
use cdr_server::http::ServeOptions;

use crate::common::{audit_trail, request_to, server_with_options, test_options};

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
