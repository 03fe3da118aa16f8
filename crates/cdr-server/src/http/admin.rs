//! ADMIN: physical deletion of an EHR and everything in it, of a composition, of a template no
//! composition uses, and of a stored query version.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::ApiResult;
use super::headers::Answer;
use super::{ehr_id, existing_uuid_segment, segment, AppState};

fn done() -> HttpResponse {
    Answer::default().respond(StatusCode::NO_CONTENT)
}

/// `DELETE {base}/admin/ehr/{ehr_id}`: 204 when done, 404 for an unknown EHR.
pub async fn delete_ehr(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let ehr = ehr_id(&req)?;
    state.store.delete_ehr(&state.caller(&req), ehr).await?;
    Ok(done())
}

/// `DELETE {base}/admin/ehr/{ehr_id}/composition/{versioned_object_id}`: every version of the
/// composition is removed (the EHR stays); 204, or 404 for an unknown EHR or composition.
pub async fn delete_composition(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let ehr = ehr_id(&req)?;
    let vo = existing_uuid_segment(&req, "versioned_object_id", "composition")?;
    state
        .store
        .delete_composition_physically(&state.caller(&req), ehr, vo)
        .await?;
    Ok(done())
}

/// `DELETE {base}/admin/template/adl1.4/{template_id}`: 204; 404 for an unknown template; 422
/// while compositions (current or past versions) use it, as EHRbase answers.
pub async fn delete_template(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let id = segment(&req, "template_id");
    state.store.delete_template(&state.caller(&req), id).await?;
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
