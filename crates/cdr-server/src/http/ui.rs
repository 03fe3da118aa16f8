//! The browser app and the `<cdr-form>` component under `/ui/`: static files (this crate's
//! `ui/` folder) built into the binary, or read from a folder given by `--ui-dir` while they
//! are being developed. They hold no data, so they are served to anyone, unaudited; a cross-
//! origin page may load them (`Access-Control-Allow-Origin: *`) to embed `<cdr-form>`.

use std::path::PathBuf;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::{ApiError, ApiResult, Code};

/// The files of `ui/`, by name (a unit test keeps this list equal to the folder).
pub const FILES: &[(&str, &str)] = &[
    ("app-api.js", include_str!("../../ui/app-api.js")),
    ("app-auth.js", include_str!("../../ui/app-auth.js")),
    ("app-dom.js", include_str!("../../ui/app-dom.js")),
    ("app-flat.js", include_str!("../../ui/app-flat.js")),
    ("app-history.js", include_str!("../../ui/app-history.js")),
    ("app-person.js", include_str!("../../ui/app-person.js")),
    ("app-plan.js", include_str!("../../ui/app-plan.js")),
    ("app-summary.js", include_str!("../../ui/app-summary.js")),
    ("app.css", include_str!("../../ui/app.css")),
    ("app.js", include_str!("../../ui/app.js")),
    (
        "cdr-form-fields.js",
        include_str!("../../ui/cdr-form-fields.js"),
    ),
    ("cdr-form.css", include_str!("../../ui/cdr-form.css")),
    ("cdr-form.js", include_str!("../../ui/cdr-form.js")),
    ("form-page.js", include_str!("../../ui/form-page.js")),
    ("form.html", include_str!("../../ui/form.html")),
    ("index.html", include_str!("../../ui/index.html")),
];

/// The headers of a `/ui/` answer where they differ from the API's: pages may run their own
/// scripts and styles (and nothing from elsewhere), show images they make, and call any
/// server (the API, an OpenID Connect provider); they are revalidated rather than kept.
pub const UI_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' data: blob:; \
         connect-src *; base-uri 'none'; form-action 'self'; frame-ancestors 'self'",
    ),
    ("x-frame-options", "SAMEORIGIN"),
    ("cache-control", "no-cache"),
    ("access-control-allow-origin", "*"),
];

/// Whether a request path is the app's.
pub fn is_ui(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}

/// Where the files come from, and what the app is told about the server.
#[derive(Debug, Clone, Default)]
pub struct UiFiles {
    /// A folder to read them from on every request instead of the built-in copies.
    pub dir: Option<PathBuf>,
    /// `/ui/config.json`: how the app reaches the API and signs in.
    pub config: serde_json::Value,
}

/// What `/ui/config.json` tells the app: the API's base path, how callers authenticate, and
/// for OpenID Connect the issuer, the client the app signs in as (authorization code with
/// PKCE; none configured means the app cannot sign in) and the scopes it asks for.
pub fn app_config(
    base: &str,
    auth: &super::auth::AuthConfig,
    client_id: Option<&str>,
) -> serde_json::Value {
    use super::auth::AuthConfig;
    match auth {
        AuthConfig::None => serde_json::json!({"base": base, "auth": "none"}),
        AuthConfig::Basic => serde_json::json!({"base": base, "auth": "basic"}),
        AuthConfig::Oidc(c) => serde_json::json!({
            "base": base,
            "auth": "oidc",
            "oidc": {"issuer": c.issuer, "client_id": client_id, "scope": "openid profile"},
        }),
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// A file name as asked for: segments of letters, digits, `-`, `_` and `.`, none of them
/// `.`/`..` or starting with a dot.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').all(|seg| {
            !seg.is_empty()
                && !seg.starts_with('.')
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

/// `GET /ui/{file}`; `/ui/` (or `/ui`: paths lose their trailing slash before routing) and any
/// path without a file extension is `index.html`, so the pages link their files by absolute
/// paths (`/ui/cdr-form.js`).
pub async fn file(req: HttpRequest, files: web::Data<UiFiles>) -> ApiResult<HttpResponse> {
    let name = req.match_info().get("file").unwrap_or_default();
    let name = name.trim_start_matches('/');
    // A path with no file extension is a place in the app (`/ui/ehr?subject_id=…`, a deep
    // link): the app's page answers it and reads the path itself.
    let last = name.rsplit('/').next().unwrap_or_default();
    let name = if !last.contains('.') {
        "index.html"
    } else {
        name
    };
    let missing = || {
        ApiError::new(
            Code::RouteNotFound,
            format!("there is no resource at {}", req.path()),
        )
    };
    if !safe_name(name) {
        return Err(missing());
    }
    if name == "config.json" {
        let mut res = HttpResponse::build(StatusCode::OK).body(files.config.to_string());
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Ok(res);
    }
    let body: Vec<u8> = match &files.dir {
        Some(dir) => std::fs::read(dir.join(name)).map_err(|_| missing())?,
        None => FILES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| text.as_bytes().to_vec())
            .ok_or_else(missing)?,
    };
    let mut res = HttpResponse::build(StatusCode::OK).body(body);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(name)),
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_list_is_the_folder() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
        let mut found: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        found.sort();
        let listed: Vec<&str> = FILES.iter().map(|(n, _)| *n).collect();
        assert_eq!(listed, found);
    }

    /// The `/ui/…` files a text names after `marker` (`src="`, `href="`, `from '`, `import '`).
    fn linked<'a>(text: &'a str, marker: &str) -> Vec<&'a str> {
        text.match_indices(marker)
            .filter_map(|(at, _)| {
                let rest = &text[at + marker.len()..];
                let end = rest.find(['"', '\'']).unwrap_or(rest.len());
                rest[..end].strip_prefix("/ui/")
            })
            .collect()
    }

    #[test]
    fn the_pages_and_modules_link_only_files_of_the_folder_and_run_nothing_inline() {
        let names: Vec<&str> = FILES.iter().map(|(n, _)| *n).collect();
        for (name, text) in FILES {
            let mut links = Vec::new();
            if name.ends_with(".html") {
                links.extend(linked(text, "src=\""));
                links.extend(linked(text, "href=\""));
                // The CSP (`default-src 'self'`) refuses inline scripts, styles and handlers.
                let lower = text.to_ascii_lowercase();
                assert!(!lower.contains("<style"), "{name}: an inline <style>");
                assert!(
                    !lower.contains(" style=\""),
                    "{name}: an inline style attribute"
                );
                assert!(
                    !lower.contains(" onclick="),
                    "{name}: an inline event handler"
                );
                for (at, _) in lower.match_indices("<script") {
                    let tag = &lower[at..at + lower[at..].find('>').unwrap()];
                    assert!(tag.contains(" src="), "{name}: an inline <script>");
                }
            }
            if name.ends_with(".js") {
                links.extend(linked(text, "from '"));
                links.extend(linked(text, "import '"));
                let evals = text.match_indices("eval(").any(|(at, _)| {
                    let before = text[..at].chars().next_back().unwrap_or(' ');
                    !(before.is_ascii_alphanumeric() || before == '_')
                });
                assert!(!evals, "{name}: eval");
            }
            for link in links {
                let file = link.split(['?', '#']).next().unwrap_or_default();
                // A path without a file extension is a place in the app (its page).
                if !file.rsplit('/').next().unwrap_or_default().contains('.') {
                    continue;
                }
                assert!(
                    names.contains(&file),
                    "{name} links /ui/{link}, not a file of ui/"
                );
            }
        }
    }

    #[test]
    fn the_scripts_and_styles_stay_light() {
        let total: usize = FILES
            .iter()
            .filter(|(n, _)| n.ends_with(".js") || n.ends_with(".css"))
            .map(|(_, text)| text.len())
            .sum();
        assert!(
            total < 300 * 1024,
            "JavaScript and CSS of /ui/: {total} bytes"
        );
    }

    #[test]
    fn names_stay_inside_the_folder() {
        assert!(safe_name("cdr-form.js") && safe_name("icons/add.svg"));
        for bad in [
            "",
            "../secret",
            "a/../b",
            ".env",
            "a//b",
            "/etc/passwd",
            "a\\b",
            "%2e%2e",
        ] {
            assert!(!safe_name(bad), "{bad}");
        }
    }
}
