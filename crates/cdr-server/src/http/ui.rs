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

/// Where the files come from.
#[derive(Debug, Clone, Default)]
pub struct UiFiles {
    /// A folder to read them from on every request instead of the built-in copies.
    pub dir: Option<PathBuf>,
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
