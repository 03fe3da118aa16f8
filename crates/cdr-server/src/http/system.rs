//! `GET /health` (liveness) and `GET /ready` (readiness), the capabilities document `GET {base}/` and `GET {base}/openapi.json`, both
//! built from the route table.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::error::ApiResult;
use super::headers::Answer;
use super::media::{self, JSON_ONLY};
use super::routes::ENDPOINTS;
use super::AppState;

/// `GET /health`: liveness: 200 while the server runs, whether or not the database answers.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(json!({"status": "ok"}).to_string())
}

/// `GET /ready`: readiness: 200 when the database answers, else 503 with `Retry-After`.
pub async fn ready(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    state.store.ping().await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(json!({"status": "ready"}).to_string()))
}

/// What this server is and which endpoints it implements.
pub async fn capabilities(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, JSON_ONLY)?;
    let routes: Vec<_> = ENDPOINTS
        .iter()
        .map(|e| json!({"method": e.method, "path": format!("{}{}", state.base, e.path)}))
        .collect();
    let body = json!({
        "solution": "cdr",
        "solution_version": env!("CARGO_PKG_VERSION"),
        "vendor": "cdr project",
        "restapi_specs_version": "1.0.3",
        "conformance_profile": "CUSTOM",
        "endpoints": ["/ehr", "/definition", "/query", "/admin"],
        "system_id": state.store.system_id(),
        "routes": routes,
    });
    Ok(Answer::ok(format, body.to_string()))
}

/// The implemented endpoints as an OpenAPI 3 document (paths, methods, path parameters). The
/// openEHR ITS-REST 1.0.3 specification defines the bodies; every error is problem+json.
pub async fn openapi(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, JSON_ONLY)?;
    let mut paths = Map::new();
    for e in ENDPOINTS {
        let parameters: Vec<Value> = e
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| {
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
            })
            .collect();
        let operation = json!({
            "summary": e.summary,
            "parameters": parameters,
            "responses": {"default": {
                "description": "as openEHR ITS-REST 1.0.3 specifies; errors are application/problem+json",
            }},
        });
        let item = paths
            .entry(e.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        item[e.method.to_ascii_lowercase()] = operation;
    }
    let server = if state.base.is_empty() {
        "/"
    } else {
        state.base.as_str()
    };
    let body = json!({
        "openapi": "3.0.3",
        "info": {"title": "cdr openEHR REST API", "version": env!("CARGO_PKG_VERSION")},
        "servers": [{"url": server}],
        "paths": paths,
    });
    Ok(Answer::ok(format, body.to_string()))
}
