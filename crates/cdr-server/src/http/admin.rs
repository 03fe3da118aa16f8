//! ADMIN: physical deletion of an EHR and everything in it, and of a stored query version.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::ApiResult;
use super::headers::Answer;
use super::{ehr_id, segment, AppState};

fn done() -> HttpResponse {
    Answer::default().respond(StatusCode::NO_CONTENT)
}

/// `DELETE {base}/admin/ehr/{ehr_id}`: 204 when done, 404 for an unknown EHR.
pub async fn delete_ehr(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let ehr = ehr_id(&req)?;
    state.store.delete_ehr(&state.caller(&req), ehr).await?;
    Ok(done())
}

/// `DELETE {base}/admin/query/{qualified_query_name}/{version}`: 204; 400 unless the version is
/// exact; 404 when that version is not stored.
pub async fn delete_query(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let name = segment(&req, "qualified_query_name");
    let version = segment(&req, "version");
    state
        .store
        .delete_stored_query(&state.caller(&req), name, version)
        .await?;
    Ok(done())
}
