//! `GET /health` and the capabilities document `GET {base}/`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::error::ApiResult;
use super::headers::Answer;
use super::media::{self, JSON_ONLY};
use super::routes::ROUTES;
use super::AppState;

/// 200 once the database answers; 503 otherwise.
pub async fn health(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    state.store.ping().await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(json!({"status": "ok"}).to_string()))
}

/// What this server is and which endpoints it implements.
pub async fn capabilities(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, JSON_ONLY)?;
    let routes: Vec<_> = ROUTES
        .iter()
        .map(|(method, path)| json!({"method": method, "path": format!("{}{path}", state.base)}))
        .collect();
    let body = json!({
        "solution": "cdr",
        "solution_version": env!("CARGO_PKG_VERSION"),
        "vendor": "cdr project",
        "restapi_specs_version": "1.0.3",
        "conformance_profile": "CUSTOM",
        "endpoints": ["/ehr", "/definition", "/admin"],
        "system_id": state.store.system_id(),
        "routes": routes,
    });
    Ok(Answer {
        body: Some((format, body.to_string())),
        ..Answer::default()
    }
    .respond(StatusCode::OK))
}
