//! What every answer carries and how browsers may reach the API: [`secure`] (the outermost
//! middleware) adds [`SECURITY_HEADERS`] (and HSTS when serving TLS) to every answer, answers
//! CORS preflights itself (before authentication: browsers send no credentials with them), and
//! lets the configured origins read answers. [`tls_config`] reads `--tls-cert`/`--tls-key`.
//!
//! CORS: an origin is allowed when it equals one of the configured origins (scheme, host and
//! port, compared without case and without a trailing slash); `*` is not offered, as the
//! records are health data. A preflight (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`) from an allowed origin is answered 204 with the methods
//! the API uses and the request headers asked for; from any other origin 403
//! `origin_not_allowed`. Other requests are served as usual; from an allowed origin the answer
//! names it in `Access-Control-Allow-Origin` and exposes the openEHR answer headers.

use std::path::Path;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

use super::error::{ApiError, Code};
use super::AppState;

/// Headers on every answer: no MIME sniffing, no referrer, never framed, no script or other
/// active content, and no caching of what may be health data.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    ("cache-control", "no-store"),
];

/// HSTS, on every answer served over TLS: one year.
const HSTS: &str = "max-age=31536000";
/// The methods a preflight allows.
const METHODS: &str = "GET, POST, PUT, DELETE, OPTIONS";
/// The answer headers a browser script may read.
const EXPOSED: &str = "ETag, Location, Last-Modified, Content-Location, WWW-Authenticate";

/// Transport settings of a running server.
#[derive(Debug, Clone, Default)]
pub struct Transport {
    /// Whether the server answers over TLS (then HSTS is sent).
    pub tls: bool,
    /// Allowed CORS origins, normalised (lower case, no trailing slash).
    pub origins: Vec<String>,
}

impl Transport {
    pub fn new(tls: bool, origins: &[String]) -> Transport {
        Transport {
            tls,
            origins: origins.iter().map(|o| normalise_origin(o)).collect(),
        }
    }

    fn allows(&self, origin: &str) -> bool {
        let origin = normalise_origin(origin);
        self.origins.contains(&origin)
    }
}

/// An origin as compared: trimmed, lower case, without a trailing slash.
pub fn normalise_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Refuses a configured origin that is not `scheme://host[:port]`.
pub fn check_origin(origin: &str) -> Result<(), String> {
    let o = normalise_origin(origin);
    let rest = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"))
        .ok_or_else(|| format!("CORS origin '{origin}' must start with https:// or http://"))?;
    match !rest.is_empty() && !rest.contains(['/', '?', '#', '*', ' ']) {
        true => Ok(()),
        false => Err(format!(
            "CORS origin '{origin}' must be scheme://host[:port], without a path or wildcard"
        )),
    }
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

/// Adds the security headers (and HSTS over TLS) to an answer.
fn protect(headers: &mut HeaderMap, transport: &Transport) {
    for &(name, value) in SECURITY_HEADERS {
        insert(headers, name, value);
    }
    if transport.tls {
        insert(headers, "strict-transport-security", HSTS);
    }
}

/// The outermost middleware (see the module doc).
pub async fn secure(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let transport = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.transport.clone())
        .unwrap_or_default();
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let allowed = origin.filter(|o| transport.allows(o));
    let preflight = req.method() == Method::OPTIONS
        && req.headers().contains_key(header::ORIGIN)
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut res = match &allowed {
            Some(origin) => {
                let mut res = HttpResponse::build(StatusCode::NO_CONTENT).finish();
                let h = res.headers_mut();
                insert(h, "access-control-allow-origin", origin);
                insert(h, "access-control-allow-methods", METHODS);
                if let Some(asked) = req
                    .headers()
                    .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                    .and_then(|v| v.to_str().ok())
                {
                    insert(h, "access-control-allow-headers", asked);
                }
                insert(h, "access-control-max-age", "600");
                res
            }
            None => {
                let origin = req
                    .headers()
                    .get(header::ORIGIN)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                actix_web::ResponseError::error_response(&ApiError::new(
                    Code::OriginNotAllowed,
                    format!("cross-origin requests from '{origin}' are not allowed"),
                ))
            }
        };
        let h = res.headers_mut();
        insert(
            h,
            "vary",
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        );
        protect(h, &transport);
        return Ok(req.into_response(res));
    }
    let ui = super::ui::is_ui(req.path());
    let mut res = next.call(req).await?.map_into_boxed_body();
    let h = res.headers_mut();
    protect(h, &transport);
    if ui {
        for &(name, value) in super::ui::UI_HEADERS {
            insert(h, name, value);
        }
    }
    if let Some(origin) = &allowed {
        insert(h, "access-control-allow-origin", origin);
        insert(h, "access-control-expose-headers", EXPOSED);
    }
    if !transport.origins.is_empty() {
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(res)
}

/// The rustls server settings for a PEM certificate chain and private key (PKCS#8, PKCS#1 or
/// SEC1), offering HTTP/1.1.
pub fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no PEM certificate in it", cert.display()));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("{}: no usable PEM private key: {e}", key.display()))?;
    // The provider is the one the crate features give (ring, the only one built).
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| format!("{} with {}: {e}", cert.display(), key.display()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert!(check_origin("https://forms.example.org").is_ok());
        assert!(check_origin("http://localhost:3000/").is_ok());
        assert!(check_origin("*").is_err());
        assert!(check_origin("https://x.org/path").is_err());
        assert!(check_origin("forms.example.org").is_err());
        let t = Transport::new(false, &["https://Forms.example.org/".to_owned()]);
        assert!(t.allows("https://forms.example.org"));
        assert!(!t.allows("https://forms.example.org:8443"));
        assert!(!t.allows("http://forms.example.org"));
    }
}
