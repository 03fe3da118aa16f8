//! EHR_STATUS: get (latest, at a time, by version uid) and update with `If-Match`.

use actix_web::http::StatusCode;
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse};

use cdr_rm::EhrStatus;

use super::error::{ApiError, ApiResult};
use super::headers;
use super::media::{self, JSON_OR_XML};
use super::versioned::{committed_answer, data_answer};
use super::{ehr_id, existing_id_segment, if_match_after, AppState};

/// `GET /ehr/{ehr_id}/ehr_status{?version_at_time}`.
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, JSON_OR_XML)?;
    let ehr = ehr_id(&req)?;
    let at = headers::version_at_time(&headers::query(&req)?)?;
    let rec = state
        .store
        .get_ehr_status(&state.caller(&req), ehr, at)
        .await?;
    data_answer(&rec, format, state.versions_url(&req, ehr, "ehr_status"))
}

/// `GET /ehr/{ehr_id}/ehr_status/{version_uid}`.
pub async fn get_version(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, JSON_OR_XML)?;
    let ehr = ehr_id(&req)?;
    let uid: cdr_store::VersionUid =
        existing_id_segment(&req, "version_uid", "EHR_STATUS version")?;
    let rec = state
        .store
        .get_ehr_status_version(&state.caller(&req), ehr, &uid)
        .await?;
    data_answer(&rec, format, state.versions_url(&req, ehr, "ehr_status"))
}

/// `PUT /ehr/{ehr_id}/ehr_status` with `If-Match: "<latest version uid>"`.
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
) -> ApiResult<HttpResponse> {
    let ehr = ehr_id(&req)?;
    let prefix = state.versions_url(&req, ehr, "ehr_status");
    let format = media::body_then_write_format(&req, JSON_OR_XML, JSON_OR_XML)?;
    let preceding = if_match_after(&req, &state, ehr, None).await?;
    let status: EhrStatus = media::read_rm(&req, payload, state.limits.small).await?;
    let meta = headers::commit_meta(&req)?;
    let done = state
        .store
        .update_ehr_status(&state.caller(&req), ehr, &preceding, status, meta)
        .await
        .map_err(|e| ApiError::from(e).latest_under(&prefix))?;
    committed_answer(&done, format, &prefix, StatusCode::OK)
}
