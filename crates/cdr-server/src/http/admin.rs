//! ADMIN: physical deletion of an EHR and everything in it.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::ApiResult;
use super::headers::Answer;
use super::{ehr_id, AppState};

/// `DELETE {base}/admin/ehr/{ehr_id}`: 204 when done, 404 for an unknown EHR.
pub async fn delete_ehr(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let ehr = ehr_id(&req)?;
    state.store.delete_ehr(&state.caller(&req), ehr).await?;
    Ok(Answer::default().respond(StatusCode::NO_CONTENT))
}
